"""How Durable Entities live in the task hub: their ids, rows and operation messages.

The conventions every part shares (the scheduler in the worker, the orchestrations that call
entities, the client, the HTTP API and `func-py durable`), in the extension's shapes
(durable-protocol §3.5, §7):

- An entity's **scheduler id** is `@{name.lower()}@{key}` (the SDK's
  `EntityId.get_scheduler_id`). It routes the entity's messages to one control-queue partition,
  so one host at a time runs it, one batch at a time, in arrival order.
- An entity that exists is one row of the instances table with that id: `name` the lower-cased
  entity name, `runtime_status` "Running", `input` its state as JSON text, `last_updated` the
  time of its last operation. A deleted (or never created) entity has no row. Orchestration
  queries leave these rows out (`InstanceQuery.entities`).
- An **operation request** is a control message for the scheduler id carrying an `EventRaised`
  event named after the operation, whose `Input` is the request JSON: `op`, `signal`, `input`
  (the operation input's JSON text, or None), `id` (a GUID) and, for calls from an
  orchestration, `parent` / `parentExecution` (where the response goes).
- A **response** to a call is `EventRaised{Name: <request id>, Input: '{"result": <json text>}'}`
  (+ `"exceptionType"` when the operation failed) sent to the calling instance.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from funcpy.host.taskhub.history import ControlMessage, Event, EventType, event

ENTITY_PREFIX = "@"


def scheduler_id(name: str, key: str) -> str:
    return f"@{name.lower()}@{key}"


def is_entity_id(instance_id: str | None) -> bool:
    return instance_id is not None and instance_id.startswith(ENTITY_PREFIX)


def split_scheduler_id(instance_id: str) -> tuple[str, str]:
    """`@name@key` -> (name, key); the key may itself contain '@'."""
    if not is_entity_id(instance_id) or "@" not in instance_id[1:]:
        raise ValueError(f"{instance_id!r} is not an entity id of the form @name@key")
    name, key = instance_id[1:].split("@", 1)
    return name, key


@dataclass(frozen=True)
class OperationRequest:
    """One operation for one entity, as its control message carries it."""

    operation: str
    input: str | None  # the operation input's JSON text
    request_id: str
    signal: bool
    parent: str | None = None  # the calling orchestration (calls only)
    parent_execution: str | None = None

    def to_json(self) -> str:
        return json.dumps({"op": self.operation, "signal": self.signal, "input": self.input,
                           "id": self.request_id, "parent": self.parent,
                           "parentExecution": self.parent_execution}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> OperationRequest:
        d = json.loads(text)
        return cls(d["op"], d.get("input"), d["id"], bool(d.get("signal")), d.get("parent"),
                   d.get("parentExecution"))

    def message(self, entity_id: str, now: float) -> str:
        """The control message (encoded) that delivers this request to `entity_id`."""
        return ControlMessage(entity_id, None, event(
            EventType.EventRaised, now, Name=self.operation, Input=self.to_json())).encode()


def new_request(operation: str, input_text: str | None, *, signal: bool,
                parent: str | None = None, parent_execution: str | None = None
                ) -> OperationRequest:
    return OperationRequest(operation, input_text, uuid.uuid4().hex, signal, parent,
                            parent_execution)


def request_of(e: Event) -> OperationRequest | None:
    """The request an entity's control-message event carries, or None if it is not one."""
    if e.get("EventType") != EventType.EventRaised:
        return None
    try:
        return OperationRequest.from_json(e.get("Input") or "")
    except (ValueError, KeyError, TypeError):
        return None


def response_event(request_id: str, result_text: str, is_error: bool, now: float) -> Event:
    body: dict[str, Any] = {"result": result_text}
    if is_error:
        body["exceptionType"] = "Error"
    return event(EventType.EventRaised, now, Name=request_id, Input=json.dumps(body))
