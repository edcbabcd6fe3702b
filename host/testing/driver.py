"""Driving the task hub of an in-process host on virtual time.

The host's worker runs as it does on a server: it claims control-queue and work-item messages,
runs episodes and activities, commits their effects. The driver only watches it, and skips time:

- *settled*: nothing is claimed or running (the worker's count of claimed work, the invoker's
  invocations in flight) and no durable message is visible at the current virtual time. Only
  time can move the hub on then: the next message that becomes visible is a durable timer (or
  a delay the host chose, such as a suspended instance's recheck).
- *skip*: move the virtual clock to that message's time, after extending the worker's leases
  past it when the jump would outrun them (leases are judged by the same clock: a lease that
  expired by the jump would refuse the next commit), then wake the loops of the queues with a
  message due, whose waits were armed in real time.

Everything here runs on the harness's loop, where the worker runs: with the embedded SQLite
store each store call completes before any other coroutine runs, so a skip never interleaves
with a commit.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from funcpy.host.taskhub.history import WORKITEMS, control_queue
from funcpy.host.taskhub.instance_state import TERMINAL
from funcpy.host.taskhub.store import InstanceRecord
from funcpy.host.testing.clock import VirtualClock

# How long to keep yielding to the loop before sleeping between checks: work in flight usually
# hands over to the next step (a commit wakes a loop, which claims) within a few loop turns.
_SPINS = 20
_PAUSE_SECONDS = 0.001
_LEASE_MARGIN_SECONDS = 3600.0


class Stuck(AssertionError):
    """An instance waits for something nothing in the task hub will do (an external event, a
    resume): no timer or message could move it on, however much time passed."""


class Driver:
    def __init__(self, runtime: Any, clock: VirtualClock) -> None:
        self.runtime = runtime
        self.clock = clock

    @property
    def worker(self) -> Any:
        durable = self.runtime.durable
        return durable.worker if durable is not None else None

    def _queues(self, worker: Any) -> list[str]:
        return [control_queue(p) for p in range(worker.partitions)] + [WORKITEMS]

    def _busy(self, worker: Any) -> bool:
        return (worker.isolation.active > 0 or self.runtime.invoker.in_flight > 0
                # Until the worker holds every partition, a message of one it does not hold
                # waits for the lease, not for time.
                or len(worker.leases) < worker.partitions)

    async def settle(self, deadline: float) -> float | None:
        """Let everything run that can run at the current virtual time. Returns once settled:
        the virtual time at which the next durable message becomes visible, or None if no
        message is waiting at all. TimeoutError at `deadline` (time.monotonic())."""
        worker = self.worker
        if worker is None:  # no durable functions: there is nothing to drive
            return None
        spins = 0
        while True:
            if time.monotonic() >= deadline:
                raise TimeoutError("the task hub was still busy at the deadline: "
                                   f"{self._describe_busy(worker)}")
            if worker.isolation.active > 0:
                # Work claimed: sleep until the worker has settled all of it rather than
                # spinning, which would take the GIL from the activities in the thread pool.
                await self._idle(worker, deadline)
                spins = 0
                continue
            if not self._busy(worker):
                due = worker.store.next_visible_at(self._queues(worker))
                if due is None or due > self.clock():
                    return float(due) if due is not None else None
            # A message is due and its loop has not claimed it yet, or a function runs that
            # no claim covers (an HTTP request): look again soon.
            spins += 1
            await asyncio.sleep(0 if spins < _SPINS else _PAUSE_SECONDS)

    @staticmethod
    async def _idle(worker: Any, deadline: float) -> None:
        # The worker's own "nothing claimed" event (host/taskhub/isolation.py).
        try:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                await worker.isolation._idle.wait()
        except TimeoutError:
            pass  # the caller's deadline check says what was busy

    def _describe_busy(self, worker: Any) -> str:
        running = sorted({fn.name for fn in self.runtime.invoker.running()})
        return (f"{worker.isolation.active} message(s) claimed, functions running: "
                f"{', '.join(running) or 'none'}")

    def skip_to(self, at: float) -> None:
        """Move the virtual clock to `at` (if it is ahead), keeping the leases valid, and
        wake the loops whose queue has a message due then."""
        delta = at - self.clock()
        worker = self.worker
        if delta <= 0:
            return
        if worker is not None:
            self._keep_leases(worker, at)
        self.clock.skip(delta)
        if worker is None:
            return
        now = self.clock()
        due = {q for q, t in worker.store.next_visible_by_queue(self._queues(worker)).items()
               if t <= now}
        for p in list(worker.leases):
            if control_queue(p) in due:
                worker.wake_partition(p)
        if WORKITEMS in due:
            worker.activities.wake.set()

    def _keep_leases(self, worker: Any, at: float) -> None:
        """Extend the worker's leases past `at` when the jump would outrun them: by an hour
        of virtual time beyond, so that a run of short skips renews them once, not at every
        timer (the worker's own renewals shorten them again, which this sees)."""
        leases = worker.partition_leases
        held = [*leases.held.values(), *([leases.presence] if leases.presence else [])]
        if not held or min(lease.expires_at for lease in held) > at + worker.lease_seconds / 2:
            return
        duration = at - self.clock() + worker.lease_seconds + _LEASE_MARGIN_SECONDS
        for p, lease in list(leases.held.items()):
            renewed = worker.store.renew_lease(lease, duration)
            if renewed is not None:
                leases.held[p] = renewed
        if leases.presence is not None:
            leases.presence = worker.store.renew_lease(leases.presence, duration) \
                or leases.presence

    async def wait(self, instance_id: str, deadline: float) -> InstanceRecord:
        """Run the hub, skipping time, until the instance is completed, failed or terminated.
        `Stuck` when it waits for something no timer brings."""
        while True:
            try:
                due = await self.settle(deadline)
            except TimeoutError as exc:
                raise TimeoutError(self._late(instance_id, str(exc))) from None
            record = self.runtime.store().get_instance(instance_id)
            if record is None:
                raise KeyError(f"no instance with id {instance_id!r}")
            if record.runtime_status in TERMINAL:
                return record
            if time.monotonic() >= deadline:
                raise TimeoutError(self._late(instance_id, "the task hub had settled"))
            if due is None or record.runtime_status == "Suspended":
                why = ("it is suspended: resume it" if record.runtime_status == "Suspended"
                       else "it waits for an external event (raise_event) or for something "
                       "outside the task hub")
                raise Stuck(f"instance {instance_id!r} ({record.name}) is "
                            f"{record.runtime_status} and nothing scheduled can move it on: "
                            f"{why}")
            self.skip_to(due)

    def _late(self, instance_id: str, hub: str) -> str:
        record = self.runtime.store().get_instance(instance_id)
        what = f"({record.name}) is still {record.runtime_status}" if record is not None \
            else "does not exist"
        return (f"instance {instance_id!r} {what} at the deadline, virtual time "
                f"{self.clock.now():%Y-%m-%d %H:%M:%S} UTC ({hub}): one that never ends (an "
                "eternal orchestration) is driven with advance(), not wait()")

    async def advance(self, seconds: float, deadline: float) -> None:
        """Move virtual time `seconds` ahead, running everything that falls due on the way in
        order, then settle."""
        if seconds < 0:
            raise ValueError("virtual time never goes back")
        target = self.clock() + seconds
        while True:
            due = await self.settle(deadline)
            if due is None or due > target:
                break
            self.skip_to(due)
        self.skip_to(target)
        await self.settle(deadline)
