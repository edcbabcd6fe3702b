"""The running host: configuration, the current function index, the invoker and the trigger
services, with the one operation that changes them — swapping in a new index.

A swap builds the new index completely before anything sees it; a load that fails leaves the
previous index serving. Work in flight holds references to the functions it started with, so it
finishes on the old code.
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
from collections.abc import MutableMapping
from dataclasses import replace
from typing import Any

from host.auth import KeyRing
from host.config import HostConfig
from host.errors import AppLoadError, SettingsError
from host.index import FunctionIndex, FunctionInfo
from host.invoke import Invoker
from host.loader import AppImporter, load
from host.logs import log
from host.settings import load_host_json, load_local_settings
from host.taskhub.settings import TaskHubSettings, open_store, taskhub_settings
from triggers import trigger_kinds
from triggers.base import Service
from triggers.http import HttpService


def _keep_last_good(old: FunctionIndex, new: FunctionIndex) -> FunctionIndex:
    """A function that loaded before and is in error now keeps serving its previous version
    until the edit is fixed (the error stays listed in the index)."""
    kept = {n: old.functions[n] for n in new.errors if n in old.functions}
    if not kept:
        return new
    for name in kept:
        log.warning("'%s' keeps serving its previous version until its error is fixed.", name)
    return replace(new, functions={**new.functions, **kept})


class Runtime:
    def __init__(self, config: HostConfig, environ: MutableMapping[str, str] | None = None) -> None:
        self.config = config
        self.environ = os.environ if environ is None else environ
        self.keys = KeyRing.from_settings(self.environ)
        self.invoker = Invoker(timeout=config.host_json.function_timeout, environ=self.environ)
        self.importer = AppImporter(config.app_dir)
        self.http = HttpService(config)
        self.services: list[Service] = [self.http]
        self.durable: Any = None  # triggers.orchestration.DurableService, set by its kind
        self._taskhub_settings: TaskHubSettings | None = None
        for kind in trigger_kinds().values():
            create = getattr(kind, "create_service", None)
            if create is not None:
                self.services.append(create(self))
        self._store: Any = None
        from triggers.durable_client import DurableClientProvider

        self.invoker.add_provider("durableClient", DurableClientProvider(self))
        self.index = FunctionIndex()
        self.state = "Default"
        self.load_error: str | None = None
        self.started_at = time.time()
        self._swap_lock = asyncio.Lock()
        self.background: set[asyncio.Task[Any]] = set()

    # -- lifecycle -----------------------------------------------------------------------------

    def load_initial(self) -> FunctionIndex:
        """Import the app; raises AppLoadError (the CLI exits with its message)."""
        self.state = "Starting"
        self.index = load(self.importer, self.config, self.environ, generation=1)
        # What is loaded now (the SDKs, the app) lives as long as the process: move it out of
        # the collector's way, or every full collection walks it while requests are served.
        gc.collect()
        gc.freeze()
        return self.index

    async def start(self) -> None:
        for service in self.services:
            await service.apply(self.index)
        self.state = "Running"

    async def stop(self, grace: float | None = None,
                   http_done: asyncio.Event | None = None) -> list[str] | None:
        """Stop the triggers, all at once: the task hub worker lets activities in flight run
        up to `grace` seconds (default FUNCPY_DRAIN_SECONDS), then gives back what is
        unfinished. The store closes once `http_done` is set (requests in flight may still
        use it). Returns what the task hub gave back: [] without one, None if it did not say."""
        self.state = "Stopping"
        grace = self.config.drain_seconds if grace is None else grace
        given_back: list[str] | None = []

        async def stop_durable(service: Service) -> None:
            nonlocal given_back
            worker = getattr(service, "worker", None)
            if worker is not None:
                # Stopped here with the time left rather than by the service's own stop(),
                # which would grant it the whole drain limit again.
                result = await worker.stop(grace=grace)
                service.worker = None  # type: ignore[attr-defined]
                given_back = None if result is None else list(result)
            result = await service.stop()  # releases the host lock
            if isinstance(result, list) and given_back is not None:
                given_back.extend(result)

        results = await asyncio.gather(
            *(stop_durable(s) if s is self.durable else s.stop()
              for s in reversed(self.services) if s is not self.http), return_exceptions=True)
        # One trigger failing to stop does not keep the store open; the failure is raised after.
        failures = [r for r in results if isinstance(r, Exception)]
        if http_done is not None:
            await http_done.wait()
        await self.http.stop()
        if self._store is not None:
            self._store.close()
        self.state = "Stopped"
        for extra in failures[1:]:
            log.error("Stopping a trigger failed: %s: %s", type(extra).__name__, extra)
        if failures:
            raise failures[0]
        return given_back

    def store(self) -> Any:
        """The app's task hub store (durable state, timer status), opened on first use."""
        if self._store is None:
            self._store = open_store(self.taskhub_settings())
        return self._store

    def taskhub_settings(self) -> TaskHubSettings:
        """Read once: the store opened with them serves until the host restarts, so a later
        host.json edit to extensions.durableTask takes effect at the next start."""
        if self._taskhub_settings is None:
            self._taskhub_settings = taskhub_settings(self.config, self.environ)
        return self._taskhub_settings

    async def reload(self, reason: str) -> bool:
        """Re-import the app and swap the new index in. False (old index kept) on failure."""
        async with self._swap_lock:
            started = time.perf_counter()
            try:
                self._refresh_settings()
                index = load(self.importer, self.config, self.environ,
                             generation=self.index.generation + 1)
            except (AppLoadError, SettingsError) as exc:
                self.load_error = str(exc)
                log.error("Reload failed (%s); the previous version keeps serving.\n%s",
                          reason, exc)
                return False
            old = self.index
            index = _keep_last_good(old, index)
            self.index = index
            self.load_error = None
            for service in self.services:
                await service.apply(index)
            added, removed, changed = old.diff(index)
            ms = (time.perf_counter() - started) * 1000
            parts = [f"{label}: {', '.join(names)}" for label, names in
                     (("added", added), ("removed", removed), ("changed", changed)) if names]
            log.info("Reloaded after %s in %dms (%s)", reason, ms,
                     "; ".join(parts) or "no function signature or code changed")
            return True

    def _refresh_settings(self) -> None:
        # Settings edits take effect on reload; the listening socket (port, address) does not.
        if not self.config.production:
            local = load_local_settings(self.config.app_dir)
            old = self.config.local_settings.values
            for key, value in local.values.items():
                # A variable set outside local.settings.json still wins.
                if key not in self.environ or self.environ[key] == old.get(key):
                    self.environ[key] = value
            self.config.local_settings = local
        self.config.host_json = load_host_json(self.config.app_dir, self.environ)
        self.invoker.timeout = self.config.host_json.function_timeout
        self.keys = KeyRing.from_settings(self.environ)

    # -- helpers for the HTTP surface ----------------------------------------------------------

    def describe(self, fn: FunctionInfo) -> str:
        return trigger_kinds()[fn.trigger_type].describe(fn, self.config)

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        return task

    def log_conversion_error(self, fn: FunctionInfo, exc: Exception) -> None:
        log.error("Executed 'Functions.%s' returned a value the host cannot send: %s",
                  fn.name, exc)
