"""Driving the official Durable Functions SDK through an orchestration's history.

A `Session` holds one live SDK executor (the user's generator, its open tasks) for one execution.
It is created by replaying the stored history (`Session.replay`), exactly as the SDK replays the
context JSON the real extension sends, and can then be fed each episode's new events
(`Session.feed`) — the SDK's executor consumes events one at a time, so feeding only the new
ones gives the same result as replaying everything again, without the quadratic cost.
`tests/taskhub/test_replay.py` proves the two paths agree.

The SDK numbers its tasks itself; the session records each task as it receives its id, so the
host schedules exactly what the SDK will later look for (including the timers and re-scheduled
attempts of `*_with_retry`), and checks every replayed task against the history event recorded
at its id — a mismatch is reported as non-determinism with both names.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import dateutil.parser
import dateutil.tz
from azure.durable_functions.models.actions.NoOpAction import NoOpAction
from azure.durable_functions.models.actions.SignalEntityAction import SignalEntityAction
from azure.durable_functions.models.DurableOrchestrationContext import (
    DurableOrchestrationContext,
)
from azure.durable_functions.models.history import HistoryEvent
from azure.durable_functions.models.Task import AtomicTask
from azure.durable_functions.models.TaskOrchestrationExecutor import TaskOrchestrationExecutor
from azure.functions._durable_functions import df_dumps
from funcpy.host.taskhub.history import SCHEDULING, Event, EventType

ERROR_LABEL = "\n\n$OutOfProcData$:"
_UTC = dateutil.tz.tzutc()
_dateutil_parse = dateutil.parser.parse


def _parse_timestamp(text: str) -> dt.datetime:
    """What dateutil's parse returns for the host's own ISO timestamps (same value, same
    tzutc), about 100x faster; anything else still goes to dateutil. The SDK parses the
    Timestamp of every history event it reads, which was most of a replay's cost."""
    try:
        value = dt.datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return _dateutil_parse(text)
    if value.utcoffset() == dt.timedelta(0):
        return value.replace(tzinfo=_UTC)
    return value


# The SDK module's own name for dateutil's parse (the package re-exports the class under the
# module's name, hence sys.modules).
sys.modules["azure.durable_functions.models.history.HistoryEvent"].dt_parse = _parse_timestamp
# Action types (SDK ActionType) and what the host does for them.
_ACTIVITY, _ACTIVITY_RETRY, _SUBORCH, _SUBORCH_RETRY, _CONTINUE, _TIMER = 0, 1, 2, 3, 4, 5
_CALL_ENTITY, _CALL_HTTP, _SIGNAL_ENTITY = 7, 8, 9
# The extension's name for the activity that performs call_http (durable-protocol §3.5).
HTTP_ACTIVITY = "BuiltIn::HttpActivity"


@dataclass(frozen=True)
class NewTask:
    """Work the SDK scheduled that history does not hold yet."""

    task_id: int
    # "activity" | "suborchestration" | "timer" | "http" | "entity" (a call) | "signal"
    kind: str
    name: str | None = None  # entities: the operation
    input: str | None = None
    instance_id: str | None = None  # sub-orchestrations: the child; entities: '@name@key'
    version: str | None = None
    fire_at: float | None = None  # timers: epoch seconds
    request_id: str | None = None  # entity calls: the GUID the response is raised under


class NonDeterminism(Exception):
    pass


class Unsupported(Exception):
    pass


@dataclass
class Outcome:
    """What one episode produced, from the SDK's OrchestratorState JSON."""

    state: dict[str, Any]
    new_tasks: list[NewTask] = field(default_factory=list)
    consumed: int = 0  # how many of the fed events the SDK processed before it finished

    @property
    def done(self) -> bool:
        return bool(self.state.get("isDone"))

    @property
    def error(self) -> str | None:
        return self.state.get("error") or None

    def continue_as_new_input(self) -> tuple[bool, str | None]:
        for action in _flat(self.state.get("actions") or []):
            if action.get("actionType") == _CONTINUE:
                return True, action.get("input")
        return False, None


