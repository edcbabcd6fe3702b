"""One timer function's schedule: `TimerRunner` arms each occurrence, fires it through the
invoker under the function's run lease (retries included), and records the monitor's status
after the run. Owned by `TimerService` (triggers/timer.py), which keeps one runner per timer
function of the current index and does the store work the runner asks for."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from funcpy.host.logs import log
from funcpy.host.retry import execute_with_retries
from funcpy.host.taskhub.store import Lease, StoreError
from funcpy.triggers.timer_spec import TimerSpec, trigger_value
from funcpy.triggers.timer_status import ScheduleStatus, check_past_due, claim_key, payload

if TYPE_CHECKING:
    from funcpy.host.index import FunctionInfo
    from funcpy.triggers.timer import TimerService


class TimerRunner:
    """Arms and fires one timer function's occurrences until cancelled."""

    def __init__(self, service: TimerService, fn: FunctionInfo, spec: TimerSpec, *,
                 first_start: bool) -> None:
        self.service = service
        self.fn = fn
        self.spec = spec
        self.first_start = first_start
        self.task: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        return self.fn.name

    def start(self) -> None:
        self.task = asyncio.ensure_future(self._run())

    def cancel(self) -> None:
        """Stop arming occurrences. A run in flight is a task of its own and is not cancelled."""
        if self.task is not None:
            self.task.cancel()

    async def _run(self) -> None:
        clock, schedule = self.service.clock, self.spec.schedule
        try:
            due = await self._begin()
        except Exception:
            log.exception("The timer for '%s' could not start cleanly.", self.name)
            due = schedule.next_after(clock.now())
        while True:
            await clock.sleep_until(due)
            try:
                due = await self._fire(due, past_due=False)
            except Exception:  # a bug of ours must not end the schedule
                log.exception("A firing of '%s' failed inside the host.", self.name)
                due = schedule.next_after(max(due, clock.now()))

    async def _begin(self) -> datetime:
        """Azure's listener start: the monitor's past-due check, then runOnStartup."""
        service, spec, schedule = self.service, self.spec, self.spec.schedule
        now = service.clock.now()
        log.debug("The '%s' timer is using the schedule '%s' and the time zone: '%s'. Next: %s",
                  self.name, spec.expression, spec.zone,
                  ", ".join(t.isoformat() for t in schedule.next_n(now, 5)))
        due = schedule.next_after(now)
        if spec.use_monitor:
            try:
                stored = ScheduleStatus.loads(await service.offload(service.read_status,
                                                                    self.name))
                check = check_past_due(schedule, stored, now)
                if check.changed:
                    await service.offload(service.write_status, self.name, check.status,
                                          schedule.tz)
            except StoreError as exc:
                log.error("The schedule status of '%s' cannot be read or saved: %s",
                          self.name, exc)
            else:
                due = check.status.next
                if check.past_due:
                    log.info("Function '%s' is past due on startup. Executing now.", self.name)
                    return await self._fire(due, past_due=True)
        if spec.run_on_startup and self.first_start:
            return await self._fire(None, past_due=False)
        return due

    async def _fire(self, occurrence: datetime | None, *, past_due: bool) -> datetime:
        """Run once (unless another host has this occurrence) and return the next one to arm.
        The run is its own task: cancelling the runner (reload, stop) does not cancel it."""
        run = asyncio.ensure_future(self._run_once(occurrence, past_due))
        self.service.runs.add(run)
        run.add_done_callback(self.service.runs.discard)
        return await asyncio.shield(run)

    async def _run_once(self, occurrence: datetime | None, past_due: bool) -> datetime:
        service, fn, schedule = self.service, self.fn, self.spec.schedule
        async with service.lock_for(fn.name):  # one run at a time, across reloads too
            start = service.clock.now()
            after = ScheduleStatus.after_run(schedule, start, occurrence)
            claim = claim_key(fn.name, occurrence) if occurrence is not None else None
            monitored = after if self.spec.use_monitor else None
            try:
                began = await service.offload(service.begin_run, fn.name, claim, occurrence,
                                              monitored is not None)
            except StoreError as exc:
                log.error("Skipped a run of '%s': the task hub store failed: %s", fn.name, exc)
                return after.next
            if began is None:
                log.debug("Skipped a run of '%s': another host has it.", fn.name)
                return after.next
            lease, previous = began
            service.invoker.metrics.timer_started(fn.name, occurrence, start)  # lateness
            status = ScheduleStatus.loads(previous) if monitored is not None else None
            value = trigger_value(fn, payload(schedule, status, past_due))
            reason = f"Timer fired at {start.astimezone(schedule.tz).isoformat()}"
            renewing = asyncio.ensure_future(self._keep_lease(lease))
            try:
                try:
                    # Failures are logged by the invoker; the schedule goes on either way. The
                    # retries run inside this run (under its lease), so the next occurrence
                    # waits for them, as Azure's listener awaits its executor's retries.
                    await execute_with_retries(
                        lambda retry: service.invoker.invoke(fn, value, reason=reason,
                                                             retry=retry),
                        service.retry_for(fn), service.wait_to_retry)
                finally:
                    renewing.cancel()
                # After the run, as Azure's monitor: the status says this occurrence ran. (A
                # run cut short never gets here: the next start runs it as past due.)
                if monitored is not None:
                    try:
                        await service.offload(service.finish_run, fn.name, lease, monitored,
                                              schedule.tz)
                    except StoreError as exc:
                        log.error("The schedule status of '%s' could not be saved after its "
                                  "run (it may run again as past due at the next start): %s",
                                  fn.name, exc)
            finally:
                await self._quietly(service.offload(service.release, lease))
            return after.next

    async def _keep_lease(self, lease: Lease) -> None:
        # Renew on the real clock: the lease's expiry is measured by the store's clock.
        while True:
            await asyncio.sleep(self.service.lease_seconds / 2)
            try:
                renewed = await self.service.offload(self.service.renew, lease)
            except StoreError as exc:
                log.warning("Renewing the timer lease of '%s' failed: %s", self.name, exc)
                continue
            if renewed is None:
                log.warning("'%s' lost its timer lease during a long run; another host may "
                            "start the next occurrence.", self.name)
                return
            lease = renewed

    async def _quietly(self, work: Awaitable[Any]) -> None:
        try:
            await work
        except StoreError as exc:
            log.debug("Releasing the timer lease of '%s' failed: %s", self.name, exc)

