"""Replay tests against recorded histories, without a server (host/taskhub/replay.py).

Orchestrators of a small DFApp defined here are driven episode by episode the way
host/taskhub/episode.py drives them: every episode is `[OrchestratorStarted, *new events]`,
then the scheduling events of the new tasks and `OrchestratorCompleted` are recorded. Each
episode runs on two paths: the *warm* one (one live `Session` fed only the new events) and
the *cold* one (a fresh `Session` replaying the whole stored history, as the real extension
does every episode). They must agree at every episode: same `Outcome.state`, same new tasks
(ids, kinds, names, inputs, timer times), same count of consumed events. The SDK task ids are
checked against durable-protocol.md §3.5 / §3.7, including the retry pattern (2N ids for a
fully failing retry).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import azure.durable_functions as df
import pytest
from funcpy.host.taskhub.history import (
    Event,
    EventType,
    event,
    execution_started,
    timestamp,
)
from funcpy.host.taskhub.replay import NewTask, NonDeterminism, Outcome, Session, scheduled_in

T0 = 1_700_000_000.0
app = df.DFApp()


# -- the orchestrators under test -------------------------------------------------------------

@app.orchestration_trigger(context_name="context")
def worked(context: df.DurableOrchestrationContext):
    """durable-protocol §3.7's worked example."""
    x = context.get_input()
    context.set_custom_status({"stage": 1})
    a = yield context.call_activity("hello", x)
    rs = yield context.task_all([context.call_activity("hello", 0),
                                 context.call_activity("hello", 1)])
    ev = yield context.wait_for_external_event("approve")
    yield context.create_timer(context.current_utc_datetime + dt.timedelta(seconds=5))
    return [a, rs, ev]


@app.orchestration_trigger(context_name="context")
def chain(context: df.DurableOrchestrationContext):
    out = []
    for city in ("Tokyo", "Seattle", "London"):
        out.append((yield context.call_activity("hello", city)))
    return out


@app.orchestration_trigger(context_name="context")
def fan(context: df.DurableOrchestrationContext):
    n = context.get_input()
    context.set_custom_status({"fanning": n})
    results = yield context.task_all([context.call_activity("double", i) for i in range(n)])
    total = yield context.call_activity("sum", results)
    return {"results": results, "total": total}


@app.orchestration_trigger(context_name="context")
def retry(context: df.DurableOrchestrationContext):
    options = df.RetryOptions(first_retry_interval_in_milliseconds=2000,
                              max_number_of_attempts=3)
    first = yield context.call_activity_with_retry("flaky", options, "a")
    try:
        yield context.call_activity_with_retry("doomed", options, "b")
        second = None
    except Exception as exc:
        second = str(exc)
    after = yield context.call_activity("hello", "after")
    return {"first": first, "second": second, "after": after}


@app.orchestration_trigger(context_name="context")
def timers(context: df.DurableOrchestrationContext):
    now = context.current_utc_datetime
    yield context.create_timer(now + dt.timedelta(seconds=2))
    deadline = context.create_timer(context.current_utc_datetime + dt.timedelta(seconds=30))
    answer = context.wait_for_external_event("answer")
    winner = yield context.task_any([answer, deadline])
    if winner is answer:
        deadline.cancel()
        result = answer.result
    else:
        result = "timeout"
    later = context.create_timer(context.current_utc_datetime + dt.timedelta(seconds=1))
    fast = context.call_activity("hello", "race")
    first = yield context.task_any([later, fast])
    return {"result": result, "second_winner": "activity" if first is fast else "timer",
            "uuid": context.new_uuid(), "now": context.current_utc_datetime.isoformat()}


@app.orchestration_trigger(context_name="context")
def events(context: df.DurableOrchestrationContext):
    a = yield context.wait_for_external_event("first")
    context.set_custom_status(f"got {a}")
    b = yield context.wait_for_external_event("second")
    both = yield context.task_all([context.wait_for_external_event("x"),
                                   context.wait_for_external_event("y")])
    return [a, b, both]


@app.orchestration_trigger(context_name="context")
def ticker(context: df.DurableOrchestrationContext):
    state = context.get_input()
    tick = yield context.wait_for_external_event("tick")
    yield context.call_activity("hello", tick)
    seen = [*state["seen"], tick]
    if len(seen) < state["want"]:
        context.continue_as_new({"seen": seen, "want": state["want"]})
        return None
    return seen


