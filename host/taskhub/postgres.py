"""The task hub in PostgreSQL: several hosts on several machines share one hub.

Uses psycopg 3, imported only when a `PostgresStore` is made, so SQLite users never need it.
Competing dequeues use `FOR UPDATE SKIP LOCKED`; a transaction's reads of instances lock their
rows. A single-statement operation runs in autocommit: one round trip. A transaction runs in
pipeline mode: BEGIN and the statements whose results nobody waits for travel with the next
statement that needs an answer, and the fence check travels with COMMIT. The fence check is a
function that raises inside the server, so a lost lease aborts the COMMIT sent behind it; it
holds the lease row `FOR SHARE`, so a new owner's `acquire_lease` waits for fenced commits
already under way and every later one sees the new epoch.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from functools import lru_cache
from typing import Any

from .sqlpool import ConnectionPool
from .sqlstore import SqlStore, new_receipt
from .sqltransaction import INSTANCE_COLS, MESSAGE_COLS, Cursor, Session
from .store import (
    HistoryConflict,
    InstanceRecord,
    Lease,
    LeaseLost,
    Message,
    PopReceiptMismatch,
    StoreBusy,
    StoreError,
)

_SCHEMA_LOCK = 0x7461736B687562  # b"taskhub": the advisory lock every func-py host takes
_LEASE_LOST = "TH001"  # SQLSTATE raised by taskhub_check_fence
_NOT_DELETED = "TH002"  # SQLSTATE raised by taskhub_expect_deleted

_CHECK_FENCE = """
CREATE OR REPLACE FUNCTION taskhub_check_fence(p_hub TEXT, p_name TEXT, p_owner TEXT,
    p_epoch BIGINT, p_now DOUBLE PRECISION) RETURNS VOID LANGUAGE plpgsql AS $$
DECLARE
    held RECORD;
    lost TEXT := format('lease %L of task hub %L is no longer held by %L at epoch %s: ',
                        p_name, p_hub, p_owner, p_epoch);
BEGIN
    SELECT owner, epoch, expires_at INTO held FROM taskhub_leases
        WHERE hub = p_hub AND name = p_name FOR SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'TH001', MESSAGE = lost || 'it does not exist';
    ELSIF held.owner <> p_owner OR held.epoch <> p_epoch THEN
        RAISE EXCEPTION USING ERRCODE = 'TH001', MESSAGE = lost
            || format('it has owner %L at epoch %s', held.owner, held.epoch);
    ELSIF held.expires_at <= p_now THEN
        RAISE EXCEPTION USING ERRCODE = 'TH001', MESSAGE = lost
            || format('it expired at %s (now %s)', held.expires_at, p_now);
    END IF;
END $$"""

# Lets a batch delete of consumed messages travel unanswered with COMMIT: a stale pop receipt
# aborts the transaction in the server instead of being found by the client first.
_EXPECT_DELETED = """
CREATE OR REPLACE FUNCTION taskhub_expect_deleted(p_deleted BIGINT, p_expected BIGINT,
    p_what TEXT) RETURNS VOID LANGUAGE plpgsql AS $$
BEGIN
    IF p_deleted <> p_expected THEN
        RAISE EXCEPTION USING ERRCODE = 'TH002', MESSAGE = p_what || ': ' || p_expected - p_deleted
            || ' of them were deleted or dequeued again since their pop receipts were issued;'
            || ' nothing was committed';
    END IF;
