"""EpisodeRunner (host/taskhub/episode.py) on its own: batches of control messages in, effects
out, with a fake invoke (it calls the replay the way the invoker does, wrapping errors in
InvocationError) and a test clock. `Hub` applies the effects as the worker commits them."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import azure.durable_functions as df
import pytest
from funcpy.host.index import FunctionInfo
from funcpy.host.invocation import InvocationError
from funcpy.host.taskhub.episode import (
    SUSPENDED_RECHECK_SECONDS,
    Effects,
    EpisodeRunner,
    InstanceState,
    state_from_history,
)
from funcpy.host.taskhub.history import (
    WORKITEMS,
    ControlMessage,
    Event,
    EventType,
    WorkItem,
    event,
    execution_started,
)
from funcpy.host.taskhub.replay import Outcome
from funcpy.host.taskhub.store import InstanceRecord, Message

from tests.taskhub.conftest import FakeClock

app = df.DFApp()


@app.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext):
    context.set_custom_status("waiting")
    value = yield context.wait_for_external_event("approve")
    return {"approved": value}


@app.orchestration_trigger(context_name="context")
def chain(context: df.DurableOrchestrationContext):
    a = yield context.call_activity("hello", "a")
    b = yield context.call_activity("Renamed", "b")
    return [a, b]


@app.orchestration_trigger(context_name="context")
def ticker(context: df.DurableOrchestrationContext):
    state = context.get_input()
    tick = yield context.wait_for_external_event("tick")
    seen = [*state["seen"], tick]
    if len(seen) < state["want"]:
        context.continue_as_new({"seen": seen, "want": state["want"]})
        return None
    return seen


@app.orchestration_trigger(context_name="context", orchestration="Kid")
def kid_function(context: df.DurableOrchestrationContext):
    value = context.get_input()
    if value == "fail":
        raise ValueError("kid failed")
    return {"kid": value}


@app.orchestration_trigger(context_name="context")
def parent(context: df.DurableOrchestrationContext):
    result = yield context.call_sub_orchestrator("kid", context.get_input())
    return result


@app.orchestration_trigger(context_name="context")
def sleeper(context: df.DurableOrchestrationContext):
    yield context.create_timer(context.current_utc_datetime + dt.timedelta(seconds=7))
    return "woke"


@app.orchestration_trigger(context_name="context")
def missing(context: df.DurableOrchestrationContext):
    try:
        yield context.call_activity("nope", 1)
    except Exception as exc:
        return str(exc)


MODE = {"activity": "hello"}  # what `moody` reads: not deterministic, on purpose


@app.orchestration_trigger(context_name="context")
def moody(context: df.DurableOrchestrationContext):
    first = yield context.call_activity(MODE["activity"], "a")
    second = yield context.call_activity("hello", "b")
    return [first, second]


@app.orchestration_trigger(context_name="context")
def big_status(context: df.DurableOrchestrationContext):
    context.set_custom_status("x" * context.get_input())
    yield context.call_activity("hello", "a")


@app.orchestration_trigger(context_name="context")
def replay_flags(context: df.DurableOrchestrationContext):
    """Keeps is_replaying at every step: Azure's answer depends on its replays."""
    seen = [context.is_replaying]
    yield context.call_activity("hello", "a")
    seen.append(context.is_replaying)
    yield context.call_activity("hello", "b")
    seen.append(context.is_replaying)
    return seen


@app.activity_trigger(input_name="x")
def hello(x: str) -> str:
    return f"Hello {x}!"


@app.activity_trigger(input_name="x", activity="Renamed")
def renamed_function(x: str) -> str:
    return x


def _info(f: Any) -> FunctionInfo:
    bindings = json.loads(f.get_function_json())["bindings"]
    trigger = next(b for b in bindings if "Trigger" in b["type"])
    trigger = {**trigger, "direction": "in"}
    return FunctionInfo(name=f.get_function_name(), trigger=trigger, bindings=(trigger,),
                        func=f.get_user_function(), is_async=False, wants_context=False,
                        directory="", script_file="function_app.py", fingerprint="1")


_FUNCTIONS = [_info(f) for f in app.get_functions()]
ORCHESTRATORS = {str(f.trigger.get("orchestration") or f.name).lower(): f for f in _FUNCTIONS
                 if f.trigger["type"] == "orchestrationTrigger"}
