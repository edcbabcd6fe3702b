"""Storage-queue operations on the task hub store, shared by the trigger, the output binding,
`func-py queue` and the admin endpoint.

Every function here is synchronous store work (callers on the event loop run it inline on
SQLite, in a thread otherwise). The durability rule is the task hub's: a message leaves a queue
only in the transaction that records its effect, so a consumed message's deletion commits with
the messages its function produced, and a poison move is one copy-and-delete.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from funcpy.host.taskhub.store import Message, TaskHubStore, Transaction
from funcpy.triggers.queue_codec import BINARY, TIME_TO_LIVE, body_of, host_time, text_of, to_store
from funcpy.triggers.queue_options import STORE_PREFIX, store_queue, user_queue

PEEK_MAX = 32  # Azure's Peek Messages returns at most 32


@dataclass(frozen=True)
class Outgoing:
    """One message to enqueue: the user queue's name and the body."""

    queue: str
    body: bytes


def write_outgoing(tx: Transaction, items: Iterable[Outgoing], delay: float = 0.0) -> list[int]:
    """Enqueue `items` in order, a run of messages to one queue per statement; returns their
    ids in the order of `items`."""
    ids: list[int] = []
    run: list[str] = []
    key: tuple[str, str | None] | None = None

    def flush() -> None:
        if key is not None and run:
            ids.extend(tx.put_messages(store_queue(key[0]), run, instance_id=key[1],
                                       delay=delay))

    for item in items:
        payload, marker = to_store(item.body)
        if key != (item.queue, marker):
            flush()
            key, run = (item.queue, marker), []
        run.append(payload)
    flush()
    return ids


def put(store: TaskHubStore, items: Sequence[Outgoing], delay: float = 0.0) -> list[int]:
    """Enqueue in a transaction of their own (output of a function no queue triggered)."""
    with store.transaction() as tx:
        return write_outgoing(tx, items, delay)


def complete(store: TaskHubStore, message: Message, items: Sequence[Outgoing]) -> None:
    """A function's success: its outputs and the deletion of the message that triggered it,
    together (`PopReceiptMismatch` and nothing written when the message is no longer ours)."""
    with store.transaction() as tx:
        tx.delete_message(message)
        write_outgoing(tx, items)


def move_to_poison(store: TaskHubStore, message: Message, poison: str) -> None:
    """Copy the body (only: a new id, a first delivery) to the poison queue and delete the
    message, together."""
    with store.transaction() as tx:
        tx.delete_message(message)
        tx.put_message(store_queue(poison), message.payload,
                       instance_id=BINARY if message.instance_id == BINARY else None)


# -- inspection ----------------------------------------------------------------------------------


def message_json(message: Message) -> dict[str, Any]:
    """A message as `func-py queue peek` and the admin endpoint show it (the REST API's
    field names in camel case; a body that is not text is shown in base64)."""
    body = body_of(message)
    text = text_of(body)
    out: dict[str, Any] = {
        "id": str(message.id),
        "insertionTime": host_time(message.inserted_at),
        "expirationTime": host_time(message.inserted_at + TIME_TO_LIVE.total_seconds()),
        "dequeueCount": message.dequeue_count,
    }
    if text is None or "\x00" in text:
        out["messageText"] = base64.b64encode(body).decode("ascii")
        out["messageEncoding"] = "base64"
    else:
        out["messageText"] = text
    return out


def peek(store: TaskHubStore, queue: str, count: int = 1) -> list[dict[str, Any]]:
    return [message_json(m) for m in store.peek_messages(store_queue(queue), count)]


def list_queues(store: TaskHubStore) -> list[dict[str, Any]]:
    out = []
    for counts in store.list_queues(STORE_PREFIX):
        name = user_queue(counts.queue)
        if name is not None:
            out.append({"name": name, "messages": counts.messages, "visible": counts.visible})
    return out


def clear(store: TaskHubStore, queue: str) -> int:
    return store.clear_queue(store_queue(queue))


def body_from_text(text: str, *, base64_body: bool = False) -> bytes:
    """A body given on the command line or to the admin endpoint."""
    if base64_body:
        try:
            return base64.b64decode(text, validate=True)
        except ValueError as exc:
            raise ValueError(f"the message is not valid base64: {exc}") from None
    return text.encode("utf-8")
