"""Running one activity work item: what it produces is the history event to commit.

Owns turning a claimed work item into its TaskCompleted or TaskFailed event: the abandon rule
for an item that kept killing its worker, the user function called through the invoker (input
decoded and result encoded by the azure.functions activity converter, a failure's user frames in
its details), or call_http's built-in activity. Separate from activities.py, which owns the
queue side (claiming, keeping claims alive, committing); nothing here touches a claim or the store.
"""

from __future__ import annotations

import json
import traceback
from typing import TYPE_CHECKING, Any

from azure.functions import meta
from funcpy.host import tracing
from funcpy.host.faults import fault_point
from funcpy.host.index import FunctionInfo
from funcpy.host.invocation import InvocationError, user_frames
from funcpy.host.taskhub.history import EventType, WorkItem, event
from funcpy.host.taskhub.http_activity import HttpActivity, is_http_activity
from funcpy.host.taskhub.instance_state import MAX_DEQUEUE
from funcpy.host.taskhub.store import Message

if TYPE_CHECKING:
    from funcpy.host.taskhub.worker import TaskHubWorker

_ACTIVITY = meta.get_binding_registry().get("activityTrigger")


async def execute(hub: TaskHubWorker, http_activity: HttpActivity, item: WorkItem,
                  msg: Message) -> dict[str, Any]:
    """The event for one claimed work item (`msg` is its message, `item` decoded from it)."""
    http = is_http_activity(item.name)
    fn = None if http else hub._activity(item.name)
    now = hub.clock
    if msg.dequeue_count > MAX_DEQUEUE:
        return event(EventType.TaskFailed, now(), TaskScheduledId=item.task_id,
                     Reason=f"Activity function '{item.name}' was abandoned after "
                     f"{msg.dequeue_count - 1} attempts: the worker process died each time "
                     "it ran, the last times with nothing else running, so this activity "
                     "is what kills it.", Details=None)
    if fn is None and not http:
        return event(EventType.TaskFailed, now(), TaskScheduledId=item.task_id,
                     Reason=f"The function '{item.name}' doesn't exist, is disabled, or "
                     "is not an activity function.", Details=None)
    fault_point("activity-started")
    # call_http's built-in activity is no user function: the host makes the request.
    result = await (call_activity(hub, fn, item) if fn is not None
                    else http_activity.run(item, hub.invoker.timeout))
    fault_point("activity-finished")
    return result


async def call_activity(hub: TaskHubWorker, fn: FunctionInfo, item: WorkItem) -> dict[str, Any]:
    """Run the user's activity function; its failure becomes a TaskFailed event, not an error."""
    try:
        value = _ACTIVITY.decode(meta.Datum(item.input if item.input is not None
                                            else "null", "string"), trigger_metadata={})
        # A child span of the episode that scheduled it (host/tracing.py).
        span = tracing.child_of(tracing.parse(item.traceparent, item.tracestate)).about({
            "durabletask.type": "activity", "durabletask.task.name": item.name,
            "durabletask.task.instance_id": item.instance_id,
            "durabletask.task.task_id": item.task_id})
        outcome = await hub.invoker.invoke(fn, value, reason="(null)", trace=span)
        encoded = _ACTIVITY.encode(outcome.value, expected_type=None).value
        return event(EventType.TaskCompleted, hub.clock(), TaskScheduledId=item.task_id,
                     Result=encoded)
    except InvocationError as exc:
        cause = exc.cause
    except Exception as exc:  # input or output conversion
        cause = exc
    trace = traceback.format_exception(type(cause), cause, user_frames(cause.__traceback__))
    details = json.dumps({"type": type(cause).__name__, "message": str(cause),
                          "stackTrace": "".join(trace)})
    return event(EventType.TaskFailed, hub.clock(), TaskScheduledId=item.task_id,
                 Reason=f"Activity function '{item.name}' failed: {type(cause).__name__}: "
                 f"{cause}", Details=details)