ACTIVITIES = {str(f.trigger.get("activity") or f.name).lower(): f for f in _FUNCTIONS
              if f.trigger["type"] == "activityTrigger"}


class Hub:
    """One instance and its queue, with the worker's commit applied to memory."""

    def __init__(self, name: str, input_value: Any = None, instance_id: str = "i1",
                 parent: dict[str, Any] | None = None, replay_check: bool = False) -> None:
        self.clock = FakeClock()
        self.invoked: list[str] = []
        self.runner = EpisodeRunner(lambda n: ORCHESTRATORS.get(n.lower()),
                                    lambda n: ACTIVITIES.get(n.lower()),
                                    lambda: sorted(str(f.trigger.get("activity") or f.name)
                                                   for f in ACTIVITIES.values()),
                                    self._invoke, self.clock, replay_check)
        self.ids = 0
        self.input_text = json.dumps(input_value)
        self.record: InstanceRecord | None = InstanceRecord(
            instance_id=instance_id, name=name, execution_id="ex1", runtime_status="Pending",
            input=self.input_text, output=None, custom_status=None, created_at=self.clock(),
            last_updated=self.clock(), parent_instance_id=None)
        self.parent = parent
        self.history: list[Event] = []
        self.state: InstanceState | None = None

    async def _invoke(self, fn: FunctionInfo, run: Callable[[], Outcome]) -> Outcome:
        # As host.invoke.Invoker: whatever the target raises comes out as InvocationError.
        self.invoked.append(fn.name)
        try:
            return run()
        except Exception as exc:
            raise InvocationError(fn.name, "inv", exc) from exc

    @property
    def iid(self) -> str:
        assert self.record is not None
        return self.record.instance_id

    def message(self, e: Event, execution_id: str | None = "current") -> Message:
        assert self.record is not None
        ex = self.record.execution_id if execution_id == "current" else execution_id
        self.ids += 1
        return Message("control-00", self.ids, ControlMessage(self.iid, ex, e).encode(),
                       self.iid, 1, f"r{self.ids}", self.clock(), self.clock())

    def start_message(self) -> Message:
        assert self.record is not None
        return self.message(execution_started(self.clock(), self.iid, self.record.execution_id,
                                              self.record.name, self.input_text, self.parent))

    def raised(self, name: str, value: Any) -> Message:
        # Raised events are not bound to an execution (the client does not know it).
        return self.message(event(EventType.EventRaised, self.clock(), Name=name,
                                  Input=json.dumps(value)), None)

    def completed(self, task_id: int, result: Any) -> Message:
        return self.message(event(EventType.TaskCompleted, self.clock(),
                                  TaskScheduledId=task_id, Result=json.dumps(result)))

    def control(self, kind: EventType, **fields: Any) -> Message:
        return self.message(event(kind, self.clock(), **fields), None)

    def deliver(self, *messages: Message) -> Effects:
        """One episode for a batch, committed like worker._episode / _commit_episode."""
        record = self.record
        state = self.state
        if record is not None and (state is None or state.record.execution_id
                                   != record.execution_id):
            state = None
            if record.runtime_status not in ("Completed", "Failed", "Terminated") \
                    and self.history:
                state = state_from_history(record, list(self.history))
        fx = asyncio.run(self.runner.run(state, record, list(messages)))
        if fx.reset_history:
            self.history = []
        if fx.append and fx.record is not None:
            assert fx.history_start == len(self.history)
            self.history += fx.append
        if fx.record is not None:
            self.record = fx.record
        self.state = fx.state
        self.clock.advance(1)
        return fx

    def kinds(self) -> list[str]:
        return [EventType(e["EventType"]).name for e in self.history]


def _sent(fx: Effects) -> list[tuple[str, ControlMessage | WorkItem, float]]:
    out: list[tuple[str, ControlMessage | WorkItem, float]] = []
    for m in fx.messages:
        payload: ControlMessage | WorkItem = (WorkItem.decode(m.payload) if m.queue == WORKITEMS
                                              else ControlMessage.decode(m.payload))
        out.append((m.queue, payload, m.delay))
    return out


