"""The task hub worker: claims work from the store and runs it through the triggers.

Control queues are split in partitions by instance id, one lease per partition; only the lease
holder runs a partition's episodes, so an instance's episodes never run on two hosts at once,
and every episode commits fenced by that lease. Activities come from one work-item queue that
any host may take from. Each episode's effects and each activity's result are committed in one
transaction together with the deletion of the messages they consumed. A batch commit that
schedules activities hands up to this host's free activity slots to itself, claimed in the same
commit (`writes.HandOff`), so a chain's next activity starts without a claim round trip; the
rest wait in the queue for any host. The batch commit itself is batch_commit.py's.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import socket
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from functools import partial
from typing import Any

from funcpy.host.faults import fault_point
from funcpy.host.index import FunctionIndex, FunctionInfo
from funcpy.host.invoke import Invoker
from funcpy.host.taskhub.activities import ActivityWorker
from funcpy.host.taskhub.batch_commit import BatchCommitter
from funcpy.host.taskhub.entity_batch import EntityBatchRunner
from funcpy.host.taskhub.entity_ids import is_entity_id
from funcpy.host.taskhub.episode import (
    Effects,
    EpisodeRunner,
    InstanceState,
    durable_name,
)
from funcpy.host.taskhub.history import (
    BATCH,
    WORKITEMS,
    control_queue,
    partition_of,
)
from funcpy.host.taskhub.instance_load import InstanceLoader
from funcpy.host.taskhub.isolation import Isolation, is_suspect
from funcpy.host.taskhub.partitions import PartitionLeases
from funcpy.host.taskhub.replay import Outcome
from funcpy.host.taskhub.settings import TaskHubSettings
from funcpy.host.taskhub.store import (
    InstanceRecord,
    Lease,
    Message,
    StoreError,
)
from funcpy.host.taskhub.supervise import keep_running
from funcpy.host.taskhub.waits import QueueWaits

log = logging.getLogger("func_py.taskhub")


class TaskHubWorker:
    def __init__(self, store: Any, settings: TaskHubSettings, invoker: Invoker,
                 clock: Callable[[], float] = time.time, poll_seconds: float = 1.0,
                 owner: str | None = None, replay_check: bool = False) -> None:
        self.store = store
        self.settings = settings
        self.invoker = invoker
        self.clock = clock
        self.poll_seconds = poll_seconds
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease_seconds = settings.lease_seconds
        self.visibility = max(5.0, settings.lease_seconds)
        self.partitions = settings.partition_count
        self.cache: OrderedDict[str, InstanceState] = OrderedDict()
        self._orchestrators: dict[str, FunctionInfo] = {}
        self._activities: dict[str, FunctionInfo] = {}
        self._entities: dict[str, FunctionInfo] = {}
        self._wake: dict[int, asyncio.Event] = {}
        # Messages committed claimed for a partition loop of this host (activity results),
        # with their instances' rows: the loop runs them without claiming them. `_must_read`:
        # the partitions woken for something only the store shows (see _partition_loop).
        self._handed: dict[int, tuple[list[Message], dict[str, InstanceRecord]]] = {}
        self._must_read: set[int] = set()
        self._give_backs: set[asyncio.Task[Any]] = set()
        self.waits = QueueWaits(store, clock, poll_seconds, self._db)
        self._orch_slots = asyncio.Semaphore(settings.max_orchestrations)
        self.episodes_running = 0  # orchestration episodes and entity batches in flight
        self._lease_task: asyncio.Task[Any] | None = None
        self._code_generation = 0  # grows when a reload changes an orchestrator
        self._running = False
        self._stop_listening: Callable[[], None] | None = None
        # SQLite answers in microseconds on this thread; a network database goes to a thread.
        self._inline_db = type(store).__name__ == "SqliteStore"
        self.isolation = Isolation()
        self.partition_leases = PartitionLeases(self, self._partition_loop)
        self.activities = ActivityWorker(self)
        self.loader = InstanceLoader(self)
        self.committer = BatchCommitter(self)
        self.entity_runner = EntityBatchRunner(lambda name: self._entities.get(name),
                                               self._invoke_entity, clock)
        self.runner = EpisodeRunner(self._orchestrator, self._activity, self._activity_names,
                                    self._invoke_orchestrator, clock, replay_check,
                                    settings.default_version)

    # -- functions -------------------------------------------------------------------------

    def apply(self, index: FunctionIndex) -> None:
        orchestrators = {durable_name(f, "orchestration").lower(): f
                         for f in index.of_type("orchestrationTrigger")}
        activities = {durable_name(f, "activity").lower(): f
                      for f in index.of_type("activityTrigger")}
        # A changed orchestrator replays from history with its new code at its next episode.
        changed = {k for k, f in orchestrators.items()
                   if k in self._orchestrators and self._orchestrators[k].fingerprint
                   != f.fingerprint}
        if changed:
            self._code_generation += 1
        for iid, st in list(self.cache.items()):
            if st.record.name.lower() in changed:
                del self.cache[iid]
        self._orchestrators, self._activities = orchestrators, activities
        self._entities = {durable_name(f, "entityName").lower(): f
                          for f in index.of_type("entityTrigger")}

    def _orchestrator(self, name: str) -> FunctionInfo | None:
        return self._orchestrators.get(name.lower())

    def _activity(self, name: str) -> FunctionInfo | None:
        return self._activities.get(name.lower())

    def _activity_names(self) -> list[str]:
        return sorted(durable_name(f, "activity") for f in self._activities.values())

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def leases(self) -> dict[int, Lease]:
        """The partitions this host holds, with their leases."""
        return self.partition_leases.held

    async def _db(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self._inline_db:
            return fn(*args, **kwargs)
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def start(self) -> None:
        self._running = True
        listen = getattr(self.store, "listen", None)
        if listen is not None:  # several hosts: wake on each other's commits (PostgreSQL)
            loop = asyncio.get_running_loop()
            self._stop_listening = listen(
                lambda q, at: loop.call_soon_threadsafe(self._on_remote, q, at))
        self._lease_task = asyncio.ensure_future(keep_running(
            "partition lease upkeep", self.partition_leases.run, lambda: self._running))
        self.activities.start()

    def _on_remote(self, queue: str, visible_at: float) -> None:
        """Another host committed messages to `queue`."""
        if queue == WORKITEMS:
            self.activities.wake.set()
            return
        if visible_at > self.clock():
            self.waits.expect(queue, visible_at)
        for p in self.leases:
            if control_queue(p) == queue:
                self.wake_partition(p)

    async def stop(self, grace: float = 30.0) -> list[str]:
        """Stop taking work, let work in flight finish (activities up to `grace`), release
        leases and give back claims. Returns the work that was given back unfinished."""
        self._running = False
        self.isolation.close()
        if self._stop_listening is not None:
            await asyncio.to_thread(self._stop_listening)
        for ev in self._wake.values():
            ev.set()
        if self._lease_task is not None:
            self._lease_task.cancel()
            await asyncio.gather(self._lease_task, return_exceptions=True)
        abandoned = await self.activities.stop(grace)
        await self.partition_leases.stop()
        await asyncio.gather(*self._give_backs, return_exceptions=True)
        return abandoned

    async def give_back(self, msgs: list[Message], *, tracked: bool = True) -> None:
        """Return claimed messages unworked and uncounted; `tracked` if they were claimed
        through `isolation.claim` (so they count as work in flight until now)."""
        try:
            if msgs:
                await self._db(self.store.unclaim, msgs)
        except StoreError as exc:
            log.warning("Giving back %d claimed message(s) failed; they become visible when "
                        "their claim expires: %s", len(msgs), exc)
        finally:
            if tracked:
                self.isolation.settled(len(msgs))

    def wake_partition(self, p: int) -> None:
        """Something for partition `p` is in the store (a commit, a timer due, another
        host's notice): its loop reads the queue at its next turn."""
        self._must_read.add(p)
        ev = self._wake.get(p)
        if ev is not None:
            ev.set()

    async def hand_to_partition(self, p: int, msgs: list[Message],
                                rows: dict[str, InstanceRecord]) -> None:
        """Messages committed claimed for partition `p` (`Transaction.enqueue_claimed`),
        with their instances' rows read in that commit: its loop takes them at its next turn
        without a claim. The caller counted them in flight (`isolation.track`) at the commit.
        They are given back at once if the partition is no longer served here, or if a
        suspect waits to run alone (the loop waits for it at its claim, and the suspect for
        every message in flight)."""
        if not msgs:
            return
        ev = self._wake.get(p)
        if ev is None or self.isolation.isolating or not (
                self._running and self.partition_leases.serving(p)):
            await self.give_back(msgs)  # for the loop to claim once it may
            self.wake_partition(p)
            return
        held, known = self._handed.setdefault(p, ([], {}))
        held += msgs
        known.update(rows)
        ev.set()

    def _take_handed(self, p: int) -> tuple[list[Message], dict[str, InstanceRecord]]:
        return self._handed.pop(p, None) or ([], {})

    def wake_partition_of(self, instance_id: str) -> None:
        self.wake_partition(partition_of(instance_id, self.partitions))

    def forget_partition(self, p: int) -> None:
        """Drop the cached sessions of a partition we no longer (or newly) hold, and give
        back what was handed to its loop and not taken (for its next owner, at once)."""
        for iid in [i for i in self.cache if partition_of(i, self.partitions) == p]:
            del self.cache[iid]
        self._give_back_handed(p)

    def _give_back_handed(self, p: int) -> None:
        msgs, _ = self._take_handed(p)
        if msgs:
            task = asyncio.ensure_future(self.give_back(msgs))
            self._give_backs.add(task)
            task.add_done_callback(self._give_backs.discard)

    # -- orchestrations --------------------------------------------------------------------

    async def _partition_loop(self, p: int) -> None:
        queue = control_queue(p)
        ev = self._wake.setdefault(p, asyncio.Event())
        await self.waits.refresh(queue)
        serving = self.partition_leases.serving
        while self._running and serving(p):
            ev.clear()  # before reading: a commit after this point wakes the wait below
            self.waits.claiming(queue)
            # Handed messages alone need no read of the queue, unless something woke the
            # loop that only the store shows (or nothing was handed: the first turn, a
            # timer, the poll interval).
            handed, records = self._take_handed(p)
            read = p in self._must_read or not handed
            self._must_read.discard(p)
            try:
                claimed = await self.isolation.claim(partial(self._claim, queue, records)) \
                    if read else []
            except StoreError as exc:
                self._put_back(p, handed, records)
                self._must_read.add(p)
                log.warning("Reading %s failed (will retry): %s", queue, exc)
                await asyncio.sleep(0.5)
                continue
            except BaseException:
                self.isolation.settled(len(handed))  # they come back when their claim expires
                raise
            msgs = sorted(handed + claimed, key=lambda m: m.id) if handed and claimed \
                else handed or claimed
            if msgs and (not (self._running and serving(p)) or self.isolation.isolating
                         or any(map(is_suspect, msgs))):
                # Give everything back (nothing may wait claimed beside a suspect), then take
                # the first suspect's instance's messages back by id once alone. (Claiming
                # "the oldest" again livelocked: a give-back moves messages to the back of
                # the queue, so with more than a batch waiting the new claim never saw them.)
                suspect = next(filter(is_suspect, msgs), None)
                if not (self._running and serving(p)):
                    suspect = None
                mine = [m.id for m in msgs if suspect is not None
                        and m.instance_id == suspect.instance_id]
                await self.give_back(msgs)
                if mine:
                    await self._run_alone(p, mine)
                continue
            if msgs:
                try:
                    await self._run_batch(p, msgs, records)
                finally:
                    self.isolation.settled(len(msgs))
                if len(claimed) == BATCH:
                    # A full batch: more may be waiting in the store, so the next turn reads
                    # it even if results are handed meanwhile (it took only those, and the
                    # rest waited for the poll interval: a second's stall per fan-in on two
                    # hosts).
                    self._must_read.add(p)
                    continue
                if p in self._handed:
                    continue  # there may be more already
            # A short batch drained the queue: wait instead of polling it empty again.
            await self.waits.wait(ev, queue)
            if not ev.is_set():  # a timer fell due or the poll interval ended
                self._must_read.add(p)

    def _put_back(self, p: int, msgs: list[Message], rows: dict[str, InstanceRecord]) -> None:
        """Handed messages the loop took and could not run yet: for its next turn."""
        if msgs:
            held, known = self._handed.setdefault(p, ([], {}))
            held[:0] = msgs
            known.update({k: v for k, v in rows.items() if k not in known})

    async def _claim(self, queue: str, records: dict[str, InstanceRecord]) -> list[Message]:
        """A batch of a control queue; the rows of its instances come with it into `records`
        (one round trip on PostgreSQL)."""
        msgs, found = await self._db(self.store.get_messages_with_instances, queue, BATCH,
                                     self.visibility)
        records.update(found)
        return msgs  # type: ignore[no-any-return]

    async def _run_alone(self, p: int, ids: list[int]) -> None:
        """Take back a suspect instance's messages and run its episode with nothing else of
        this process beside it."""
        async with self.isolation.alone():
            if not (self._running and self.partition_leases.serving(p)):
                return
            held = await self._db(self.store.claim_messages, control_queue(p), ids,
                                  self.visibility)
            if not held:
                return
            self.isolation.track(len(held))
            suspect = next(filter(is_suspect, held), held[0])
            log.info("Running the episode of instance '%s' alone: a message for it was "
                     "delivered %d times, its last holder died or lost it.",
                     suspect.instance_id, suspect.dequeue_count)
            try:
                await self._run_batch(p, held)
            finally:
                self.isolation.settled(len(held))

    async def _run_batch(self, p: int, msgs: list[Message],
                         records: dict[str, InstanceRecord] | None = None) -> None:
        """Run a batch's episodes and group-commit them. `records`: the instance rows read
        with the claim (an instance missing from it has none); None to read them here."""
        groups: OrderedDict[str, list[Message]] = OrderedDict()
        for m in msgs:
            groups.setdefault(m.instance_id or "", []).append(m)
        code = self._code_generation
        prepared = await asyncio.gather(*(self._prepare(p, iid, ms, records)
                                          for iid, ms in groups.items()))
        await self.committer.commit(p, [x for x in prepared if x is not None], groups, code)

    async def _prepare(self, p: int, instance_id: str, msgs: list[Message],
                       records: dict[str, InstanceRecord] | None
                       ) -> tuple[str, Effects] | None:
        """Run one instance's episode; its effects are committed with the batch's."""
        async with self._orch_slots:
            self.episodes_running += 1
            try:
                if is_entity_id(instance_id):
                    record = records.get(instance_id) if records is not None else \
                        await self._db(self.store.get_instance, instance_id)
                    fx = await self.entity_runner.run(instance_id, record, msgs)
                    fault_point("entity-ran")  # ran, not committed: runs again from the old state
                    return instance_id, fx
                return instance_id, await self._episode(p, instance_id, msgs, records)
            except Exception:
                log.exception("Task hub episode for instance '%s' failed; it will be retried.",
                              instance_id)
                self.cache.pop(instance_id, None)
                return None
            finally:
                self.episodes_running -= 1

    async def _episode(self, p: int, instance_id: str, msgs: list[Message],
                       records: dict[str, InstanceRecord] | None) -> Effects:
        state, record, msgs = await self.loader.load(instance_id, msgs, records)
        return await self.runner.run(state, record, msgs)

    async def _invoke_entity(self, fn: FunctionInfo, run: Callable[[], Any]) -> Any:
        # Entity operations are ordinary sync code that may block (unlike orchestrator code,
        # which is deterministic by contract): they run in the invoker's thread pool.
        pool = self.invoker.pool

        def target() -> Any:
            ctx = contextvars.copy_context()  # inside the invocation: logs carry its id
            return asyncio.wrap_future(pool.submit(ctx.run, run))

        result = await self.invoker.invoke(fn, None, reason="(null)", target=target)
        return result.value

    async def _invoke_orchestrator(self, fn: FunctionInfo,
                                   run: Callable[[], Outcome]) -> Outcome:
        result = await self.invoker.invoke(fn, None, reason="(null)", target=run)
        outcome: Outcome = result.value
        return outcome
