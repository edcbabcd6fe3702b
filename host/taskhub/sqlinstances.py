"""Instance queries of the SQL task hub store: filtering, paging, counting and purging instances.

The part of `TaskHubStore` that serves the management API and the dashboard rather than the
workers (contract in store.py), with its continuation-token format. A mixin of `SqlStore`, built
on its `_read` / `_write_session`, `hub` and `_for_update`; separate because it owns the one piece
of dynamic SQL (a WHERE clause built from an `InstanceQuery`), not any message or lease logic.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from .sqltransaction import INSTANCE_COLS, Session, chunks, marks
from .store import InstanceQuery, InstanceRecord


def encode_continuation(created_at: float, instance_id: str) -> str:
    raw = json.dumps([created_at, instance_id]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_continuation(token: str) -> tuple[float, str]:
    try:
        created_at, instance_id = json.loads(base64.urlsafe_b64decode(token.encode()))
        return float(created_at), str(instance_id)
    except (ValueError, TypeError, binascii.Error) as e:
        raise ValueError(f"invalid continuation token {token!r}") from e


class SqlInstanceQueries:
    hub: str
    _for_update: str

    def _read(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        raise NotImplementedError

    def _write_session(self) -> AbstractContextManager[Session]:
        raise NotImplementedError

    # -- instance queries ---------------------------------------------------------------------
    def _where(self, query: InstanceQuery, entities: bool) -> tuple[list[str], list[object]]:
        # Entity rows (ids '@name@key') and orchestration rows share the table.
        where = ["hub = ?", "substr(instance_id, 1, 1) " + ("= '@'" if entities else "<> '@'")]
        params: list[object] = [self.hub]
        if query.runtime_status is not None:
            statuses = sorted(query.runtime_status)
            where.append(f"runtime_status IN ({marks(len(statuses))})" if statuses else "1 = 0")
            params += statuses
        if query.created_from is not None:
            where.append("created_at >= ?")
            params.append(query.created_from)
        if query.created_to is not None:
            where.append("created_at <= ?")
            params.append(query.created_to)
        if query.instance_id_prefix:
            where.append("substr(instance_id, 1, ?) = ?")
            params += [len(query.instance_id_prefix), query.instance_id_prefix]
        if query.name_contains:
            # LIKE with the pattern's own wildcards escaped: the same on SQLite and PostgreSQL
            # (both sides lowered, so PostgreSQL's case-sensitive LIKE ignores case too).
            escaped = (query.name_contains.lower().replace("\\", "\\\\")
                       .replace("%", "\\%").replace("_", "\\_"))
            where.append("lower(name) LIKE ? ESCAPE '\\'")
            params.append(f"%{escaped}%")
        return where, params

    def _select_instances(self, query: InstanceQuery, lock: str = "") -> tuple[str, list[object]]:
        where, params = self._where(query, query.entities)
        if query.continuation is not None:
            created_at, instance_id = decode_continuation(query.continuation)
            where.append("(created_at > ? OR (created_at = ? AND instance_id > ?))")
            params += [created_at, created_at, instance_id]
        sql = (f"SELECT {INSTANCE_COLS} FROM taskhub_instances WHERE {' AND '.join(where)}"
               " ORDER BY created_at, instance_id")
        if query.top is not None:
            if query.top < 1:
                raise ValueError(f"InstanceQuery.top must be at least 1, not {query.top}")
            sql += " LIMIT ?"
            params.append(query.top + 1)  # one more tells whether another page follows
        return sql + lock, params

    def query_instances(self, query: InstanceQuery) -> tuple[list[InstanceRecord], str | None]:
        sql, params = self._select_instances(query)
        records = [InstanceRecord(*row) for row in self._read(sql, params)]
        if query.top is None or len(records) <= query.top:
            return records, None
        last = records[query.top - 1]
        return records[: query.top], encode_continuation(last.created_at, last.instance_id)

    def count_instances(self, *, entities: bool = False,
                        query: InstanceQuery | None = None) -> dict[str, int]:
        where, params = self._where(query or InstanceQuery(), entities)
        rows = self._read(
            f"SELECT runtime_status, COUNT(*) FROM taskhub_instances WHERE {' AND '.join(where)}"
            " GROUP BY runtime_status", params)
        return {str(row[0]): int(row[1]) for row in rows}

    def purge_instances(self, query: InstanceQuery) -> int:
        sql, params = self._select_instances(query, self._for_update)
        with self._write_session() as s:
            ids = [row[0] for row in s.execute(sql, params).fetchall()]
            if query.top is not None:
                ids = ids[: query.top]
            for chunk in chunks(ids):
                for table in ("history", "instances"):
                    s.execute(
                        f"DELETE FROM taskhub_{table} WHERE hub = ?"
                        f" AND instance_id IN ({marks(len(chunk))})",
                        (self.hub, *chunk),
                        defer=True,
                    )
        return len(ids)