@app.orchestration_trigger(context_name="context")
def parent(context: df.DurableOrchestrationContext):
    one = yield context.call_sub_orchestrator("child", 1)
    named = yield context.call_sub_orchestrator("child", 2, "named-kid")
    options = df.RetryOptions(first_retry_interval_in_milliseconds=500,
                              max_number_of_attempts=2)
    retried = yield context.call_sub_orchestrator_with_retry("child", options, 3)
    many = yield context.task_all([context.call_sub_orchestrator("child", i) for i in (4, 5)])
    return [one, named, retried, many, context.parent_instance_id]


@app.orchestration_trigger(context_name="context")
def crash(context: df.DurableOrchestrationContext):
    yield context.call_activity("hello", "before")
    raise ValueError("kaboom")


@app.orchestration_trigger(context_name="context")
def logger(context: df.DurableOrchestrationContext):
    """Side effects guarded by is_replaying run once per step, on either path."""
    if not context.is_replaying:
        STEPS.append("start")
    yield context.call_activity("hello", 1)
    if not context.is_replaying:
        STEPS.append("middle")
    yield context.call_activity("hello", 2)
    if not context.is_replaying:
        STEPS.append("end")
    return context.is_replaying


@app.orchestration_trigger(context_name="context")
def plain(context: df.DurableOrchestrationContext):
    if context.get_input() == "raise":
        raise ValueError("no yield, no luck")
    return {"plain": context.get_input()}


@app.orchestration_trigger(context_name="context")
def http_caller(context: df.DurableOrchestrationContext):
    response = yield context.call_http("POST", "https://example.com/x", {"a": 1},
                                       {"X-Test": "1"})
    return response["statusCode"]


@app.orchestration_trigger(context_name="context")
def entity_user(context: df.DurableOrchestrationContext):
    counter = df.EntityId("Counter", context.get_input())
    context.signal_entity(counter, "add", 5)
    try:
        value = yield context.call_entity(counter, "get")
    except Exception as exc:
        return f"failed: {exc}"
    return value


@app.orchestration_trigger(context_name="context")
def entity_user_changed(context: df.DurableOrchestrationContext):
    counter = df.EntityId("Counter", context.get_input())
    context.signal_entity(counter, "add", 5)
    value = yield context.call_entity(counter, "reset")  # was "get": not deterministic
    return value


STEPS: list[str] = []
HANDLES = {f.get_function_name(): f.get_user_function() for f in app.get_functions()}


# -- the episode driver -----------------------------------------------------------------------

def scheduling_event(task: NewTask, t: float) -> Event:
    """The history event episode.py records for a new task."""
    if task.kind == "activity":
        return event(EventType.TaskScheduled, t, task.task_id, Name=task.name, Version=None,
                     Input=task.input)
    if task.kind == "timer":
        assert task.fire_at is not None
        return event(EventType.TimerCreated, t, task.task_id, FireAt=timestamp(task.fire_at))
    if task.kind == "http":
        return event(EventType.TaskScheduled, t, task.task_id, Name=task.name, Version=None,
                     Input=task.input)
    if task.kind in ("entity", "signal"):
        request = {"op": task.name, "signal": task.kind == "signal", "input": task.input,
                   "id": task.request_id or "signal-id"}
        return event(EventType.EventSent, t, task.task_id, InstanceId=task.instance_id,
                     Name=task.name, Input=json.dumps(request))
    return event(EventType.SubOrchestrationInstanceCreated, t, task.task_id, Name=task.name,
                 Version=task.version, InstanceId=task.instance_id, Input=task.input)


