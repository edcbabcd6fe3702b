"""The durable client's call-back listener for HTTPS hosts.

The Durable SDK's client calls the host back at the binding's `rpcBaseUrl` with aiohttp, which
verifies certificates, so a host serving HTTPS with a self-signed certificate cannot be called
back at its own address. The extension has the same split: its RPC endpoint is a separate
plain-HTTP listener on localhost (`LocalHttpListener`). With `--useHttps` func-py opens one too:
on 127.0.0.1, on a free port, serving only the RPC path (which also demands the per-process
secret), and nothing else.
"""

from __future__ import annotations

import socket
from typing import Any

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send


class RpcOnly:
    """The host's ASGI app restricted to the durable RPC path."""

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path", "").startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "http":
            await PlainTextResponse("Not found: this listener serves the durable client only.",
                                    status_code=404)(scope, receive, send)


class RpcListener:
    """A second uvicorn server on loopback, started and stopped with the host's."""

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port: int = self.sock.getsockname()[1]
        self.server: Any = uvicorn.Server(uvicorn.Config(
            RpcOnly(app, prefix), lifespan="off", access_log=False, log_config=None,
            server_header=False))

    async def start(self) -> None:
        # startup()/shutdown() rather than serve(): serve() would take over the process's
        # signal handlers, which belong to the main server.
        config = self.server.config
        config.load()
        self.server.lifespan = config.lifespan_class(config)
        await self.server.startup(sockets=[self.sock])

    async def stop(self) -> None:
        await self.server.shutdown(sockets=[self.sock])
        self.sock.close()
