"""Stopping the real `func-py start` while work cannot finish: sync activities (the fan-out
sample's shape) and HTTP functions blocked for two minutes. The process exits within
FUNCPY_DRAIN_SECONDS whatever blocks, its last line says what was cut off, a second signal
exits at once, and the exit code says which of these happened (0 clean, 1 work left
unfinished, 128 + signal when forced)."""

from __future__ import annotations

import logging
import re
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from funcpy.host.invoke import Invoker
from funcpy.host.stopping import Stopping

from tests.conftest import APPS
from tests.harness import HostProcess, wait_until

DRAIN = 2.0
# Signal delivery, the last log write and the interpreter's exit, on a busy shared machine.
MARGIN = 1.0
DRAINED = re.compile(r"Drained in \d+ms[^\n]*")


Start = Callable[..., HostProcess]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    """Starts hosts on a fresh copy of the app; whatever a failing test leaves running (a
    host that does not stop is the defect these tests look for) is killed afterwards."""
    app = Path(shutil.copytree(APPS / "stopping", tmp_path / "app",
                               ignore=shutil.ignore_patterns(".func-py", "__pycache__")))
    hosts: list[HostProcess] = []

    def start(name: str, drain: float = DRAIN, **env: str) -> HostProcess:
        env = {"FUNCPY_DRAIN_SECONDS": f"{drain:g}", "SLEEP_SECONDS": "120", **env}
        host = HostProcess(app, "--no-reload", env=env, log_path=tmp_path / f"{name}.log")
        hosts.append(host)
        return host.start()

    yield start
    for host in hosts:
        host.stop(signal.SIGKILL)


def _stop(host: HostProcess, sig: int, limit: float) -> tuple[int, float]:
    """Send `sig`; return the exit code and how long the process took to exit (waiting a
    little past `limit`, to measure a host that overstays rather than hang on it)."""
    assert host.proc is not None
    started = time.monotonic()
    host.proc.send_signal(sig)
    code = host.proc.wait(limit + 10)
    took = time.monotonic() - started
    return code, took


def _fan_out(host: HostProcess, count: int) -> str:
    with host.client() as c:
        r = c.post(f"/api/fanout/{count}")
    assert r.status_code == 202, r.text
    for i in range(count):
        host.wait_for_log(rf"sleepy {i} started", timeout=20)
    return str(r.json()["id"])


def test_ctrl_c_with_sync_activities_blocked_names_them_exits_in_time_and_they_run_again(
        start: Start) -> None:
    first = start("first")
    iid = _fan_out(first, 6)
    code, took = _stop(first, signal.SIGINT, DRAIN)
    assert took < DRAIN + MARGIN, f"exited {took:.1f}s after Ctrl+C (limit {DRAIN}s)"
    assert code == 1  # the drain left work unfinished
    line = DRAINED.search(first.output)
    assert line is not None, first.output
    drained = line.group(0)
    assert "work in flight finished" not in drained
    assert "leaving work unfinished" in drained
    assert "6x 'sleepy' (activity)" in drained  # still in their threads at the exit
    for task in range(6):  # what the task hub gave back, by instance and task
        assert f"activity 'sleepy' of instance '{iid}' (task {task})" in drained
    # Nothing ran after the report: the blocked threads did not finish or log.
    assert "Executed 'Functions.sleepy'" not in first.output[line.end():]

    # "Run again" is true: the next host runs the six activities (now quick) to completion.
    with start("second", SLEEP_SECONDS="0") as second, second.client() as c:
        status = wait_until(
            lambda: (s := c.get(f"/runtime/webhooks/durabletask/instances/{iid}").json())
            ["runtimeStatus"] == "Completed" and s, timeout=30, what="the fan-out to complete")
    assert status["output"] == [f"slept {i}" for i in range(6)]


