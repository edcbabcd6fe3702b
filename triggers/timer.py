"""Timer triggers: NCRONTAB and TimeSpan schedules run as Azure's timer extension runs them.

Owns the `timerTrigger` kind (load-time validation, the banner line, the manual trigger value)
and `TimerService`, which keeps one `TimerRunner` per timer function of the current index. A
runner arms the next occurrence, fires it through the invoker, and computes the next one from
the run's start, so a run never overlaps the next and a run that overran fires once right
after it ends (Azure's rule). State lives in the task hub store: the monitor's schedule status
(`timer_status`), a claim per occurrence so that hosts sharing a store fire each occurrence
exactly once, and a short lease per function while it runs so hosts never overlap a run.
A run honours the function's retry policy (`host.retry`: timers are among the triggers Azure
retries): the retries happen inside the run, under its lease. Schedules are parsed by
`triggers.ncrontab`, the function's settings by `triggers.timer_spec`; calling user code is the
invoker's job.

Why not APScheduler (3.11 is installed) to run the jobs: its semantics are not Azure's. A job
still running at its next fire time is skipped with "maximum number of running instances
reached", where Azure fires once right after the run; the next fire time follows the scheduled
time, not the run's start; misfire grace and coalescing would have to be tuned to imitate
past-due runs that the task hub already tracks; its job stores duplicate the task hub; and it
reads `datetime.now()` itself, so tests could not move time. What is left to run is one asyncio
task per timer that sleeps until an instant: smaller than configuring APScheduler to behave.
croniter does the calendar maths, under `triggers.ncrontab`.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from funcpy.host.errors import FuncPyError
from funcpy.host.logs import log
from funcpy.host.retry import RetryPolicy
from funcpy.host.taskhub.sqlite import SqliteStore
from funcpy.host.taskhub.store import Lease, StoreError
from funcpy.triggers.timer_runner import TimerRunner
from funcpy.triggers.timer_spec import TimerSpec, time_zone, trigger_value
from funcpy.triggers.timer_status import (
    ScheduleStatus,
    payload,
    ran_already,
    status_key,
)

if TYPE_CHECKING:
    from funcpy.host.config import HostConfig
    from funcpy.host.index import FunctionIndex, FunctionInfo
    from funcpy.host.invoke import Invoker
    from funcpy.host.taskhub.store import TaskHubStore
    from funcpy.triggers.base import HostServices

__all__ = ["KIND", "TimerService", "TimerSpec", "time_zone", "trigger_value"]
T = TypeVar("T")
LEASE_SECONDS = 60.0  # Azure's listener lease; renewed at half its length during a long run
# With a shared store, a host that dies mid-run holds the run lease until it expires, and the
# timer's occurrences are skipped until then: the task hub's lease length (30 s by default,
# FUNCPY_LEASE_SECONDS) bounds that gap as it bounds the takeover of orchestrations.
CLAIMS_KEPT = timedelta(days=1)  # no host retries an occurrence that old
PURGE_EVERY = timedelta(hours=1)
STOP_GRACE = 10.0  # seconds stop() waits for runs in flight (they are never cancelled)
_MAX_HOP = 60.0


# -- time --------------------------------------------------------------------------------------


class Clock(Protocol):
    """Where timers get the time and wait for it; tests substitute one they move by hand."""

    def now(self) -> datetime:
        """The current time, aware."""
        ...

    async def sleep_until(self, moment: datetime) -> None:
        """Return once `now() >= moment` (at once if it already is)."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, moment: datetime) -> None:
        # asyncio.sleep arms loop.call_at on the monotonic clock, so the wake-up is exact; the
        # remaining time is re-read from the wall clock after at most a minute, because the
        # monotonic clock does not count a suspended machine's sleep nor see clock corrections.
        while (remaining := (moment - self.now()).total_seconds()) > 0:
            await asyncio.sleep(min(remaining, _MAX_HOP))


# -- the trigger kind --------------------------------------------------------------------------


