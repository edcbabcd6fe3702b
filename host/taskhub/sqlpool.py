"""The connection pool of the SQL task hub stores (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from .store import StoreError

C = TypeVar("C")


class ConnectionPool(Generic[C]):
    """Hands each caller its own connection, keeping up to `max_idle` for reuse. It never
    blocks: a thread that reads while holding a write transaction needs a second one."""

    def __init__(self, connect: Callable[[], C], close: Callable[[C], None], max_idle: int):
        self._connect, self._close, self._max_idle = connect, close, max_idle
        self._idle: list[C] = []
        self._lock = threading.Lock()
        self._closed = False

    def acquire(self) -> C:
        with self._lock:
            if self._closed:
                raise StoreError("the task hub store is closed")
            if self._idle:
                return self._idle.pop()
        return self._connect()

    def release(self, conn: C, *, discard: bool = False) -> None:
        with self._lock:
            if not discard and not self._closed and len(self._idle) < self._max_idle:
                self._idle.append(conn)
                return
        self._close(conn)

    def close(self) -> None:
        with self._lock:
            self._closed, idle, self._idle = True, self._idle, []
        for conn in idle:
            self._close(conn)