END $$"""


def _prefixed(table: str, cols: str) -> str:
    return ", ".join(f"{table}.{c.strip()}" for c in cols.split(","))


def _import_psycopg() -> Any:
    try:
        import psycopg
    except ImportError as e:
        raise StoreError(
            "the PostgreSQL task hub needs the psycopg driver: pip install func-py[postgres]"
        ) from e
    return psycopg


@lru_cache(maxsize=512)
def _pg(sql: str) -> str:
    return sql.replace("?", "%s")


def _without_password(psycopg: Any, conninfo: str) -> tuple[str, str | None]:
    """The conninfo to show in messages, and the password to scrub from them."""
    try:
        params = psycopg.conninfo.conninfo_to_dict(conninfo)
    except psycopg.Error:
        return "<unparsable conninfo>", None
    password = params.pop("password", None)
    return psycopg.conninfo.make_conninfo(**params), password


class _Session:
    __slots__ = ("conn", "pipeline", "store")

    def __init__(self, store: PostgresStore, conn: Any, pipeline: Any = None):
        self.store, self.conn, self.pipeline = store, conn, pipeline

    def execute(self, sql: str, params: Sequence[object] = (), *, defer: bool = False) -> Cursor:
        store = self.store
        try:
            cursor = self.conn.execute(_pg(sql), params or None)
            if self.pipeline is None:
                store._count(statements=1, round_trips=1)
            elif defer:
                store._count(statements=1, round_trips=0)
            else:
                self.pipeline.sync()
                store._count(statements=1, round_trips=1)
            return cursor
        except store._psycopg.Error as e:
            raise store._translate(e) from e


class PostgresStore(SqlStore):
    """A task hub in the PostgreSQL database named by `conninfo` (a URL or key=value string).

    `round_trips` counts the times the store waited for the server; `statements` counts the
    statements sent (BEGIN and COMMIT included; pipelining sends several per round trip).
    Up to `pool_size` idle connections are kept; more open while more threads are busy.
    `pipeline=False` sends every statement on its own (also the fallback before libpq 14)."""

    _types = {"id": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
              "key": 'TEXT COLLATE "C"', "real": "DOUBLE PRECISION", "int": "BIGINT"}
    _migrations = {1: [_CHECK_FENCE], 2: [_EXPECT_DELETED]}
    _deleted_check = "taskhub_expect_deleted"
    _for_update = " FOR UPDATE"
    _skip_locked = " FOR UPDATE SKIP LOCKED"

    def __init__(
        self,
        conninfo: str,
        hub: str,
        *,
        clock: Callable[[], float] = time.time,
        pool_size: int = 8,
        connect_timeout: int = 10,
        pipeline: bool = True,
    ):
        super().__init__(hub, clock)
        self._psycopg = _import_psycopg()
        # pipeline mode needs libpq 14; without it every statement is its own round trip
        self._pipelined = pipeline and self._psycopg.Pipeline.is_supported()
        self.conninfo = conninfo
        self.safe_conninfo, self._password = _without_password(self._psycopg, conninfo)
        self.connect_timeout = connect_timeout
        self.round_trips = 0
        self.statements = 0
        self.tag = uuid.uuid4().hex[:12]  # marks this process's notifications
        self._count_lock = threading.Lock()
        self._pool: ConnectionPool[Any] = ConnectionPool(
            self._connect, self._close_connection, pool_size
        )
        self._pool.release(self._pool.acquire())  # a wrong address fails here, not later

    def _scrub(self, text: str) -> str:
        return text.replace(self._password, "***") if self._password else text

    def _connect(self) -> Any:
        psycopg = self._psycopg
        try:
            options = psycopg.conninfo.conninfo_to_dict(self.conninfo)
            options.setdefault("connect_timeout", self.connect_timeout)
            # Names the host's sessions in pg_stat_activity (operators and fault tests can
            # tell them from other clients); PostgreSQL truncates it to 63 bytes.
            options.setdefault("application_name", f"func-py/{self.hub}")
            return psycopg.connect(autocommit=True, **options)
        except psycopg.Error as e:
            raise StoreError(
                f"cannot connect to the PostgreSQL task hub database {self.safe_conninfo}: "
                f"{self._scrub(str(e)).strip()}"
            ) from None

    @staticmethod
    def _close_connection(conn: Any) -> None:
        conn.close()

    def _count(self, *, statements: int, round_trips: int) -> None:
        with self._count_lock:
            self.statements += statements
            self.round_trips += round_trips

    def _translate(self, e: Exception) -> StoreError:
        detail = self._scrub(str(e)).strip()
        if getattr(e, "sqlstate", None) == _LEASE_LOST:
            return LeaseLost(f"{e.diag.message_primary}; nothing was committed")  # type: ignore
        if getattr(e, "sqlstate", None) == "23505" and getattr(
                e.diag, "constraint_name", None) == "taskhub_history_pkey":  # type: ignore
            return HistoryConflict(f"a history event was written twice: {detail}")
        if getattr(e, "sqlstate", None) == _NOT_DELETED:
            return PopReceiptMismatch(e.diag.message_primary)  # type: ignore[attr-defined]
        message = f"PostgreSQL task hub {self.safe_conninfo}: {detail}"
        state = getattr(e, "sqlstate", None) or ""
        if (not state and isinstance(e, self._psycopg.OperationalError)) or state[:2] in (
            "08", "40", "57") or state == "55P03":
            # lost connection, serialization failure or deadlock, shutdown, lock timeout
            return StoreBusy(message)
        return StoreError(message)

    def _reusable(self, conn: Any) -> bool:
        idle = self._psycopg.pq.TransactionStatus.IDLE
        return not conn.closed and conn.info.transaction_status == idle

    @contextmanager
    def _read_session(self) -> Iterator[_Session]:
        conn = self._pool.acquire()
        try:
            yield _Session(self, conn)
        finally:
            self._pool.release(conn, discard=not self._reusable(conn))

    def _write_one(self, sql: str, params: Sequence[object]) -> list[Any]:
        with self._read_session() as s:  # autocommit: one statement is its own transaction
            return s.execute(sql, params).fetchall()

    @contextmanager
    def _write_session(self) -> Iterator[_Session]:
        conn = self._pool.acquire()
        try:
            with conn.pipeline() if self._pipelined else nullcontext() as pipeline:
                session = _Session(self, conn, pipeline)
                try:
                    session.execute("BEGIN", defer=True)
                    yield session
                    status = session.execute("COMMIT").statusmessage  # type: ignore[attr-defined]
                except BaseException:
                    self._rollback(conn, pipeline)
                    raise
            if status != "COMMIT":  # the server rolled back a transaction that had failed
                raise StoreError(f"PostgreSQL answered {status!r} to COMMIT; nothing was written")
        except self._psycopg.Error as e:  # raised by the pipeline's own final sync
            raise self._translate(e) from e
        finally:
            self._pool.release(conn, discard=not self._reusable(conn))

    def _rollback(self, conn: Any, pipeline: Any) -> None:
        # Twice: a statement still queued when the block failed may fail in the first sync,
        # and the server then skips the ROLLBACK queued behind it.
        for _ in range(2):
            if conn.closed or self._reusable(conn):
                return
            self._count(statements=1, round_trips=1)
            try:
                conn.execute("ROLLBACK")
                if pipeline is not None:
                    pipeline.sync()
            except self._psycopg.Error:
                pass  # a broken connection is discarded by the caller

    def get_messages_with_instances(
        self, queue: str, max_count: int, visibility_timeout: float
    ) -> tuple[list[Message], dict[str, InstanceRecord]]:
        # The claim of SqlStore._claim and the instance rows, joined in one statement.
        if max_count <= 0:
            return [], {}
        now = self.clock()
        rows = self._write_one(
            "WITH claimed AS (SELECT id FROM taskhub_messages"
            " WHERE hub = ? AND queue = ? AND visible_at <= ?"
            " ORDER BY visible_at, id LIMIT ? FOR UPDATE SKIP LOCKED),"
            " u AS (UPDATE taskhub_messages SET dequeue_count = dequeue_count + 1,"
            " pop_receipt = CAST(? AS TEXT) || CAST(id AS TEXT), visible_at = ?"
            f" WHERE id IN (SELECT id FROM claimed) RETURNING {MESSAGE_COLS})"
            f" SELECT {_prefixed('u', MESSAGE_COLS)}, {_prefixed('i', INSTANCE_COLS)}"
            " FROM u LEFT JOIN taskhub_instances i"
            " ON i.hub = ? AND i.instance_id = u.instance_id",
            (self.hub, queue, now, max_count, new_receipt() + ".", now + visibility_timeout,
             self.hub),
        )
        split = len(MESSAGE_COLS.split(","))
        messages = sorted((Message(*row[:split]) for row in rows), key=lambda m: m.id)
        records = {row[split]: InstanceRecord(*row[split:]) for row in rows
                   if row[split] is not None}
        return messages, records

    def _check_fence(self, session: Session, fence: Lease) -> None:
        session.execute(
            "SELECT taskhub_check_fence(?, ?, ?, CAST(? AS BIGINT), CAST(? AS DOUBLE PRECISION))",
            (self.hub, fence.name, fence.owner, fence.epoch, self.clock()),
            defer=True,
        )

    def _lock_schema(self, session: Session) -> None:
        session.execute("SELECT pg_advisory_xact_lock(?)", (_SCHEMA_LOCK,))

    @property
    def channel(self) -> str:
        return f"taskhub_{self.hub.lower()}"

    def _announce(self, session: Session, touched: dict[str, float]) -> None:
        # NOTIFY is transactional: delivered to listeners at commit, never for a rollback.
        payload = ";".join(f"{q}|{at:.3f}" for q, at in touched.items())
        session.execute("SELECT pg_notify(?, ?)", (self.channel, f"{self.tag}#{payload}"),
                        defer=True)

    def listen(self, callback: Callable[[str, float], None]) -> Callable[[], None]:
        """Call `callback(queue, visible_at)` (from a thread) whenever another process
        commits messages to a queue of this hub. Returns a function that stops listening."""
        stopping = threading.Event()
        listening = threading.Event()

        def run() -> None:
            while not stopping.is_set():
                try:
                    conn = self._connect()
                except StoreError:
                    stopping.wait(1.0)
                    continue
                try:
                    conn.execute(f'LISTEN "{self.channel}"')
                    listening.set()
                    while not stopping.is_set():
                        for note in conn.notifies(timeout=0.5):
                            tag, _, body = note.payload.partition("#")
                            if tag == self.tag:
                                continue  # our own commits wake us directly
                            for item in body.split(";"):
                                queue, _, at = item.partition("|")
                                callback(queue, float(at or 0))
                except self._psycopg.Error:
                    stopping.wait(0.5)  # reconnect; the poll interval covers the gap
                finally:
                    conn.close()

        thread = threading.Thread(target=run, name="taskhub-listen", daemon=True)
        thread.start()
        listening.wait(5.0)  # commits after this returns are heard (unless the DB is down)

        def stop() -> None:
            stopping.set()
            thread.join(2.0)

        return stop

    def close(self) -> None:
        self._pool.close()
