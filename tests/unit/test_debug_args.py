"""host/debugging.py: reading the debugger address from `--debug` and from the setting VS Code
injects (`languageWorkers__python__arguments`), and what is refused or only warned about."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import pytest
from funcpy.host.banner import host_lock_line, instance_id
from funcpy.host.cli import parse_args
from funcpy.host.debugging import (
    DebugArgumentError,
    DebugPlan,
    WorkerArguments,
    find_setting,
    parse_address,
    parse_worker_arguments,
    plan_debugging,
)
from funcpy.host.errors import FuncPyError
from funcpy.host.logs import log
from funcpy.host.start_flags import ignored_flags

VSCODE_POSIX = ("/home/me/.vscode/extensions/ms-python.debugpy-2024.6.0-linux-x64/bundled/libs/"
                "debugpy")
VSCODE_WINDOWS = (r"c:\Users\me\.vscode\extensions\ms-python.debugpy-2024.6.0-win32-x64"
                  r"\bundled\libs\debugpy")

# -- addresses ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("9091", ("127.0.0.1", 9091)),  # loopback unless a host is given
    (" 9091 ", ("127.0.0.1", 9091)),
    ("0.0.0.0:9091", ("0.0.0.0", 9091)),
    ("localhost:5678", ("localhost", 5678)),
    (":9091", ("127.0.0.1", 9091)),
    ("[::1]:9091", ("::1", 9091)),
    ("127.0.0.1:0", ("127.0.0.1", 0)),  # any free port (the tests use it)
])
def test_parse_address(text: str, expected: tuple[str, int]) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "host:", "9091x", "70000", "127.0.0.1:-1",
                                  "::1:9091"])
def test_parse_address_refuses(text: str) -> None:
    with pytest.raises(DebugArgumentError):
        parse_address(text)


# -- the worker arguments ----------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    # What VS Code injects: its bundled debugpy's folder, then --listen.
    (f"{VSCODE_POSIX} --listen 127.0.0.1:9091", WorkerArguments(("127.0.0.1", 9091))),
    (f"{VSCODE_WINDOWS} --listen 127.0.0.1:9091", WorkerArguments(("127.0.0.1", 9091))),
    ('"C:\\Program Files\\py\\Lib\\debugpy" --listen 9091',
     WorkerArguments(("127.0.0.1", 9091))),
    ("/opt/debugpy/__main__.py --listen 9091", WorkerArguments(("127.0.0.1", 9091))),
    ("/opt/lib/debugpy/launcher --listen 9091", WorkerArguments(("127.0.0.1", 9091))),
    # The documented manual form, and the options alone.
    ("-m debugpy --listen 0.0.0.0:9091", WorkerArguments(("0.0.0.0", 9091))),
    ("--listen 9091", WorkerArguments(("127.0.0.1", 9091))),
    ("--listen=9091", WorkerArguments(("127.0.0.1", 9091))),
    ("debugpy --listen 9091", WorkerArguments(("127.0.0.1", 9091))),
    ("-m debugpy --listen 9091 --wait-for-client",
     WorkerArguments(("127.0.0.1", 9091), wait=True)),
    ("--wait-for-client --listen localhost:5678",
     WorkerArguments(("localhost", 5678), wait=True)),
    ("-m debugpy --log-to /tmp/dbg --listen 9091",
     WorkerArguments(("127.0.0.1", 9091), log_dir="/tmp/dbg")),
    # What cannot apply to a process that is already running is kept, to be reported.
    ("-X frozen_modules=off -m debugpy --listen 9091",
     WorkerArguments(("127.0.0.1", 9091), not_applied=("-X", "frozen_modules=off"))),
    ("-m debugpy --listen 9091 --configure-subProcess false",
     WorkerArguments(("127.0.0.1", 9091), not_applied=("--configure-subProcess", "false"))),
    ("-X dev", WorkerArguments(not_applied=("-X", "dev"))),
    ("-m pdb", WorkerArguments(not_applied=("-m", "pdb"))),
    ("/usr/lib/debugpy-tools/run --listen 1", WorkerArguments(
        ("127.0.0.1", 1), not_applied=("/usr/lib/debugpy-tools/run",))),
    ("", WorkerArguments()),
    # A debugpy option that cannot be read is a problem, never an exception.
    ("-m debugpy --listen", WorkerArguments(problem="--listen needs a value")),
    ("-m debugpy --listen --wait-for-client",
     WorkerArguments(wait=True, problem="--listen needs a value")),
])
def test_parse_worker_arguments(text: str, expected: WorkerArguments) -> None:
    assert parse_worker_arguments(text) == expected


def test_a_bad_listen_address_is_a_problem_naming_it() -> None:
    parsed = parse_worker_arguments("-m debugpy --listen nine")
    assert parsed.listen is None
    assert parsed.problem is not None and "'nine' is not [HOST:]PORT" in parsed.problem


def test_an_unbalanced_quote_still_splits() -> None:
    assert parse_worker_arguments('"/opt/debugpy --listen 9091').listen == ("127.0.0.1", 9091)


# -- where the setting comes from --------------------------------------------------------------


def test_the_setting_under_each_spelling_and_any_case() -> None:
    env = {"LANGUAGEWORKERS__PYTHON__ARGUMENTS": "--listen 1"}
    assert find_setting(env, {}) == (
        "--listen 1", "the environment variable LANGUAGEWORKERS__PYTHON__ARGUMENTS")
    local = {"languageWorkers:python:arguments": "--listen 2"}
    assert find_setting(dict(local), local) == (
        "--listen 2", "languageWorkers:python:arguments in local.settings.json")


def test_the_environment_wins_over_local_settings_and_blanks_are_unset() -> None:
    local = {"languageWorkers:python:arguments": "--listen 2"}
    env = {**local, "languageWorkers__python__arguments": "--listen 1"}
    assert find_setting(env, local) == (
        "--listen 1", "the environment variable languageWorkers__python__arguments")
    assert find_setting({"languageWorkers__python__arguments": "  "}, {}) is None
    assert find_setting({"OTHER": "--listen 1"}, {}) is None


# -- the plan ----------------------------------------------------------------------------------


@pytest.fixture()
def logged() -> Iterator[list[logging.LogRecord]]:
    """func-py's own log records (its logger may not propagate after setup_logging)."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    level = log.level
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        yield records
    finally:
        log.removeHandler(handler)
        log.setLevel(level)