def _as_messages(hub: Hub, fx: Effects) -> list[Message]:
    """The control messages an episode sent to its own instance, as the queue returns them."""
    out = []
    for m in fx.messages:
        if m.queue == "control" and m.instance_id == hub.iid:
            hub.ids += 1
            out.append(Message("control-00", hub.ids, m.payload, hub.iid, 1, f"r{hub.ids}",
                               hub.clock(), hub.clock()))
    return out


# -- the basic episode ------------------------------------------------------------------------

def test_start_schedules_activities_by_registered_name() -> None:
    hub = Hub("chain")
    fx = hub.deliver(hub.start_message())
    assert fx.ran and hub.invoked == ["chain"]
    assert hub.kinds() == ["OrchestratorStarted", "ExecutionStarted", "TaskScheduled",
                           "OrchestratorCompleted"]
    assert hub.record is not None and hub.record.runtime_status == "Running"
    [(queue, item, _)] = _sent(fx)
    assert queue == WORKITEMS and isinstance(item, WorkItem)
    assert (item.task_id, item.name, item.input) == (0, "hello", '"a"')
    fx = hub.deliver(hub.completed(0, "Hello a!"))
    [(_, item, _)] = _sent(fx)
    assert isinstance(item, WorkItem) and item.name == "Renamed"  # the alias, not the function
    fx = hub.deliver(hub.completed(1, "b"))
    assert hub.record.runtime_status == "Completed"
    assert json.loads(hub.record.output or "") == ["Hello a!", "b"]
    assert hub.kinds()[-1] == "ExecutionCompleted"
    assert fx.state is None


def test_duplicate_and_unknown_completions_are_ignored() -> None:
    hub = Hub("chain")
    hub.deliver(hub.start_message())
    hub.deliver(hub.completed(0, "Hello a!"))
    before = list(hub.history)
    hub.invoked.clear()
    duplicate, unknown = hub.completed(0, "again"), hub.completed(99, "who?")
    fx = hub.deliver(duplicate, unknown)
    assert fx.consumed == [duplicate, unknown]
    assert hub.history == before and hub.invoked == [] and not fx.ran
    # A duplicate in the same batch as the real one is dropped too.
    first, second = hub.completed(1, "b"), hub.completed(1, "b again")
    hub.deliver(first, second)
    assert hub.record is not None and json.loads(hub.record.output or "") == ["Hello a!", "b"]
    assert hub.kinds().count("TaskCompleted") == 2


def test_messages_for_an_ended_execution_are_dropped() -> None:
    hub = Hub("approval")
    hub.deliver(hub.start_message())
    hub.invoked.clear()
    stale = hub.message(event(EventType.EventRaised, hub.clock(), Name="approve",
                              Input="1"), "an-old-execution")
    before = list(hub.history)
    fx = hub.deliver(stale)
    assert fx.consumed == [stale] and hub.history == before and hub.invoked == []
    assert hub.record is not None and hub.record.runtime_status == "Running"


def test_messages_before_the_start_wait_and_a_purged_instance_drops_them() -> None:
    hub = Hub("approval")
    early = hub.raised("approve", 1)
    fx = hub.deliver(early)
    # Waiting is a fresh copy of the message, due shortly, not a redelivery: redeliveries
    # count towards the poison limit.
    assert fx.consumed == [early] and hub.history == []
    [(queue, resent, delay)] = _sent(fx)
    assert queue == "control" and resent.event == ControlMessage.decode(early.payload).event
    assert delay == pytest.approx(1.0)
    fx = hub.deliver(hub.start_message(), early)
    assert hub.record is not None and json.loads(hub.record.output or "") == {"approved": 1}
    late = hub.raised("approve", 2)
    hub.record = None  # purged
    fx = hub.deliver(late)
    assert fx.consumed == [late] and fx.state is None


def test_timers_are_delayed_messages_due_at_fire_time() -> None:
    hub = Hub("sleeper")
    fx = hub.deliver(hub.start_message())
    [(queue, fired, delay)] = _sent(fx)
    assert queue == "control" and isinstance(fired, ControlMessage)
    assert fired.event["EventType"] == EventType.TimerFired and fired.event["TimerId"] == 0
    assert delay == pytest.approx(7)
    assert hub.kinds()[2] == "TimerCreated"
    hub.clock.advance(7)
    hub.deliver(*_as_messages(hub, fx))
    assert hub.record is not None and hub.record.output == '"woke"'


