"""What the task hub keeps for an orchestration instance between episodes, and what an episode
produces for the worker to commit: the records shared by the episode runner (episode.py), the
worker (worker.py) and the writes of one transaction (writes.py). No I/O here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from funcpy.host.index import FunctionInfo
from funcpy.host.taskhub.history import COMPLETION_ID_KEY, Event, EventType
from funcpy.host.taskhub.replay import Session, scheduled_in
from funcpy.host.taskhub.store import InstanceRecord, Message

# The replay check replays every episode of an instance while its history has at most this
# many events; beyond, each time the history has doubled since the last replay, and once more at
# the episode that ends the execution (a replay costs O(history), about 25 us an event: replaying
# every episode of a long chain is quadratic, while doubling keeps the total linear). A
# difference is then caught at the next replay or at the end, not necessarily at the episode
# where it first shows. README says so. (It was 500: the first 500 events of every instance,
# replayed at each episode, were most of a test harness's time for a long orchestration.)
REPLAY_EVERY_EPISODE_EVENTS = 100
TERMINAL = frozenset({"Completed", "Failed", "Terminated", "Canceled"})
# Poison-message limit: a message whose processing keeps killing its worker is given up.
MAX_DEQUEUE = 5
# How often a suspended instance looks at its buffered messages again.
SUSPENDED_RECHECK_SECONDS = 1.0


# The extension refuses a custom status whose JSON is over 16 KB in UTF-16 (it is stored in an
# Azure Table column): the orchestration fails. func-py fails it too, so an app that passes here
# does not break on Azure.
MAX_CUSTOM_STATUS_KB = 16


def custom_status_too_big(value: Any) -> str | None:
    """The extension's error for a custom status over its limit, or None."""
    size = len(json.dumps(value, separators=(",", ":")).encode("utf-16-le"))
    if size <= MAX_CUSTOM_STATUS_KB * 1024:
        return None
    return (f"The UTF-16 size of the JSON-serialized payload must not exceed "
            f"{MAX_CUSTOM_STATUS_KB} KB. The current payload size is {size / 1024:.2f} KB "
            "(set_custom_status: Azure refuses this too; store large data elsewhere and keep a "
            "reference in the custom status).")


def durable_name(fn: FunctionInfo, key: str) -> str:
    """The registered name: the trigger's `orchestration`/`activity` property, else the
    function name (matched case-insensitively, as the extension does)."""
    return str(fn.trigger.get(key) or fn.name)


@dataclass
class InstanceState:
    """What the worker keeps in memory for an instance between episodes."""

    record: InstanceRecord
    history_len: int
    scheduled: dict[int, tuple[str, str | None]]
    completed: set[int]
    parent: dict[str, Any] | None
    history: list[Event] | None = None  # kept until a session exists (or for the replay check)
    session: Session | None = None
    replayed_at: int = REPLAY_EVERY_EPISODE_EVENTS  # history length at the last periodic replay
    trace: dict[str, str] | None = None  # ExecutionStarted's ParentTraceContext (host/tracing.py)


@dataclass(frozen=True)
class Outgoing:
    queue: str  # "control" (routed by instance id) or WORKITEMS
    payload: str
    instance_id: str
    delay: float = 0.0


@dataclass
class Effects:
    record: InstanceRecord | None = None
    append: list[Event] = field(default_factory=list)
    history_start: int = 0
    reset_history: bool = False  # delete the instance's history before appending
    messages: list[Outgoing] = field(default_factory=list)
    children: list[InstanceRecord] = field(default_factory=list)
    consumed: list[Message] = field(default_factory=list)
    state: InstanceState | None = None  # the state after commit (None: forget the instance)
    ran: bool = False
    delete_instance: bool = False  # an entity that no longer exists: remove its row


def state_from_history(record: InstanceRecord, history: list[Event]) -> InstanceState:
    completed: set[int] = set()
    parent = trace = None
    for e in history:
        kind = e["EventType"]
        if kind == EventType.ExecutionStarted:
            parent, trace = e.get("ParentInstance"), e.get("ParentTraceContext")
        elif kind in COMPLETION_ID_KEY:
            completed.add(int(e[COMPLETION_ID_KEY[EventType(kind)]]))
    return InstanceState(record, len(history), scheduled_in(history), completed, parent,
                         history, trace=trace)