def plan(flag: str | None = None, wait: bool = False, production: bool = False,
         env: dict[str, str] | None = None) -> DebugPlan | None:
    return plan_debugging(flag, wait, production=production, environ=env or {}, local_values={})


SETTING = "languageWorkers__python__arguments"
FROM_ENV = f"the environment variable {SETTING}"


def test_the_flag_forms() -> None:
    assert plan("9091") == DebugPlan("127.0.0.1", 9091, False, "--debug")
    assert plan("0.0.0.0:5678", wait=True) == DebugPlan("0.0.0.0", 5678, True, "--debug")
    assert plan("") == DebugPlan("127.0.0.1", 9091, False, "--debug")  # `--debug` alone
    assert plan(None, wait=True) == DebugPlan("127.0.0.1", 9091, True, "--debug-wait")
    assert plan(None) is None
    assert plan("VSCode") is None and plan("vs") is None  # Core Tools 2.x: no effect


def test_a_bad_flag_address_is_an_error() -> None:
    with pytest.raises(FuncPyError, match=r"--debug 'port' is not \[HOST:\]PORT"):
        plan("port")


def test_the_setting_forms(logged: list[logging.LogRecord]) -> None:
    assert plan(env={SETTING: f"{VSCODE_POSIX} --listen 127.0.0.1:9091"}) == \
        DebugPlan("127.0.0.1", 9091, False, FROM_ENV)
    assert plan(env={SETTING: "-m debugpy --listen 0.0.0.0:9091 --wait-for-client "
                              "--log-to /tmp/x"}) == \
        DebugPlan("0.0.0.0", 9091, True, FROM_ENV, "/tmp/x")
    assert logged == []


def test_debug_wait_alone_waits_on_the_settings_address(logged: list[logging.LogRecord]) -> None:
    assert plan(None, wait=True, env={SETTING: "-m debugpy --listen 5678"}) == \
        DebugPlan("127.0.0.1", 5678, True, FROM_ENV)
    assert logged == []


def test_the_flag_wins_over_the_setting(logged: list[logging.LogRecord]) -> None:
    assert plan("5678", env={SETTING: "--listen 9091"}) == \
        DebugPlan("127.0.0.1", 5678, False, "--debug")
    assert [r.getMessage() for r in logged] == [
        f"--debug given: the debugpy arguments in {FROM_ENV} are not applied."]


@pytest.mark.parametrize(("value", "why"), [
    ("-X dev", "it holds no debugpy --listen"),
    ("-m debugpy --listen nope", "--listen 'nope' is not [HOST:]PORT with PORT from 0 to 65535"),
    ("-m debugpy --listen", "--listen needs a value"),
])
def test_a_setting_that_cannot_apply_is_a_warning_naming_it(
        logged: list[logging.LogRecord], value: str, why: str) -> None:
    assert plan(env={SETTING: value}) is None
    [record] = logged
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith(f"{FROM_ENV} = {value!r} is not applied ({why})")


def test_parts_of_the_setting_that_cannot_apply_are_named(
        logged: list[logging.LogRecord]) -> None:
    assert plan(env={SETTING: "-X frozen_modules=off -m debugpy --listen 9091"}) == \
        DebugPlan("127.0.0.1", 9091, False, FROM_ENV)
    [record] = logged
    assert record.getMessage().startswith(f"{FROM_ENV}: -X frozen_modules=off not applied")


def test_production_refuses_the_flags_and_ignores_the_setting(
        logged: list[logging.LogRecord]) -> None:
    for flag, wait in (("9091", False), (None, True), ("", True)):
        with pytest.raises(FuncPyError, match="refused in production"):
            plan(flag, wait, production=True)
    assert plan("VSCode", production=True) is None
    assert plan(env={SETTING: "--listen 9091"}, production=True) is None
    [record] = logged
    assert "never opens a debugger in production" in record.getMessage()


# -- the flags and the ready lines -------------------------------------------------------------


def test_the_debug_flags_parse_and_only_the_core_tools_form_is_reported_ignored() -> None:
    args = parse_args(["start", "--debug", "0.0.0.0:9091", "--debug-wait"])
    assert (args.debug, args.debug_wait) == ("0.0.0.0:9091", True)
    assert ignored_flags(args) == []
    alone = parse_args(["host", "start", "--debug"])
    assert (alone.debug, alone.debug_wait) == ("", False)
    assert ignored_flags(parse_args(["start", "--debug", "VSCode"])) == ["--debug VSCode"]


def test_the_host_lock_line() -> None:
    assert host_lock_line({"WEBSITE_INSTANCE_ID": "abc123"}) == \
        "Host lock lease acquired by instance ID 'abc123'."
    local = instance_id({})
    assert re.fullmatch(r"0{24}[0-9A-F]{8}", local) and instance_id({}) == local