def test_unknown_activity_fails_the_call_with_the_known_names() -> None:
    hub = Hub("missing")
    fx = hub.deliver(hub.start_message())
    [(queue, failed, _)] = _sent(fx)
    assert queue == "control" and isinstance(failed, ControlMessage)
    reason = failed.event["Reason"]
    assert reason.startswith("The function 'nope' doesn't exist")
    assert "'Renamed', 'hello'" in reason
    hub.deliver(*_as_messages(hub, fx))
    assert hub.record is not None and hub.record.runtime_status == "Completed"
    assert json.loads(hub.record.output or "").startswith("The function 'nope'")


# -- suspend, resume, terminate ---------------------------------------------------------------

def test_suspended_instance_keeps_events_until_resumed() -> None:
    hub = Hub("approval")
    hub.deliver(hub.start_message())
    hub.invoked.clear()
    hub.deliver(hub.control(EventType.ExecutionSuspended, Reason="hold"))
    assert hub.record is not None and hub.record.runtime_status == "Suspended"
    assert hub.kinds()[-1] == "ExecutionSuspended"
    ev = hub.raised("approve", "yes")
    fx = hub.deliver(ev)
    # Consumed and sent again later (a fresh message: re-reading the same one would count
    # as a failed dequeue each time and end as a poison message).
    assert fx.consumed == [ev] and hub.invoked == []  # no in-place deferral exists any more
    [(queue, again, delay)] = _sent(fx)
    assert queue == "control" and delay == SUSPENDED_RECHECK_SECONDS
    assert isinstance(again, ControlMessage) and again.event["Name"] == "approve"
    assert "EventRaised" not in hub.kinds()
    # Still suspended: it goes round again.
    fx = hub.deliver(*_as_messages(hub, fx))
    assert hub.record.runtime_status == "Suspended" and len(fx.messages) == 1
    # Resumed: back to Running, and the buffered event is delivered.
    hub.deliver(hub.control(EventType.ExecutionResumed, Reason="go"))
    assert hub.record.runtime_status == "Running"
    assert hub.kinds()[-1] == "ExecutionResumed"
    hub.deliver(*_as_messages(hub, fx))
    assert hub.record.runtime_status == "Completed"
    assert json.loads(hub.record.output or "") == {"approved": "yes"}


def test_suspend_twice_and_resume_when_running_change_nothing() -> None:
    hub = Hub("approval")
    hub.deliver(hub.start_message())
    hub.deliver(hub.control(EventType.ExecutionResumed, Reason="not suspended"))
    assert hub.record is not None and hub.record.runtime_status == "Running"
    hub.deliver(hub.control(EventType.ExecutionSuspended, Reason="a"),
                hub.control(EventType.ExecutionSuspended, Reason="b"))
    assert hub.kinds().count("ExecutionSuspended") == 1
    assert "ExecutionResumed" not in hub.kinds()


def test_terminate_ends_the_instance_and_later_messages_are_dropped() -> None:
    hub = Hub("approval")
    hub.deliver(hub.start_message())
    hub.deliver(hub.control(EventType.ExecutionTerminated, Input="enough"))
    assert hub.record is not None and hub.record.runtime_status == "Terminated"
    assert json.loads(hub.record.output or "") == "enough"
    assert hub.kinds()[-2:] == ["ExecutionTerminated", "ExecutionCompleted"]
    hub.invoked.clear()
    late = hub.raised("approve", 1)
    fx = hub.deliver(late)
    assert fx.consumed == [late] and hub.invoked == [] and fx.state is None


def test_terminate_while_suspended() -> None:
    hub = Hub("approval")
    hub.deliver(hub.start_message())
    hub.deliver(hub.control(EventType.ExecutionSuspended, Reason="hold"))
    hub.deliver(hub.control(EventType.ExecutionTerminated, Input="bye"))
    assert hub.record is not None and hub.record.runtime_status == "Terminated"


# -- continue-as-new --------------------------------------------------------------------------

