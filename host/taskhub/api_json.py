"""The management API's JSON shapes, as the extension writes them: an instance's status, its
history (scheduling rows folded into their completions), an entity's status. Shared by the HTTP
API, `func-py durable` and the test harness; no I/O here.
"""

from __future__ import annotations

import json
from typing import Any

from funcpy.host.taskhub.entity_ids import split_scheduler_id
from funcpy.host.taskhub.history import Event, EventType, status_time
from funcpy.host.taskhub.store import InstanceRecord


def _token(text: str | None) -> Any:
    # Stored texts are JSON; the API embeds them as JSON values (falling back to the raw text).
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


_FOLDED = {EventType.OrchestratorStarted, EventType.OrchestratorCompleted,
           EventType.TaskScheduled, EventType.SubOrchestrationInstanceCreated,
           EventType.TimerCreated}


def history_json(history: list[Event], show_input: bool, show_output: bool) -> list[dict]:
    """The management API's `historyEvents`: scheduling rows folded into their completions.

    Beyond the extension's keys (new keys only, which its clients ignore): a fired timer's
    `ScheduledTime` (when it was created), a sub-orchestration's child `InstanceId` and a
    child's `ParentInstanceId`, so the dashboard can draw timers and link parents and children.
    """
    # Task ids are one sequence for activities, sub-orchestrations and timers.
    scheduled = {int(e["EventId"]): e for e in history
                 if e["EventType"] in (EventType.TaskScheduled, EventType.TimerCreated,
                                       EventType.SubOrchestrationInstanceCreated)}
    out: list[dict] = []
    for e in history:
        kind = EventType(e["EventType"])
        if kind in _FOLDED:
            continue
        row: dict[str, Any] = {"EventType": kind.name, "Timestamp": e["Timestamp"]}
        if kind == EventType.ExecutionStarted:
            row["FunctionName"] = e.get("Name")
            if show_input:
                row["Input"] = _token(e.get("Input"))
            parent = (e.get("ParentInstance") or {}).get("OrchestrationInstance") or {}
            if parent.get("InstanceId"):
                row["ParentInstanceId"] = parent["InstanceId"]
        elif kind in (EventType.TaskCompleted, EventType.TaskFailed,
                      EventType.SubOrchestrationInstanceCompleted,
                      EventType.SubOrchestrationInstanceFailed):
            sched = scheduled.get(int(e["TaskScheduledId"]), {})
            row["FunctionName"] = sched.get("Name")
            row["ScheduledTime"] = sched.get("Timestamp")
            if sched.get("InstanceId"):
                row["InstanceId"] = sched["InstanceId"]
            if show_input:
                row["Input"] = _token(sched.get("Input"))
            if show_output and "Result" in e:
                row["Result"] = _token(e.get("Result"))
            for k in ("Reason", "Details"):
                if e.get(k) is not None:
                    row[k] = e[k]
        elif kind == EventType.TimerFired:
            row["FireAt"] = e.get("FireAt")
            created = scheduled.get(int(e.get("TimerId", -1)))
            if created is not None:
                row["ScheduledTime"] = created["Timestamp"]
        elif kind == EventType.EventRaised:
            row["Name"] = e.get("Name")
            if show_input:
                row["Input"] = _token(e.get("Input"))
        elif kind == EventType.ExecutionCompleted:
            row["OrchestrationStatus"] = e.get("OrchestrationStatus")
            if show_output:
                row["Result"] = _token(e.get("Result"))
        else:
            for k in ("Input", "Reason", "Name"):
                if e.get(k) is not None:
                    row[k] = e[k]
        out.append(row)
    return out


def entity_json(record: InstanceRecord, *, fetch_state: bool) -> dict[str, Any]:
    """One entity in a list (the extension's DurableEntityStatus): its id (the name as the
    scheduler id holds it, lower-cased), the time of its last operation and, if asked, its
    state; "state" is null otherwise, as the extension serializes it."""
    name, key = split_scheduler_id(record.instance_id)
    return {"entityId": {"name": name, "key": key},
            "lastOperationTime": status_time(record.last_updated),
            "state": _token(record.input) if fetch_state else None}


def status_json(record: InstanceRecord, *, show_input: bool = True,
                history: list[Event] | None = None, show_output: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": record.name,
        "instanceId": record.instance_id,
        "runtimeStatus": record.runtime_status,
        "input": _token(record.input) if show_input else None,
        "customStatus": _token(record.custom_status),
        "output": _token(record.output),
        "createdTime": status_time(record.created_at),
        "lastUpdatedTime": status_time(record.last_updated),
    }
    if history is not None:
        body["historyEvents"] = history_json(history, show_input, show_output)
    return body
