"""Stopping the host: one time budget, FUNCPY_DRAIN_SECONDS, from the first SIGTERM or Ctrl+C to
the exit, and a log that says what did not finish.

At the first signal the HTTP server stops accepting, and at the same moment the triggers stop
taking work: requests and activities in flight share the budget. A little of it is kept back
(`reserve`) for what comes after: releasing the task hub's claims, closing the store, the
report. Sync functions run in threads, which Python cannot stop; the interpreter would join
them at exit however long they take, so when one is still running the process leaves with
`os._exit` once the report is written. A watchdog thread enforces the limit whatever hangs,
and a second signal exits at once.

Exit codes: 0 when everything in flight finished; 1 when the drain was cut short at the limit
(the log names what was abandoned; durable work given back runs again, on this host when it
restarts or on another one at once); 128 + the signal number (130 for Ctrl+C, 143 for SIGTERM)
when a second signal forced the exit.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, NoReturn

from funcpy.host.logs import flush_all, log

if TYPE_CHECKING:
    from funcpy.host.index import FunctionInfo
    from funcpy.host.invoke import Invoker
    from funcpy.host.runtime import Runtime

_KINDS = {"httpTrigger": "HTTP", "activityTrigger": "activity",
          "orchestrationTrigger": "orchestrator", "timerTrigger": "timer"}
_LISTED = 10  # abandoned work items named one by one in the report; the rest are counted


def exit_now(code: int) -> NoReturn:
    """Leave without joining threads (a sync function may sleep for minutes): flush first."""
    flush_all()
    os._exit(code)


def _tally(calls: Iterable[tuple[str, str]]) -> str:
    counts = collections.Counter(calls)
    return ", ".join(f"{f'{n}x ' if n > 1 else ''}'{name}' ({_KINDS.get(kind, kind)})"
                     for (name, kind), n in sorted(counts.items()))


def _not_a_cut_request(record: logging.LogRecord) -> bool:
    """uvicorn logs each request it cancels at the drain limit as 'Exception in ASGI
    application' with a traceback; the drain's report names them instead."""
    return not (record.exc_info and record.exc_info[0] is asyncio.CancelledError)


def _calls(fns: Iterable[FunctionInfo]) -> list[tuple[str, str]]:
    return [(fn.name, fn.trigger_type) for fn in fns]


class Stopping:
    """The stop of one host process, from its first signal to its exit."""

    def __init__(self, limit: float, invoker: Invoker) -> None:
        self.limit = max(0.0, limit)
        # Time kept back from work in flight for the clean-up after it (claims, store, log).
        self.reserve = min(1.0, self.limit * 0.25)
        self.invoker = invoker
        self.started: float | None = None
        self.http_done = asyncio.Event()  # set once no request can use the store any more
        self.http_cut: list[tuple[str, str]] = []
        self.http_cut_count = 0
        self.exit_code: int | None = None  # known once the drain has finished
        self._cancelled_before: collections.Counter[tuple[str, str]] = collections.Counter()
        # Started now, not at the signal: begin() runs in a signal handler, which may have
        # interrupted the main thread inside Thread.start() (its lock is not reentrant).
        self._begun = threading.Event()
        threading.Thread(target=self._enforce_limit, name="drain-limit", daemon=True).start()

    @property
    def begun(self) -> bool:
        return self.started is not None

    def begin(self) -> None:
        """Start the clock (idempotent) and the watchdog that holds the process to it."""
        if self.started is not None:
            return
        self.started = time.monotonic()
        self._cancelled_before = self.invoker.cancelled.copy()
        self._begun.set()

    def remaining(self) -> float:
        """Seconds left for work in flight (the reserve excluded)."""
        assert self.started is not None
        return max(0.0, self.started + self.limit - self.reserve - time.monotonic())

    def elapsed_ms(self) -> float:
        assert self.started is not None
        return (time.monotonic() - self.started) * 1000

    def cut_http(self, open_requests: int) -> None:
        """Requests still running at the limit: the server is about to cancel them."""
        self.http_cut_count = open_requests
        self.http_cut = [c for c in _calls(self.invoker.active.values()) if c[1] == "httpTrigger"]
        logging.getLogger("uvicorn.error").addFilter(_not_a_cut_request)

    def finish(self, given_back: list[str] | None, failed: bool = False) -> tuple[int, str]:
        """The drain's outcome as (log level, message); sets the exit code. `given_back` is
        what the task hub gave back unfinished, None when it did not say; `failed` when
        stopping the triggers raised (already logged)."""
        # Cut requests are named once, in their own clause.
        cancelled = self.invoker.cancelled - self._cancelled_before \
            - collections.Counter(self.http_cut)
        running = _calls(self.invoker.running())
        parts: list[str] = []
        if failed:
            parts.append("stopping the triggers failed (logged above): claims it did not give "
                         "back are taken again when they expire")
        if self.http_cut_count:
            named = len(self.http_cut)
            what = _tally(self.http_cut) if named else ""
            if self.http_cut_count > named:
                others = self.http_cut_count - named
                what = f"{what}, and {others} to the host's own endpoints" if what else \
                    f"{others} to the host's own endpoints"
            parts.append(f"{self.http_cut_count} HTTP request(s) cut off (answered 500 if "
                         f"their response had not started): {what}")
        if given_back:
            listed = "; ".join(given_back[:_LISTED])
            more = f"; and {len(given_back) - _LISTED} more" if len(given_back) > _LISTED else ""
            parts.append(f"the task hub gave back {len(given_back)} unfinished work item(s), "
                         f"which run again (on this host after a restart, or on another host "
                         f"now): {listed}{more}")
        if cancelled:
            parts.append(f"cancelled: {_tally(cancelled.elements())}")
        if running:
            parts.append("still running, stopped by the exit (a thread cannot be cancelled): "
                         f"{_tally(running)}")
        took = f"Drained in {self.elapsed_ms():.0f}ms"
        if parts:
            self.exit_code = 1
            released = "" if failed else " Store claims released."
            return logging.WARNING, (
                f"{took}, leaving work unfinished (FUNCPY_DRAIN_SECONDS={self.limit:g}): "
                + "; ".join(parts) + f".{released} Host stopped.")
        self.exit_code = 0
        if given_back is None:  # the worker did not say: claim only what is known
            return logging.INFO, (
                f"{took}: no function is still running, store claims released (the task hub "
                "did not report whether it gave work back). Host stopped.")
        return logging.INFO, f"{took}: work in flight finished, store claims released. " \
                             "Host stopped."

    def force(self, sig: int) -> NoReturn:
        """A second signal: exit now, naming what is cut off."""
        running = _tally(_calls(self.invoker.running()))
        name = signal.Signals(sig).name
        log.warning("Second %s: exiting at once, without finishing the drain (exit %d). %s; "
                    "claims this host holds are not released: they are taken again when they "
                    "expire, or by this host when it restarts.", name, 128 + sig,
                    f"Cut off: {running}" if running else "No function was running")
        exit_now(128 + sig)

    def _enforce_limit(self) -> None:
        self._begun.wait()
        assert self.started is not None
        time.sleep(max(0.0, self.started + self.limit - time.monotonic()))
        running = _tally(_calls(self.invoker.running())) or "none known"
        if self.exit_code is None:
            log.error("Drain limit reached (FUNCPY_DRAIN_SECONDS=%g) before the drain finished: "
                      "exiting now (exit 1). Functions still running: %s.", self.limit, running)
            exit_now(1)
        log.warning("The drain finished but the process had not exited by the drain limit "
                    "(FUNCPY_DRAIN_SECONDS=%g): exiting now. Functions still running: %s.",
                    self.limit, running)
        exit_now(self.exit_code)


async def drain_triggers(runtime: Runtime, stopping: Stopping,
                         hooks: Iterable[Callable[[], Awaitable[None]]]) -> None:
    """Stop the triggers: timers and the task hub worker take no new work, activities in
    flight get what is left of the drain limit, the worker's claims on the store are released
    for the next host; the store closes once requests are done with it. Ends with the line
    saying what finished and what did not."""
    log.info("Draining: no new requests are accepted; stopping triggers and the task hub "
             "worker (work in flight gets up to %gs in all, FUNCPY_DRAIN_SECONDS).",
             stopping.limit)
    given_back: list[str] | None = None
    failed = False
    try:
        for hook in hooks:
            await hook()
        given_back = await runtime.stop(grace=stopping.remaining(), http_done=stopping.http_done)
        await _close_durable_sdk_session()
    except Exception:
        log.exception("Stopping the triggers failed")
        failed = True
    level, message = stopping.finish(given_back, failed)
    log.log(level, "%s", message)


async def _close_durable_sdk_session() -> None:
    """The Durable SDK keeps one aiohttp session for its calls back to the host; left open,
    asyncio logs 'Unclosed client session' errors at exit."""
    http_utils = sys.modules.get("azure.durable_functions.models.utils.http_utils")
    session = getattr(http_utils, "_client_session", None)
    if session is not None and not session.closed:
        try:
            await session.close()
        except Exception:  # created on another loop (a sync function's): nothing to do
            pass
