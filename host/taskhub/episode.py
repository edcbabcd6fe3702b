"""One orchestration episode: a batch of messages for one instance in, the effects out.

The effects (history to append, the instance row, messages to send, child instances to create,
messages consumed) are committed by the worker in one transaction; nothing here touches the
store, so an episode that fails to commit leaves no trace. Follows the extension's order of work
(durable-protocol §3.3, §11): custom status, new tasks, then failure / completion /
continue-as-new.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from funcpy.host import tracing
from funcpy.host.index import FunctionInfo
from funcpy.host.invocation import InvocationError
from funcpy.host.taskhub.history import (
    COMPLETION_ID_KEY,
    ControlMessage,
    Event,
    EventType,
    event,
    execution_started,
)
from funcpy.host.taskhub.instance_state import (  # noqa: F401 (re-exported for the worker and tests)
    MAX_DEQUEUE,
    REPLAY_EVERY_EPISODE_EVENTS,
    SUSPENDED_RECHECK_SECONDS,
    TERMINAL,
    Effects,
    InstanceState,
    Outgoing,
    custom_status_too_big,
    durable_name,
    state_from_history,
)
from funcpy.host.taskhub.replay import (
    NonDeterminism,
    Outcome,
    Session,
    Unsupported,
)
from funcpy.host.taskhub.scheduling import TaskScheduler
from funcpy.host.taskhub.store import InstanceRecord, Message

Invoke = Callable[[FunctionInfo, Callable[[], Outcome]], Awaitable[Outcome]]


@dataclass
class EpisodeRunner:
    orchestrators: Callable[[str], FunctionInfo | None]
    activities: Callable[[str], FunctionInfo | None]
    known_activities: Callable[[], list[str]]
    invoke: Invoke
    clock: Callable[[], float]
    replay_check: bool = False  # development mode: replay each episode as Azure does
    default_version: str | None = None  # host.json defaultVersion, for sub-orchestrations

    def __post_init__(self) -> None:
        self.scheduler = TaskScheduler(self.orchestrators, self.activities,
                                       self.known_activities, self.default_version)

    async def run(self, state: InstanceState | None, record: InstanceRecord | None,
                  messages: list[Message]) -> Effects:
        now = self.clock()
        fx = Effects(consumed=[], state=state)
        if record is None:  # purged: nothing left to deliver to
            fx.consumed = list(messages)
            fx.state = None
            return fx
        decoded = [(m, ControlMessage.decode(m.payload)) for m in messages]
        start = next((c for _, c in decoded if c.event["EventType"] ==
                      EventType.ExecutionStarted
                      and c.execution_id == record.execution_id), None)
        if state is None or state.record.execution_id != record.execution_id:
            state = None
        if record.runtime_status in TERMINAL:
            # A finished instance takes no more events (a rewind request, which reopens a
            # failed one, is handled by the worker before it gets here).
            fx.consumed, fx.state = list(messages), None
            return fx
        if state is None:
            if start is None:
                # Messages for an execution whose start has not been processed yet: re-sent as
                # fresh messages (as for a suspended instance), so waiting is not counted as
                # failed dequeues by the poison check. Stale ones are dropped.
                fx.consumed = list(messages)
                for m, c in decoded:
                    if c.execution_id in (record.execution_id, None):
                        fx.messages.append(Outgoing("control", m.payload, c.instance_id,
                                                    SUSPENDED_RECHECK_SECONDS))
                fx.state = None
                return fx
            state = InstanceState(replace(record), 0, {}, set(), None, [])
        fx.state = state
        fx.history_start = state.history_len
        return await self._episode(state, decoded, now, fx)

    async def _episode(self, state: InstanceState, decoded: list[tuple[Message, ControlMessage]],
                       now: float, fx: Effects) -> Effects:
        record = replace(state.record)
        new_events: list[Event] = []
        appended: list[Event] = []
        suspended = record.runtime_status == "Suspended"
        if state.history_len == 0:
            # A new execution's first batch: its start, then the events carried over from the
            # previous execution (bound to this one), then the rest. The queue hands messages
            # out by visibility time, so an event raised while the carry-over was being
            # written could otherwise come first and overtake the carried ones.
            decoded = sorted(decoded, key=lambda d: (
                0 if d[1].event["EventType"] == EventType.ExecutionStarted else
                1 if d[1].execution_id == record.execution_id else 2))
        for msg, cm in decoded:
            e = cm.event
            kind = e["EventType"]
            if cm.execution_id is not None and cm.execution_id != record.execution_id:
                fx.consumed.append(msg)  # for an execution that has ended
                continue
            if kind == EventType.ExecutionTerminated:
                fx.consumed.append(msg)
                return self._finish(state, record, fx, [*appended, e], now, "Terminated",
                                    json.dumps(e.get("Input")), failure=(
                                        f"Orchestration '{record.name}' was terminated: "
                                        f"{e.get('Input')}"))
            if kind == EventType.ExecutionSuspended:
                fx.consumed.append(msg)
                if not suspended:
                    suspended = True
                    appended.append(e)
                continue
            if kind == EventType.ExecutionResumed:
                fx.consumed.append(msg)
                if suspended:
                    suspended = False
                    appended.append(e)
                continue
            if suspended:  # a suspended instance buffers its events until resumed
                # Re-queued as a fresh message rather than deferred: a deferred message is
                # dequeued again every second, and the worker's poison check counts those
                # dequeues, so an instance suspended for a few seconds with an event pending
                # was failed as "dequeued 6 times". (Consumed and re-sent in one commit.)
                fx.consumed.append(msg)
                fx.messages.append(Outgoing("control", msg.payload, cm.instance_id,
                                            SUSPENDED_RECHECK_SECONDS))
                continue
            if kind == EventType.ExecutionStarted:
                fx.consumed.append(msg)
                if state.history_len == 0 and not any(
                        x["EventType"] == EventType.ExecutionStarted for x in new_events):
                    new_events.append(e)
                    state.parent = e.get("ParentInstance")
                    state.trace = e.get("ParentTraceContext")
                continue
            if kind in COMPLETION_ID_KEY:
                task_id = int(e[COMPLETION_ID_KEY[EventType(kind)]])
                if task_id in state.completed or task_id not in state.scheduled:
                    fx.consumed.append(msg)  # a duplicate (or unknown) completion is ignored
                    continue
                state.completed.add(task_id)
            fx.consumed.append(msg)
            new_events.append(e)
        # A resume must put the status back to Running: keeping "Suspended" made every later
        # episode start suspended, so the instance buffered its events forever.
        if suspended:
            record.runtime_status = "Suspended"
        elif record.runtime_status == "Suspended":
            record.runtime_status = "Running"
        if not new_events:
            if appended:
                fx.append = appended
                record.last_updated = now
                fx.record = record
                state.history_len += len(appended)
                state.record = record
            return fx
        if record.runtime_status == "Pending":
            record.runtime_status = "Running"
        return await self._run_orchestrator(state, record, new_events, appended, now, fx)

    async def _run_orchestrator(self, state: InstanceState, record: InstanceRecord,
                                new_events: list[Event], appended: list[Event], now: float,
                                fx: Effects) -> Effects:
        fn = self.orchestrators(record.name)
        started = event(EventType.OrchestratorStarted, now)
        episode = [*appended, started, *new_events]
        if fn is None:
            return self._finish(state, record, fx, episode, now, "Failed", failure=(
                f"The orchestrator function '{record.name}' is not loaded (it was removed, "
                "renamed or is in error): fix it and rewind or restart the instance."))
        handle = fn.func
        # The episode's span: a child of the orchestration's recorded parent; the work it
        # schedules carries it (host/tracing.py).
        span = self._span(state, record)
        try:
            if state.session is None or self._replays(state):
                session = self._session(handle, record, state.scheduled)
                history = state.history or []
                with tracing.running(span):
                    outcome = await self.invoke(fn, lambda: session.start(history, episode))
                state.session = session
                # The replay check keeps the recorded history to replay it next episode, as
                # does an orchestrator that reads is_replaying (for its final result).
                keep = self.replay_check or session.read_is_replaying
                state.history = history if keep else None
            else:
                session = state.session
                with tracing.running(span):
                    outcome = await self.invoke(fn, lambda: session.feed(episode))
                # The execution ends: replay it whole once more, so that the replay check
                # sees every episode since its last replay (a difference after the last
                # doubling would otherwise pass), and an orchestrator that reads is_replaying
                # gets its final result as Azure computes it.
                if outcome.done and state.history is not None and (
                        self.replay_check or session.read_is_replaying):
                    with tracing.running(self._span(state, record)):
                        outcome = await self._as_azure_replays(fn, handle, record, state,
                                                               episode, outcome)
            # `consumed` counted the whole episode; keep the count of new events only.
            outcome.consumed = max(0, outcome.consumed - len(episode) + len(new_events))
        except (NonDeterminism, Unsupported, InvocationError) as exc:
            # The worker's invoke runs the replay through the invoker, which wraps whatever it
            # raises in InvocationError: unwrap it, or a non-deterministic replay was retried
            # forever instead of failing the instance.
            cause = exc.cause if isinstance(exc, InvocationError) else exc
            if not isinstance(cause, (NonDeterminism, Unsupported)):
                raise
            return self._finish(state, record, fx, episode, now, "Failed",
                                failure=f"Orchestrator function '{record.name}' failed: {cause}")
        fx.ran = True
        fx = self._apply(state, record, outcome, episode, new_events, now, fx, span)
        if state.history is not None and fx.state is state:
            state.history.extend(fx.append)  # what was recorded, for the next replay
        return fx

    @staticmethod
    def _span(state: InstanceState, record: InstanceRecord) -> tracing.SpanRef:
        return tracing.child_of(tracing.from_record(state.trace)).about({
            "durabletask.type": "orchestration", "durabletask.task.name": record.name,
            "durabletask.task.instance_id": record.instance_id,
            "durabletask.task.execution_id": record.execution_id})

    def _session(self, handle: Any, record: InstanceRecord,
                 scheduled: dict[int, tuple[str, str | None]]) -> Session:
        return Session(handle.orchestrator_function, getattr(handle, "_df_input_type", None),
                       record.instance_id, record.execution_id, record.parent_instance_id,
                       record.input, scheduled)

    async def _as_azure_replays(self, fn: FunctionInfo, handle: Any, record: InstanceRecord,
                                state: InstanceState, episode: list[Event],
                                live: Outcome) -> Outcome:
        """The final result, from a replay of the whole history as Azure computes it: the
        replay check's last look (NonDeterminism if the replay differs), and, for an
        orchestrator that reads is_replaying, its result as Azure's last episode computes it
        (the live session saw "not replaying" at every step). One replay per execution, at its
        end; the tasks scheduled stay the live session's."""
        new_ids = {t.task_id for t in live.new_tasks}
        scheduled = {k: v for k, v in state.scheduled.items() if k not in new_ids}
        replay = self._session(handle, record, scheduled)
        history = list(state.history or [])
        replayed = await self.invoke(fn, lambda: replay.start(history, episode))
        live.state = replayed.state
        return live

    def _replays(self, state: InstanceState) -> bool:
        """Development mode replays episodes from the recorded history, as Azure does, so an
        orchestrator that is not deterministic fails at the episode where its replay differs
        (the live session alone would run it once and never notice): every episode while the
        history is short, then each time it has doubled (and at the end, run_orchestrator)."""
        if not self.replay_check or state.history is None:
            return False
        if state.history_len <= REPLAY_EVERY_EPISODE_EVENTS:
            return True
        if state.history_len >= 2 * state.replayed_at:
            state.replayed_at = state.history_len
            return True
        return False

    def _apply(self, state: InstanceState, record: InstanceRecord, outcome: Outcome,
               episode: list[Event], new_events: list[Event], now: float,
               fx: Effects, span: tracing.SpanRef | None = None) -> Effects:
        custom = outcome.state.get("customStatus")
        if custom is not None:
            text = json.dumps(custom)
            too_big = custom_status_too_big(custom)
            if too_big:
                return self._finish(state, record, fx, [*episode, event(
                    EventType.OrchestratorCompleted, now)], now, "Failed", failure=(
                    f"Orchestrator function '{record.name}' failed: {too_big}"))
            record.custom_status = text
        events = list(episode)
        for task in outcome.new_tasks:
            events.append(self.scheduler.schedule(task, record, now, fx, span))
        events.append(event(EventType.OrchestratorCompleted, now))
        if outcome.error:
            return self._finish(state, record, fx, events, now, "Failed", failure=(
                f"Orchestrator function '{record.name}' failed: {outcome.error}"))
        if outcome.done:
            is_can, can_input = outcome.continue_as_new_input()
            if is_can:
                unprocessed = new_events[outcome.consumed:]
                return self._continue_as_new(state, record, fx, can_input, unprocessed, now)
            output = json.dumps(outcome.state.get("output"))
            return self._finish(state, record, fx, events, now, "Completed", output)
        record.last_updated = now
        fx.record, fx.append = record, events
        state.record = record
        state.history_len += len(events)
        return fx

    def _finish(self, state: InstanceState, record: InstanceRecord, fx: Effects,
                events: list[Event], now: float, status: str, output: str | None = None,
                failure: str | None = None) -> Effects:
        if status == "Failed":
            output = json.dumps(failure)
        if events and events[-1]["EventType"] != EventType.OrchestratorCompleted and \
                status != "Terminated":
            events.append(event(EventType.OrchestratorCompleted, now))
        events.append(event(EventType.ExecutionCompleted, now, OrchestrationStatus=status,
                            Result=output))
        record.runtime_status, record.output = status, output
        record.last_updated = record.completed_at = now
        fx.record, fx.append = record, events
        fx.state = None
        self._notify_parent(state, record, status, output, failure, now, fx)
        return fx

    def _notify_parent(self, state: InstanceState, record: InstanceRecord, status: str,
                       output: str | None, failure: str | None, now: float, fx: Effects) -> None:
        parent = state.parent
        if not parent:
            return
        inst = parent.get("OrchestrationInstance") or {}
        pid, pex = inst.get("InstanceId"), inst.get("ExecutionId")
        task_id = parent.get("TaskScheduleId")
        if pid is None or task_id is None:
            return
        if status == "Completed":
            e = event(EventType.SubOrchestrationInstanceCompleted, now,
                      TaskScheduledId=task_id, Result=output)
        else:
            e = event(EventType.SubOrchestrationInstanceFailed, now, TaskScheduledId=task_id,
                      Reason=failure or f"Sub-orchestration '{record.name}' {status.lower()}",
                      Details=None)
        fx.messages.append(Outgoing("control", ControlMessage(pid, pex, e).encode(), pid))

    def _continue_as_new(self, state: InstanceState, record: InstanceRecord, fx: Effects,
                         new_input: str | None, unprocessed: list[Event], now: float) -> Effects:
        new_ex = uuid.uuid4().hex
        record.execution_id, record.input = new_ex, new_input
        record.runtime_status, record.output, record.last_updated = "Running", None, now
        fx.record, fx.reset_history, fx.append = record, True, []
        fx.history_start = 0
        me = record.instance_id
        start = execution_started(now, me, new_ex, record.name, new_input, state.parent,
                                  trace=state.trace)
        fx.messages.append(Outgoing("control", ControlMessage(me, new_ex, start).encode(), me))
        # Azure Storage's default: events that arrived but were not processed carry over.
        # They are bound to the new execution, so its first episode takes them right after
        # its start, before anything raised later (see _episode).
        for e in unprocessed:
            if e["EventType"] == EventType.EventRaised:
                fx.messages.append(Outgoing("control", ControlMessage(me, new_ex, e).encode(),
                                            me))
        fx.state = None
        return fx

