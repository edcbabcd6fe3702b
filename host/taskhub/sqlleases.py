"""Leases, values and timer claims of the SQL task hub store: the part of `TaskHubStore` that
coordinates hosts rather than moving messages (contract in store.py). A mixin of `SqlStore`,
built on its `_read` / `_write_one`, `hub` and `clock`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .sqltransaction import LEASE_COLS
from .store import Lease


class SqlLeases:
    hub: str
    clock: Callable[[], float]

    def _read(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        raise NotImplementedError

    def _write_one(self, sql: str, params: Sequence[object]) -> list[Any]:
        raise NotImplementedError

    # -- leases -------------------------------------------------------------------------------
    def acquire_lease(self, name: str, owner: str, duration: float) -> Lease | None:
        if not owner:
            raise ValueError("a lease owner must be a non-empty string")
        now = self.clock()
        rows = self._write_one(
            "INSERT INTO taskhub_leases (hub, name, owner, epoch, expires_at)"
            " VALUES (?, ?, ?, 1, ?) ON CONFLICT (hub, name) DO UPDATE SET"
            " epoch = CASE WHEN taskhub_leases.owner = excluded.owner"
            " AND taskhub_leases.expires_at > ? THEN taskhub_leases.epoch"
            " ELSE taskhub_leases.epoch + 1 END,"
            " owner = excluded.owner, expires_at = excluded.expires_at"
            " WHERE taskhub_leases.owner = excluded.owner OR taskhub_leases.expires_at <= ?"
            f" RETURNING {LEASE_COLS}",
            (self.hub, name, owner, now + duration, now, now),
        )
        return Lease(*rows[0]) if rows else None

    def renew_lease(self, lease: Lease, duration: float) -> Lease | None:
        rows = self._write_one(
            "UPDATE taskhub_leases SET expires_at = ? WHERE hub = ? AND name = ?"
            f" AND owner = ? AND epoch = ? RETURNING {LEASE_COLS}",
            (self.clock() + duration, self.hub, lease.name, lease.owner, lease.epoch),
        )
        return Lease(*rows[0]) if rows else None

    def release_lease(self, lease: Lease) -> None:
        self._write_one(
            "UPDATE taskhub_leases SET owner = '', expires_at = 0 WHERE hub = ? AND name = ?"
            " AND owner = ? AND epoch = ? RETURNING name",
            (self.hub, lease.name, lease.owner, lease.epoch),
        )

    def list_leases(self, prefix: str = "") -> list[Lease]:
        rows = self._read(
            f"SELECT {LEASE_COLS} FROM taskhub_leases WHERE hub = ?"
            " AND substr(name, 1, ?) = ? ORDER BY name",
            (self.hub, len(prefix), prefix),
        )
        return [Lease(*row) for row in rows]

    # -- values and claims --------------------------------------------------------------------
    def get_value(self, key: str) -> str | None:
        rows = self._read(
            "SELECT value FROM taskhub_values WHERE hub = ? AND key = ?", (self.hub, key)
        )
        return rows[0][0] if rows else None

    def purge_claims(self, claimed_before: float) -> int:
        rows = self._write_one(
            "DELETE FROM taskhub_claims WHERE hub = ? AND claimed_at < ? RETURNING key",
            (self.hub, claimed_before),
        )
        return len(rows)