def test_continue_as_new_carries_over_unprocessed_events_in_order() -> None:
    hub = Hub("ticker", {"seen": [], "want": 3})
    hub.deliver(hub.start_message())
    first_ex = hub.record.execution_id if hub.record else None
    fx = hub.deliver(hub.raised("tick", 1), hub.raised("tick", 2), hub.raised("tick", 3))
    assert fx.reset_history and hub.record is not None
    assert hub.record.execution_id != first_ex
    assert json.loads(hub.record.input or "") == {"seen": [1], "want": 3}
    assert hub.record.runtime_status == "Running" and hub.history == []
    sent = [(c.execution_id, EventType(c.event["EventType"]).name, c.event.get("Input"))
            for _, c, _ in _sent(fx) if isinstance(c, ControlMessage)]
    new_ex = hub.record.execution_id
    # The new execution's start, then the two unprocessed ticks, bound to that execution.
    assert sent == [(new_ex, "ExecutionStarted", hub.record.input),
                    (new_ex, "EventRaised", "2"), (new_ex, "EventRaised", "3")]
    carried = _as_messages(hub, fx)
    # An event raised meanwhile can reach the queue first (the store orders by visibility
    # time); it must still come after the carried ones.
    meanwhile = hub.raised("tick", 4)
    meanwhile = Message(meanwhile.queue, 0, meanwhile.payload, meanwhile.instance_id, 1, "m",
                        0.0, 0.0)
    fx = hub.deliver(meanwhile, *carried)
    # Execution 2 took tick 2, continued as new; ticks 3 and 4 carried over again.
    assert json.loads(hub.record.input or "") == {"seen": [1, 2], "want": 3}
    carried = _as_messages(hub, fx)
    assert [json.loads(ControlMessage.decode(m.payload).event.get("Input") or "null")
            for m in carried[1:]] == [3, 4]
    hub.deliver(*carried)
    assert hub.record.runtime_status == "Completed"
    assert json.loads(hub.record.output or "") == [1, 2, 3]


def test_events_of_an_old_execution_after_continue_as_new_are_dropped() -> None:
    hub = Hub("ticker", {"seen": [], "want": 2})
    hub.deliver(hub.start_message())
    old = hub.record.execution_id if hub.record else None
    fx = hub.deliver(hub.raised("tick", 1))
    start = _as_messages(hub, fx)
    stale = hub.message(event(EventType.EventRaised, hub.clock(), Name="tick", Input="9"), old)
    hub.deliver(*start, stale)
    assert hub.record is not None and hub.record.runtime_status == "Running"
    assert "EventRaised" not in hub.kinds()


# -- failures and sub-orchestrations ----------------------------------------------------------

def test_child_records_use_the_registered_name_and_parents_hear_of_failures() -> None:
    hub = Hub("parent", "fail")
    fx = hub.deliver(hub.start_message())
    [child] = fx.children
    assert child.name == "Kid" and child.instance_id == "ex1:0"
    assert child.parent_instance_id == hub.iid and child.input == '"fail"'
    [(_, start, _)] = _sent(fx)
    assert isinstance(start, ControlMessage)
    assert start.instance_id == "ex1:0" and start.event["Name"] == "Kid"
    assert start.event["ParentInstance"]["TaskScheduleId"] == 0

    kid = Hub("Kid", "fail", instance_id="ex1:0", parent=start.event["ParentInstance"])
    kid.record = child
    fx = kid.deliver(kid.message(start.event, child.execution_id))
    assert kid.record is not None and kid.record.runtime_status == "Failed"
    assert json.loads(kid.record.output or "") == "Orchestrator function 'Kid' failed: kid failed"
    [(_, note, _)] = _sent(fx)
    assert isinstance(note, ControlMessage) and note.instance_id == hub.iid
    assert note.event["EventType"] == EventType.SubOrchestrationInstanceFailed
    assert note.event["TaskScheduledId"] == 0
    assert note.event["Reason"] == "Orchestrator function 'Kid' failed: kid failed"
    hub.deliver(hub.message(note.event, note.execution_id))
    assert hub.record is not None and hub.record.runtime_status == "Failed"
    assert "kid failed" in json.loads(hub.record.output or "")


def test_child_completion_reaches_the_parent() -> None:
    kid = Hub("Kid", "ok", instance_id="p:0", parent={
        "OrchestrationInstance": {"InstanceId": "p", "ExecutionId": "pex"}, "Name": "parent",
        "TaskScheduleId": 3})
    fx = kid.deliver(kid.start_message())
    [(_, note, _)] = _sent(fx)
    assert isinstance(note, ControlMessage)
    assert (note.instance_id, note.execution_id) == ("p", "pex")
    assert note.event["EventType"] == EventType.SubOrchestrationInstanceCompleted
    assert json.loads(note.event["Result"]) == {"kid": "ok"}


