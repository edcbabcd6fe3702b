"""The log writer off a terminal: lines are queued (no write per line), and an invocation's
lines, its Executed line included, are written by the time the invoker returns, so whoever
learns of the outcome (an HTTP client, a status poll) finds them in the output."""

from __future__ import annotations

import asyncio
import io
import logging
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from funcpy.host import logs
from funcpy.host.index import FunctionInfo
from funcpy.host.invoke import Invoker


class CountingStream(io.StringIO):
    """A non-terminal stdout that records each write; `gate`, when set, holds the first
    write until released (a flusher caught mid-write)."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        super().__init__()
        self.writes: list[str] = []
        self.gate = gate
        self.entered = threading.Event()

    def isatty(self) -> bool:
        return False

    def write(self, s: str) -> int:
        if self.gate is not None and not self.writes:
            self.entered.set()
            assert self.gate.wait(10), "the test never released the write"
        self.writes.append(s)
        return super().write(s)


@pytest.fixture
def no_flusher(monkeypatch: pytest.MonkeyPatch) -> None:
    # The 100 ms flusher would make "not written yet" and "written by whom" a race.
    monkeypatch.setattr(logs._Console, "_flusher", lambda self: None)


@pytest.fixture
def console_on(monkeypatch: pytest.MonkeyPatch, no_flusher: None) -> Iterator[Any]:
    """setup_logging() onto a given stream, with the logging state restored afterwards."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logs.log.level,
             logs._console, logs._policy, logs._json_lines)

    def install(stream: Any) -> logs._Console:
        monkeypatch.setattr(sys, "stdout", stream)
        logs.setup_logging({}, verbose=False, json_lines=False)
        assert logs._console is not None and not logs._console.interactive
        return logs._console

    yield install
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in saved[0]:
        root.addHandler(h)
    root.setLevel(saved[1])
    logs.log.setLevel(saved[2])
    logs._console, logs._policy, logs._json_lines = saved[3], saved[4], saved[5]


def test_lines_are_queued_and_written_in_one_call_by_a_flush(console_on: Any) -> None:
    stream = CountingStream()
    console_on(stream)
    for i in range(100):
        logging.getLogger("user").info("line %d", i)
        logs.host_line(f"host line {i}")
    assert stream.writes == []  # no system call per line
    logs.flush_logs()
    assert len(stream.writes) == 1
    lines = stream.getvalue().splitlines()
    assert [line.split("] ", 1)[1] for line in lines[:4]] == [
        "line 0", "host line 0", "line 1", "host line 1"]
    assert len(lines) == 200
    logs.flush_logs()  # nothing queued: nothing written
    assert len(stream.writes) == 1


def test_a_flush_returns_only_once_a_batch_in_progress_is_written(no_flusher: None,
                                                                  monkeypatch: pytest.MonkeyPatch
                                                                  ) -> None:
    # The flusher has taken the queue (the invocation's Executed line with it) and is mid-write
    # when the invocation ends: the invoker's flush must wait for that write, not return
    # because the queue looks empty (the response would then overtake the line).
    gate = threading.Event()
    stream = CountingStream(gate)
    monkeypatch.setattr(sys, "stdout", stream)
    console = logs._Console()
    console.write_line("Executed 'Functions.f' (Succeeded)")
    flusher = threading.Thread(target=console.drain)
    flusher.start()
    assert stream.entered.wait(10)
    invoker_side = threading.Thread(target=console.drain)
    invoker_side.start()
    invoker_side.join(0.3)  # it must still be waiting: the line is not written yet
    blocked = invoker_side.is_alive()
    gate.set()
    flusher.join(10)
    invoker_side.join(10)
    assert blocked, "a drain returned while another drain's batch was still unwritten"
    assert stream.getvalue() == "Executed 'Functions.f' (Succeeded)\n"


def _fn(name: str, func: Any, is_async: bool) -> FunctionInfo:
    trigger = {"type": "httpTrigger", "name": "req", "direction": "in"}
    return FunctionInfo(name, trigger, (trigger,), func, is_async, False, ".", "f.py", name)


def test_an_invocation_s_lines_are_in_the_output_when_the_invoker_returns(
        console_on: Any, tmp_path: Path) -> None:
    out_path = tmp_path / "stdout.log"
    user = logging.getLogger("user")

    def sync_fn(req: str) -> None:
        user.info("sync says %s", req)

    async def async_fn(req: str) -> None:
        user.info("async says %s", req)

    with open(out_path, "w") as stream:
        console_on(stream)
        invoker = Invoker(timeout=None, environ={})
        fns = [_fn("sync_fn", sync_fn, False), _fn("async_fn", async_fn, True)]

        async def run() -> None:
            for i in range(50):
                for fn in fns:
                    result = await invoker.invoke(fn, f"n{i}", reason="test")
                    out = out_path.read_text()  # once: this is the moment that matters
                    kind = fn.name.split("_")[0]
                    assert f"{fn.name}[{result.invocation_id[:8]}] {kind} says n{i}\n" in out
                    assert (f"Executed 'Functions.{fn.name}' (Succeeded, "
                            f"Id={result.invocation_id}, Duration=") in out

        asyncio.run(run())
        invoker.shutdown()
