"""Partition leases: which control queues this host serves.

Control queues are split in partitions by instance id, one lease per partition; only the lease
holder runs a partition's episodes, and every episode commits fenced by that lease. Each host
also renews a presence lease (`hosts/<owner>`), so that hosts without partitions are seen too,
and every host computes the same fair split of the partitions from the live presence leases.

Balance is checked every second (one `list_leases` query), not only at each renewal: a host
that starts takes its share within a couple of seconds — the hosts above their share give
partitions up at their next check, and it takes them at its next — so a host killed soon after
start still leaves partitions behind for the others to take over. Renewals run every third of
the lease.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from funcpy.host.taskhub.history import control_queue
from funcpy.host.taskhub.store import Lease, StoreError
from funcpy.host.taskhub.supervise import keep_running

if TYPE_CHECKING:
    from funcpy.host.taskhub.worker import TaskHubWorker

log = logging.getLogger("func_py.taskhub")
BALANCE_SECONDS = 1.0
PRESENCE = "hosts/"


def fair_share(owner: str, partitions: int, hosts: list[Lease], now: float) -> int:
    """`owner`'s share of the partitions: live hosts (those renewing a presence lease) sorted
    by name, the first (partitions mod hosts) of them taking one extra, so the shares add up
    to the partition count and every host computes the same split."""
    live = sorted({h.owner for h in hosts if h.expires_at > now and h.owner} | {owner})
    base, extra = divmod(partitions, len(live))
    return base + (1 if live.index(owner) < extra else 0)


class PartitionLeases:
    """Acquires, renews, balances and releases this host's partition leases; starts and stops
    the worker's loop of each partition it holds."""

    def __init__(self, hub: TaskHubWorker,
                 serve: Callable[[int], Awaitable[None]]) -> None:
        self.hub = hub
        self.serve = serve
        self.held: dict[int, Lease] = {}
        self.loops: dict[int, asyncio.Task[Any]] = {}
        self.presence: Lease | None = None
        self.leaving: set[int] = set()  # partitions whose loop is told to finish and stop

    async def run(self) -> None:
        hub = self.hub
        renew_every = hub.lease_seconds / 3
        check_every = min(BALANCE_SECONDS, renew_every)
        next_renew = 0.0
        while hub._running:
            try:
                if time.monotonic() >= next_renew:
                    await self._renew()
                    next_renew = time.monotonic() + renew_every
                await self._balance()
            except StoreError as exc:
                log.warning("Task hub lease upkeep failed (will retry): %s", exc)
            await asyncio.sleep(check_every)

    async def _renew(self) -> None:
        hub = self.hub
        if self.presence is not None:
            self.presence = await hub._db(hub.store.renew_lease, self.presence,
                                          hub.lease_seconds)
        if self.presence is None:
            self.presence = await hub._db(hub.store.acquire_lease, PRESENCE + hub.owner,
                                          hub.owner, hub.lease_seconds)
        for p, lease in list(self.held.items()):
            renewed = await hub._db(hub.store.renew_lease, lease, hub.lease_seconds)
            if self.held.get(p) is not lease:
                continue  # released meanwhile
            if renewed is None:
                self._lose(p)
            else:
                self.held[p] = renewed

    async def _balance(self) -> None:
        hub = self.hub
        leases = await hub._db(hub.store.list_leases, "")
        now = hub.clock()
        target = fair_share(hub.owner, hub.partitions,
                            [x for x in leases if x.name.startswith(PRESENCE)], now)
        if len(self.held) > target:
            for p in sorted(self.held)[target:]:
                await self.release(p)
            return
        taken = {x.name for x in leases if x.owner and x.owner != hub.owner
                 and x.expires_at > now}
        for p in range(hub.partitions):
            if len(self.held) >= target or not hub._running:
                break
            if p in self.held or control_queue(p) in taken:
                continue
            lease = await hub._db(hub.store.acquire_lease, control_queue(p), hub.owner,
                                  hub.lease_seconds)
            if lease is not None and hub._running:
                self.held[p] = lease
                hub.forget_partition(p)  # what we cached before another host had it is stale
                self.loops[p] = asyncio.ensure_future(keep_running(
                    f"loop of partition {p}", lambda p=p: self.serve(p),  # type: ignore[misc]
                    lambda p=p: hub._running and self.serving(p)))  # type: ignore[misc]

    def serving(self, p: int) -> bool:
        return p in self.held and p not in self.leaving

    def _lose(self, p: int) -> None:
        log.warning("Lost the lease on task hub partition %d; another host took it over.", p)
        self.held.pop(p, None)
        task = self.loops.pop(p, None)
        if task is not None:
            task.cancel()  # its commits would be refused by the fence anyway
        self.hub.forget_partition(p)

    async def release(self, p: int) -> None:
        """Hand a partition over: its loop finishes the batch in hand and gives back what it
        claimed, then the lease is released for another host to take at once."""
        self.leaving.add(p)
        self.hub.wake_partition(p)
        task = self.loops.pop(p, None)
        try:
            if task is not None:
                done, _ = await asyncio.wait([task], timeout=self.hub.visibility / 2)
                if not done:
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
            lease = self.held.pop(p, None)
            if lease is not None:
                await self.hub._db(self.hub.store.release_lease, lease)
        finally:
            self.leaving.discard(p)
            self.hub.forget_partition(p)

    async def stop(self) -> None:
        """Release every partition (their loops finish first) and the presence lease."""
        for p in list(self.held):
            try:
                await self.release(p)
            except StoreError:
                pass
        if self.presence is not None:
            try:
                await self.hub._db(self.hub.store.release_lease, self.presence)
            except StoreError:
                pass
            self.presence = None
