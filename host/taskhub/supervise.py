"""Keeping the task hub's loops alive.

A loop of the worker (claiming, committing, renewing, a partition's episodes, lease upkeep)
that ended on an unexpected error used to end for good while the rest of the host looked
healthy: a lost PostgreSQL connection stopped a host's claim loops while its leases were still
renewed, so its work waited forever and no other host took it over. Every loop runs under
`keep_running`: an error is logged with its traceback and the loop starts again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("func_py.taskhub")
RESTART_SECONDS = 1.0


async def keep_running(what: str, body: Callable[[], Awaitable[None]],
                       running: Callable[[], bool]) -> None:
    """Run `body` until it returns; restart it after an error while `running()` holds."""
    while True:
        try:
            await body()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            if not running():
                return
            log.exception("The task hub's %s failed; it starts again in %.0f s.", what,
                          RESTART_SECONDS)
            await asyncio.sleep(RESTART_SECONDS)
