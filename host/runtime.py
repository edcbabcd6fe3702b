"""The running host: configuration, the current function index, the invoker and the trigger
services, with the one operation that changes them — swapping in a new index.

A swap builds the new index completely before anything sees it; a load that fails leaves the
previous index serving. Work in flight holds references to the functions it started with, so it
finishes on the old code. In development an app that cannot be loaded at all leaves the host
serving with no functions (as the Functions host does) until an edit fixes it.

Each index comes with the functions' retry policies (`host.retry`), found here because the
loaders keep only what the index needs.
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
from collections.abc import MutableMapping
from dataclasses import replace
from typing import Any

from funcpy.host import tracing
from funcpy.host.auth import KeyRing, stray_key_settings
from funcpy.host.config import HostConfig
from funcpy.host.errors import AppLoadError, SettingsError
from funcpy.host.index import FunctionIndex, FunctionInfo
from funcpy.host.invoke import Invoker
from funcpy.host.loader import AppImporter, find_app_entry, load
from funcpy.host.loader_v1 import function_folders
from funcpy.host.logs import log
from funcpy.host.retry import RETRY_TRIGGERS, RetryPolicy, from_json, function_policies
from funcpy.host.settings import HOST_JSON_FILE, HostJson, load_host_json, load_local_settings
from funcpy.host.taskhub.settings import TaskHubSettings, open_store, taskhub_settings
from funcpy.triggers import trigger_kinds
from funcpy.triggers.base import Service
from funcpy.triggers.http import HttpService


def _keep_last_good(old: FunctionIndex, new: FunctionIndex) -> FunctionIndex:
    """A function that loaded before and is in error now keeps serving its previous version
    until the edit is fixed (the error stays listed in the index)."""
    kept = {n: old.functions[n] for n in new.errors if n in old.functions}
    if not kept:
        return new
    for name in kept:
        log.warning("'%s' keeps serving its previous version until its error is fixed.", name)
    return replace(new, functions={**new.functions, **kept})


DURABLE_TRIGGERS = ("orchestrationTrigger", "activityTrigger", "entityTrigger")


def host_retry(host_json: HostJson) -> RetryPolicy | None:
    """host.json `"retry"`: the policy of every function that has none of its own."""
    raw = host_json.raw.get("retry")
    if raw is None:
        return None
    try:
        return from_json(raw, "host.json")
    except ValueError as exc:
        raise SettingsError(f"host.json retry: {exc}") from None


class Runtime:
    def __init__(self, config: HostConfig, environ: MutableMapping[str, str] | None = None) -> None:
        self.config = config
        self.environ = os.environ if environ is None else environ
        self.keys = KeyRing.from_settings(self.environ)
        # Before the app is imported: spans' tracer provider becomes OpenTelemetry's global one.
        tracing.configure(config.host_json, self.environ, config.app_dir.name)
        self.invoker = Invoker(timeout=config.host_json.function_timeout, environ=self.environ)
        self.default_retry = host_retry(config.host_json)
        self.retry_policies: dict[str, RetryPolicy] = {}
        self._retry_warned: set[str] = set()
        self._warned_keys: set[str] = set()
        self.importer = AppImporter(config.app_dir)
        self.http = HttpService(config)
        self.services: list[Service] = [self.http]
        self.durable: Any = None  # triggers.orchestration.DurableService, set by its kind
        self.rpc_port: int | None = None  # HTTPS hosts: the durable client's call-back port
        self._taskhub_settings: TaskHubSettings | None = None
        for kind in trigger_kinds().values():
            create = getattr(kind, "create_service", None)
            if create is not None:
                self.services.append(create(self))
        self._store: Any = None
        from funcpy.triggers.durable_client import DurableClientProvider

        self.invoker.add_provider("durableClient", DurableClientProvider(self))
        self.index = FunctionIndex()
        self.state = "Default"
        self.load_error: str | None = None
        self.loaded = False  # an index came from the app (not the empty one of a failed load)
        self.loaded_at: float | None = None  # when the index now serving was loaded
        self.started_at = time.time()
        self._swap_lock = asyncio.Lock()
        self.background: set[asyncio.Task[Any]] = set()

    # -- lifecycle -----------------------------------------------------------------------------

    def load_initial(self, *, freeze: bool = True) -> FunctionIndex:
        """Import the app; raises AppLoadError (see `load_failed`). `freeze`: for a process
        that serves this app until it exits (a host, not a test harness)."""
        self.state = "Starting"
        self.index = self._with_retries(load(self.importer, self.config, self.environ,
                                             generation=1))
        self.loaded = True
        self.loaded_at = time.time()
        self.load_error = None
        self._warn_stray_keys()
        # What is loaded now (the SDKs, the app) lives as long as the process: move it out of
        # the collector's way, or every full collection walks it while requests are served.
        # Not in a test harness: its app is dropped when it closes, and frozen objects in
        # reference cycles (modules and their functions) would never be collected.
        if freeze:
            gc.collect()
            gc.freeze()
        return self.index

    def _warn_stray_keys(self) -> None:
        for line in stray_key_settings(self.environ, list(self.index.functions)):
            if line not in self._warned_keys:
                self._warned_keys.add(line)
                log.warning("%s", line)

    def is_functions_project(self) -> bool:
        """Whether the folder is a Functions app at all: Core Tools refuses to start elsewhere
        ("Unable to find project root"), while a project whose app fails to load still starts."""
        app_dir = self.config.app_dir
        return (app_dir / HOST_JSON_FILE).is_file() or bool(function_folders(app_dir)) \
            or find_app_entry(app_dir, self.environ) is not None

    def load_failed(self, exc: AppLoadError) -> None:
        """Development: serve with no functions (the home page, admin status with the error,
        404s) until an edit fixes the app, as the Functions host does with a broken app."""
        self.load_error = str(exc)
        self.state = "Error"
        first, _, rest = str(exc).partition("\n")
        log.error("The app could not be loaded, so no functions are serving: %s%s", first,
                  f"\n{rest}" if rest else "")
        if self.config.reload:
            log.info("func-py loads the app as soon as an edit fixes it.")

    async def start(self) -> None:
        for service in self.services:
            await service.apply(self.index)
        self.state = "Running" if self.loaded or not self.load_error else "Error"

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
            settings = self.taskhub_settings()
            durable = any(self.index.of_type(t) for t in DURABLE_TRIGGERS)
            if settings.notice and durable:  # timers keep their status here too: no hub talk
                log.info("%s", settings.notice)
            self._store = open_store(settings)
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
                index = self._with_retries(load(self.importer, self.config, self.environ,
                                                generation=self.index.generation + 1))
            except (AppLoadError, SettingsError) as exc:
                self.load_error = str(exc)
                if self.loaded:
                    log.error("Reload failed (%s); the previous version keeps serving.\n%s",
                              reason, exc)
                else:
                    log.error("The app still cannot be loaded (after %s); no functions are "
                              "serving.\n%s", reason, exc)
                return False
            old = self.index
            index = _keep_last_good(old, index)
            self.index = index
            self.loaded_at = time.time()
            self.load_error = None
            if not self.loaded:
                self.loaded = True
                self.state = "Running"
            for service in self.services:
                await service.apply(index)
            self._warn_stray_keys()
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
        self.default_retry = host_retry(self.config.host_json)
        self.invoker.timeout = self.config.host_json.function_timeout
        self.keys = KeyRing.from_settings(self.environ)

    # -- retry policies ------------------------------------------------------------------------

    def _with_retries(self, index: FunctionIndex) -> FunctionIndex:
        """Find the new index's retry policies; a function whose policy is invalid is in error
        (the host fails it), the others load. Warns once per function whose trigger ignores a
        policy it declares, as Azure does."""
        entry = find_app_entry(self.config.app_dir, self.environ)
        policies, invalid = function_policies(index, self.config.app_dir,
                                              entry[0] if entry else None)
        self.retry_policies = policies
        for name, fn in index.functions.items():
            if name in policies and fn.trigger_type not in RETRY_TRIGGERS:
                self._warn_ignored(fn, policies[name].source)
            elif self.default_retry is not None and fn.trigger_type == "queueTrigger":
                self._warn_ignored(fn, "host.json")
        if not invalid:
            return index
        errors = dict(index.errors)
        for name, why in invalid.items():
            errors[name] = message = f"The '{name}' function is in error: {why}"
            log.error("%s", message)
        functions = {n: f for n, f in index.functions.items() if n not in invalid}
        return replace(index, functions=functions, errors=errors,
                       disabled=index.disabled & frozenset(functions))

    def _warn_ignored(self, fn: FunctionInfo, source: str) -> None:
        if fn.name in self._retry_warned:
            return
        self._retry_warned.add(fn.name)
        if fn.trigger_type == "queueTrigger":
            how = ("a queue trigger retries through its queue instead: a failed message is "
                   "dequeued again up to host.json extensions.queues.maxDequeueCount times (5 "
                   "by default), then moved to the poison queue")
        else:
            how = f"only {', '.join(sorted(RETRY_TRIGGERS))} functions retry"
        log.warning("Retries are not supported by the trigger binding for Functions.%s: its "
                    "retry policy (%s) is ignored, as on Azure (%s).", fn.name, source, how)

    def retry_policy(self, fn: FunctionInfo) -> RetryPolicy | None:
        """The policy a run of `fn` follows: its own, else host.json's; None for triggers that
        do not retry."""
        if fn.trigger_type not in RETRY_TRIGGERS:
            return None
        return self.retry_policies.get(fn.name) or self.default_retry

    # -- helpers for the HTTP surface ----------------------------------------------------------

    def describe(self, fn: FunctionInfo) -> str:
        return trigger_kinds()[fn.trigger_type].describe(fn, self.config)

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        return task