class Run:
    """One execution, driven on the warm and the cold path at once."""

    def __init__(self, name: str, input_value: Any = None, *, instance_id: str = "inst-1",
                 parent_id: str | None = None, check_light: bool = True) -> None:
        handle = HANDLES[name]
        self.name = name
        self.orchestrator = handle.orchestrator_function
        self.input_type = getattr(handle, "_df_input_type", None)
        self.input_text = json.dumps(input_value)
        self.instance_id = instance_id
        self.parent_id = parent_id
        self.history: list[Event] = []
        self.t = T0
        self.warm: Session | None = None
        self.outcomes: list[Outcome] = []
        self.check_light = check_light

    def session(self) -> Session:
        return Session(self.orchestrator, self.input_type, self.instance_id, "exec-1",
                       self.parent_id, self.input_text, scheduled_in(self.history))

    def started(self) -> Event:
        parent = None
        if self.parent_id:
            parent = {"OrchestrationInstance": {"InstanceId": self.parent_id,
                                                "ExecutionId": "pexec"},
                      "Name": "parent", "TaskScheduleId": 0}
        return execution_started(self.t, self.instance_id, "exec-1", self.name,
                                 self.input_text, parent)

    def episode(self, new: list[Event] | None = None, advance: float = 1.0) -> Outcome:
        """Run one episode; `new=None` is the first one (ExecutionStarted)."""
        if self.outcomes:
            self.t += advance
        events_in = [self.started()] if new is None else new
        episode = [event(EventType.OrchestratorStarted, self.t), *events_in]
        cold = self.session().start(list(self.history), list(episode))
        if self.warm is None:
            self.warm = self.session()
            warm = self.warm.start(list(self.history), list(episode))
        else:
            warm = self.warm.feed(list(episode))
            if self.check_light:  # the warm path's cheap state is the SDK's state
                assert self.warm._light_state() == self.warm._sdk_state()
        assert warm.state == cold.state, f"episode {len(self.outcomes)}"
        # An entity call's request id is drawn by the session that schedules it (and then
        # recorded in history): the warm path's is the one history keeps.
        assert [replace(t, request_id=None) for t in warm.new_tasks] == \
            [replace(t, request_id=None) for t in cold.new_tasks], f"episode {len(self.outcomes)}"
        assert warm.consumed == cold.consumed, f"episode {len(self.outcomes)}"
        self.history += episode
        self.history += [scheduling_event(task, self.t) for task in warm.new_tasks]
        self.history.append(event(EventType.OrchestratorCompleted, self.t))
        self.outcomes.append(warm)
        return warm

    # completion events, stamped with the current episode's time
    def completed(self, task_id: int, result: Any) -> Event:
        return event(EventType.TaskCompleted, self.t, TaskScheduledId=task_id,
                     Result=json.dumps(result))

    def failed(self, task_id: int, reason: str) -> Event:
        return event(EventType.TaskFailed, self.t, TaskScheduledId=task_id, Reason=reason,
                     Details=None)

    def fired(self, task: NewTask) -> Event:
        assert task.fire_at is not None
        return event(EventType.TimerFired, task.fire_at, TimerId=task.task_id,
                     FireAt=timestamp(task.fire_at))

    def raised(self, name: str, value: Any) -> Event:
        return event(EventType.EventRaised, self.t, Name=name, Input=json.dumps(value))

    def child_done(self, task_id: int, result: Any) -> Event:
        return event(EventType.SubOrchestrationInstanceCompleted, self.t,
                     TaskScheduledId=task_id, Result=json.dumps(result))

    def child_failed(self, task_id: int, reason: str) -> Event:
        return event(EventType.SubOrchestrationInstanceFailed, self.t,
                     TaskScheduledId=task_id, Reason=reason, Details=None)


def tasks(outcome: Outcome) -> list[tuple[int, str, str | None]]:
    return [(t.task_id, t.kind, t.name) for t in outcome.new_tasks]


def full_sdk_state(run: Run) -> dict[str, Any]:
    """The SDK's complete OrchestratorState (all actions), from the warm session."""
    assert run.warm is not None
    return json.loads(run.warm.executor.get_orchestrator_state_str())


Responder = Callable[[NewTask], Event | None]


def drive(run: Run, respond: Callable[[Run, NewTask], Event | None],
          order: str = "all", limit: int = 50) -> Outcome:
    """Answer every new task (activities, children, timers) until the run is done.

    `order`: "all" delivers every pending answer in one episode, "one" one per episode
    (oldest first), "reversed" all at once, newest first.
    """
    outcome = run.episode()
    pending: list[Event] = []
    for _ in range(limit):
        for task in outcome.new_tasks:
            answer = respond(run, task)
            if answer is not None:
                pending.append(answer)
        if outcome.done or outcome.error or not pending:
            return outcome
        if order == "one":
            batch, pending = pending[:1], pending[1:]
        elif order == "reversed":
            batch, pending = pending[::-1], []
        else:
            batch, pending = pending, []
        outcome = run.episode(batch)
    raise AssertionError("the run did not finish")


