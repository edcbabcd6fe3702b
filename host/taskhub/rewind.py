"""Rewind: reopen a failed orchestration so its failed activities run again.

As Durable Functions' rewind (a preview feature there): the failure events of activities are
removed from history together with the instance's final ExecutionCompleted, the instance goes
back to Running, and each failed activity is scheduled again with its recorded input. The
replay then waits on those tasks as if they had never failed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from funcpy.host.taskhub.history import WORKITEMS, ControlMessage, Event, EventType, WorkItem, event
from funcpy.host.taskhub.replay import HTTP_ACTIVITY
from funcpy.host.taskhub.store import InstanceRecord


def failed_activities(history: list[Event]) -> list[int]:
    return [int(e["TaskScheduledId"]) for e in history if e["EventType"] == EventType.TaskFailed]


def rewind_effects(record: InstanceRecord, history: list[Event], now: float,
                   activity: Callable[[str], Any]) -> tuple[InstanceRecord, list[Event],
                                                           list[tuple[str, str]]]:
    failed = set(failed_activities(history))
    scheduled = {int(e["EventId"]): e for e in history
                 if e["EventType"] == EventType.TaskScheduled}
    kept = [e for e in history
            if not (e["EventType"] == EventType.TaskFailed and int(e["TaskScheduledId"]) in failed)
            and e["EventType"] != EventType.ExecutionCompleted]
    kept.append(event(EventType.ExecutionRewound, now))
    outgoing: list[tuple[str, str]] = []
    for task_id in sorted(failed):
        sched = scheduled.get(task_id)
        if sched is None:
            continue
        name = str(sched.get("Name"))
        # call_http's built-in activity is always there to run again.
        fn = True if name == HTTP_ACTIVITY else activity(name)
        if fn is None:
            failure = event(EventType.TaskFailed, now, TaskScheduledId=task_id,
                            Reason=f"The function '{name}' doesn't exist, is disabled, or is "
                            "not an activity function.", Details=None)
            outgoing.append(("control", ControlMessage(record.instance_id, record.execution_id,
                                                       failure).encode()))
        else:
            item = WorkItem(record.instance_id, record.execution_id, task_id, name,
                            sched.get("Input"))
            outgoing.append((WORKITEMS, item.encode()))
    new = replace(record, runtime_status="Running", output=None, completed_at=None,
                  last_updated=now)
    return new, kept, outgoing
