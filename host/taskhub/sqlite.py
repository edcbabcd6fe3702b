"""The task hub in one SQLite file: the zero-setup default for a single machine.

Durability target: committed work survives a crash or `kill -9` of the process (WAL journal,
`synchronous=NORMAL`; a power loss may lose the last commits but never corrupts the file).
SQLite has one writer at a time. Within a process, write transactions on one file (from any
store object, any hub) are serialised by a lock before SQLite sees them, so threads never spin
in SQLite's sleeping busy handler; between processes sharing a file, `BEGIN IMMEDIATE` plus the
busy timeout order them. Reads use their own pooled connections and never wait for writers.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .sqlpool import ConnectionPool
from .sqlstore import SqlStore
from .sqltransaction import Cursor
from .store import StoreBusy, StoreError

_MIN_VERSION = (3, 35, 0)  # RETURNING
_BUSY_CODES = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _translate(e: sqlite3.Error, path: Path) -> StoreError:
    code = getattr(e, "sqlite_errorcode", 0) & 0xFF
    if code in _BUSY_CODES:
        return StoreBusy(f"task hub database {path} stayed locked: {e}")
    return StoreError(f"task hub database {path}: {e}")


class _WriteLock:
    """The in-process writer lock of one database file."""

    _by_file: dict[str, _WriteLock] = {}
    _registry = threading.Lock()

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.holder: int | None = None  # thread ident, to refuse nested write transactions

    @classmethod
    def of(cls, path: Path) -> _WriteLock:
        key = os.path.realpath(path)
        with cls._registry:
            return cls._by_file.setdefault(key, cls())


class _Session:
    __slots__ = ("conn", "path")

    def __init__(self, conn: sqlite3.Connection, path: Path):
        self.conn, self.path = conn, path

    def execute(self, sql: str, params: Sequence[object] = (), *, defer: bool = False) -> Cursor:
        try:
            return self.conn.execute(sql, params)
        except sqlite3.Error as e:
            raise _translate(e, self.path) from e


class SqliteStore(SqlStore):
    """A task hub stored in the SQLite file at `path` (its directory is created if missing).
    Several hubs, threads and processes may share the file."""

    _types = {"id": "INTEGER PRIMARY KEY AUTOINCREMENT", "key": "TEXT", "real": "REAL",
              "int": "INTEGER"}

    def __init__(
        self,
        path: str | Path,
        hub: str,
        *,
        clock: Callable[[], float] = time.time,
        busy_timeout: float = 10.0,
        max_idle: int = 8,
    ):
        super().__init__(hub, clock)
        if sqlite3.sqlite_version_info < _MIN_VERSION:
            raise StoreError(
                f"SQLite {sqlite3.sqlite_version} is too old for the task hub; it needs "
                f"{'.'.join(map(str, _MIN_VERSION))} or newer (use Python from python.org, "
                "or the PostgreSQL task hub)"
            )
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self._writer = _WriteLock.of(self.path)
        self._pool: ConnectionPool[sqlite3.Connection] = ConnectionPool(
            self._connect, sqlite3.Connection.close, max_idle
        )

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path, timeout=self.busy_timeout, isolation_level=None,
                check_same_thread=False,
            )
        except (OSError, sqlite3.Error) as e:
            raise StoreError(f"cannot open task hub database {self.path}: {e}") from e
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise StoreError(
                    f"task hub database {self.path} cannot use WAL journaling (got {mode!r}); "
                    "put it on a local file system"
                )
            conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.Error as e:
            conn.close()
            raise _translate(e, self.path) from e
        except StoreError:
            conn.close()
            raise
        return conn

    @contextmanager
    def _read_session(self) -> Iterator[_Session]:
        conn = self._pool.acquire()
        try:
            yield _Session(conn, self.path)
        finally:
            self._pool.release(conn, discard=conn.in_transaction)

    @contextmanager
    def _write_session(self) -> Iterator[_Session]:
        me, writer = threading.get_ident(), self._writer
        if writer.holder == me:
            raise StoreError("a task hub write transaction is already open in this thread")
        conn = self._pool.acquire()
        discard = False
        try:
            with writer.lock:
                writer.holder = me
                try:
                    session = _Session(conn, self.path)
                    session.execute("BEGIN IMMEDIATE")
                    try:
                        yield session
                        session.execute("COMMIT")
                    except BaseException:
                        try:
                            conn.execute("ROLLBACK")
                        except sqlite3.Error:
                            discard = True
                        raise
                finally:
                    writer.holder = None
        finally:
            self._pool.release(conn, discard=discard or conn.in_transaction)

    def _write_one(self, sql: str, params: Sequence[object]) -> list[Any]:
        """One statement is its own transaction in autocommit mode: no BEGIN/COMMIT pair
        around it (a dequeue is then one statement instead of three)."""
        me, writer = threading.get_ident(), self._writer
        if writer.holder == me:
            raise StoreError("a task hub write transaction is already open in this thread")
        conn = self._pool.acquire()
        try:
            with writer.lock:
                return _Session(conn, self.path).execute(sql, params).fetchall()
        finally:
            self._pool.release(conn, discard=conn.in_transaction)

    def close(self) -> None:
        self._pool.close()