def _flat(actions: list[Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for item in actions:
        if isinstance(item, list):
            out.extend(_flat(item))
        elif isinstance(item, dict):
            out.append(item)
            out.extend(_flat(item.get("compoundActions") or []))
    return out


class _RecordingContext(DurableOrchestrationContext):
    """The SDK's context, noting each atomic task the moment the SDK gives it an id."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.recorded: list[tuple[AtomicTask, dt.datetime, int | None]] = []
        self.read_is_replaying = False  # user code looked at is_replaying

    @property
    def is_replaying(self) -> bool:
        # Noted because the live session answers "not replaying" where Azure, replaying the
        # whole history every episode, answers True: an orchestration that keeps the value
        # gets its final result from a replay (see EpisodeRunner._as_azure_replays).
        self.read_is_replaying = True
        return self._is_replaying

    def _add_to_open_tasks(self, task: Any) -> None:
        fresh = isinstance(task, AtomicTask) and task.id is None and not task._is_scheduled
        super()._add_to_open_tasks(task)
        if fresh and isinstance(task.id, int):
            attempts = getattr(task.parent, "num_attempts", None)
            self.recorded.append((task, self.current_utc_datetime, attempts))

    def _record_fire_and_forget_action(self, action: Any) -> None:
        # signal_entity takes its id here, at call time, without a yield (and never reaches
        # _add_to_open_tasks): record it under that id like any other task.
        if isinstance(action, SignalEntityAction):
            signal = AtomicTask(self._sequence_number, action)
            self.recorded.append((signal, self.current_utc_datetime, None))
        super()._record_fire_and_forget_action(action)


def _describe(task: AtomicTask, now: dt.datetime, attempts: int | None,
              execution_id: str) -> NewTask:
    action = task.action_repr
    if isinstance(action, list):  # replay schema V1 wraps actions in lists
        action = action[0]
    if isinstance(action, NoOpAction):
        parent = task.parent
        options = parent.retry_options
        if action.metadata == "-WithRetry timer":
            # DTFx's RetryInterceptor: wait first_interval between attempts; after the last
            # failed attempt a timer due "now" before the failure surfaces.
            last = attempts is not None and attempts >= options.max_number_of_attempts
            delay = 0.0 if last else options.first_retry_interval_in_milliseconds / 1000
            return NewTask(task.id, "timer", fire_at=now.timestamp() + delay)
        action = parent.actions[0] if isinstance(parent.actions, list) else parent.actions
    data = action.to_json()
    kind = data.get("actionType")
    if kind in (_ACTIVITY, _ACTIVITY_RETRY):
        return NewTask(task.id, "activity", name=data["functionName"], input=data.get("input"))
    if kind in (_SUBORCH, _SUBORCH_RETRY):
        child = data.get("instanceId") or f"{execution_id}:{task.id}"
        return NewTask(task.id, "suborchestration", name=data["functionName"],
                       input=data.get("input"), instance_id=child, version=data.get("version"))
    if kind == _TIMER:
        fire_at = dt.datetime.fromisoformat(data["fireAt"].replace("Z", "+00:00"))
        if fire_at.tzinfo is None:
            fire_at = fire_at.replace(tzinfo=dt.UTC)
        return NewTask(task.id, "timer", fire_at=fire_at.timestamp())
    if kind == _CALL_HTTP:
        return NewTask(task.id, "http", name=HTTP_ACTIVITY,
                       input=json.dumps(data.get("httpRequest") or {}, separators=(",", ":")))
    if kind in (_CALL_ENTITY, _SIGNAL_ENTITY):
        return NewTask(task.id, "entity" if kind == _CALL_ENTITY else "signal",
                       name=data.get("operation"), input=data.get("input"),
                       instance_id=data.get("instanceId"),
                       request_id=uuid.uuid4().hex if kind == _CALL_ENTITY else None)
    raise Unsupported(f"action type {kind} is not supported by func-py")


class _CountingExecutor(TaskOrchestrationExecutor):
    """The SDK's executor, counting the events it processed (to find unprocessed ones)."""

    # The SDK's constructor builds a namedtuple class and two lookup tables every time (a
    # third of a new session's cost); they are read-only, so they are built once and shared.
    # (Only while the constructor sets nothing else: another SDK version is left alone.)
    _tables: tuple[dict[Any, Any], set[Any]] | None = None
    _shareable: bool | None = None

    def __init__(self) -> None:
        tables = _CountingExecutor._tables
        if tables is None:
            super().__init__()
            if _CountingExecutor._shareable is None:
                probe = object.__new__(TaskOrchestrationExecutor)
                probe.initialize()
                extra = set(vars(self)) - set(vars(probe))
                _CountingExecutor._shareable = extra == {"event_to_SetTaskValuePayload",
                                                         "task_completion_events"}
                if _CountingExecutor._shareable:
                    _CountingExecutor._tables = (self.event_to_SetTaskValuePayload,
                                                 self.task_completion_events)
        else:
            self.event_to_SetTaskValuePayload, self.task_completion_events = tables
            self.initialize()
        self.processed = 0

    def process_event(self, event: HistoryEvent) -> None:
        self.processed += 1
        super().process_event(event)


class Session:
    """One live SDK executor for one orchestration execution."""

    def __init__(self, orchestrator: Callable[..., Any], input_type: Any, instance_id: str,
                 execution_id: str, parent_instance_id: str | None, input_text: str | None,
                 scheduled: dict[int, tuple[str, str | None]]) -> None:
        self.orchestrator = orchestrator
        self.input_type = input_type
        self.instance_id = instance_id
        self.execution_id = execution_id
        self.parent_instance_id = parent_instance_id
        self.input_text = input_text
        # task id -> (kind, name) of every scheduling event in history
        self.scheduled = scheduled
        self.executor = _CountingExecutor()
        self.context: _RecordingContext | None = None
        self._checked = 0
        self.finished = False

    def _context_json(self, history: list[Event]) -> dict[str, Any]:
        # Exactly the keys the durable extension sends (durable-protocol §3.1).
        return {"history": history, "instanceId": self.instance_id, "isReplaying": False,
                "parentInstanceId": self.parent_instance_id,
                # The input's JSON text, which the SDK's get_input() decodes with df_loads.
                "input": self.input_text,
                "upperSchemaVersion": 1, "upperSchemaVersionNew": 2}

    def start(self, history: list[Event], new: list[Event]) -> Outcome:
        """Replay the whole history, this episode's `new` events included, from the context
        JSON — what the real host does every episode. `consumed` counts the `new` events the
        SDK processed before the orchestration finished."""
        ctx = _RecordingContext(**self._context_json([*history, *new]))
        ctx._input_expected_type = self.input_type
        self.context = ctx
        # The SDK's execute() ends by serialising its state (every action of the execution):
        # that string is the outcome's state, not serialised a second time.
        text: str | None = None
        try:
            text = self.executor.execute(ctx, ctx.histories, self.orchestrator)
        except Exception as exc:  # the failure path: the state rides in the message
            message = str(exc)
            if ERROR_LABEL in message:
                text = message.split(ERROR_LABEL, 1)[1]
            elif self.executor.exception is None:
                # An orchestrator without `yield` raised straight out of fn(context), before
                # the SDK could record it: the extension fails such an invocation with its
                # message, so record it (else the instance stayed Running for ever).
                # _outcome() reads the state with it.
                self.executor.exception = exc
        consumed = max(0, min(len(new), self.executor.processed - len(history)))
        if not hasattr(self.executor, "generator"):  # a plain function: done at once
            consumed = len(new)
        return self._outcome(consumed, state_text=text)

    def feed(self, new: list[Event]) -> Outcome:
        """Process only this episode's `new` events on the live executor."""
        ctx, ex = self.context, self.executor
        assert ctx is not None
        consumed = 0
        if hasattr(ex, "generator") and not ex.has_execution_completed:
            ex._is_processing_new_events = True
            for raw in new:
                he = HistoryEvent(**raw)
                ctx.histories.append(he)
                ex.process_event(he)
                consumed += 1
                if ex.has_execution_completed:
                    break
        return self._outcome(consumed, light=True)

    def _sdk_state(self) -> dict[str, Any]:
        """The SDK's OrchestratorState JSON, as the real host receives it."""
        try:
            text = self.executor.get_orchestrator_state_str()
        except Exception as exc:  # the SDK's failure path: the state rides in the message
            message = str(exc)
            if ERROR_LABEL not in message:
                raise
            text = message.split(ERROR_LABEL, 1)[1]
        return _essentials(json.loads(text))

    def _light_state(self) -> dict[str, Any]:
        """The same essentials read off the live executor. The SDK's state string serialises
        every action ever scheduled, each episode — quadratic in a long orchestration — while
        the host needs only done/output/error/custom status and a continue-as-new input.
        `tests/taskhub/test_replay.py` checks it equals `_sdk_state()`."""
        ex, ctx = self.executor, self.context
        assert ctx is not None
        output, exc = ex.output, ex.exception
        state: dict[str, Any] = {"isDone": bool(ex.orchestration_invocation_succeeded)}
        if output is not None:
            try:
                json.dumps(output)  # the SDK's own check (a custom object fails here too)
                state["output"] = json.loads(df_dumps(output))
            except Exception as e:
                exc = e
        if exc is not None:
            state["error"] = str(exc) or str(type(exc))
        if ctx.custom_status:
            state["customStatus"] = json.loads(df_dumps(ctx.custom_status))
        if ctx.will_continue_as_new and ctx._action_payload_v2:
            state["actions"] = [ctx._action_payload_v2[-1].to_json()]
        return _essentials(state)

    @property
    def read_is_replaying(self) -> bool:
        return self.context is not None and self.context.read_is_replaying

    def _outcome(self, consumed: int, light: bool = False,
                 state_text: str | None = None) -> Outcome:
        """`state_text`: the SDK's state string when the caller has it already."""
        ctx = self.context
        assert ctx is not None
        if light:
            state = self._light_state()
        elif state_text is not None:
            state = _essentials(json.loads(state_text))
        else:
            state = self._sdk_state()
        new: list[NewTask] = []
        for task, now, attempts in ctx.recorded[self._checked:]:
            recorded = self.scheduled.get(task.id)
            described = _describe(task, now, attempts, self.execution_id)
            if recorded is None:
                new.append(described)
                self.scheduled[task.id] = (described.kind, described.name)
                if described.request_id is not None:
                    # What the SDK does when it replays this call's EventSent: the response
                    # is raised under the request's GUID, so the open task is keyed by it.
                    ctx.open_tasks[described.request_id] = ctx.open_tasks.pop(task.id)
            elif recorded[0] != described.kind or (
                    (recorded[1] or "").lower() != (described.name or "").lower()):
                raise NonDeterminism(
                    f"Non-deterministic workflow detected: at task {task.id} the history records "
                    f"{_what(*recorded)}, but the orchestrator now schedules "
                    f"{_what(described.kind, described.name)}. Orchestrator code must make the "
                    "same calls in the same order on every replay (no random values, clocks or "
                    "I/O outside the context); deploy changed orchestrators under a new name or "
                    "after in-flight instances finish.")
        self._checked = len(ctx.recorded)
        self.finished = self.executor.has_execution_completed or bool(state.get("isDone"))
        return Outcome(state, new, consumed)


def _essentials(state: dict[str, Any]) -> dict[str, Any]:
    """What the host acts on: done, output, error, custom status and the continue-as-new
    action (the only action whose content matters once tasks are recorded by id)."""
    out = {k: state[k] for k in ("isDone", "output", "error", "customStatus") if k in state}
    can = [a for a in _flat(state.get("actions") or []) if a.get("actionType") == _CONTINUE]
    out["actions"] = can[-1:]
    return out


def _what(kind: str, name: str | None) -> str:
    return {"activity": f"a call to activity '{name}'",
            "suborchestration": f"a call to sub-orchestrator '{name}'",
            "timer": "a durable timer",
            "http": "a call_http request",
            "entity": f"a call to entity operation '{name}'",
            "signal": f"a signal of entity operation '{name}'"}.get(kind, kind)


def scheduled_in(history: list[Event]) -> dict[int, tuple[str, str | None]]:
    """task id -> (kind, name) for every scheduling event in `history`."""
    out: dict[int, tuple[str, str | None]] = {}
    for e in history:
        kind = SCHEDULING.get(e["EventType"])  # IntEnum keys match the stored ints
        if kind is not None:
            if kind == "activity" and e.get("Name") == HTTP_ACTIVITY:
                kind = "http"
            out[int(e["EventId"])] = (kind, e.get("Name"))
        elif e["EventType"] == EventType.EventSent and int(e.get("EventId", -1)) >= 0:
            out[int(e["EventId"])] = (_sent_kind(e), e.get("Name"))
    return out


def _sent_kind(e: Event) -> str:
    """An EventSent records an entity call or signal (its Input is the request JSON)."""
    try:
        return "signal" if json.loads(e.get("Input") or "{}").get("signal") else "entity"
    except (ValueError, AttributeError):
        return "entity"
