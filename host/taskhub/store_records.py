"""The errors and records of the task hub's storage contract (see store.py, which re-exports them).

Separate from the contract's `Protocol`s so that each module stays readable: these are the plain
values every backend returns and every caller handles (messages, leases, instance rows, the
instance filter) and the errors a store may raise, with what each means. Like the contract,
nothing here knows about orchestrations or payload encodings: payloads are opaque text.
"""

from __future__ import annotations

from dataclasses import dataclass

RUNTIME_STATUSES = frozenset(
    {"Pending", "Running", "Completed", "ContinuedAsNew", "Failed", "Terminated", "Suspended"}
)


class StoreError(Exception):
    """The task hub's database failed or refused an operation."""


class StoreBusy(StoreError):
    """A transient failure: the database was locked for too long, a deadlock or serialization
    failure was broken, or the connection was lost. Nothing was committed (except when the
    connection was lost during COMMIT itself, when the outcome is unknown). Retrying the whole
    operation or transaction may succeed."""


class PopReceiptMismatch(StoreError):
    """The message is no longer ours: it was deleted, or its visibility expired and it was
    dequeued again (which gave it a new pop receipt)."""


class HistoryConflict(StoreError):
    """A history row at one of the positions being appended already exists."""


class LeaseLost(StoreError):
    """The lease fencing a transaction changed owner or epoch, or expired, before the commit."""


class InstanceExists(StoreError):
    """An instance with this id exists and its status does not allow replacing it."""


@dataclass(frozen=True)
class Message:
    """A queue message as returned by one dequeue. `pop_receipt` proves this dequeue; it
    changes on every dequeue and every visibility update."""

    queue: str
    id: int
    payload: str
    instance_id: str | None
    dequeue_count: int
    pop_receipt: str
    inserted_at: float
    visible_at: float


@dataclass(frozen=True)
class QueueCounts:
    """One queue's size: all its messages, and how many of them are visible now.
    `oldest_visible_at`: the earliest `visible_at` among the visible ones (None when none is),
    so `now - oldest_visible_at` is how long the longest-waiting ready message has waited."""

    queue: str
    messages: int
    visible: int
    oldest_visible_at: float | None = None


@dataclass(frozen=True)
class Lease:
    """A named lease. `epoch` is a fencing token: it grows whenever the lease changes hands
    (or is re-acquired after it expired or was released), so an old `Lease` value never
    matches the row again once someone else could have held it."""

    name: str
    owner: str
    epoch: int
    expires_at: float


@dataclass
class InstanceRecord:
    """One row per orchestration instance. `runtime_status` is one of `RUNTIME_STATUSES`;
    `input`, `output` and `custom_status` are opaque (JSON) text."""

    instance_id: str
    name: str
    execution_id: str
    runtime_status: str
    input: str | None
    output: str | None
    custom_status: str | None
    created_at: float
    last_updated: float
    parent_instance_id: str | None = None
    completed_at: float | None = None


@dataclass(frozen=True)
class InstanceQuery:
    """A filter over instances; every given condition must hold.

    `runtime_status`: status in the set (an empty set matches nothing).
    `created_from` / `created_to`: inclusive bounds on `created_at`.
    `instance_id_prefix`: the id starts with it (case-sensitive).
    `top`: page size (at least 1); `continuation`: the token a previous page returned.
    `entities`: False (the default) matches orchestration instances only, True only the rows of
    Durable Entities (ids starting with '@', see `entity_ids.py`).
    `name_contains`: the orchestrator's name contains it, ignoring case (the dashboard's filter;
    Azure's list API has none).
    """

    runtime_status: frozenset[str] | None = None
    created_from: float | None = None
    created_to: float | None = None
    instance_id_prefix: str | None = None
    top: int | None = None
    continuation: str | None = None
    entities: bool = False
    name_contains: str | None = None
