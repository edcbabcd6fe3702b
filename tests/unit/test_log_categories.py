"""The worker's log rules on top of host.json levels: the root logger pinned to INFO unless
PYTHON_ENABLE_DEBUG_LOGGING, and the system categories (`azure_functions_worker*`,
`azure.functions*`) never shown."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Callable, Iterator

import pytest
from funcpy.host import logs

Install = Callable[..., list[str]]


class Pipe(io.StringIO):
    def isatty(self) -> bool:
        return False


@pytest.fixture
def logged(monkeypatch: pytest.MonkeyPatch) -> Iterator[Install]:
    """`run(levels, env, emit)`: setup_logging with host.json `levels` and the environment
    `env`, then `emit()`; returns the messages written. Logging state is restored after."""
    monkeypatch.setattr(logs._Console, "_flusher", lambda self: None)
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logs.log.level,
             logs._console, logs._policy, logs._json_lines)

    def run(levels: dict[str, str], env: dict[str, str], emit: Callable[[], None]) -> list[str]:
        monkeypatch.delenv(logs.DEBUG_LOGGING_SETTING, raising=False)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        stream = Pipe()
        monkeypatch.setattr(sys, "stdout", stream)
        logs.setup_logging(levels, verbose=False, json_lines=False)
        emit()
        logs.flush_logs()
        return [line.split("] ", 1)[1] for line in stream.getvalue().splitlines()]

    yield run
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in saved[0]:
        root.addHandler(h)
    root.setLevel(saved[1])
    logs.log.setLevel(saved[2])
    logs._console, logs._policy, logs._json_lines = saved[3], saved[4], saved[5]


TRACE = {"default": "Trace"}


def emit_all() -> None:
    logging.debug("root debug")
    logging.info("root info")
    logging.getLogger("user.unlevelled").debug("unlevelled debug")
    levelled = logging.getLogger("user.levelled")
    levelled.setLevel(logging.DEBUG)
    levelled.debug("levelled debug")
    levelled.setLevel(logging.NOTSET)


def test_host_json_trace_does_not_reveal_root_debug_without_the_setting(logged: Install) -> None:
    assert logged(TRACE, {}, emit_all) == ["root info", "levelled debug"]


@pytest.mark.parametrize("value", ["1", "true", " Yes ", "T"])
def test_python_enable_debug_logging_lets_root_debug_through(logged: Install, value: str) -> None:
    assert logged(TRACE, {"PYTHON_ENABLE_DEBUG_LOGGING": value}, emit_all) == [
        "root debug", "root info", "unlevelled debug", "levelled debug"]


def test_the_setting_does_not_override_host_json(logged: Install) -> None:
    # The worker sends the debug records; the host's filter (Information) still drops them.
    assert logged({"default": "Information"}, {"PYTHON_ENABLE_DEBUG_LOGGING": "1"},
                  emit_all) == ["root info"]


@pytest.mark.parametrize("value", ["0", "false", "", "on"])
def test_other_values_keep_the_root_at_info(logged: Install, value: str) -> None:
    assert logged(TRACE, {"PYTHON_ENABLE_DEBUG_LOGGING": value}, emit_all) == [
        "root info", "levelled debug"]


def emit_system() -> None:
    for name in ("azure_functions_worker", "azure_functions_worker_errors",
                 "azure.functions", "azure.functions.WsgiMiddleware"):
        logging.getLogger(name).error("%s error", name)
        logging.getLogger(name).warning("%s warning", name)
    logging.getLogger("azure.durable_functions").warning("durable warning")  # not system
    logging.getLogger("user").warning("user warning")


def test_system_categories_are_never_shown(logged: Install) -> None:
    assert logged(TRACE, {"PYTHON_ENABLE_DEBUG_LOGGING": "1"}, emit_system) == [
        "durable warning", "user warning"]


def test_system_categories_are_hidden_inside_an_invocation_too(logged: Install) -> None:
    def inside() -> None:
        token = logs.current_invocation.set(logs.InvocationTag("0123456789abcdef", "fn"))
        try:
            emit_system()
        finally:
            logs.current_invocation.reset(token)

    assert logged(TRACE, {}, inside) == ["fn[01234567] durable warning",
                                         "fn[01234567] user warning"]


def test_worker_root_level() -> None:
    assert logs.worker_root_level({}) == logging.INFO
    assert logs.worker_root_level({"PYTHON_ENABLE_DEBUG_LOGGING": "y"}) == logging.DEBUG