def standard(run: Run, task: NewTask) -> Event | None:
    if task.kind == "timer":
        return run.fired(task)
    value = json.loads(task.input or "null")
    if task.kind == "suborchestration":
        return run.child_done(task.task_id, {"child": value, "id": task.instance_id})
    if task.name == "hello":
        return run.completed(task.task_id, f"Hello {value}!")
    if task.name == "double":
        return run.completed(task.task_id, 2 * value)
    if task.name == "sum":
        return run.completed(task.task_id, sum(value))
    raise AssertionError(f"unexpected task {task}")


# -- (a) task ids -----------------------------------------------------------------------------

def test_worked_example_ids_actions_and_state() -> None:
    run = Run("worked", {"n": 1})
    first = run.episode()
    assert first.new_tasks == [NewTask(0, "activity", "hello", '{"n": 1}')]
    sdk = full_sdk_state(run)
    assert sdk["schemaVersion"] == 2
    assert sdk["actions"] == [[{"actionType": 0, "functionName": "hello",
                                "input": '{"n": 1}'}]]
    assert sdk["customStatus"] == {"stage": 1}
    assert first.state["customStatus"] == {"stage": 1} and not first.done

    second = run.episode([run.completed(0, "Hello n!")])
    assert second.new_tasks == [NewTask(1, "activity", "hello", "0"),
                                NewTask(2, "activity", "hello", "1")]
    compound = full_sdk_state(run)["actions"][0][1]
    assert compound["actionType"] == 12
    assert [a["input"] for a in compound["compoundActions"]] == ["0", "1"]

    third = run.episode([run.completed(2, "h1"), run.completed(1, "h0")])
    assert third.new_tasks == []  # an external event takes no id
    assert full_sdk_state(run)["actions"][0][-1] == {
        "actionType": 6, "externalEventName": "approve", "reason": "ExternalEvent"}

    fourth = run.episode([run.raised("approve", True)])
    t3 = run.t
    assert fourth.new_tasks == [NewTask(3, "timer", fire_at=t3 + 5)]
    timer = full_sdk_state(run)["actions"][0][-1]
    assert timer["actionType"] == 5 and timer["isCanceled"] is False
    assert timer["fireAt"] == timestamp(t3 + 5)

    done = run.episode([run.fired(fourth.new_tasks[0])], advance=6)
    assert done.done and done.new_tasks == []
    assert done.state["output"] == ["Hello n!", ["h0", "h1"], True]


def test_fully_failing_retry_takes_two_ids_per_attempt_and_fails_after_the_dummy_timer(
) -> None:
    run = Run("retry")
    out = run.episode()
    assert tasks(out) == [(0, "activity", "flaky")]
    out = run.episode([run.failed(0, "flaky 1")])
    assert out.new_tasks == [NewTask(1, "timer", fire_at=run.t + 2)]  # first interval
    out = run.episode([run.fired(out.new_tasks[0])], advance=2)
    assert tasks(out) == [(2, "activity", "flaky")]
    out = run.episode([run.completed(2, "flaky ok")])
    # `doomed` fails all three attempts: ids 3..8, two per attempt.
    assert tasks(out) == [(3, "activity", "doomed")]
    out = run.episode([run.failed(3, "doomed 1")])
    assert out.new_tasks == [NewTask(4, "timer", fire_at=run.t + 2)]
    out = run.episode([run.fired(out.new_tasks[0])], advance=2)
    assert tasks(out) == [(5, "activity", "doomed")]
    out = run.episode([run.failed(5, "doomed 2")])
    assert out.new_tasks == [NewTask(6, "timer", fire_at=run.t + 2)]
    out = run.episode([run.fired(out.new_tasks[0])], advance=2)
    assert tasks(out) == [(7, "activity", "doomed")]
    out = run.episode([run.failed(7, "doomed 3")])
    # After the last attempt, DTFx's "dummy" timer due now; the failure surfaces when it fires.
    assert out.new_tasks == [NewTask(8, "timer", fire_at=run.t)]
    assert not out.done
    out = run.episode([run.fired(out.new_tasks[0])], advance=0)
    assert tasks(out) == [(9, "activity", "hello")]
    out = run.episode([run.completed(9, "Hello after!")])
    assert out.done
    assert out.state["output"]["first"] == "flaky ok"
    assert out.state["output"]["second"].startswith("doomed 3")
    assert out.state["output"]["after"] == "Hello after!"


