"""The store side both SQL task hub backends share: schema, transactions, queues and history.

`SqlStore` implements `TaskHubStore` over the `Session` of `sqltransaction`; a backend subclass
says how to open read and write sessions and supplies the few clauses and column types where
the dialects differ. Its leases live in `sqlleases` and its instance queries (filters, pages,
counts, purges) in `sqlinstances`, mixins over the same helpers. This module must not import a
database driver.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from typing import Any

from .sqlinstances import SqlInstanceQueries
from .sqlleases import SqlLeases
from .sqltransaction import (
    INSTANCE_COLS,
    MESSAGE_COLS,
    Session,
    SqlTransaction,
    chunks,
    marks,
    mismatch,
    new_receipt,
)
from .store import (
    InstanceRecord,
    Lease,
    LeaseLost,
    Message,
    QueueCounts,
    StoreBusy,
    StoreError,
)

SCHEMA_VERSION = 2

# Version -> statements. {id} {key} {real} {int} are filled in per dialect.
_MIGRATIONS: dict[int, list[str]] = {
    1: [
        """CREATE TABLE taskhub_messages (id {id}, hub {key} NOT NULL, queue {key} NOT NULL,
            payload TEXT NOT NULL, instance_id {key}, dequeue_count {int} NOT NULL,
            pop_receipt TEXT, inserted_at {real} NOT NULL, visible_at {real} NOT NULL)""",
        # dequeue order: a scan of this index yields the next messages without sorting
        "CREATE INDEX taskhub_messages_due ON taskhub_messages (hub, queue, visible_at, id)",
        """CREATE TABLE taskhub_history (hub {key} NOT NULL, instance_id {key} NOT NULL,
            execution_id {key} NOT NULL, seq {int} NOT NULL, event TEXT NOT NULL,
            PRIMARY KEY (hub, instance_id, execution_id, seq))""",
        """CREATE TABLE taskhub_instances (hub {key} NOT NULL, instance_id {key} NOT NULL,
            name TEXT NOT NULL, execution_id {key} NOT NULL, runtime_status {key} NOT NULL,
            input TEXT, output TEXT, custom_status TEXT, created_at {real} NOT NULL,
            last_updated {real} NOT NULL, parent_instance_id {key}, completed_at {real},
            PRIMARY KEY (hub, instance_id))""",
        "CREATE INDEX taskhub_instances_by_created"
        " ON taskhub_instances (hub, created_at, instance_id)",
        """CREATE TABLE taskhub_leases (hub {key} NOT NULL, name {key} NOT NULL,
            owner {key} NOT NULL, epoch {int} NOT NULL, expires_at {real} NOT NULL,
            PRIMARY KEY (hub, name))""",
        """CREATE TABLE taskhub_values (hub {key} NOT NULL, key {key} NOT NULL,
            value TEXT NOT NULL, PRIMARY KEY (hub, key))""",
        """CREATE TABLE taskhub_claims (hub {key} NOT NULL, key {key} NOT NULL,
            claimed_at {real} NOT NULL, PRIMARY KEY (hub, key))""",
    ],
    2: [],  # PostgreSQL's taskhub_expect_deleted (the dialect's own statements)
}
_HUB_TABLES = ("messages", "history", "instances", "leases", "values", "claims")


class SqlStore(SqlLeases, SqlInstanceQueries):
    """`TaskHubStore` over a `Session`. Subclasses provide `_read_session`, `_write_session`
    (a transaction: BEGIN on entry, COMMIT on normal exit, ROLLBACK on error), `close`, and
    the dialect attributes below."""

    _types: dict[str, str]  # column types for the {id} {key} {real} {int} of _MIGRATIONS
    _migrations: dict[int, list[str]] = {}  # this dialect's own statements, run after those
    _for_update = ""  # appended to reads that lock rows for the rest of the transaction
    _skip_locked = ""  # appended to the dequeue's candidate scan
    _deleted_check: str | None = None  # see SqlTransaction

    def __init__(self, hub: str, clock: Callable[[], float]):
        if not hub:
            raise ValueError("a task hub needs a non-empty name")
        self.hub = hub
        self.clock = clock

    # -- supplied by the backend ------------------------------------------------------------
    def _read_session(self) -> AbstractContextManager[Session]:
        raise NotImplementedError

    def _write_session(self) -> AbstractContextManager[Session]:
        raise NotImplementedError

    def _lock_schema(self, session: Session) -> None:
        """Serialise `create()` between hosts (the write transaction may already do it)."""

    def close(self) -> None:
        raise NotImplementedError

    # -- helpers ----------------------------------------------------------------------------
    def _read(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        with self._read_session() as s:
            return s.execute(sql, params).fetchall()

    def _write_one(self, sql: str, params: Sequence[object]) -> list[Any]:
        """Run one statement atomically and return the rows of its RETURNING clause."""
        with self._write_session() as s:
            return s.execute(sql, params).fetchall()

    # -- schema -------------------------------------------------------------------------------
    def create(self) -> None:
        with self._write_session() as s:
            self._lock_schema(s)
            s.execute(
                f"CREATE TABLE IF NOT EXISTS taskhub_schema (version {self._types['int']} "
                f"PRIMARY KEY, applied_at {self._types['real']} NOT NULL)"
            )
            current = s.execute("SELECT MAX(version) FROM taskhub_schema").fetchall()[0][0] or 0
            if current > SCHEMA_VERSION:
                raise StoreError(
                    f"the task hub database has schema version {current}, newer than the "
                    f"{SCHEMA_VERSION} this func-py understands: upgrade func-py"
                )
            for version in range(current + 1, SCHEMA_VERSION + 1):
                for statement in _MIGRATIONS[version] + self._migrations.get(version, []):
                    s.execute(statement.format(**self._types))
                s.execute("INSERT INTO taskhub_schema VALUES (?, ?)", (version, self.clock()))

    def schema_version(self) -> int:
        """The schema version recorded in the database (0 before `create()`)."""
        try:
            return self._read("SELECT MAX(version) FROM taskhub_schema")[0][0] or 0
        except StoreBusy:
            raise
        except StoreError:  # no such table
            return 0

    def delete_hub(self) -> None:
        with self._write_session() as s:
            for table in _HUB_TABLES:
                s.execute(f"DELETE FROM taskhub_{table} WHERE hub = ?", (self.hub,), defer=True)

    # -- transactions -------------------------------------------------------------------------
    @contextmanager
    def transaction(self, *, fence: Lease | None = None) -> Iterator[SqlTransaction]:
        with self._write_session() as session:
            tx = SqlTransaction(session, self.hub, self.clock, self._for_update,
                                self._deleted_check)
            try:
                yield tx
            finally:
                tx.open = False
            if tx.doom is not None:
                raise tx.doom
            if tx.touched:
                self._announce(session, tx.touched)
            if fence is not None:
                self._check_fence(session, fence)

    def _announce(self, session: Session, touched: dict[str, float]) -> None:
        """Tell other hosts which queues got messages (and when they become visible), so
        they wake at once instead of at their next poll. Delivered at commit, or not at all.
        A no-op where one process serves the hub (SQLite)."""

    def _check_fence(self, session: Session, fence: Lease) -> None:
        """Raise `LeaseLost` unless the fence still holds; runs last in the transaction.
        (Here SQLite's write lock keeps every other writer out until the commit.)"""
        rows = session.execute(
            "SELECT owner, epoch, expires_at FROM taskhub_leases WHERE hub = ? AND name = ?",
            (self.hub, fence.name),
        ).fetchall()
        now = self.clock()
        if rows and (rows[0][0], rows[0][1]) != (fence.owner, fence.epoch):
            held = f"it has owner {rows[0][0]!r} at epoch {rows[0][1]}"
        elif rows and rows[0][2] <= now:
            held = f"it expired at {rows[0][2]} (now {now})"
        elif not rows:
            held = "it does not exist"
        else:
            return
        raise LeaseLost(
            f"lease {fence.name!r} of task hub {self.hub!r} is no longer held by "
            f"{fence.owner!r} at epoch {fence.epoch}: {held}; nothing was committed"
        )

    # -- queues ---------------------------------------------------------------------------------
    def get_messages(
        self, queue: str, max_count: int, visibility_timeout: float
    ) -> list[Message]:
        if max_count <= 0:
            return []
        return self._claim(queue, "", [], max_count, visibility_timeout)

    def get_messages_with_instances(
        self, queue: str, max_count: int, visibility_timeout: float
    ) -> tuple[list[Message], dict[str, InstanceRecord]]:
        messages = self.get_messages(queue, max_count, visibility_timeout)
        return messages, self._instances({m.instance_id for m in messages if m.instance_id})

    def _instances(self, ids: set[str]) -> dict[str, InstanceRecord]:
        found: dict[str, InstanceRecord] = {}
        for chunk in chunks(sorted(ids)):
            for row in self._read(
                    f"SELECT {INSTANCE_COLS} FROM taskhub_instances WHERE hub = ?"
                    f" AND instance_id IN ({marks(len(chunk))})", (self.hub, *chunk)):
                found[row[0]] = InstanceRecord(*row)
        return found

    def claim_messages(
        self, queue: str, ids: Sequence[int], visibility_timeout: float
    ) -> list[Message]:
        if not ids:
            return []
        return self._claim(queue, f" AND id IN ({marks(len(ids))})", list(ids), len(ids),
                           visibility_timeout)

    def _claim(self, queue: str, only: str, ids: list[object], max_count: int,
               visibility_timeout: float) -> list[Message]:
        now = self.clock()
        rows = self._write_one(
            "WITH claimed AS (SELECT id FROM taskhub_messages"
            f" WHERE hub = ? AND queue = ? AND visible_at <= ?{only}"
            f" ORDER BY visible_at, id LIMIT ?{self._skip_locked})"
            " UPDATE taskhub_messages SET dequeue_count = dequeue_count + 1,"
            " pop_receipt = CAST(? AS TEXT) || CAST(id AS TEXT), visible_at = ?"
            f" WHERE id IN (SELECT id FROM claimed) RETURNING {MESSAGE_COLS}",
            (self.hub, queue, now, *ids, max_count, new_receipt() + ".",
             now + visibility_timeout),
        )
        return sorted((Message(*row) for row in rows), key=lambda m: m.id)

    def update_visibility(self, message: Message, visibility_timeout: float) -> Message:
        receipt = f"{new_receipt()}.{message.id}"
        visible_at = self.clock() + visibility_timeout
        rows = self._write_one(
            "UPDATE taskhub_messages SET pop_receipt = ?, visible_at = ?"
            " WHERE hub = ? AND id = ? AND pop_receipt = ? RETURNING id",
            (receipt, visible_at, self.hub, message.id, message.pop_receipt),
        )
        if not rows:
            raise mismatch(message)
        return replace(message, pop_receipt=receipt, visible_at=visible_at)

    def unclaim(self, messages: Sequence[Message]) -> int:
        if not messages:
            return 0
        now = self.clock()
        given = 0
        with self._write_session() as s:
            for m in messages:
                rows = s.execute(
                    "UPDATE taskhub_messages SET pop_receipt = NULL, visible_at = ?,"
                    " dequeue_count = dequeue_count - 1"
                    " WHERE hub = ? AND id = ? AND pop_receipt = ? RETURNING id",
                    (now, self.hub, m.id, m.pop_receipt),
                ).fetchall()
                given += len(rows)
        return given

    def release_claimed(self) -> int:
        """Make every dequeued-but-not-deleted message of this hub visible now (delayed
        messages that were never dequeued keep their time). Only safe when no other consumer
        of the hub is alive — a single host restarting after a crash."""
        now = self.clock()
        rows = self._write_one(
            "UPDATE taskhub_messages SET visible_at = ? WHERE hub = ? AND dequeue_count > 0"
            " AND visible_at > ? RETURNING id", (now, self.hub, now))
        return len(rows)

    def release_claimed_in(self, prefix: str) -> int:
        now = self.clock()
        rows = self._write_one(
            "UPDATE taskhub_messages SET visible_at = ? WHERE hub = ? AND dequeue_count > 0"
            " AND visible_at > ? AND substr(queue, 1, ?) = ? RETURNING id",
            (now, self.hub, now, len(prefix), prefix))
        return len(rows)

    def peek_messages(self, queue: str, max_count: int) -> list[Message]:
        if max_count <= 0:
            return []
        rows = self._read(
            f"SELECT {MESSAGE_COLS} FROM taskhub_messages WHERE hub = ? AND queue = ?"
            " AND visible_at <= ? ORDER BY visible_at, id LIMIT ?",
            (self.hub, queue, self.clock(), max_count),
        )
        return [replace(Message(*row), pop_receipt="") for row in rows]

    def list_queues(self, prefix: str = "") -> list[QueueCounts]:
        now = self.clock()
        rows = self._read(
            "SELECT queue, COUNT(*), SUM(CASE WHEN visible_at <= ? THEN 1 ELSE 0 END),"
            " MIN(CASE WHEN visible_at <= ? THEN visible_at END)"
            " FROM taskhub_messages WHERE hub = ? AND substr(queue, 1, ?) = ?"
            " GROUP BY queue ORDER BY queue",
            (now, now, self.hub, len(prefix), prefix),
        )
        return [QueueCounts(row[0], int(row[1]), int(row[2] or 0),
                            None if row[3] is None else float(row[3])) for row in rows]

    def clear_queue(self, queue: str) -> int:
        rows = self._write_one(
            "DELETE FROM taskhub_messages WHERE hub = ? AND queue = ? RETURNING id",
            (self.hub, queue),
        )
        return len(rows)

    def next_visible_at(self, queues: Sequence[str]) -> float | None:
        if not queues:
            return None
        rows = self._read(
            f"SELECT MIN(visible_at) FROM taskhub_messages"
            f" WHERE hub = ? AND queue IN ({marks(len(queues))})",
            (self.hub, *queues),
        )
        return rows[0][0]

    def next_visible_by_queue(self, queues: Sequence[str]) -> dict[str, float]:
        if not queues:
            return {}
        rows = self._read(
            f"SELECT queue, MIN(visible_at) FROM taskhub_messages"
            f" WHERE hub = ? AND queue IN ({marks(len(queues))}) GROUP BY queue",
            (self.hub, *queues),
        )
        return {str(q): float(t) for q, t in rows}

    def count_messages(self, queue: str) -> int:
        rows = self._read(
            "SELECT COUNT(*) FROM taskhub_messages WHERE hub = ? AND queue = ?", (self.hub, queue)
        )
        return int(rows[0][0])

    # -- history and instances ----------------------------------------------------------------
    def read_history(self, instance_id: str, execution_id: str) -> list[str]:
        rows = self._read(
            "SELECT event FROM taskhub_history WHERE hub = ? AND instance_id = ?"
            " AND execution_id = ? ORDER BY seq",
            (self.hub, instance_id, execution_id),
        )
        return [row[0] for row in rows]

    def get_instance(self, instance_id: str) -> InstanceRecord | None:
        rows = self._read(
            f"SELECT {INSTANCE_COLS} FROM taskhub_instances WHERE hub = ? AND instance_id = ?",
            (self.hub, instance_id),
        )
        return InstanceRecord(*rows[0]) if rows else None