class TimerTriggerKind:
    binding_type = "timerTrigger"

    def validate(self, fn: FunctionInfo, config: HostConfig) -> None:
        # The loader resolved %NAME% already; the zone comes from the process environment,
        # where the CLI put local.settings.json's values.
        TimerSpec.of(fn, os.environ)

    def validate_all(self, fns: list[FunctionInfo], config: HostConfig) -> dict[str, str]:
        return {}

    def describe(self, fn: FunctionInfo, config: HostConfig) -> str:
        spec = TimerSpec.of(fn, os.environ)
        schedule = spec.schedule
        upcoming = schedule.next_n(datetime.now(UTC), 3)
        when = ", ".join(t.isoformat(timespec="seconds") for t in upcoming)
        flags = "".join(f", {n}" for n, on in (("runOnStartup", spec.run_on_startup),
                                               ("useMonitor", spec.use_monitor)) if on)
        return (f"{self.binding_type}: {schedule.describe()} ({spec.expression}{flags}) "
                f"— next ({spec.zone}): {when}")

    def create_service(self, runtime: HostServices) -> TimerService:
        service = TimerService(runtime.store, runtime.invoker, runtime.environ,
                               retry_for=runtime.retry_policy)
        service.lease_seconds = min(LEASE_SECONDS, runtime.taskhub_settings().lease_seconds)
        return service

    def manual_value(self, fn: FunctionInfo, input: Any, runtime: HostServices) -> Any:
        """A fresh TimerRequest (the input is ignored, as in Azure): not past due, with the
        monitor's status, which a manual run does not update. The one indexed read runs on
        the loop; it is an admin call."""
        spec = TimerSpec.of(fn, runtime.environ)
        status = None
        if spec.use_monitor:
            status = ScheduleStatus.loads(runtime.store().get_value(status_key(fn.name)))
        return trigger_value(fn, payload(spec.schedule, status, past_due=False))


KIND = TimerTriggerKind()


# -- running timers ----------------------------------------------------------------------------


def lease_name(function: str) -> str:
    return f"timer:{function}"