def test_http_requests_blocked_at_the_limit_are_reported_and_the_exit_is_in_time(
        start: Start) -> None:
    host = start("host")
    answers: list[object] = []

    def call(path: str) -> None:
        try:
            answers.append(httpx.get(host.url(path), timeout=30).status_code)
        except httpx.HTTPError as exc:
            answers.append(type(exc).__name__)

    callers = [threading.Thread(target=call, args=(p,)) for p in ("/api/block",
                                                                  "/api/block-async")]
    for t in callers:
        t.start()
    host.wait_for_log(r"block sleeping")
    host.wait_for_log(r"block-async sleeping")
    code, took = _stop(host, signal.SIGTERM, DRAIN)
    for t in callers:
        t.join(10)
    assert took < DRAIN + MARGIN, f"exited {took:.1f}s after SIGTERM (limit {DRAIN}s)"
    assert code == 1
    drained = host.wait_for_log(DRAINED).group(0)
    assert "2 HTTP request(s) cut off" in drained
    assert "'block' (HTTP), 'block_async' (HTTP)" in drained
    # The sync one is still in its thread (Python cannot stop it); the async one was cancelled.
    assert "stopped by the exit (a thread cannot be cancelled): 'block' (HTTP)" in drained
    assert "Exception in ASGI application" not in host.output  # the report names them instead
    assert sorted(map(str, answers)) == ["500", "500"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_second_signal_exits_at_once(start: Start, sig: int) -> None:
    limit = 60.0  # a drain that would take a minute
    host = start("host", drain=limit)
    _fan_out(host, 2)
    assert host.proc is not None
    host.proc.send_signal(sig)
    host.wait_for_log(r"Draining:")
    code, took = _stop(host, sig, 5.0)
    assert took < 2.0, f"the second signal took {took:.1f}s to stop the host"
    assert code == 128 + sig
    forced = host.wait_for_log(rf"Second {signal.Signals(sig).name}: exiting at once[^\n]*")
    assert "2x 'sleepy' (activity)" in forced.group(0)


def test_the_limit_holds_when_a_trigger_does_not_stop_in_time(start: Start) -> None:
    # A timer run in flight: the timer service waits for it longer than this limit allows.
    host = start("host", BLOCK_TIMER="1")
    host.wait_for_log(r"timer blocking")
    code, took = _stop(host, signal.SIGTERM, DRAIN)
    assert took < DRAIN + MARGIN, f"exited {took:.1f}s after SIGTERM (limit {DRAIN}s)"
    assert code == 1
    line = host.wait_for_log(r"Drain limit reached \(FUNCPY_DRAIN_SECONDS=2\) before the drain "
                             r"finished[^\n]*").group(0)
    assert "'blocking_timer' (timer)" in line


def test_a_drain_that_finishes_exits_0_and_says_so(start: Start) -> None:
    host = start("host", drain=10, SLEEP_SECONDS="0.5")
    _fan_out(host, 3)
    code, took = _stop(host, signal.SIGTERM, 10)
    assert code == 0
    assert took < 10
    drained = host.wait_for_log(DRAINED).group(0)
    assert "work in flight finished" in drained, drained
    assert host.output.count("Executed 'Functions.sleepy' (Succeeded") == 3


def _report(given_back: list[str] | None, failed: bool = False) -> tuple[int, str, int | None]:
    stopping = Stopping(30, Invoker(timeout=None, environ={}))
    # The clock set by hand: begin() would also arm the watchdog that exits this process.
    stopping.started = time.monotonic()
    level, message = stopping.finish(given_back, failed)
    return level, message, stopping.exit_code


def test_the_report_claims_only_what_it_knows() -> None:
    level, message, code = _report([])
    assert (level, code) == (logging.INFO, 0)
    assert "work in flight finished" in message
    # The task hub did not say what it gave back: no claim that work finished.
    level, message, code = _report(None)
    assert (level, code) == (logging.INFO, 0)
    assert "work in flight finished" not in message
    assert "did not report whether it gave work back" in message
    items = [f"activity 'a' of instance 'i' (task {n})" for n in range(12)]
    level, message, code = _report(items)
    assert (level, code) == (logging.WARNING, 1)
    assert "gave back 12 unfinished work item(s)" in message
    assert "(task 9); and 2 more" in message and "(task 10)" not in message
    level, message, code = _report([], failed=True)
    assert code == 1 and "stopping the triggers failed" in message
    assert "Store claims released" not in message
