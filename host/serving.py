"""The uvicorn server `func-py start` runs (host/cli.py): the HTTP protocol with func-py's head
limits, and a server whose stop is func-py's drain (host/stopping.py)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from funcpy.host.http_limits import HeadLimits


def http_protocol(limits: HeadLimits) -> type[asyncio.Protocol] | str:
    """httptools with the head limits; without httptools, h11 (which enforces only the size,
    through h11_max_incomplete_event_size, answering 400)."""
    from funcpy.host.http_limits import protocol_class

    try:
        import httptools  # noqa: F401
    except ImportError:
        return "h11"
    return protocol_class(limits)


def draining_server_class() -> type:
    import uvicorn
    from funcpy.host.http_limits import sweep_slow_heads
    from funcpy.host.server import HostApp
    from funcpy.host.stopping import Stopping

    class DrainingServer(uvicorn.Server):
        """uvicorn's server with func-py's stop (host/stopping.py): one time budget for the
        whole drain, starting at the first signal, with the triggers stopping while requests
        finish; a second signal exits at once. And the sweep that enforces the head timeout."""

        def __init__(self, config: uvicorn.Config, host_app: HostApp, stopping: Stopping,
                     limits: HeadLimits) -> None:
            super().__init__(config)
            self.host_app = host_app
            self.stopping = stopping
            self.limits = limits
            self._sweeper: asyncio.Task[None] | None = None

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            # uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown, so the process
            # dies of the signal (exit -15). A host that drained exits with its own code
            # instead (0 when clean), which is what orchestrators and process managers expect.
            with super().capture_signals():
                yield
                self._captured_signals.clear()

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            if self.stopping.begun:
                self.stopping.force(sig)  # does not return
            self.stopping.begin()  # the clock starts at the signal, not when uvicorn gets to it
            super().handle_exit(sig, frame)

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started and self.limits.timeout > 0:
                self._sweeper = asyncio.ensure_future(sweep_slow_heads(
                    self.server_state.connections, self.limits.timeout))

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            """uvicorn's shutdown, with the time left instead of a fixed timeout, the triggers
            stopping meanwhile, and requests cut off at the limit recorded for the report."""
            stopping = self.stopping
            self.host_app.begin_drain(stopping)
            if self._sweeper is not None:
                self._sweeper.cancel()
            for server in self.servers:
                server.close()
            for sock in sockets or []:
                sock.close()
            for connection in list(self.server_state.connections):
                connection.shutdown()  # idle ones close now, busy ones after their response
            try:
                await asyncio.wait_for(self._wait_tasks_to_complete(), stopping.remaining())
            except TimeoutError:
                tasks = self.server_state.tasks
                stopping.cut_http(len(tasks))
                for t in list(tasks):
                    t.cancel(msg="the drain limit was reached")
            await self.lifespan.shutdown()

    return DrainingServer
