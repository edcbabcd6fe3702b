"""What an instance's episode starts from: its row, its state (the worker's cached session, or
one rebuilt from the stored history), and the repairs made first, each one transaction of its
own: failing an instance whose messages keep killing their worker (the poison limit), and
rewinding a failed one (its failures forgotten, its failed activities scheduled again)."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from funcpy.host.taskhub.history import ControlMessage, Event, EventType
from funcpy.host.taskhub.instance_state import (
    MAX_DEQUEUE,
    TERMINAL,
    InstanceState,
    state_from_history,
)
from funcpy.host.taskhub.rewind import rewind_effects
from funcpy.host.taskhub.store import InstanceRecord, Message
from funcpy.host.taskhub.writes import write_repair

if TYPE_CHECKING:
    from funcpy.host.taskhub.worker import TaskHubWorker

log = logging.getLogger("func_py.taskhub")


class InstanceLoader:
    def __init__(self, hub: TaskHubWorker) -> None:
        self.hub = hub

    async def load(self, instance_id: str, msgs: list[Message],
                   records: dict[str, InstanceRecord] | None = None
                   ) -> tuple[InstanceState | None, InstanceRecord | None, list[Message]]:
        """The state, row and messages to run `instance_id`'s episode with. `records`: the
        rows read with the claim of `msgs` (an instance missing from it has no row)."""
        hub = self.hub
        record = records.get(instance_id) if records is not None else \
            await hub._db(hub.store.get_instance, instance_id)
        poison = [m for m in msgs if m.dequeue_count > MAX_DEQUEUE]
        if poison and record is not None and record.runtime_status not in TERMINAL:
            msgs = await self.poisoned(record, poison, msgs)
        state = hub.cache.get(instance_id)
        if record is not None and (state is None or state.record.execution_id
                                   != record.execution_id):
            state = None
            if record.runtime_status not in TERMINAL:
                raw = await hub._db(hub.store.read_history, instance_id, record.execution_id)
                if raw:
                    state = state_from_history(record, [json.loads(t) for t in raw])
        if record is not None and any(
                ControlMessage.decode(m.payload).event["EventType"] == EventType.ExecutionRewound
                for m in msgs):
            record, msgs, state = await self.rewind(record, msgs)
        return state, record, msgs

    async def poisoned(self, record: Any, poison: list[Message],
                        msgs: list[Message]) -> list[Message]:
        """Fail the instance whose messages keep killing their worker, and drop them."""
        reason = (f"Orchestration '{record.name}' was failed by the host: a message for it was "
                  f"dequeued {poison[0].dequeue_count} times without completing: the worker "
                  "process died each time its episode ran, the last times with nothing else "
                  "running, so this orchestrator is what kills it.")
        log.error(reason)
        record.runtime_status, record.output = "Failed", json.dumps(reason)
        record.last_updated = record.completed_at = self.hub.clock()
        await self.hub._db(self._write, record, [], msgs)
        self.hub.cache.pop(record.instance_id, None)
        return []

    async def rewind(self, record: Any, msgs: list[Message]) -> tuple[Any, list[Message], Any]:
        """Reopen a failed instance: forget its failures and run the failed work again."""
        raw = await self.hub._db(self.hub.store.read_history, record.instance_id,
                                 record.execution_id)
        history = [json.loads(t) for t in raw]
        rewound = [m for m in msgs if ControlMessage.decode(m.payload).event["EventType"]
                   == EventType.ExecutionRewound]
        rest = [m for m in msgs if m not in rewound]
        if record.runtime_status != "Failed":
            await self.hub._db(self._write, None, [], rewound)
            return record, rest, state_from_history(record, history) if history else None
        new_record, new_history, outgoing = rewind_effects(record, history, self.hub.clock(),
                                                           self.hub._activity)
        await self.hub._db(self._write, new_record, outgoing, rewound, new_history)
        self.hub.activities.wake.set()
        self.hub.cache.pop(record.instance_id, None)
        log.info("Rewound instance '%s'.", record.instance_id)
        return new_record, rest, state_from_history(new_record, new_history)

    def _write(self, record: InstanceRecord | None, outgoing: list[tuple[str, str]],
               consumed: list[Message], history: list[Event] | None = None) -> None:
        write_repair(self.hub.store, self.hub.partitions, record, outgoing, consumed, history)