def test_non_determinism_fails_the_instance_through_the_invoker() -> None:
    hub = Hub("chain")
    hub.deliver(hub.start_message())
    # The stored history says task 0 was another activity; the cached session is gone
    # (e.g. after a reload), so the next episode replays and finds the difference.
    for e in hub.history:
        if e["EventType"] == EventType.TaskScheduled:
            e["Name"] = "goodbye"
    hub.state = None
    hub.deliver(hub.completed(0, "x"))
    assert hub.record is not None and hub.record.runtime_status == "Failed"
    message = json.loads(hub.record.output or "")
    assert message.startswith("Orchestrator function 'chain' failed: Non-deterministic "
                              "workflow detected")
    assert "'goodbye'" in message and "'hello'" in message


def test_other_invocation_errors_propagate_for_a_retry() -> None:
    hub = Hub("chain")

    async def broken(fn: FunctionInfo, run: Callable[[], Outcome]) -> Outcome:
        raise InvocationError(fn.name, "inv", RuntimeError("worker died"))

    hub.runner.invoke = broken
    with pytest.raises(InvocationError):
        hub.deliver(hub.start_message())


def test_unloaded_orchestrator_fails_with_a_clear_message() -> None:
    hub = Hub("gone_away")
    hub.deliver(hub.start_message())
    assert hub.record is not None and hub.record.runtime_status == "Failed"
    assert "'gone_away' is not loaded" in json.loads(hub.record.output or "")


@pytest.mark.parametrize(("chars", "status"), [(8190, "Running"), (8191, "Failed")])
def test_a_custom_status_over_16_kb_fails_the_orchestration_as_on_azure(chars: int,
                                                                        status: str) -> None:
    # "x" * n serialises to n + 2 characters, two bytes each in UTF-16: 8190 -> 16,384 bytes.
    hub = Hub("big_status", chars)
    hub.deliver(hub.start_message())
    assert hub.record is not None and hub.record.runtime_status == status
    if status == "Failed":
        assert "must not exceed 16 KB" in (hub.record.output or "")
        assert "big_status" in (hub.record.output or "")
        assert hub.record.custom_status is None
    else:
        assert json.loads(hub.record.custom_status or "") == "x" * chars


@pytest.mark.parametrize("check", [True, False])
def test_the_replay_check_fails_a_non_deterministic_orchestrator_at_once(check: bool) -> None:
    MODE["activity"] = "hello"
    hub = Hub("moody", replay_check=check)
    hub.deliver(hub.start_message())
    MODE["activity"] = "Renamed"  # the code now takes another branch on replay
    try:
        hub.deliver(hub.completed(0, "Hello a!"))
    finally:
        MODE["activity"] = "hello"
    assert hub.record is not None
    if check:  # as Azure, which replays every episode: failed at the second one
        assert hub.record.runtime_status == "Failed"
        assert ("Non-deterministic workflow detected: at task 0 the history records a call to "
                "activity 'hello', but the orchestrator now schedules a call to activity "
                "'Renamed'") in (hub.record.output or "")
    else:  # the live session alone runs the code once: it never sees the other branch
        assert hub.record.runtime_status == "Running"


def test_the_replay_check_gives_the_live_sessions_results() -> None:
    for check in (True, False):
        hub = Hub("chain", replay_check=check)
        hub.deliver(hub.start_message())
        hub.deliver(hub.completed(0, "Hello a!"))
        hub.deliver(hub.completed(1, "b"))
        assert hub.record is not None and hub.record.runtime_status == "Completed"
        assert json.loads(hub.record.output or "") == ["Hello a!", "b"]


@pytest.mark.parametrize("check", [False, True])
def test_is_replaying_values_an_orchestrator_keeps_are_azures_on_both_paths(
        check: bool) -> None:
    """Azure replays the whole history at the last episode: the earlier steps see True. The
    live session (production) saw False at each; its final result comes from a replay."""
    hub = Hub("replay_flags", replay_check=check)
    hub.deliver(hub.start_message())
    hub.deliver(hub.completed(0, "a"))
    hub.deliver(hub.completed(1, "b"))
    assert hub.record is not None and hub.record.runtime_status == "Completed"
    assert json.loads(hub.record.output or "") == [True, True, False]