def test_sub_orchestration_ids_and_default_child_instance_ids() -> None:
    run = Run("parent")
    out = run.episode()
    assert out.new_tasks == [NewTask(0, "suborchestration", "child", "1",
                                     instance_id="exec-1:0")]
    out = run.episode([run.child_done(0, "one")])
    assert out.new_tasks == [NewTask(1, "suborchestration", "child", "2",
                                     instance_id="named-kid")]
    out = run.episode([run.child_done(1, "two")])
    assert out.new_tasks == [NewTask(2, "suborchestration", "child", "3",
                                     instance_id="exec-1:2")]
    out = run.episode([run.child_failed(2, "Orchestrator function 'child' failed: no")])
    assert out.new_tasks == [NewTask(3, "timer", fire_at=run.t + 0.5)]
    out = run.episode([run.fired(out.new_tasks[0])])
    # The retried attempt is a new child instance (a new id, so a new default instance id).
    assert out.new_tasks == [NewTask(4, "suborchestration", "child", "3",
                                     instance_id="exec-1:4")]
    out = run.episode([run.child_done(4, "three")])
    assert tasks(out) == [(5, "suborchestration", "child"), (6, "suborchestration", "child")]
    out = run.episode([run.child_done(6, "five"), run.child_done(5, "four")])
    assert out.state["output"] == ["one", "two", "three", ["four", "five"], None]


def test_parent_instance_id_reaches_the_child() -> None:
    run = Run("parent", parent_id="grand-parent")
    drive(run, standard)
    assert run.outcomes[-1].state["output"][-1] == "grand-parent"


# -- (b) warm == cold, episode by episode -----------------------------------------------------

@pytest.mark.parametrize("order", ["all", "one", "reversed"])
@pytest.mark.parametrize(("name", "input_value", "expected"), [
    ("chain", None, ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]),
    ("fan", 6, {"results": [0, 2, 4, 6, 8, 10], "total": 30}),
    ("parent", None, None),
])
def test_warm_and_cold_paths_agree(name: str, input_value: Any, expected: Any,
                                   order: str) -> None:
    run = Run(name, input_value)
    out = drive(run, standard, order)
    assert out.done and not out.error
    if expected is not None:
        assert out.state["output"] == expected
    assert len(run.outcomes) > 2


def test_warm_and_cold_agree_on_retries() -> None:
    attempts: dict[str, int] = {}

    def respond(run: Run, task: NewTask) -> Event | None:
        if task.kind == "timer":
            return run.fired(task)
        attempts[task.name or ""] = attempts.get(task.name or "", 0) + 1
        if task.name == "flaky" and attempts["flaky"] < 3:
            return run.failed(task.task_id, f"flaky {attempts['flaky']}")
        if task.name == "doomed":
            return run.failed(task.task_id, f"doomed {attempts['doomed']}")
        return run.completed(task.task_id, f"{task.name} ok")

    out = drive(Run("retry"), respond)
    assert attempts == {"flaky": 3, "doomed": 3, "hello": 1}
    assert out.state["output"]["first"] == "flaky ok"
    assert out.state["output"]["second"].startswith("doomed 3")


def test_warm_and_cold_agree_on_timers_events_and_task_any() -> None:
    run = Run("timers")
    out = run.episode()
    assert tasks(out) == [(0, "timer", None)]
    out = run.episode([run.fired(out.new_tasks[0])], advance=2)
    # The race: a 30 s timer (id 1) against an event (no id).
    assert tasks(out) == [(1, "timer", None)]
    deadline = out.new_tasks[0]
    assert deadline.fire_at == run.t + 30
    out = run.episode([run.raised("answer", {"ok": 1})])
    assert tasks(out) == [(2, "timer", None), (3, "activity", "hello")]
    timer = out.new_tasks[0]
    # The cancelled deadline fires later anyway; then the activity wins the second race.
    out = run.episode([run.fired(deadline)], advance=30)
    assert out.new_tasks == [] and not out.done
    out = run.episode([run.completed(3, "Hello race!"), run.fired(timer)])
    assert out.done
    assert out.state["output"]["result"] == {"ok": 1}
    assert out.state["output"]["second_winner"] == "activity"


