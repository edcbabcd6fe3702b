"""The app's host, in this process: built as `func-py start` builds it, served without a socket.

Configuration comes from host/config.py's `build_config` (host.json, local.settings.json and the
environment, as the CLI reads them), the Runtime and its ASGI stack are the server's (HostApp,
build_asgi, the durable management API), and the ASGI lifespan starts them. What differs is
what a test needs: a temporary embedded task hub whose store runs on the harness's virtual
clock, no timer schedules, no hot reload, no port, and everything it changed in the process put
back at the end (host/testing/process_state.py).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import httpx
from funcpy.host.config import DEFAULT_PORT, build_config
from funcpy.host.durable_sdk import import_durable_sdk
from funcpy.host.loader import find_app_entry
from funcpy.host.runtime import Runtime
from funcpy.host.settings import load_local_settings
from funcpy.host.taskhub.settings import SQLITE_FILE, open_store
from funcpy.host.testing import loopback
from funcpy.host.testing.clock import VirtualClock
from funcpy.host.testing.process_state import AppModules, Environ

T = TypeVar("T")


class _Runtime(Runtime):
    """The host's runtime with the harness's clock in its task hub store (the worker and the
    client take the store's clock, triggers/orchestration.py)."""

    clock: VirtualClock

    def store(self) -> Any:
        if self._store is None:
            self._store = open_store(self.taskhub_settings(), clock=self.clock)
        return self._store


class InProcessHost:
    """One app's host; `run` hands a coroutine to its loop. `close` stops it and puts back
    what it changed in the process (also after a failed start)."""

    def __init__(self, app_dir: Path, settings: dict[str, Any], hub_dir: Path,
                 clock: VirtualClock, timeout: float) -> None:
        self.hub_dir = hub_dir
        self.clock = clock
        self.timeout = timeout
        self.entry_module: str | None = None
        self.runtime: _Runtime | None = None
        self.http: httpx.Client | None = None
        self._env = Environ()
        self._modules: AppModules | None = None
        self._loop: loopback.LoopThread | None = None
        self._authorities: list[str] = []
        self._route: loopback.Route | None = None
        self._lifespan: asyncio.Task[None] | None = None
        try:
            self._open(app_dir, settings)
        except BaseException:
            self.close()
            raise

    @property
    def started(self) -> bool:
        return self._lifespan is not None

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        assert self._loop is not None
        return self._loop.run(coro, timeout)

    def _open(self, app_dir: Path, settings: dict[str, Any]) -> None:
        from funcpy.host.server import HostApp, build_asgi
        from funcpy.triggers.durable_client import api_routes
        from funcpy.triggers.timer import TimerService

        before = dict(os.environ)
        for key, value in settings.items():
            self._env.set(key, str(value))
        # The check that fails a non-deterministic orchestrator is development mode's default;
        # here it is on even where the shell turned it off (a test may still set it).
        if "FUNCPY_REPLAY_CHECK" not in settings:
            self._env.set("FUNCPY_REPLAY_CHECK", "1")
        self._env.set("FUNCPY_TASKHUB_PATH", str(self.hub_dir / SQLITE_FILE))
        port = self._free_port(app_dir)
        try:
            config = build_config(app_dir=app_dir, port=port, reload=False)
        finally:
            self._env.watch(before)  # local.settings.json's values, WEBSITE_HOSTNAME...
        provider = config.host_json.durable_task.get("storageprovider")
        if isinstance(provider, dict) and provider.get("type"):
            # Always the temporary embedded hub, whatever the app is deployed on.
            config.host_json.durable_task["storageprovider"] = {
                k: v for k, v in provider.items() if k != "type"}
        import_durable_sdk()
        entry = find_app_entry(app_dir, os.environ)
        self.entry_module = entry[0] if entry else None
        self._modules = AppModules(app_dir, self.entry_module)
        self._modules.set_aside()
        runtime = _Runtime(config)
        runtime.clock = self.clock
        # Timer functions run when the test says (run_timer), never on their schedule.
        runtime.services = [s for s in runtime.services if not isinstance(s, TimerService)]
        self.runtime = runtime
        try:
            # Not frozen out of the collector as a host's is (a harness's app is short-lived),
            # nor collected first: that full collection was half of opening a harness.
            runtime.load_initial(freeze=False)  # AppLoadError: the app's error, as logged
        finally:
            self._modules.imported()
        self._loop = loopback.LoopThread(f"funcpy-harness:{app_dir.name}")
        self.asgi = build_asgi(runtime, HostApp(runtime, extra_routes=api_routes(runtime)))
        transport = loopback.asgi_transport(self.asgi)
        self._authorities = sorted({f"127.0.0.1:{port}", f"localhost:{port}",
                                    f"{config.address}:{port}"})
        self._route = loopback.Route(transport, self._loop)
        loopback.add_routes(self._authorities, self._route)
        self._loop.run(self._startup(transport), self.timeout)
        self.http = httpx.Client(
            transport=loopback.SyncAsgiTransport(transport, self._loop, lambda: self.timeout),
            base_url=f"http://localhost:{port}", timeout=self.timeout)

    @staticmethod
    def _free_port(app_dir: Path) -> int:
        """The app's port (local.settings.json Host.LocalHttpPort, else 7071), or the next one
        no open harness uses: it names the harness's address, nothing is bound to it."""
        port = load_local_settings(app_dir).port or DEFAULT_PORT
        while loopback.is_routed(f"localhost:{port}") or loopback.is_routed(f"127.0.0.1:{port}"):
            port += 1
        return port

    async def _startup(self, transport: httpx.ASGITransport) -> None:
        # The ASGI lifespan, as a server runs it: HostApp starts the runtime's services.
        inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        async def send(message: Any) -> None:
            await outbox.put(dict(message))

        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"},
                 "state": {}}
        self._lifespan = asyncio.ensure_future(self.asgi(scope, inbox.get, send))
        await inbox.put({"type": "lifespan.startup"})
        message = await outbox.get()
        if message["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"the host did not start: {message.get('message')}")
        assert self.runtime is not None
        durable = self.runtime.durable
        worker = durable.worker if durable is not None else None
        if worker is not None:
            # Before any work item runs: call_http to the app's own URLs stays in process.
            worker.activities.http._client = loopback.call_http_client(
                transport, self._authorities)

    async def _shutdown(self) -> None:
        # Not the lifespan's shutdown: HostApp's drain arms host/stopping.py's watchdog, which
        # ends the process at the drain limit (right for a server, fatal for a test run).
        assert self.runtime is not None and self._route is not None
        try:
            await self.runtime.stop(grace=min(self.timeout, 10.0))
        finally:
            await self._route.client.aclose()
            if self._lifespan is not None:
                self._lifespan.cancel()
                await asyncio.gather(self._lifespan, return_exceptions=True)

    def close(self) -> None:
        """Stop the host (if it started) and put the process back as it was."""
        try:
            loopback.remove_routes(self._authorities)
            if self.http is not None:
                self.http.close()
            if self._loop is not None:
                try:
                    if self._lifespan is not None:
                        self._loop.run(self._shutdown(), self.timeout + 5)
                finally:
                    if self.runtime is not None:
                        self.runtime.invoker.shutdown()
                    self._loop.close()
                    self._loop = None
        finally:
            if self._modules is not None:
                self._modules.restore()
            self._env.restore()
