"""What an episode writes for each task the orchestrator scheduled: the history event that
records it and the message that starts it (an activity's work item, a timer's delayed
TimerFired, a sub-orchestration's start and instance row, an entity's operation request), in
the extension's shapes (durable-protocol §3.5). Pure: the effects go into the episode's
`Effects`, which the worker commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from funcpy.host import tracing
from funcpy.host.index import FunctionInfo
from funcpy.host.taskhub.entity_ids import OperationRequest
from funcpy.host.taskhub.history import (
    WORKITEMS,
    ControlMessage,
    Event,
    EventType,
    WorkItem,
    event,
    execution_started,
    timestamp,
)
from funcpy.host.taskhub.instance_state import Effects, Outgoing, durable_name
from funcpy.host.taskhub.replay import HTTP_ACTIVITY, NewTask
from funcpy.host.taskhub.store import InstanceRecord


@dataclass
class TaskScheduler:
    orchestrators: Callable[[str], FunctionInfo | None]
    activities: Callable[[str], FunctionInfo | None]
    known_activities: Callable[[], list[str]]
    default_version: str | None = None  # host.json defaultVersion, for sub-orchestrations

    def schedule(self, task: NewTask, record: InstanceRecord, now: float, fx: Effects,
                 span: tracing.SpanRef | None = None) -> Event:
        """The history event that records `task`, with its messages added to `fx`."""
        me, ex = record.instance_id, record.execution_id
        tp, ts = (span.traceparent, span.state or None) if span is not None else (None, None)
        if task.kind == "timer":
            fire_at = task.fire_at if task.fire_at is not None else now
            fired = event(EventType.TimerFired, fire_at, TimerId=task.task_id,
                          FireAt=timestamp(fire_at))
            fx.messages.append(Outgoing("control", ControlMessage(me, ex, fired).encode(), me,
                                        max(0.0, fire_at - now)))
            return event(EventType.TimerCreated, now, task.task_id, FireAt=timestamp(fire_at))
        if task.kind == "http":
            # call_http runs as the host's built-in activity (host/taskhub/http_activity.py).
            item = WorkItem(me, ex, task.task_id, HTTP_ACTIVITY, task.input, tp, ts)
            fx.messages.append(Outgoing(WORKITEMS, item.encode(), me))
            return event(EventType.TaskScheduled, now, task.task_id, Name=HTTP_ACTIVITY,
                         Version=None, Input=task.input)
        if task.kind in ("entity", "signal"):
            return _send_to_entity(task, me, ex, now, fx)
        if task.kind == "activity":
            fn = self.activities(task.name or "")
            if fn is None:
                known = ", ".join(f"'{n}'" for n in self.known_activities()) or "(none)"
                failed = event(EventType.TaskFailed, now, TaskScheduledId=task.task_id,
                               Reason=f"The function '{task.name}' doesn't exist, is disabled, "
                               "or is not an activity function. Additional info: The following "
                               f"are the known activity functions: {known}.", Details=None)
                fx.messages.append(Outgoing("control", ControlMessage(me, ex, failed).encode(),
                                            me))
            else:
                item = WorkItem(me, ex, task.task_id, durable_name(fn, "activity"), task.input,
                                tp, ts)
                fx.messages.append(Outgoing(WORKITEMS, item.encode(), me))
            return event(EventType.TaskScheduled, now, task.task_id, Name=task.name,
                         Version=None, Input=task.input)
        # sub-orchestration
        child_id = task.instance_id or f"{ex}:{task.task_id}"
        version = task.version or self.default_version
        created = event(EventType.SubOrchestrationInstanceCreated, now, task.task_id,
                        Name=task.name, Version=version, InstanceId=child_id,
                        Input=task.input)
        fn = self.orchestrators(task.name or "")
        if fn is None:
            failed = event(EventType.SubOrchestrationInstanceFailed, now,
                           TaskScheduledId=task.task_id,
                           Reason=f"The orchestrator function '{task.name}' doesn't exist, is "
                           "disabled, or is not an orchestrator function.", Details=None)
            fx.messages.append(Outgoing("control", ControlMessage(me, ex, failed).encode(), me))
            return created
        child_ex = uuid.uuid4().hex
        child_name = durable_name(fn, "orchestration")
        fx.children.append(InstanceRecord(
            instance_id=child_id, name=child_name, execution_id=child_ex,
            runtime_status="Pending",
            input=task.input, output=None, custom_status=None, created_at=now,
            last_updated=now, parent_instance_id=me))
        parent = {"OrchestrationInstance": {"InstanceId": me, "ExecutionId": ex},
                  "Name": record.name, "TaskScheduleId": task.task_id}
        start = execution_started(now, child_id, child_ex, child_name, task.input, parent,
                                  version, tracing.to_record(span) if span else None)
        fx.messages.append(Outgoing("control", ControlMessage(child_id, child_ex, start).encode(),
                                    child_id))
        return created


def _send_to_entity(task: NewTask, me: str, ex: str, now: float, fx: Effects) -> Event:
    """An entity call or signal: the request goes to the entity's queue; the history
    records it as EventSent (whose Input holds the request id the response will carry)."""
    entity_id = task.instance_id or ""
    call = task.kind == "entity"
    request = OperationRequest(task.name or "", task.input,
                               task.request_id or uuid.uuid4().hex, signal=not call,
                               parent=me, parent_execution=ex)
    fx.messages.append(Outgoing("control", request.message(entity_id, now), entity_id))
    return event(EventType.EventSent, now, task.task_id, InstanceId=entity_id,
                 Name=task.name, Input=request.to_json())