def test_warm_and_cold_agree_when_the_timer_wins() -> None:
    run = Run("timers")
    out = run.episode()
    out = run.episode([run.fired(out.new_tasks[0])], advance=2)
    out = run.episode([run.fired(out.new_tasks[0])], advance=30)
    assert tasks(out) == [(2, "timer", None), (3, "activity", "hello")]
    timer = out.new_tasks[0]
    out = run.episode([run.fired(timer), run.completed(3, "late")], advance=1)
    assert out.state["output"]["result"] == "timeout"
    assert out.state["output"]["second_winner"] == "timer"


def test_warm_and_cold_agree_on_early_events() -> None:
    run = Run("events")
    run.episode()
    # `second` arrives before anyone waits for it: the SDK keeps it until the wait.
    out = run.episode([run.raised("second", "B")])
    assert not out.done and "customStatus" not in out.state
    out = run.episode([run.raised("first", "A")])
    assert out.state["customStatus"] == "got A" and not out.done
    out = run.episode([run.raised("y", 2), run.raised("x", 1)])
    assert out.done
    assert out.state["output"] == ["A", "B", [1, 2]]


def test_warm_and_cold_agree_on_continue_as_new_with_unprocessed_events() -> None:
    run = Run("ticker", {"seen": [], "want": 2})
    run.episode()
    # Two ticks in one batch: the first is processed, the orchestration continues as new
    # after its activity; the second must be reported as not consumed (to carry it over).
    out = run.episode([run.raised("tick", 1), run.raised("tick", 2)])
    assert tasks(out) == [(0, "activity", "hello")]
    out = run.episode([run.completed(0, "Hello 1!"), run.raised("tick", 3)])
    assert out.done
    # OrchestratorStarted and the completion; the tick is left for the next execution.
    assert out.consumed == 2
    is_can, new_input = out.continue_as_new_input()
    assert is_can and json.loads(new_input or "") == {"seen": [1], "want": 2}
    # The next execution, started with the carried-over events.
    nxt = Run("ticker", {"seen": [1], "want": 2})
    nxt.episode()
    out = nxt.episode([nxt.raised("tick", 2)])
    out = nxt.episode([nxt.completed(0, "Hello 2!")])
    assert out.done and out.state["output"] == [1, 2]


def test_continue_as_new_ends_consumption_in_the_same_batch() -> None:
    run = Run("ticker", {"seen": [], "want": 5})
    run.episode()
    run.episode([run.raised("tick", 1)])
    out = run.episode([run.completed(0, "ok"), run.raised("tick", 2), run.raised("tick", 3)])
    assert out.done and out.consumed == 2  # OrchestratorStarted and the completion
    assert out.continue_as_new_input()[0]


def test_warm_and_cold_agree_on_orchestrator_failure() -> None:
    run = Run("crash")
    run.episode()
    out = run.episode([run.completed(0, "Hello before!")])
    assert out.error == "kaboom"
    assert not out.done


def test_is_replaying_guarded_side_effects_run_once_per_step_on_both_paths() -> None:
    STEPS.clear()
    run = Run("logger")
    drive(run, standard)
    # Both paths ran every episode; each step was "not replaying" exactly once per path.
    assert sorted(STEPS) == sorted(["start", "middle", "end"] * 2)
    assert run.outcomes[-1].state["output"] is False  # not replaying at the end


