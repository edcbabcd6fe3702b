"""One entity batch: the pending operations of one entity in, the effects out.

The worker claims an entity's messages with its partition (so one host, one batch at a time,
in arrival order), and this module turns them into what the worker commits in one transaction
with the consumed messages: the new state (or the entity's deletion) and a response to every
calling orchestration. Nothing here touches the store, as for orchestration episodes.

The entity function is called as the extension calls it (durable-protocol §7): one batch JSON
(`self`, `exists`, `state`, `batch` of operations) in, the SDK's EntityState JSON out
(`entityExists`, `entityState`, one result per operation).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from funcpy.host.index import FunctionInfo
from funcpy.host.invocation import InvocationError
from funcpy.host.taskhub.entity_ids import (
    OperationRequest,
    request_of,
    response_event,
    split_scheduler_id,
)
from funcpy.host.taskhub.history import ControlMessage
from funcpy.host.taskhub.instance_state import MAX_DEQUEUE, Effects, Outgoing
from funcpy.host.taskhub.store import InstanceRecord, Message

log = logging.getLogger("func_py.taskhub")

InvokeEntity = Callable[[FunctionInfo, Callable[[], Any]], Awaitable[Any]]
# How long signals for an entity whose function is not loaded wait before they are looked at
# again (they are kept, not dropped: the function may come back with the next reload).
UNLOADED_RECHECK_SECONDS = 5.0


@dataclass
class EntityBatchRunner:
    entities: Callable[[str], FunctionInfo | None]  # by lower-cased entity name
    invoke: InvokeEntity
    clock: Callable[[], float]

    async def run(self, entity_id: str, record: InstanceRecord | None,
                  messages: list[Message]) -> Effects:
        now = self.clock()
        fx = Effects(consumed=list(messages))
        name, key = split_scheduler_id(entity_id)
        requests: list[tuple[Message, OperationRequest]] = []
        for m in messages:
            request = request_of(ControlMessage.decode(m.payload).event)
            if request is None:
                log.warning("A message for entity '%s' is not an entity operation; dropped.",
                            entity_id)
            elif m.dequeue_count > MAX_DEQUEUE:
                log.error("Entity '%s' operation '%s' was dequeued %d times without "
                          "completing (its batch killed the worker each time): it fails.",
                          entity_id, request.operation, m.dequeue_count)
                self._respond(fx, request, json.dumps(
                    f"The entity operation '{request.operation}' on '{entity_id}' was given up "
                    f"after {m.dequeue_count} attempts: the worker died each time it ran."),
                    True, now)
            else:
                requests.append((m, request))
        if not requests:
            return fx
        fn = self.entities(name)
        if fn is None:
            return self._not_loaded(fx, entity_id, name, requests, now)
        batch = {"self": {"name": name, "key": key}, "exists": record is not None,
                 "state": record.input if record is not None else None,
                 # The SDK json.loads an operation input, then df_loads it: a JSON string of
                 # the JSON text ("null" when there is none; a JSON null makes it fail).
                 "batch": [{"name": r.operation, "input": json.dumps(
                     r.input if r.input is not None else "null"), "isSignal": r.signal}
                     for _, r in requests]}
        text = json.dumps(batch)
        try:
            raw = await self.invoke(fn, lambda: fn.func(text))
            result = json.loads(raw)
            results = result["results"]
            if len(results) != len(requests):
                raise ValueError(f"{len(results)} results for {len(requests)} operations")
        except Exception as exc:
            # The whole batch failed (e.g. a state that does not serialise): every operation
            # fails with the reason and the state stays as it was.
            cause = exc.cause if isinstance(exc, InvocationError) else exc
            reason = f"Entity function '{fn.name}' failed: {type(cause).__name__}: {cause}"
            log.error("%s (entity '%s', %d operation(s)).", reason, entity_id, len(requests))
            for _, r in requests:
                self._respond(fx, r, json.dumps(reason), True, now)
            return fx
        for (_, r), res in zip(requests, results, strict=True):
            is_error = bool(res.get("isError"))
            if is_error:
                log.warning("Entity '%s' operation '%s' failed: %s", entity_id, r.operation,
                            _shown(res.get("result")))
            self._respond(fx, r, res.get("result") or "null", is_error, now)
        if result.get("signals"):
            log.warning("Entity '%s' sent signals from an operation, which the Python SDK does "
                        "not support; they were not delivered.", entity_id)
        if result.get("entityExists"):
            state = result.get("entityState")
            fx.record = (replace(record, input=state, last_updated=now) if record is not None
                         else InstanceRecord(
                             instance_id=entity_id, name=name, execution_id=uuid.uuid4().hex,
                             runtime_status="Running", input=state, output=None,
                             custom_status=None, created_at=now, last_updated=now))
        elif record is not None:
            fx.delete_instance = True
        return fx

    def _respond(self, fx: Effects, request: OperationRequest, result_text: str,
                 is_error: bool, now: float) -> None:
        """Answer a call (signals get no answer) on the caller's queue."""
        if request.signal or not request.parent:
            return
        e = response_event(request.request_id, result_text, is_error, now)
        fx.messages.append(Outgoing("control", ControlMessage(
            request.parent, request.parent_execution, e).encode(), request.parent))

    def _not_loaded(self, fx: Effects, entity_id: str, name: str,
                    requests: list[tuple[Message, OperationRequest]], now: float) -> Effects:
        """No entity function of that name: calls fail (the orchestration sees why), signals
        wait for a reload that brings the function (re-sent, so no dequeue is counted)."""
        reason = (f"The entity function '{name}' doesn't exist, is disabled, or is not an "
                  "entity function (check its entity_name).")
        signals = 0
        for m, r in requests:
            if r.signal:
                signals += 1
                fx.messages.append(Outgoing("control", m.payload, entity_id,
                                            UNLOADED_RECHECK_SECONDS))
            else:
                self._respond(fx, r, json.dumps(reason), True, now)
        log.warning("%s Entity '%s': %d call(s) failed, %d signal(s) kept for later.", reason,
                    entity_id, len(requests) - signals, signals)
        return fx


def _shown(result_text: Any) -> str:
    try:
        value = json.loads(result_text)
    except (TypeError, ValueError):
        value = result_text
    text = str(value)
    return text if len(text) <= 500 else text[:500] + "..."
