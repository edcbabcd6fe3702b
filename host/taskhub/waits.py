"""When a claim loop looks at its queue again: at once when local work was committed, when the
earliest delayed message it knows of falls due (a durable timer), or at the end of the poll
interval (work put by another process that did not notify). The store is asked for the earliest
due time only when a poll interval ends, not on every idle moment.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from funcpy.host.taskhub.store import StoreError

log = logging.getLogger("func_py.taskhub")


class QueueWaits:
    def __init__(self, store: Any, clock: Callable[[], float], poll_seconds: float,
                 db: Callable[..., Awaitable[Any]]) -> None:
        self.store = store
        self.clock = clock
        self.poll_seconds = poll_seconds
        self.db = db
        self.due: dict[str, float | None] = {}  # queue -> earliest delayed message known

    async def wait(self, ev: asyncio.Event, queue: str) -> None:
        """Sleep until woken (local work committed), the earliest delayed message known for
        `queue` is due, or the poll interval ends (work put by another process). The store is
        asked for that earliest time only when the poll interval ends, not on every idle."""
        timeout = self.poll_seconds
        due = self.due.get(queue)
        if due is not None:
            timeout = min(timeout, max(0.0, due - self.clock()))
        if timeout <= 0:
            self.due.pop(queue, None)
            return
        try:
            async with asyncio.timeout(timeout):
                await ev.wait()
        except TimeoutError:
            if due is None or due > self.clock():
                await self.refresh(queue)
            else:
                self.due.pop(queue, None)

    async def refresh(self, queue: str) -> None:
        """Ask the store for the queue's earliest delayed message. A store error leaves the
        poll interval in charge (it must never end the loop that waits: a lost connection
        once stopped a host's loops for good while its leases were still renewed)."""
        before = self.due.get(queue)
        try:
            found = await self.db(self.store.next_visible_at, [queue])
        except StoreError as exc:
            log.warning("Reading the next due time of %s failed (will retry): %s", queue, exc)
            return
        meanwhile = self.due.get(queue)
        if meanwhile is not None and meanwhile != before and (found is None or meanwhile < found):
            found = meanwhile  # a local commit expected an earlier one while we asked
        if found is None:
            self.due.pop(queue, None)
        else:
            self.due[queue] = found

    def claiming(self, queue: str) -> None:
        """The loop reads `queue` now: a due time already reached is served by this read (it
        sees every message visible now), so the wait after it must not return at once for it
        again: that cost an empty claim after every episode woken by a durable timer."""
        due = self.due.get(queue)
        if due is not None and due <= self.clock():
            del self.due[queue]

    def expect(self, queue: str, at: float) -> None:
        """Note a delayed message committed locally (a durable timer)."""
        due = self.due.get(queue)
        if due is None or at < due:
            self.due[queue] = at
