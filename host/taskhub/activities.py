"""Activities: the work-item queue any host may take from.

Claims activity calls up to maxConcurrentActivityFunctions, runs each (activity_run.py turns a
work item into its TaskCompleted/TaskFailed event), keeps its claim alive while it runs, and
commits that event for the owning instance together with the deletion of the work item; the
results of a burst are group-committed. A work item for call_http (`BuiltIn::HttpActivity`) runs
no user function: http_activity.py makes its request.

Every work item we hold is a `Claim`. Renewing a claim changes its pop receipt, and a commit
must present the current one, so renewal, commit and release of one claim never overlap: each
holds the claim's lock across its store call. Without it a commit could send the receipt a
renewal was replacing (on PostgreSQL, where store calls yield); the commit then failed, the
renewal wrote the claim back, and the result was lost while the item stayed claimed forever.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from funcpy.host.faults import fault_point
from funcpy.host.taskhub.activity_run import execute
from funcpy.host.taskhub.history import (
    BATCH,
    WORKITEMS,
    ControlMessage,
    WorkItem,
    control_queue,
    partition_of,
)
from funcpy.host.taskhub.http_activity import HttpActivity
from funcpy.host.taskhub.isolation import is_suspect
from funcpy.host.taskhub.store import (
    InstanceRecord,
    Message,
    PopReceiptMismatch,
    StoreBusy,
    StoreError,
)
from funcpy.host.taskhub.supervise import keep_running

if TYPE_CHECKING:
    from funcpy.host.taskhub.worker import TaskHubWorker

log = logging.getLogger("func_py.taskhub")
# A result whose commit fails for a reason other than a busy or lost database is tried this
# many times, then its work item is made visible again so that the activity runs again.
COMMIT_ATTEMPTS = 5
RETRY_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)


# What one result commit handed to a partition loop of this host: the partition, its
# messages (claimed in the commit) and their instances' rows (read in the commit).
Handed = tuple[int, list[Message], dict[str, InstanceRecord]]


class Claim:
    """A work item we hold. `message` carries the current pop receipt; `lock` serialises the
    store calls that present or change it; `settled` once it was committed, given back or
    found taken by someone else (then nothing may touch it again)."""

    __slots__ = ("item", "lock", "message", "settled")

    def __init__(self, message: Message) -> None:
        self.message = message
        self.item = WorkItem.decode(message.payload)
        self.lock = asyncio.Lock()
        self.settled = False

    def describe(self) -> str:
        return (f"activity '{self.item.name}' of instance '{self.item.instance_id}' "
                f"(task {self.item.task_id})")


@dataclass
class Result:
    claim: Claim
    event: dict[str, Any]
    attempts: int = 0
    busy: bool = False  # the last failure was a busy or lost database


class ActivityWorker:
    def __init__(self, hub: TaskHubWorker) -> None:
        self.hub = hub
        self.wake = asyncio.Event()
        self.inflight: dict[int, Claim] = {}  # claimed, unsettled work items, by message id
        self.reserved = 0  # slots held by a claim or a hand-off under way
        self._starved = False  # the claim loop waits because every free slot is reserved
        self.results: asyncio.Queue[Result | None] = asyncio.Queue()  # None: stop
        self.tasks: set[asyncio.Task[Any]] = set()
        self._retries: set[asyncio.Task[None]] = set()
        self.http = HttpActivity(hub.clock)  # runs call_http's BuiltIn::HttpActivity items

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        def running() -> bool:
            return self.hub._running

        # The committer keeps running while the worker stops: it commits the last results.
        self._loops = [
            asyncio.ensure_future(keep_running("work-item claim loop", self.loop, running)),
            asyncio.ensure_future(keep_running("activity result commits", self.result_loop,
                                               lambda: True))]
        self._renewer = asyncio.ensure_future(
            keep_running("activity claim renewal", self.renew_loop, lambda: True))

    async def stop(self, grace: float) -> list[str]:
        """Claim nothing more, let activities in flight finish (up to `grace`) and commit
        their results, then give back what is still claimed. Returns the work given back
        (it runs again, on this host after a restart or on another one)."""
        self.wake.set()
        claimer, committer = self._loops
        await _bounded(claimer, 5.0)  # ends after its current claim
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=grace)
        await self.results.put(None)
        await _bounded(committer, 10.0)  # commits what finished, then ends
        await self.http.aclose()
        self._renewer.cancel()
        await asyncio.gather(self._renewer, return_exceptions=True)
        return await self.release_inflight()

    # -- claiming --------------------------------------------------------------------------

    async def loop(self) -> None:
        hub = self.hub
        while hub._running:
            free = hub.settings.max_activities - len(self.tasks) - self.reserved
            if free <= 0:
                if self.tasks:
                    await asyncio.wait(list(self.tasks), return_when=asyncio.FIRST_COMPLETED)
                else:  # every slot is reserved by hand-offs under way
                    self.wake.clear()
                    self._starved = True
                    await hub.waits.wait(self.wake, WORKITEMS)
                    self._starved = False
                continue
            self.wake.clear()
            want = min(free, BATCH)
            self.reserved += want  # a hand-off during the claim must not take these slots
            try:
                msgs = await hub.isolation.claim(lambda w=want: hub._db(  # type: ignore[misc]
                    hub.store.get_messages, WORKITEMS, w, hub.visibility))
            except StoreError as exc:
                log.warning("Reading work items failed (will retry): %s", exc)
                await asyncio.sleep(0.5)
                continue
            finally:
                self.reserved -= want
            if msgs and not hub._running:
                await hub.give_back(msgs)
                return
            if msgs and (hub.isolation.isolating or any(map(is_suspect, msgs))):
                # Give everything back, suspect included (nothing may wait claimed beside a
                # suspect: a death would count against it), then take the suspect back by id
                # once alone. (Claiming "the oldest" again livelocked: a give-back moves
                # messages to the back of the queue, so with more than a batch waiting the
                # second claim never saw the suspect, and the two took turns for ever.)
                suspect = next(filter(is_suspect, msgs), None)
                await hub.give_back(msgs)
                if suspect is not None:
                    await self.run_alone(suspect.id)
                continue
            for m in msgs:
                self._start(m)
            if len(msgs) < want:
                await hub.waits.wait(self.wake, WORKITEMS)

    def reserve(self) -> int:
        """Slots for the work items an episode commit may hand to this host (claimed in the
        commit, so they run without a claim round trip): the free ones, none while a suspect
        is isolated or the host stops. Held until `adopt`."""
        hub = self.hub
        if not hub._running or hub.isolation.isolating:
            return 0
        free = max(0, hub.settings.max_activities - len(self.tasks) - self.reserved)
        self.reserved += free
        return free

    async def adopt(self, msgs: list[Message], reserved: int) -> None:
        """Run the work items a commit handed to this host; frees the reservation. (Called
        before the committing batch settles its own messages, so the count of work in flight
        never passes through zero in between.)"""
        self.reserved -= reserved
        if self._starved:
            self.wake.set()  # the claim loop waits for the slots it could not count
        if not msgs:
            return
        self.hub.isolation.track(len(msgs))
        if not self.hub._running or self.hub.isolation.isolating:
            # Stopping, or a suspect waits to run alone: claimed now means given back now.
            await self.hub.give_back(msgs)
            return
        for m in msgs:
            self._start(m)

    def _start(self, msg: Message) -> None:
        claim = Claim(msg)
        self.inflight[msg.id] = claim
        task = asyncio.ensure_future(self._run(claim))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def run_alone(self, message_id: int) -> None:
        """Take the suspect work item back and run it with nothing else of this process in
        flight."""
        hub = self.hub
        async with hub.isolation.alone():
            if not hub._running:
                return
            msgs = await hub._db(hub.store.claim_messages, WORKITEMS, [message_id],
                                 hub.visibility)
            if not msgs:
                return  # done or taken meanwhile
            hub.isolation.track(1)
            claim = Claim(msgs[0])
            self.inflight[claim.message.id] = claim
            log.info("Running %s alone: it was delivered %d times, its last holder died "
                     "or lost it.", claim.describe(), claim.message.dequeue_count)
            await self._commit_results([Result(claim, await self._execute(claim))])

    # -- running ---------------------------------------------------------------------------

    async def _run(self, claim: Claim) -> None:
        await self.results.put(Result(claim, await self._execute(claim)))

    async def _execute(self, claim: Claim) -> dict[str, Any]:
        return await execute(self.hub, self.http, claim.item, claim.message)

    # -- keeping claims --------------------------------------------------------------------

    async def renew_loop(self) -> None:
        every = self.hub.visibility / 3
        while True:
            await asyncio.sleep(every)
            await self.renew()

    async def renew(self) -> None:
        """Extend every claim we hold (each under its lock, so no commit sees a stale
        receipt); a claim someone else took is dropped, its result will not be committed."""
        hub = self.hub
        for claim in list(self.inflight.values()):
            async with claim.lock:
                if claim.settled:
                    continue
                try:
                    claim.message = await hub._db(hub.store.update_visibility, claim.message,
                                                  hub.visibility)
                except PopReceiptMismatch:
                    log.warning("Lost the claim on %s: its work item was taken again after "
                                "its visibility expired; another delivery will run it.",
                                claim.describe())
                    self._settle(claim)
                except StoreError as exc:
                    log.warning("Renewing the claim on %s failed (will retry): %s",
                                claim.describe(), exc)

    def _settle(self, claim: Claim) -> None:
        if not claim.settled:
            claim.settled = True
            self.inflight.pop(claim.message.id, None)
            self.hub.isolation.settled()

    async def release_inflight(self) -> list[str]:
        """Give back every unsettled claim (uncounted: the host chose to stop, nothing died)
        for another host to take; returns what was given back."""
        hub = self.hub
        abandoned: list[str] = []
        for task in list(self._retries):
            task.cancel()
        for claim in list(self.inflight.values()):
            async with claim.lock:
                if claim.settled:
                    continue
                try:
                    await hub._db(hub.store.unclaim, [claim.message])
                except StoreError:
                    pass  # its visibility runs out instead
                abandoned.append(claim.describe())
                self._settle(claim)
        return abandoned

    # -- committing results ----------------------------------------------------------------

    async def result_loop(self) -> None:
        while True:
            batch = [await self.results.get()]
            while not self.results.empty():
                batch.append(self.results.get_nowait())
            results = [r for r in batch if r is not None]
            if results:
                await self._commit_results(results)
            if len(results) < len(batch):
                return

    async def _commit_results(self, batch: list[Result]) -> None:
        async with AsyncExitStack() as stack:
            # Renewals of these claims wait until the commit has settled them.
            for r in sorted(batch, key=lambda r: r.claim.message.id):
                await stack.enter_async_context(r.claim.lock)
            todo = [r for r in batch if not r.claim.settled]
            handed: list[Handed] = []
            retry = await self._commit_settling(todo, handed)
        fault_point("activity-committed")
        for p, msgs, rows in handed:
            await self.hub.hand_to_partition(p, msgs, rows)
        mine = {p for p, _, _ in handed}
        for r in todo:
            if r not in retry:
                p = partition_of(r.claim.item.instance_id, self.hub.partitions)
                if p not in mine:
                    self.hub.wake_partition(p)
        for r in retry:
            self._retry(r)

    async def _commit_settling(self, todo: list[Result], handed: list[Handed]) -> list[Result]:
        """Commit the results (with their claims' locks held); returns those to try again.
        What the commits handed to this host's partition loops goes to `handed`."""
        if not todo:
            return []
        try:
            self._track(handed, await self.hub._db(self._commit, todo))
            for r in todo:
                self._settle(r.claim)
            return []
        except Exception:  # any failure: no claim may be left unsettled by it
            pass
        retry = []
        for r in todo:  # one stale claim must not sink the others: one by one
            try:
                self._track(handed, await self.hub._db(self._commit, [r]))
                self._settle(r.claim)
            except PopReceiptMismatch:
                # Deleted (its result is recorded) or delivered again (it runs again there).
                log.info("Result of %s dropped: its work item is no longer ours.",
                         r.claim.describe())
                self._settle(r.claim)
            except Exception as exc:
                r.attempts += 1
                r.busy = isinstance(exc, StoreBusy)
                log.warning("Result of %s not committed yet (attempt %d): %s",
                            r.claim.describe(), r.attempts, exc)
                retry.append(r)
        return retry

    def _track(self, handed: list[Handed], more: list[Handed]) -> None:
        """Messages handed to partition loops count as work in flight from their commit on,
        before the claims whose results they carry stop counting: in between, a suspect
        would see the process idle and run beside them."""
        for _, msgs, _ in more:
            self.hub.isolation.track(len(msgs))
        handed += more

    def _retry(self, r: Result) -> None:
        """Commit again later; the claim is renewed meanwhile. A busy or lost database is
        waited out for as long as the host runs; other failures give the work item back."""
        if not self.hub._running:
            return  # release_inflight gives the claim back
        task = asyncio.ensure_future(self._give_up(r) if r.attempts >= COMMIT_ATTEMPTS
                                     and not r.busy else self._requeue(r))
        self._retries.add(task)
        task.add_done_callback(self._retries.discard)

    async def _requeue(self, r: Result) -> None:
        await asyncio.sleep(RETRY_SECONDS[min(r.attempts, len(RETRY_SECONDS)) - 1])
        await self.results.put(r)

    async def _give_up(self, r: Result) -> None:
        async with r.claim.lock:
            if r.claim.settled:
                return
            log.error("Result of %s could not be committed after %d attempts; its work item "
                      "is made visible again so that it runs again.", r.claim.describe(),
                      r.attempts)
            try:
                await self.hub._db(self.hub.store.update_visibility, r.claim.message, 0.0)
            except StoreError:
                pass  # its visibility runs out instead
            self._settle(r.claim)

    def _commit(self, todo: list[Result]) -> list[Handed]:
        """One transaction. The results for partitions this host runs are put claimed, with
        their instances' rows read in the same commit, and handed to those partitions' loops
        (no claim round trip before the episode); the others are queued for their owner."""
        hub = self.hub
        # One insert per instance (a fan-in's results are one statement) and one delete for
        # all the work items; on PostgreSQL the whole commit is one round trip.
        sends: dict[tuple[int, str], list[str]] = {}
        for r in todo:
            item = r.claim.item
            p = partition_of(item.instance_id, hub.partitions)
            sends.setdefault((p, item.instance_id), []).append(
                ControlMessage(item.instance_id, item.execution_id, r.event).encode())
        handed: dict[int, tuple[list[Any], list[str]]] = {}
        with hub.store.transaction() as tx:
            for (p, instance_id), payloads in sends.items():
                if hub.partition_leases.serving(p):
                    claims, ids = handed.setdefault(p, ([], []))
                    claims.append(tx.enqueue_claimed(control_queue(p), payloads,
                                                     hub.visibility, instance_id=instance_id))
                    ids.append(instance_id)
                else:
                    tx.enqueue(control_queue(p), payloads, instance_id=instance_id)
            rows = {p: tx.read_instances(ids) for p, (_, ids) in handed.items()}
            tx.delete_messages([r.claim.message for r in todo])
        return [(p, [m for get in claims for m in get()], rows[p]())
                for p, (claims, _) in handed.items()]


async def _bounded(task: asyncio.Task[Any], seconds: float) -> None:
    """Wait for a loop to end by itself; cancel it when it takes longer."""
    done, _ = await asyncio.wait([task], timeout=seconds)
    if not done:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
