"""The task hub's storage contract: queues, history, instances, leases and timer claims.

This module owns the *contract* only: the two `Protocol`s whose docstrings state what every
backend guarantees, with the errors and records they speak in (defined in `store_records.py`,
re-exported here: callers import the whole contract from this module). `sqlite.py` and
`postgres.py` implement it (on the SQL they share in `sqlstore.py` and `sqltransaction.py`) and
both pass `tests/taskhub/test_store_contract.py`. Nothing here knows about orchestrations,
history event shapes or payload encodings: payloads and events are opaque text.

The model is DurableTask.AzureStorage's (queues with visibility timeouts, pop receipts and
dequeue counts; history, instances and partition leases as tables) laid over one relational
database, so that what Azure does with several services can be one transaction here.

Every row belongs to one task hub (`store.hub`); several hubs may share one SQLite file or one
PostgreSQL database. All times are seconds from the store's injectable `clock` (default
`time.time`); visibility, delays and lease expiry are all measured with it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

# The records and errors live in store_records; every backend and caller imports them from here,
# with the contract they belong to.
from .store_records import (
    RUNTIME_STATUSES,
    HistoryConflict,
    InstanceExists,
    InstanceQuery,
    InstanceRecord,
    Lease,
    LeaseLost,
    Message,
    PopReceiptMismatch,
    QueueCounts,
    StoreBusy,
    StoreError,
)

__all__ = [
    "RUNTIME_STATUSES",
    "HistoryConflict",
    "InstanceExists",
    "InstanceQuery",
    "InstanceRecord",
    "Lease",
    "LeaseLost",
    "Message",
    "PopReceiptMismatch",
    "QueueCounts",
    "StoreBusy",
    "StoreError",
    "TaskHubStore",
    "Transaction",
]


class Transaction(Protocol):
    """All writes of one unit of work; obtained from `TaskHubStore.transaction()`.

    Everything done through one transaction commits together or not at all. After a
    `HistoryConflict` or a database error the transaction is doomed: further calls raise
    `StoreError` and leaving the block rolls back (re-raising the first error if the block
    swallowed it). `PopReceiptMismatch` and `InstanceExists` write nothing and leave the
    transaction usable. A database error may surface at a later call or at commit rather than
    at the call that caused it (PostgreSQL pipelines the writes whose results nobody awaits).
    A transaction belongs to the thread that opened it.
    """

    def put_message(
        self, queue: str, payload: str, *, instance_id: str | None = None, delay: float = 0.0
    ) -> int:
        """Enqueue `payload`; it becomes visible `delay` seconds after now. Returns its id.
        Ids are never reused and grow in the order of insertion (across concurrent
        PostgreSQL transactions: of insertion, not of commit)."""
        ...

    def put_messages(
        self, queue: str, payloads: Sequence[str], *, instance_id: str | None = None,
        delay: float = 0.0,
    ) -> list[int]:
        """`put_message` for many payloads in as few statements as the backend allows (a
        fan-out). Returns their ids in the order of `payloads`."""
        ...

    def enqueue(
        self, queue: str, payloads: Sequence[str], *, instance_id: str | None = None,
        delay: float = 0.0,
    ) -> None:
        """`put_messages` when the caller needs no ids: a pipelining backend (PostgreSQL)
        sends it with the next statement that needs an answer, so a commit that only sends
        messages waits for the server once."""
        ...

    def enqueue_claimed(
        self, queue: str, payloads: Sequence[str], visibility_timeout: float, *,
        instance_id: str | None = None,
    ) -> Callable[[], list[Message]]:
        """Put messages already dequeued once by the caller, as if `get_messages` had just
        returned them: invisible until now + `visibility_timeout`, dequeue count 1, a fresh
        pop receipt each. For a worker that hands the work it creates to itself (no claim to
        wait for); if it dies before finishing, they are delivered again when their
        visibility runs out, like any claim. Returns a function to call once the transaction
        has committed: it gives the messages, sorted by id (without another round trip)."""
        ...

    def delete_messages(self, messages: Sequence[Message]) -> None:
        """Delete messages we dequeued, all or none, in as few statements as the backend
        allows. If any pop receipt is no longer the current one (or its message is gone),
        `PopReceiptMismatch` is raised and the transaction is doomed: nothing of it commits.
        The check may run in the server, so the error may surface at a later call or at
        commit (PostgreSQL), and a commit that deletes what it consumed needs no answer
        before COMMIT."""
        ...

    def delete_message(self, message: Message) -> None:
        """Delete a message we dequeued. `PopReceiptMismatch` if its pop receipt is no longer
        the current one (it was re-dequeued) or it is gone. An expired visibility alone does
        not invalidate the receipt (as in Azure Storage queues)."""
        ...

    def append_history(
        self, instance_id: str, execution_id: str, start: int, events: Sequence[str], *,
        checked_at_commit: bool = False,
    ) -> None:
        """Write `events` at sequence numbers `start .. start+len(events)-1`. If any of those
        rows exists, raise `HistoryConflict` (the transaction is doomed): no history event is
        ever written twice. With `checked_at_commit` the conflict may instead surface at a
        later call or at commit (PostgreSQL then sends the insert unanswered, with COMMIT)."""
        ...

    def delete_history(self, instance_id: str, execution_id: str | None = None) -> None:
        """Delete the history of one execution, or of all executions when `None`."""
        ...

    def get_instance(self, instance_id: str) -> InstanceRecord | None:
        """Read an instance inside the transaction, locking its row until the end of the
        transaction where the backend can (PostgreSQL: `SELECT .. FOR UPDATE`; SQLite's
        write transactions lock the whole database anyway)."""
        ...

    def read_instances(self, instance_ids: Sequence[str]
                       ) -> Callable[[], dict[str, InstanceRecord]]:
        """The rows of these instances as this transaction sees them, without locking them.
        Returns a function to call once the transaction has committed: it gives the rows
        found by instance id (PostgreSQL sends the query with the commit, no round trip of
        its own)."""
        ...

    def put_instance(self, record: InstanceRecord) -> None:
        """Insert the instance or replace every column of the existing row."""
        ...

    def create_instance(
        self, record: InstanceRecord, *, replace_statuses: frozenset[str]
    ) -> None:
        """Insert a new instance. If one exists with a status in `replace_statuses`, replace
        it and delete all its history; otherwise raise `InstanceExists` (nothing written)."""
        ...

    def delete_instance(self, instance_id: str) -> bool:
        """Delete the instance and all its history. True if the instance existed."""
        ...

    def put_value(self, key: str, value: str) -> None:
        """Set a key/value entry of this hub (used for timer-trigger status)."""
        ...

    def claim_once(self, key: str) -> bool:
        """True the first time `key` is claimed in this hub (once committed), False ever
        after, until `TaskHubStore.purge_claims` removes it."""
        ...


class TaskHubStore(Protocol):
    """One task hub's storage. Thread-safe: any thread may call any method; reads outside a
    transaction see committed data only. Backend failures raise `StoreError` (transient ones
    `StoreBusy`); nothing else escapes but `ValueError` for invalid arguments."""

    hub: str

    def create(self) -> None:
        """Create or upgrade the schema; idempotent and safe when several hosts start at once.
        Other methods need it to have run once per database."""
        ...

    def schema_version(self) -> int:
        """The schema version recorded in the database; 0 before `create()`."""
        ...

    def close(self) -> None:
        """Close the store's connections. The store is unusable afterwards."""
        ...

    def delete_hub(self) -> None:
        """Delete every row of this hub (other hubs in the same database are untouched)."""
        ...

    def transaction(self, *, fence: Lease | None = None) -> AbstractContextManager[Transaction]:
        """Open a write transaction: it commits when the block exits normally and rolls back
        when it raises. With `fence`, the commit first checks, inside the transaction, that the
        lease row still has `fence.owner` and `fence.epoch` and has not expired; otherwise
        it rolls back and raises `LeaseLost` (nothing is written). Do not nest transactions."""
        ...

    def get_messages(
        self, queue: str, max_count: int, visibility_timeout: float
    ) -> list[Message]:
        """Atomically claim up to `max_count` visible messages (`visible_at <= now`), in the
        order they became visible: by `visible_at`, then by id (so messages put without a
        delay come out in insertion order, and a timer takes its place when it falls due).
        Each becomes invisible until now + `visibility_timeout`, gets a fresh pop receipt and
        a dequeue count one higher; the batch is returned sorted by id. Concurrent callers
        (threads, processes, hosts) never receive the same message while its visibility holds."""
        ...

    def get_messages_with_instances(
        self, queue: str, max_count: int, visibility_timeout: float
    ) -> tuple[list[Message], dict[str, InstanceRecord]]:
        """`get_messages`, and the rows of the instances the claimed messages are for (an
        instance without a row is left out), read right after the claim: in the same
        statement where the backend can (PostgreSQL), so an episode's claim and its instance
        read are one round trip, and in one query for the whole batch elsewhere."""
        ...

    def claim_messages(
        self, queue: str, ids: Sequence[int], visibility_timeout: float
    ) -> list[Message]:
        """`get_messages` for the given message ids only: those of them still in `queue` and
        visible now are claimed (same visibility, receipt and count rules), sorted by id. How
        a worker takes back exactly the messages it gave back, wherever they now are in the
        queue."""
        ...

    def update_visibility(self, message: Message, visibility_timeout: float) -> Message:
        """Make a message we hold invisible until now + `visibility_timeout` (0 abandons it:
        visible at once). Returns it with its new pop receipt and `visible_at`; the dequeue
        count is unchanged. `PopReceiptMismatch` if the receipt is stale or the message gone."""
        ...

    def unclaim(self, messages: Sequence[Message]) -> int:
        """Give back messages we dequeued but did not work on: each becomes visible at once
        with its dequeue count one lower, so this delivery does not count towards the poison
        limit, and its pop receipt stops being valid. Messages whose receipt is stale or that
        are gone are skipped. One transaction; returns how many were given back."""
        ...

    def release_claimed(self) -> int:
        """Make every dequeued, undeleted message of the hub visible at once (never-dequeued
        delayed messages keep their time). Only for a single host recovering from a crash,
        when no other consumer can be alive. Returns how many were released."""
        ...

    def release_claimed_in(self, prefix: str) -> int:
        """`release_claimed` for the queues whose names start with `prefix` only, so that one
        consumer (the storage-queue triggers) recovers its own messages without touching the
        claims of another consumer of the hub that is alive in the same process."""
        ...

    def peek_messages(self, queue: str, max_count: int) -> list[Message]:
        """Up to `max_count` visible messages in the order `get_messages` would claim them,
        without claiming them: nothing changes. A peek proves nothing, so each comes with
        `pop_receipt` "" (no delete or update accepts it)."""
        ...

    def list_queues(self, prefix: str = "") -> list[QueueCounts]:
        """The hub's queues whose names start with `prefix` and hold at least one message, by
        name, with their counts and oldest visible message (a queue is its messages: an
        emptied queue is not listed). One aggregate query, whatever the number of queues."""
        ...

    def clear_queue(self, queue: str) -> int:
        """Delete every message of the queue, visible or claimed (a holder's later delete or
        update meets `PopReceiptMismatch`). Returns how many were deleted."""
        ...

    def next_visible_at(self, queues: Sequence[str]) -> float | None:
        """The earliest `visible_at` of any message in these queues (in the past if one is
        visible now), or None if they are empty. Lets a poller sleep until a timer is due."""
        ...

    def next_visible_by_queue(self, queues: Sequence[str]) -> dict[str, float]:
        """next_visible_at of each of these queues that holds a message, in one query (the
        test harness's driver asks it at every skip of virtual time)."""
        ...

    def count_messages(self, queue: str) -> int:
        """Messages in the queue, visible or not."""
        ...

    def read_history(self, instance_id: str, execution_id: str) -> list[str]:
        """The events of one execution in sequence order."""
        ...

    def get_instance(self, instance_id: str) -> InstanceRecord | None: ...

    def query_instances(self, query: InstanceQuery) -> tuple[list[InstanceRecord], str | None]:
        """Matching instances ordered by `created_at`, then `instance_id`. With `query.top`,
        at most that many and a continuation token when more may follow (else None). The token
        is opaque: pass it back in an otherwise identical query to get the next page."""
        ...

    def count_instances(self, *, entities: bool = False,
                        query: InstanceQuery | None = None) -> dict[str, int]:
        """How many instances of the hub have each runtime status (a status no instance has is
        left out): orchestration instances, or with `entities` the rows of Durable Entities
        only. With `query`, only the instances it matches (its `entities`, `top` and
        `continuation` are not used: `entities` says which rows). One aggregate query (metrics
        and the dashboard read it)."""
        ...

    def purge_instances(self, query: InstanceQuery) -> int:
        """Delete the instances `query_instances(query)` would return (honouring `top` and
        `continuation`) and all their history. Returns how many instances were deleted."""
        ...

    def acquire_lease(self, name: str, owner: str, duration: float) -> Lease | None:
        """Take the lease for `duration` seconds if it is free, expired, released or already
        `owner`'s. The epoch grows by one whenever the owner changes or the lease is taken
        after expiry or release; renewing an unexpired lease of ours keeps it. None if another
        owner holds it unexpired."""
        ...

    def renew_lease(self, lease: Lease, duration: float) -> Lease | None:
        """Extend a lease to now + `duration` if its owner and epoch are unchanged (even if it
        had expired, since nobody took it meanwhile). None if it was lost."""
        ...

    def release_lease(self, lease: Lease) -> None:
        """Release the lease if still ours (owner and epoch unchanged); else do nothing.
        The row stays, with owner "" and an expiry in the past, so the epoch keeps growing."""
        ...

    def list_leases(self, prefix: str = "") -> list[Lease]:
        """This hub's leases whose names start with `prefix`, by name, released ones
        included (owner "")."""
        ...

    def get_value(self, key: str) -> str | None: ...

    def purge_claims(self, claimed_before: float) -> int:
        """Forget `claim_once` keys claimed before that time; returns how many."""
        ...