class TimerService:
    """One runner per enabled timer function of the current index.

    Store calls are synchronous and go through `offload`. The embedded SQLite store is called
    on the loop: a firing's lease, claim and status take about 0.1 ms together (WAL, no fsync
    at commit), at worst a wait for a durable commit's writer lock, while a worker thread would
    have to win the GIL back from a busy loop after every SQLite call (measured: p50 lateness
    2 -> 9 ms under HTTP load). Any other store (PostgreSQL: network round trips) goes to a
    thread with `asyncio.to_thread`, so it never stalls the loop that serves HTTP.
    """

    def __init__(self, open_store: Callable[[], TaskHubStore], invoker: Invoker,
                 environ: Mapping[str, str], *, clock: Clock | None = None,
                 owner: str | None = None,
                 retry_for: Callable[[FunctionInfo], RetryPolicy | None] | None = None) -> None:
        self._open_store = open_store
        self.store: TaskHubStore | None = None
        self.invoker = invoker
        self.environ = environ
        self.clock: Clock = clock or SystemClock()
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.runners: dict[str, TimerRunner] = {}
        self.runs: set[asyncio.Task[Any]] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self._started: set[str] = set()
        self._last_purge: datetime | None = None
        self.lease_seconds = LEASE_SECONDS
        self.retry_for = retry_for or (lambda fn: None)
        self._stopping = asyncio.Event()  # ends the waits between retries

    async def offload(self, call: Callable[..., T], *args: Any) -> T:
        if isinstance(self.store, SqliteStore):
            return call(*args)
        return await asyncio.to_thread(call, *args)

    async def apply(self, index: FunctionIndex) -> None:
        wanted = {fn.name: fn for fn in index.of_type(KIND.binding_type)
                  if fn.name not in index.disabled}
        for name in [n for n in self.runners if n not in wanted]:
            self.runners.pop(name).cancel()
            log.info("The timer for '%s' is stopped.", name)
        if wanted and self.store is None:
            try:
                self.store = self._open_store()
            except (FuncPyError, StoreError) as exc:
                log.error("Timer functions cannot run: %s", exc)
                return
        for name, fn in wanted.items():
            try:
                spec = TimerSpec.of(fn, self.environ)
            except ValueError as exc:
                log.error("The '%s' function is in error: %s", name, exc)
                if name in self.runners:
                    self.runners.pop(name).cancel()
                continue
            runner = self.runners.get(name)
            if runner is not None and runner.spec == spec:
                runner.fn = fn  # new code, same schedule: keep the armed occurrence
                continue
            if runner is not None:
                runner.cancel()  # its run in flight finishes; the new runner waits for it
                log.info("The timer for '%s' is rescheduled: %s.", name, spec.expression)
            # Azure restarts the host on every file change, so runOnStartup fires on each
            # edit; here it fires once per function per process, never again on hot reload.
            first = name not in self._started
            self._started.add(name)
            self.runners[name] = TimerRunner(self, fn, spec, first_start=first)
            self.runners[name].start()

    async def stop(self) -> None:
        self._stopping.set()
        for runner in self.runners.values():
            runner.cancel()
        self.runners.clear()
        if self.runs:
            log.info("Waiting for %d timer run(s) to finish.", len(self.runs))
            await asyncio.wait(list(self.runs), timeout=STOP_GRACE)

    def lock_for(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    async def wait_to_retry(self, delay: timedelta) -> bool:
        """Sleep `delay` on the timers' clock; False (at once) if the service is stopping:
        the host stops retrying then, as Azure's executor does on cancellation."""
        if self._stopping.is_set():
            return False
        sleep = asyncio.ensure_future(self.clock.sleep_until(self.clock.now() + delay))
        stop = asyncio.ensure_future(self._stopping.wait())
        await asyncio.wait((sleep, stop), return_when=asyncio.FIRST_COMPLETED)
        for task in (sleep, stop):
            task.cancel()
        return not self._stopping.is_set()

    # -- store work, called through `offload` -------------------------------------------------

    def begin_run(self, name: str, claim: str | None, occurrence: datetime | None,
                  monitored: bool) -> tuple[Lease, str | None] | None:
        """Take the function's run lease and check the occurrence is still to run. Returns
        the lease and the monitor's status as it was before this run, or None when another
        host is running this function or has run this occurrence (skip it).

        A monitored timer's occurrence has run when its status says so (the status is
        written after the run, in `finish_run`, as Azure's monitor does, so a crash mid-run
        leaves it to run again as past due). An unmonitored one has no status: its
        occurrence is claimed here, once across hosts, in a transaction fenced by the lease."""
        store = self.store
        assert store is not None
        lease = store.acquire_lease(lease_name(name), self.owner, self.lease_seconds)
        if lease is None:
            return None
        previous = store.get_value(status_key(name)) if monitored else None
        go = True
        if monitored:
            go = not ran_already(ScheduleStatus.loads(previous), occurrence)
        elif claim is not None:
            with store.transaction(fence=lease) as tx:
                go = tx.claim_once(claim)
        if not go:
            store.release_lease(lease)
            return None
        self._purge_claims()
        return lease, previous

    def finish_run(self, name: str, lease: Lease, status: ScheduleStatus, tz: tzinfo) -> None:
        """Record a monitored timer's run, fenced by its run lease (a host that lost the
        lease during a long run does not overwrite the status of the next holder)."""
        assert self.store is not None
        with self.store.transaction(fence=lease) as tx:
            tx.put_value(status_key(name), status.dumps(tz))

    def _purge_claims(self) -> None:
        now = self.clock.now()
        if self._last_purge is None or now - self._last_purge >= PURGE_EVERY:
            self._last_purge = now
            assert self.store is not None
            self.store.purge_claims((now - CLAIMS_KEPT).timestamp())

    def read_status(self, name: str) -> str | None:
        assert self.store is not None
        return self.store.get_value(status_key(name))

    def write_status(self, name: str, status: ScheduleStatus, tz: tzinfo) -> None:
        assert self.store is not None
        with self.store.transaction() as tx:
            tx.put_value(status_key(name), status.dumps(tz))

    def release(self, lease: Lease) -> None:
        assert self.store is not None
        self.store.release_lease(lease)

    def renew(self, lease: Lease) -> Lease | None:
        assert self.store is not None
        return self.store.renew_lease(lease, self.lease_seconds)
