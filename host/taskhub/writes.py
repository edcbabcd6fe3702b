"""How an episode's effects, and the worker's repairs, become rows of one transaction.

Pure functions of a transaction and their inputs: the worker decides what to commit and when
(and with which fence); this module only knows how each effect is written.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from funcpy.host.taskhub.history import (
    WORKITEMS,
    ControlMessage,
    Event,
    EventType,
    control_queue,
    event,
    partition_of,
)
from funcpy.host.taskhub.instance_state import TERMINAL, Effects, Outgoing
from funcpy.host.taskhub.store import InstanceRecord, Message


@dataclass
class HandOff:
    """Up to `budget` of a commit's new work items are taken by the committing host itself,
    claimed in the commit for `visibility` seconds (no claim round trip before they run);
    `claimed` gathers the functions that give them once the commit is done."""

    budget: int
    visibility: float
    claimed: list[Callable[[], list[Message]]] = field(default_factory=list)
    queued: int = 0  # work items put in the queue for any host to claim

    def messages(self) -> list[Message]:
        return [m for get in self.claimed for m in get()]


def write_effects(tx: Any, instance_id: str, fx: Effects, partitions: int, now: float,
                  hand_off: HandOff | None = None) -> None:
    if fx.reset_history:
        tx.delete_history(instance_id)
    if fx.append and fx.record is not None:
        tx.append_history(instance_id, fx.record.execution_id, fx.history_start,
                          [json.dumps(e, separators=(",", ":")) for e in fx.append],
                          checked_at_commit=True)
    blocked: set[str] = set()
    for child in fx.children:
        existing = tx.get_instance(child.instance_id)
        if existing is not None and existing.runtime_status not in TERMINAL:
            blocked.add(child.instance_id)
            continue
        tx.create_instance(child, replace_statuses=TERMINAL)
    messages = fx.messages
    if blocked:
        messages = _refuse_children(instance_id, fx, blocked, now)
    # One statement per (queue, instance, delay) group: a fan-out of 2,000 activities
    # is one insert, not 2,000.
    groups: dict[tuple[str, str, float], list[str]] = {}
    for out in messages:
        queue = out.queue if out.queue == WORKITEMS else control_queue(
            partition_of(out.instance_id, partitions))
        groups.setdefault((queue, out.instance_id, out.delay), []).append(out.payload)
    for (queue, iid, delay), payloads in groups.items():
        if hand_off is not None and hand_off.budget > 0 and queue == WORKITEMS and delay <= 0:
            mine = payloads[:hand_off.budget]
            hand_off.budget -= len(mine)
            hand_off.claimed.append(tx.enqueue_claimed(queue, mine, hand_off.visibility,
                                                       instance_id=iid))
            payloads = payloads[len(mine):]
        if hand_off is not None and queue == WORKITEMS:
            hand_off.queued += len(payloads)
        tx.enqueue(queue, payloads, instance_id=iid, delay=delay)
    if fx.record is not None:
        tx.put_instance(fx.record)
    elif fx.delete_instance:
        tx.delete_instance(instance_id)
    if fx.consumed:
        tx.delete_messages(fx.consumed)


def _refuse_children(instance_id: str, fx: Effects, blocked: set[str],
                     now: float) -> list[Outgoing]:
    """A sub-orchestration whose explicit instance id is already running is not started;
    the parent gets SubOrchestrationInstanceFailed, which its code can catch."""
    assert fx.record is not None
    scheduled = {e.get("InstanceId"): int(e["EventId"]) for e in fx.append
                 if e["EventType"] == EventType.SubOrchestrationInstanceCreated}
    kept = [m for m in fx.messages if not (
        m.instance_id in blocked and ControlMessage.decode(m.payload).event["EventType"]
        == EventType.ExecutionStarted)]
    for child in sorted(blocked):
        failed = event(EventType.SubOrchestrationInstanceFailed, now,
                       TaskScheduledId=scheduled.get(child),
                       Reason=f"An orchestration instance with id '{child}' already exists "
                       "and is still running.", Details=None)
        kept.append(Outgoing("control", ControlMessage(
            instance_id, fx.record.execution_id, failed).encode(), instance_id))
    return kept


def write_repair(store: Any, partitions: int, record: InstanceRecord | None,
                 outgoing: list[tuple[str, str]], consumed: list[Message],
                 history: list[Event] | None = None) -> None:
    """One transaction for the poison and rewind paths: the instance row (with its whole
    history rewritten when `history` is given), messages to send, messages consumed."""
    with store.transaction() as tx:
        if record is not None:
            iid = record.instance_id
            if history is not None:
                tx.delete_history(iid, record.execution_id)
                tx.append_history(iid, record.execution_id, 0,
                                  [json.dumps(e) for e in history])
            tx.put_instance(record)
            for queue, payload in outgoing:
                tx.put_message(queue if queue == WORKITEMS else control_queue(
                    partition_of(iid, partitions)), payload, instance_id=iid)
        for m in consumed:
            tx.delete_message(m)
