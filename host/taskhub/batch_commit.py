"""Committing a partition batch's episodes: one fenced group commit, or one by one if it fails.

Owns what happens after a batch's episodes ran: the transaction fenced by the partition's lease
(`writes.write_effects` per episode), the hand-off of new work items to this host's free activity
slots, giving back the messages of episodes that met a busy database, which sessions stay in the
worker's cache, and waking whoever the committed messages are for. Separate from worker.py, which
owns claiming and running the batch; this module never claims or runs anything.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from funcpy.host.faults import fault_point
from funcpy.host.taskhub.episode import Effects
from funcpy.host.taskhub.history import WORKITEMS, control_queue, partition_of
from funcpy.host.taskhub.store import Lease, Message, StoreBusy, StoreError
from funcpy.host.taskhub.writes import HandOff, write_effects

if TYPE_CHECKING:
    from funcpy.host.taskhub.worker import TaskHubWorker

log = logging.getLogger("func_py.taskhub")
CACHE_SIZE = 2_000  # live orchestration sessions kept in memory


class BatchCommitter:
    def __init__(self, hub: TaskHubWorker) -> None:
        self.hub = hub

    async def commit(self, p: int, ready: list[tuple[str, Effects]],
                     claimed: dict[str, list[Message]], code: int) -> None:
        """Commit a partition batch's episodes in one transaction fenced by the partition's
        lease (group commit); if that fails, each on its own, so one stale episode does not
        hold back the others. An episode that failed only because the database was busy or
        its connection was lost gives its messages back at once (uncounted) to run again,
        instead of leaving them claimed until their visibility runs out."""
        if not ready:
            return
        lease = self.hub.leases.get(p)
        committed: list[tuple[str, Effects]] = []
        retry: list[Message] = []
        taken: list[Message] = []  # work items the commits handed to this host's activities
        hand_off = self.hub.activities.reserve()
        queued = [0]
        try:
            if lease is not None:
                try:
                    mine, queued[0] = await self.hub._db(self._commit_episodes, lease,
                                                         ready, hand_off)
                    taken += mine
                    committed = ready
                except StoreError:
                    committed = await self._commit_each(lease, ready, claimed, retry, taken,
                                                        hand_off, queued)
        finally:
            await self.hub.activities.adopt(taken, hand_off)
        if retry:
            await self.hub.give_back(retry, tracked=False)
        held = self.hub.leases.get(p)
        # Cache only what is still ours and still runs the same code: the partition may have
        # changed hands, or a reload replaced the orchestrator, while the commit was awaited.
        keep = (held is not None and lease is not None and held.epoch == lease.epoch
                and code == self.hub._code_generation)
        done = {iid for iid, _ in committed} if keep else set()
        for iid, _ in ready:
            if iid not in done:
                self.hub.cache.pop(iid, None)
        if committed:
            fault_point("episode-committed")
        for iid, fx in committed:
            if iid in done and fx.state is not None:
                self.hub.cache[iid] = fx.state
                self.hub.cache.move_to_end(iid)
            else:
                self.hub.cache.pop(iid, None)
            self._wake_for(p, fx, queued[0] > 0)
        while len(self.hub.cache) > CACHE_SIZE:
            self.hub.cache.popitem(last=False)

    async def _commit_each(self, lease: Lease, ready: list[tuple[str, Effects]],
                           claimed: dict[str, list[Message]], retry: list[Message],
                           taken: list[Message], hand_off: int, queued: list[int]
                           ) -> list[tuple[str, Effects]]:
        """The group commit failed: commit the episodes one by one. Returns those committed;
        the messages of those that met a busy database go to `retry`."""
        committed = []
        for one in ready:
            try:
                mine, more = await self.hub._db(self._commit_episodes, lease, [one],
                                                hand_off - len(taken))
                taken += mine
                queued[0] += more
                committed.append(one)
            except StoreBusy as exc:
                log.info("Episode for '%s' not committed (%s); it runs again.", one[0], exc)
                retry.extend(claimed.get(one[0], []))
            except StoreError as exc:
                # Someone else owns this work now; our in-memory view is stale.
                log.info("Episode for '%s' not committed (%s); its cached state is "
                         "dropped.", one[0], type(exc).__name__)
        return committed

    def _wake_for(self, committing: int, fx: Effects, queued_work: bool) -> None:
        for out in fx.messages:
            if out.queue == WORKITEMS:
                if queued_work:  # not all handed to this host: the claim loop takes them
                    self.hub.activities.wake.set()
            elif out.delay <= 0:
                self.hub.wake_partition_of(out.instance_id)
            else:
                p = partition_of(out.instance_id, self.hub.partitions)
                self.hub.waits.expect(control_queue(p), self.hub.clock() + out.delay)
                # To re-arm its wait; the committing partition's own loop is not waiting (it
                # runs this commit) and reads the new due time before it sleeps: waking it
                # cost an empty claim after every episode that set a durable timer.
                if p != committing:
                    self.hub.wake_partition(p)

    def _commit_episodes(self, lease: Lease, items: list[tuple[str, Effects]],
                         hand_off: int = 0) -> tuple[list[Message], int]:
        """One fenced transaction; returns the work items it handed to this host (up to
        `hand_off` of them, claimed in the same commit) and how many it queued for any."""
        mine = HandOff(hand_off, self.hub.visibility)
        with self.hub.store.transaction(fence=lease) as tx:
            for instance_id, fx in items:
                write_effects(tx, instance_id, fx, self.hub.partitions, self.hub.clock(), mine)
        return mine.messages(), mine.queued