def test_current_time_and_uuids_are_stable_across_replays() -> None:
    run = Run("timers")
    out = run.episode()
    out = run.episode([run.fired(out.new_tasks[0])], advance=2)
    out = run.episode([run.raised("answer", 1)], advance=3)
    answer_time = run.t
    out = run.episode([run.completed(3, "x")], advance=4)
    assert out.done  # warm == cold already checked; now check against the SDK's formula
    now = out.state["output"]["now"]
    assert dt.datetime.fromisoformat(now).timestamp() == run.t
    assert answer_time < run.t
    # new_uuid(): uuid5 over the instance id, the orchestration time and a counter.
    namespace = uuid.uuid5(uuid.NAMESPACE_OID, "9e952958-5e33-4daf-827f-2fa12937b875")
    when = dt.datetime.fromtimestamp(run.t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert out.state["output"]["uuid"] == str(uuid.uuid5(namespace, f"inst-1_{when}_0"))


# -- the non-determinism guard and unsupported actions ----------------------------------------

def test_a_replayed_task_that_differs_from_history_is_non_determinism() -> None:
    run = Run("chain")
    run.episode()
    run.episode([run.completed(0, "Hello Tokyo!")])
    # History says task 1 was another activity (the code changed since).
    history = [dict(e) for e in run.history]
    for e in history:
        if e["EventType"] == EventType.TaskScheduled and e["EventId"] == 1:
            e["Name"] = "goodbye"
    session = Session(run.orchestrator, None, "inst-1", "exec-1", None, run.input_text,
                      scheduled_in(history))
    with pytest.raises(NonDeterminism) as info:
        session.start(history, [event(EventType.OrchestratorStarted, run.t + 1),
                                run.completed(1, "x")])
    message = str(info.value)
    assert "at task 1" in message
    assert "'goodbye'" in message and "'hello'" in message


def test_a_timer_where_history_has_an_activity_is_non_determinism() -> None:
    run = Run("timers")
    history = [event(EventType.OrchestratorStarted, T0), run.started(),
               event(EventType.TaskScheduled, T0, 0, Name="hello", Input="1"),
               event(EventType.OrchestratorCompleted, T0)]
    session = Session(run.orchestrator, None, "inst-1", "exec-1", None, run.input_text,
                      scheduled_in(history))
    with pytest.raises(NonDeterminism, match="a durable timer"):
        session.start(history, [event(EventType.OrchestratorStarted, T0 + 1)])


def test_names_are_compared_case_insensitively() -> None:
    run = Run("chain")
    run.episode()
    history = [dict(e) for e in run.history]
    history[2]["Name"] = "HELLO"
    session = Session(run.orchestrator, None, "inst-1", "exec-1", None, run.input_text,
                      scheduled_in(history))
    out = session.start(history, [event(EventType.OrchestratorStarted, T0 + 1),
                                  run.completed(0, "Hello Tokyo!")])
    assert tasks(out) == [(1, "activity", "hello")]


def test_call_http_is_the_built_in_http_activity() -> None:
    run = Run("http_caller")
    out = run.episode()
    assert tasks(out) == [(0, "http", "BuiltIn::HttpActivity")]
    assert json.loads(out.new_tasks[0].input or "") == {
        "method": "POST", "uri": "https://example.com/x", "content": '{"a": 1}',
        "headers": {"X-Test": "1"}}
    out = run.episode([run.completed(0, {"statusCode": 418, "headers": {}, "content": ""})])
    assert out.done and out.state["output"] == 418


def _entity_run(name: str) -> tuple[Run, NewTask]:
    run = Run(name, "k1")
    out = run.episode()
    assert tasks(out) == [(0, "signal", "add"), (1, "entity", "get" if name == "entity_user"
                                                  else "reset")]
    signal, call = out.new_tasks
    assert signal.instance_id == call.instance_id == "@counter@k1"
    assert signal.input == "5" and signal.request_id is None
    assert call.request_id
    return run, call


def test_entity_call_result_is_raised_under_its_request_id() -> None:
    run, call = _entity_run("entity_user")
    out = run.episode([run.raised(call.request_id or "", {"result": "7"})])
    assert out.done and out.state["output"] == 7


def test_entity_call_error_reaches_the_orchestrator() -> None:
    run, call = _entity_run("entity_user")
    out = run.episode([run.raised(call.request_id or "",
                                  {"result": json.dumps("no such op"), "exceptionType": "Error"})])
    assert out.done and out.state["output"] == "failed: no such op"


def test_changed_entity_operation_is_non_deterministic() -> None:
    run, _ = _entity_run("entity_user")
    changed = Session(HANDLES["entity_user_changed"].orchestrator_function, None, "inst-1",
                      "exec-1", None, run.input_text, scheduled_in(run.history))
    with pytest.raises(NonDeterminism, match=r"entity operation 'get'.*entity operation 'reset'"):
        changed.start(list(run.history), [event(EventType.OrchestratorStarted, T0 + 5)])


@pytest.mark.parametrize(("value", "done", "output", "error"), [
    ("ok", True, {"plain": "ok"}, None),
    ("raise", False, None, "no yield, no luck"),
])
def test_orchestrator_without_yield(value: str, done: bool, output: Any, error: Any) -> None:
    run = Run("plain", value)
    out = run.episode()
    assert out.done is done and out.new_tasks == []
    assert out.state.get("output") == output
    assert out.error == error
