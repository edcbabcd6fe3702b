"""The write side both SQL task hub backends share: `SqlTransaction` over a `Session`.

A `Session` is one connection as the shared code sees it; each backend supplies it. Statements
use `?` placeholders (the PostgreSQL session translates them). A statement sent with
`defer=True` has no result the caller needs at once, so a backend that pipelines (PostgreSQL)
may send it together with the next one; its errors then surface at a later call or at commit,
still inside the transaction. This module must not import a database driver.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from .store import (
    RUNTIME_STATUSES,
    HistoryConflict,
    InstanceExists,
    InstanceRecord,
    Message,
    PopReceiptMismatch,
    StoreError,
)

MESSAGE_COLS = (
    "queue, id, payload, instance_id, dequeue_count, pop_receipt, inserted_at, visible_at"
)
INSTANCE_COLS = (
    "instance_id, name, execution_id, runtime_status, input, output, custom_status, "
    "created_at, last_updated, parent_instance_id, completed_at"
)
LEASE_COLS = "name, owner, epoch, expires_at"
CHUNK = 500  # rows or ids per statement; far below both backends' parameter limits


class Cursor(Protocol):
    rowcount: int

    def fetchall(self) -> list[Any]: ...


class Session(Protocol):
    """One connection inside a transaction (or in autocommit, for single statements)."""

    def execute(self, sql: str, params: Sequence[object] = (), *, defer: bool = False) -> Cursor:
        """Run one statement; backend errors are raised as `StoreError`."""
        ...


def new_receipt() -> str:
    return secrets.token_hex(8)


def chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), CHUNK):
        yield items[i : i + CHUNK]


def marks(n: int) -> str:
    return ", ".join("?" * n)


def mismatch(message: Message) -> PopReceiptMismatch:
    return PopReceiptMismatch(
        f"message {message.id} of queue {message.queue!r} was deleted or dequeued again "
        f"since pop receipt {message.pop_receipt!r} was issued"
    )


def _describe(messages: Sequence[Message]) -> str:
    ids = ", ".join(str(m.id) for m in messages[:5]) + (", ..." if len(messages) > 5 else "")
    queues = ", ".join(sorted({repr(m.queue) for m in messages}))
    return f"messages {ids} of queue {queues}"


def _instance_params(hub: str, r: InstanceRecord) -> tuple[object, ...]:
    if r.runtime_status not in RUNTIME_STATUSES:
        raise ValueError(f"unknown runtime status {r.runtime_status!r}")
    return (hub, r.instance_id, r.name, r.execution_id, r.runtime_status, r.input, r.output,
            r.custom_status, r.created_at, r.last_updated, r.parent_instance_id, r.completed_at)


class SqlTransaction:
    """`Transaction` over a write `Session`; see the contract in `store.Transaction`."""

    def __init__(
        self, session: Session, hub: str, clock: Callable[[], float], for_update: str,
        deleted_check: str | None = None,
    ):
        self._session, self._hub, self._clock, self._for_update = session, hub, clock, for_update
        # A server function that raises unless a batch delete removed every message, so the
        # check needs no answer before COMMIT (PostgreSQL); None: check the row count here.
        self._deleted_check = deleted_check
        self.open = True
        self.doom: StoreError | None = None  # the error that makes a commit impossible
        self.touched: dict[str, float] = {}  # queue -> earliest visible_at put in this tx

    def _run(self, sql: str, params: Sequence[object] = (), *, defer: bool = False) -> Cursor:
        if not self.open:
            raise StoreError("the transaction has already ended")
        if self.doom is not None:
            raise StoreError("the transaction failed earlier; leave its block") from self.doom
        try:
            return self._session.execute(sql, params, defer=defer)
        except StoreError as e:
            self.doom = e
            raise

    def put_message(
        self, queue: str, payload: str, *, instance_id: str | None = None, delay: float = 0.0
    ) -> int:
        now = self._clock()
        self._touch(queue, now + max(delay, 0.0))
        return self._run(
            "INSERT INTO taskhub_messages (hub, queue, payload, instance_id, dequeue_count,"
            " pop_receipt, inserted_at, visible_at) VALUES (?, ?, ?, ?, 0, NULL, ?, ?)"
            " RETURNING id",
            (self._hub, queue, payload, instance_id, now, now + max(delay, 0.0)),
        ).fetchall()[0][0]

    def put_messages(
        self, queue: str, payloads: Sequence[str], *, instance_id: str | None = None,
        delay: float = 0.0,
    ) -> list[int]:
        now = self._clock()
        if payloads:
            self._touch(queue, now + max(delay, 0.0))
        ids: list[int] = []
        for chunk in chunks(payloads):
            params: list[object] = []
            for payload in chunk:
                params += (self._hub, queue, payload, instance_id, now, now + max(delay, 0.0))
            rows = self._run(
                "INSERT INTO taskhub_messages (hub, queue, payload, instance_id, dequeue_count,"
                " pop_receipt, inserted_at, visible_at) VALUES"
                f" {', '.join(['(?, ?, ?, ?, 0, NULL, ?, ?)'] * len(chunk))} RETURNING id",
                params,
            ).fetchall()
            ids += sorted(row[0] for row in rows)  # one statement numbers its rows in order
        return ids

    def enqueue(
        self, queue: str, payloads: Sequence[str], *, instance_id: str | None = None,
        delay: float = 0.0,
    ) -> None:
        if not payloads:
            return
        now = self._clock()
        visible_at = now + max(delay, 0.0)
        self._touch(queue, visible_at)
        for chunk in chunks(payloads):
            params: list[object] = []
            for payload in chunk:
                params += (self._hub, queue, payload, instance_id, now, visible_at)
            self._run(
                "INSERT INTO taskhub_messages (hub, queue, payload, instance_id, dequeue_count,"
                " pop_receipt, inserted_at, visible_at) VALUES"
                f" {', '.join(['(?, ?, ?, ?, 0, NULL, ?, ?)'] * len(chunk))}",
                params,
                defer=True,
            )

    def enqueue_claimed(
        self, queue: str, payloads: Sequence[str], visibility_timeout: float, *,
        instance_id: str | None = None,
    ) -> Callable[[], list[Message]]:
        now = self._clock()
        until = now + visibility_timeout
        prefix = new_receipt() + ".h"
        pending: list[tuple[Any, Sequence[str], list[str]]] = []
        for offset in range(0, len(payloads), CHUNK):
            chunk = payloads[offset : offset + CHUNK]
            receipts = [f"{prefix}{offset + i}" for i in range(len(chunk))]
            params: list[object] = []
            for payload, receipt in zip(chunk, receipts, strict=True):
                params += (self._hub, queue, payload, instance_id, receipt, now, until)
            cur = self._run(
                "INSERT INTO taskhub_messages (hub, queue, payload, instance_id, dequeue_count,"
                " pop_receipt, inserted_at, visible_at) VALUES"
                f" {', '.join(['(?, ?, ?, ?, 1, ?, ?, ?)'] * len(chunk))} RETURNING id",
                params,
                defer=self._deleted_check is not None,  # PostgreSQL: read after COMMIT
            )
            # SQLite must read a RETURNING statement's rows before it may commit.
            pending.append((cur if self._deleted_check is not None else cur.fetchall(),
                            chunk, receipts))

        def claimed() -> list[Message]:
            out: list[Message] = []
            for rows, chunk, receipts in pending:
                if not isinstance(rows, list):
                    rows = rows.fetchall()
                ids = sorted(row[0] for row in rows)  # one statement numbers its rows in order
                out += [Message(queue, i, payload, instance_id, 1, receipt, now, until)
                        for i, payload, receipt in zip(ids, chunk, receipts, strict=True)]
            return out

        return claimed

    def delete_messages(self, messages: Sequence[Message]) -> None:
        # Pop receipts are unique (random), so matching the receipts matches each message
        # with its own; the ids are there for the primary key.
        unique = list({m.id: m for m in messages}.values())
        for chunk in chunks(unique):
            ids = [m.id for m in chunk]
            receipts = [m.pop_receipt for m in chunk]
            delete = ("DELETE FROM taskhub_messages WHERE hub = ?"
                      f" AND id IN ({marks(len(chunk))}) AND pop_receipt IN ({marks(len(chunk))})")
            if self._deleted_check is not None:
                self._run(
                    f"WITH gone AS ({delete} RETURNING id) SELECT {self._deleted_check}("
                    "CAST(COUNT(*) AS BIGINT), CAST(? AS BIGINT), CAST(? AS TEXT)) FROM gone",
                    (self._hub, *ids, *receipts, len(chunk), _describe(chunk)),
                    defer=True,
                )
            elif self._run(delete, (self._hub, *ids, *receipts)).rowcount != len(chunk):
                self.doom = PopReceiptMismatch(
                    f"{_describe(chunk)}: one of them was deleted or dequeued again since "
                    "its pop receipt was issued; nothing was deleted")
                raise self.doom

    def _touch(self, queue: str, visible_at: float) -> None:
        known = self.touched.get(queue)
        if known is None or visible_at < known:
            self.touched[queue] = visible_at

    def delete_message(self, message: Message) -> None:
        cur = self._run(
            "DELETE FROM taskhub_messages WHERE hub = ? AND id = ? AND pop_receipt = ?",
            (self._hub, message.id, message.pop_receipt),
        )
        if cur.rowcount != 1:
            raise mismatch(message)

    def append_history(
        self, instance_id: str, execution_id: str, start: int, events: Sequence[str], *,
        checked_at_commit: bool = False,
    ) -> None:
        if checked_at_commit and self._deleted_check is not None:
            # The server checks: the primary key refuses a row written twice, and the
            # backend reports that violation as HistoryConflict, at the next answer.
            for offset in range(0, len(events), CHUNK):
                chunk = events[offset : offset + CHUNK]
                params: list[object] = []
                for i, event in enumerate(chunk):
                    params += (self._hub, instance_id, execution_id, start + offset + i, event)
                self._run(
                    "INSERT INTO taskhub_history (hub, instance_id, execution_id, seq, event)"
                    f" VALUES {', '.join(['(?, ?, ?, ?, ?)'] * len(chunk))}",
                    params,
                    defer=True,
                )
            return
        inserted = 0
        for offset in range(0, len(events), CHUNK):
            chunk = events[offset : offset + CHUNK]
            params = []
            for i, event in enumerate(chunk):
                params += (self._hub, instance_id, execution_id, start + offset + i, event)
            inserted += self._run(
                "INSERT INTO taskhub_history (hub, instance_id, execution_id, seq, event)"
                f" VALUES {', '.join(['(?, ?, ?, ?, ?)'] * len(chunk))}"
                " ON CONFLICT (hub, instance_id, execution_id, seq) DO NOTHING",
                params,
            ).rowcount
        if inserted != len(events):
            self.doom = HistoryConflict(
                f"history of instance {instance_id!r} execution {execution_id!r} already has "
                f"events in positions {start}..{start + len(events) - 1}"
            )
            raise self.doom

    def delete_history(self, instance_id: str, execution_id: str | None = None) -> None:
        if execution_id is None:
            self._run(
                "DELETE FROM taskhub_history WHERE hub = ? AND instance_id = ?",
                (self._hub, instance_id),
                defer=True,
            )
        else:
            self._run(
                "DELETE FROM taskhub_history WHERE hub = ? AND instance_id = ?"
                " AND execution_id = ?",
                (self._hub, instance_id, execution_id),
                defer=True,
            )

    def get_instance(self, instance_id: str) -> InstanceRecord | None:
        rows = self._run(
            f"SELECT {INSTANCE_COLS} FROM taskhub_instances WHERE hub = ? AND instance_id = ?"
            f"{self._for_update}",
            (self._hub, instance_id),
        ).fetchall()
        return InstanceRecord(*rows[0]) if rows else None

    def read_instances(self, instance_ids: Sequence[str]
                       ) -> Callable[[], dict[str, InstanceRecord]]:
        pending: list[Any] = []
        ids = sorted(set(instance_ids))
        for chunk in chunks(ids):
            cur = self._run(
                f"SELECT {INSTANCE_COLS} FROM taskhub_instances WHERE hub = ?"
                f" AND instance_id IN ({marks(len(chunk))})",
                (self._hub, *chunk),
                defer=self._deleted_check is not None,  # PostgreSQL: read after COMMIT
            )
            # SQLite must read a statement's rows before it may commit.
            pending.append(cur if self._deleted_check is not None else cur.fetchall())

        def rows() -> dict[str, InstanceRecord]:
            found: dict[str, InstanceRecord] = {}
            for got in pending:
                for row in got if isinstance(got, list) else got.fetchall():
                    found[row[0]] = InstanceRecord(*row)
            return found

        return rows

    def put_instance(self, record: InstanceRecord) -> None:
        self._run(
            f"INSERT INTO taskhub_instances (hub, {INSTANCE_COLS}) VALUES ({marks(12)})"
            " ON CONFLICT (hub, instance_id) DO UPDATE SET name = excluded.name,"
            " execution_id = excluded.execution_id, runtime_status = excluded.runtime_status,"
            " input = excluded.input, output = excluded.output,"
            " custom_status = excluded.custom_status, created_at = excluded.created_at,"
            " last_updated = excluded.last_updated,"
            " parent_instance_id = excluded.parent_instance_id,"
            " completed_at = excluded.completed_at",
            _instance_params(self._hub, record),
            defer=True,
        )

    def create_instance(
        self, record: InstanceRecord, *, replace_statuses: frozenset[str]
    ) -> None:
        for _ in range(3):  # a concurrent delete between our two statements sends us round
            if self._run(
                f"INSERT INTO taskhub_instances (hub, {INSTANCE_COLS}) VALUES ({marks(12)})"
                " ON CONFLICT (hub, instance_id) DO NOTHING",
                _instance_params(self._hub, record),
            ).rowcount == 1:
                return
            existing = self.get_instance(record.instance_id)
            if existing is None:
                continue
            if existing.runtime_status not in replace_statuses:
                raise InstanceExists(
                    f"instance {record.instance_id!r} already exists with status "
                    f"{existing.runtime_status}"
                )
            self.delete_history(record.instance_id)
            self.put_instance(record)
            return
        raise StoreError(f"instance {record.instance_id!r} keeps appearing and vanishing")

    def delete_instance(self, instance_id: str) -> bool:
        self.delete_history(instance_id)
        return self._run(
            "DELETE FROM taskhub_instances WHERE hub = ? AND instance_id = ?",
            (self._hub, instance_id),
        ).rowcount == 1

    def put_value(self, key: str, value: str) -> None:
        self._run(
            "INSERT INTO taskhub_values (hub, key, value) VALUES (?, ?, ?)"
            " ON CONFLICT (hub, key) DO UPDATE SET value = excluded.value",
            (self._hub, key, value),
            defer=True,
        )

    def claim_once(self, key: str) -> bool:
        return self._run(
            "INSERT INTO taskhub_claims (hub, key, claimed_at) VALUES (?, ?, ?)"
            " ON CONFLICT (hub, key) DO NOTHING",
            (self._hub, key, self._clock()),
        ).rowcount == 1
