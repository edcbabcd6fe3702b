"""Poison isolation: after a crash, only the message that kills its worker is given up.

A host that dies takes the deliveries of every message it held with it: each comes back with a
dequeue count one higher, and nothing says which of them killed the process. Counting every
such delivery towards the poison limit failed healthy instances that merely ran beside a
poison one. So a message that was delivered before (a *suspect*: dequeue count above one) runs
alone in its process:

1. the loop that claimed it gives back everything it claimed, uncounted
   (`TaskHubStore.unclaim`), so nothing waits claimed beside the suspect;
2. no loop of the process claims anything new, and the work already running finishes;
3. the loop claims again and runs the first suspect with nothing beside it (an orchestration
   suspect keeps its instance's other messages: they belong to the same instance).

If the process dies now, the death is the suspect's alone: only its count rises, and after
`MAX_DEQUEUE` deliveries it is given up and its instance failed. A healthy message that was in
flight beside a poison one is delivered once more, alone, and completes.

The price is paid only after a crash (or a lost claim): suspects run one at a time, each after
the host's work in flight has finished. Messages that were never delivered before take the
shared path, which this module touches only by counting them. Work in flight that does not
finish within `WAIT_SECONDS` (a hung activity) does not stall the host: the suspect then runs
beside it, and says so.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from funcpy.host.taskhub.store import Message

log = logging.getLogger("func_py.taskhub")
WAIT_SECONDS = 30.0


def is_suspect(message: Message) -> bool:
    """Delivered before and not finished: its last holder died or lost its claim."""
    return message.dequeue_count > 1


class Isolation:
    """One per worker process: counts the claimed work in flight and lets a suspect wait for
    it to finish while every other claim waits for the suspect."""

    def __init__(self) -> None:
        self._active = 0  # claims under way + messages claimed and not yet settled
        self._waiting = 0  # loops that saw a suspect and wait to run one alone
        self._idle = asyncio.Event()
        self._idle.set()
        self._open = asyncio.Event()  # no suspect waits or runs: claims may go ahead
        self._open.set()
        self._alone = asyncio.Lock()
        self._closed = False

    @property
    def isolating(self) -> bool:
        """A suspect waits or runs: whatever a loop claims now must be given back."""
        return self._waiting > 0

    @property
    def active(self) -> int:
        return self._active

    async def claim(self, get: Callable[[], Awaitable[list[Message]]]) -> list[Message]:
        """Claim through `get` once no suspect waits. The claim itself counts as work in
        flight (a suspect does not start while a dequeue may still return messages), and so
        does every message it returns, until `settled` is called for it."""
        await self._open.wait()
        if self._closed:
            return []
        self._enter(1)
        messages: list[Message] = []
        try:
            messages = await get()
        finally:
            # Count what was claimed before the claim itself stops counting: the other order
            # would pass through zero and let a waiting suspect start beside these messages.
            self._enter(len(messages))
            self._leave(1)
        return messages

    def track(self, count: int = 1) -> None:
        """Count messages claimed outside `claim` (inside `alone`) as work in flight."""
        self._enter(count)

    def settled(self, count: int = 1) -> None:
        """`count` claimed messages were committed, given back or lost: no longer in flight."""
        self._leave(count)

    def close(self) -> None:
        """The worker stops: claims return nothing, and nobody waits for a suspect."""
        self._closed = True
        self._open.set()

    @asynccontextmanager
    async def alone(self, wait: float = WAIT_SECONDS) -> AsyncIterator[None]:
        """Run the block with nothing else of this process in flight, and keep every other
        claim out until it ends. The caller must have settled what it claimed itself."""
        self._waiting += 1
        self._open.clear()
        try:
            async with self._alone:
                try:
                    async with asyncio.timeout(wait):
                        await self._idle.wait()
                except TimeoutError:
                    log.warning("A suspect message runs beside %d claimed message(s) that did "
                                "not finish within %.0fs (a hung function?); if the worker "
                                "dies now, their delivery counts too.", self._active, wait)
                yield
        finally:
            self._waiting -= 1
            if self._waiting == 0 or self._closed:
                self._open.set()

    def _enter(self, count: int) -> None:
        if count:
            self._active += count
            self._idle.clear()

    def _leave(self, count: int) -> None:
        if count:
            self._active -= count
            if self._active <= 0:
                self._active = 0
                self._idle.set()
