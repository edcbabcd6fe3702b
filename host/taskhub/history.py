"""History events and queue messages of the task hub, in the durable extension's JSON shapes.

History events are dicts with DTFx's PascalCase keys (`EventType`, `EventId`, `IsPlayed`,
`Timestamp`, ...), stored one JSON text per row and handed to the SDK unchanged. Control-queue
messages carry one such event for one instance; work-item messages carry one activity call.
"""

from __future__ import annotations

import datetime as dt
import json
import zlib
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

Event = dict[str, Any]

WORKITEMS = "workitems"
BATCH = 64  # messages taken from a queue at a time


class EventType(IntEnum):
    ExecutionStarted = 0
    ExecutionCompleted = 1
    ExecutionFailed = 2
    ExecutionTerminated = 3
    TaskScheduled = 4
    TaskCompleted = 5
    TaskFailed = 6
    SubOrchestrationInstanceCreated = 7
    SubOrchestrationInstanceCompleted = 8
    SubOrchestrationInstanceFailed = 9
    TimerCreated = 10
    TimerFired = 11
    OrchestratorStarted = 12
    OrchestratorCompleted = 13
    EventSent = 14
    EventRaised = 15
    ContinueAsNew = 16
    GenericEvent = 17
    HistoryState = 18
    ExecutionSuspended = 19
    ExecutionResumed = 20
    ExecutionRewound = 21


# Scheduling events (their EventId is the task id) and the completion events that answer them.
SCHEDULING = {EventType.TaskScheduled: "activity",
              EventType.SubOrchestrationInstanceCreated: "suborchestration",
              EventType.TimerCreated: "timer"}
COMPLETION_ID_KEY = {EventType.TaskCompleted: "TaskScheduledId",
                     EventType.TaskFailed: "TaskScheduledId",
                     EventType.SubOrchestrationInstanceCompleted: "TaskScheduledId",
                     EventType.SubOrchestrationInstanceFailed: "TaskScheduledId",
                     EventType.TimerFired: "TimerId"}


def timestamp(t: float) -> str:
    """DTFx's ISO form, UTC, microseconds (the SDK parses it with dateutil)."""
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def status_time(t: float) -> str:
    """The management API's `yyyy-MM-ddTHH:mm:ssZ`."""
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> float:
    """An ISO time from the SDK or a client (`...Z`, an offset, or naive meaning UTC)."""
    value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.timestamp()


def event(kind: EventType, t: float, event_id: int = -1, **fields: Any) -> Event:
    return {"EventType": int(kind), "EventId": event_id, "IsPlayed": False,
            "Timestamp": timestamp(t), **fields}


def execution_started(t: float, instance_id: str, execution_id: str, name: str,
                      input_text: str | None, parent: dict[str, Any] | None = None,
                      version: str | None = None,
                      trace: dict[str, str] | None = None) -> Event:
    """`trace`: the span the orchestration's episodes are children of, as DTFx records it
    (`ParentTraceContext`: TraceParent, TraceState; see host/tracing.py)."""
    e = event(EventType.ExecutionStarted, t, Name=name, Version=version, Input=input_text,
              OrchestrationInstance={"InstanceId": instance_id, "ExecutionId": execution_id},
              ParentInstance=parent)
    if trace is not None:
        e["ParentTraceContext"] = trace
    return e


def partition_of(instance_id: str, count: int) -> int:
    # Stable across processes and hosts (unlike hash()); case-insensitive like instance ids.
    return zlib.crc32(instance_id.lower().encode()) % count


def control_queue(partition: int) -> str:
    return f"control-{partition:02d}"


@dataclass(frozen=True)
class ControlMessage:
    """One event for one instance (and, for completions, one execution of it)."""

    instance_id: str
    execution_id: str | None
    event: Event

    def encode(self) -> str:
        return json.dumps({"i": self.instance_id, "x": self.execution_id, "e": self.event},
                          separators=(",", ":"))

    @classmethod
    def decode(cls, text: str) -> ControlMessage:
        data = json.loads(text)
        return cls(data["i"], data.get("x"), data["e"])


@dataclass(frozen=True)
class WorkItem:
    """One activity call: which instance and task it answers, and what to run; `traceparent`
    and `tracestate` name the episode's span that scheduled it (absent in items written before
    func-py carried them: those activities start a new trace)."""

    instance_id: str
    execution_id: str
    task_id: int
    name: str
    input: str | None
    traceparent: str | None = None
    tracestate: str | None = None

    def encode(self) -> str:
        d: dict[str, Any] = {"i": self.instance_id, "x": self.execution_id, "t": self.task_id,
                             "n": self.name, "in": self.input}
        if self.traceparent:
            d["tp"] = self.traceparent
        if self.tracestate:
            d["ts"] = self.tracestate
        return json.dumps(d, separators=(",", ":"))

    @classmethod
    def decode(cls, text: str) -> WorkItem:
        d = json.loads(text)
        return cls(d["i"], d["x"], int(d["t"]), d["n"], d.get("in"), d.get("tp"), d.get("ts"))
