"""Activities: the work-item queue any host may take from.

Claims activity calls up to maxConcurrentActivityFunctions, runs each through the invoker (input
decoded and result encoded by the azure.functions activity converter), keeps its claim alive
while it runs, and commits its TaskCompleted/TaskFailed for the owning instance together with
the deletion of the work item; the results of a burst are group-committed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import traceback
from typing import TYPE_CHECKING, Any

from azure.functions import meta

from host.faults import fault_point
from host.index import FunctionInfo
from host.invoke import InvocationError, user_frames
from host.taskhub.episode import MAX_DEQUEUE
from host.taskhub.history import (
    BATCH,
    WORKITEMS,
    ControlMessage,
    EventType,
    WorkItem,
    control_queue,
    event,
    partition_of,
)
from host.taskhub.store import Message, PopReceiptMismatch, StoreError

if TYPE_CHECKING:
    from host.taskhub.worker import TaskHubWorker

log = logging.getLogger("func_py.taskhub")
_ACTIVITY = meta.get_binding_registry().get("activityTrigger")


class ActivityWorker:
    def __init__(self, hub: TaskHubWorker) -> None:
        self.hub = hub
        self.wake = asyncio.Event()
        self.inflight: dict[int, Message] = {}  # claimed work items, by message id
        self.results: asyncio.Queue[tuple[int, WorkItem, dict[str, Any]]] = asyncio.Queue()
        self.tasks: set[asyncio.Task[Any]] = set()

    async def finish(self, grace: float) -> None:
        """Let activities in flight finish (up to `grace`) and commit their results."""
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=grace)
        await self._drain_results()

    async def release_inflight(self) -> None:
        """Make unfinished work items visible at once, for another host to take."""
        for msg in list(self.inflight.values()):
            try:
                await self.hub._db(self.hub.store.update_visibility, msg, 0.0)
            except StoreError:
                pass

    async def loop(self) -> None:
        renew_every = self.hub.visibility / 3
        next_renew = time.monotonic() + renew_every
        while self.hub._running:
            if time.monotonic() >= next_renew:
                await self._renew_inflight()
                next_renew = time.monotonic() + renew_every
            free = self.hub.settings.max_activities - len(self.tasks)
            if free <= 0:
                await asyncio.wait(list(self.tasks), timeout=renew_every,
                                   return_when=asyncio.FIRST_COMPLETED)
                continue
            self.wake.clear()
            want = min(free, BATCH)
            try:
                msgs = await self.hub._db(self.hub.store.get_messages, WORKITEMS, want,
                                          self.hub.visibility)
            except StoreError as exc:
                log.warning("Reading work items failed (will retry): %s", exc)
                await asyncio.sleep(0.5)
                continue
            for m in msgs:
                self.inflight[m.id] = m
                task = asyncio.ensure_future(self._run(m))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
            if len(msgs) < want:
                await self.hub._wait(self.wake, WORKITEMS)

    async def _renew_inflight(self) -> None:
        for mid, m in list(self.inflight.items()):
            try:
                self.inflight[mid] = await self.hub._db(self.hub.store.update_visibility, m,
                                                     self.hub.visibility)
            except PopReceiptMismatch:
                self.inflight.pop(mid, None)
            except StoreError:
                pass

    async def _run(self, msg: Message) -> None:
        item = WorkItem.decode(msg.payload)
        fn = self.hub._activity(item.name)
        now = self.hub.clock
        if msg.dequeue_count > MAX_DEQUEUE:
            result = event(EventType.TaskFailed, now(), TaskScheduledId=item.task_id,
                           Reason=f"Activity function '{item.name}' was abandoned after "
                           f"{msg.dequeue_count - 1} attempts: its worker kept dying before "
                           "it finished.", Details=None)
        elif fn is None:
            result = event(EventType.TaskFailed, now(), TaskScheduledId=item.task_id,
                           Reason=f"The function '{item.name}' doesn't exist, is disabled, or "
                           "is not an activity function.", Details=None)
        else:
            fault_point("activity-started")
            result = await self._call(fn, item)
            fault_point("activity-finished")
        await self.results.put((msg.id, item, result))

    async def _call(self, fn: FunctionInfo, item: WorkItem) -> dict[str, Any]:
        try:
            value = _ACTIVITY.decode(meta.Datum(item.input if item.input is not None
                                                else "null", "string"), trigger_metadata={})
            outcome = await self.hub.invoker.invoke(fn, value, reason="(null)")
            encoded = _ACTIVITY.encode(outcome.value, expected_type=None).value
            return event(EventType.TaskCompleted, self.hub.clock(), TaskScheduledId=item.task_id,
                         Result=encoded)
        except InvocationError as exc:
            cause = exc.cause
        except Exception as exc:  # input or output conversion
            cause = exc
        trace = traceback.format_exception(type(cause), cause, user_frames(cause.__traceback__))
        details = json.dumps({"type": type(cause).__name__, "message": str(cause),
                              "stackTrace": "".join(trace)})
        return event(EventType.TaskFailed, self.hub.clock(), TaskScheduledId=item.task_id,
                     Reason=f"Activity function '{item.name}' failed: {type(cause).__name__}: "
                     f"{cause}", Details=details)

    async def result_loop(self) -> None:
        while True:
            first = await self.results.get()
            batch = [first]
            while not self.results.empty():
                batch.append(self.results.get_nowait())
            await self._commit_results(batch)

    async def _drain_results(self) -> None:
        batch = []
        while not self.results.empty():
            batch.append(self.results.get_nowait())
        if batch:
            await self._commit_results(batch)

    async def _commit_results(self, batch: list[tuple[int, WorkItem, dict[str, Any]]]) -> None:
        ready = [(self.inflight.pop(mid, None), item, e) for mid, item, e in batch]
        todo = [(m, item, e) for m, item, e in ready if m is not None]
        try:
            await self.hub._db(self._commit, todo)
        except StoreError:
            # One stale message must not sink the others: commit them one by one.
            for one in todo:
                try:
                    await self.hub._db(self._commit, [one])
                except StoreError as exc:
                    log.info("Activity result for '%s' task %d not committed: %s",
                             one[1].instance_id, one[1].task_id, exc)
        fault_point("activity-committed")
        for _, item, _ in todo:
            self.hub.wake_partition_of(item.instance_id)

    def _commit(self, todo: list[tuple[Message, WorkItem, dict[str, Any]]]
                                 ) -> None:
        with self.hub.store.transaction() as tx:
            for msg, item, e in todo:
                queue = control_queue(partition_of(item.instance_id, self.hub.partitions))
                tx.put_message(queue, ControlMessage(item.instance_id, item.execution_id,
                                                     e).encode(), instance_id=item.instance_id)
                tx.delete_message(msg)
