"""Orchestration triggers: Durable Functions orchestrators, run by the task hub worker.

The kind validates and describes orchestrator functions; its service opens the task hub and
runs the worker while the app has orchestrators or activities. The worker drives the SDK's
replay and calls the orchestrator through the invoker (see host/taskhub/replay.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from funcpy.host.taskhub.client import TaskHubClient
from funcpy.host.taskhub.history import WORKITEMS
from funcpy.host.taskhub.hostlock import HostLock
from funcpy.host.taskhub.instance_state import durable_name
from funcpy.host.taskhub.worker import TaskHubWorker

if TYPE_CHECKING:
    from funcpy.host.config import HostConfig
    from funcpy.host.index import FunctionIndex, FunctionInfo
    from funcpy.triggers.base import HostServices

log = logging.getLogger("func_py.taskhub")


class OrchestrationTriggerKind:
    binding_type = "orchestrationTrigger"

    def validate(self, fn: FunctionInfo, config: HostConfig) -> None:
        name = durable_name(fn, "orchestration")
        if name.startswith("@"):
            raise ValueError(f"orchestrator name '{name}' must not start with '@'")
        if not hasattr(fn.func, "orchestrator_function"):
            raise ValueError("an orchestrationTrigger function must be declared with "
                             "azure.durable_functions' @app.orchestration_trigger")

    def validate_all(self, fns: list[FunctionInfo], config: HostConfig) -> dict[str, str]:
        return _duplicates(fns, "orchestration")

    def describe(self, fn: FunctionInfo, config: HostConfig) -> str:
        return "orchestrationTrigger"

    def manual_value(self, fn: FunctionInfo, value: Any, runtime: HostServices) -> Any:
        raise ValueError(f"'{fn.name}' is an orchestrator: start it through the durable client "
                         f"or POST /runtime/webhooks/durabletask/orchestrators/{fn.name}")

    def create_service(self, runtime: HostServices) -> DurableService:
        runtime.durable = DurableService(runtime)
        return runtime.durable


def _duplicates(fns: list[FunctionInfo], key: str) -> dict[str, str]:
    seen: dict[str, str] = {}
    errors = {}
    for fn in sorted(fns, key=lambda f: f.name.lower()):
        name = durable_name(fn, key).lower()
        if name in seen:
            errors[fn.name] = (f"its {key} name '{durable_name(fn, key)}' is already used by "
                               f"function '{seen[name]}'")
        else:
            seen[name] = fn.name
    return errors


KIND = OrchestrationTriggerKind()


def store_clock(store: Any) -> Callable[[], float]:
    """The clock the store measures visibility and leases with (`time.time` unless one was
    injected, as funcpy.host.testing's virtual clock is): the worker and the client time history
    events and delays by the same one, so a skipped clock skips durable timers too."""
    return getattr(store, "clock", None) or time.time


class DurableService:
    """The task hub for this host: its store, its worker and the client the API uses."""

    def __init__(self, runtime: HostServices) -> None:
        self.runtime = runtime
        self.worker: TaskHubWorker | None = None
        self._client: TaskHubClient | None = None
        self.index: FunctionIndex | None = None
        self._lock: HostLock | None = None

    @property
    def partitions(self) -> int:
        return self.runtime.taskhub_settings().partition_count

    def orchestrator_names(self) -> list[str]:
        index = self.index or self.runtime.index
        return [durable_name(f, "orchestration") for f in index.of_type(KIND.binding_type)]

    def client(self) -> TaskHubClient:
        if self._client is None:
            store = self.runtime.store()
            self._client = TaskHubClient(
                store, self.partitions, self.orchestrator_names, self._notify,
                clock=store_clock(store),
                default_version=self.runtime.taskhub_settings().default_version)
        return self._client

    def _notify(self, instance_id: str) -> None:
        if self.worker is not None:
            self.worker.wake_partition_of(instance_id)

    def inline_db(self) -> bool:
        return self.runtime.taskhub_settings().provider == "sqlite"

    async def apply(self, index: FunctionIndex) -> None:
        self.index = index
        durable = (index.of_type(KIND.binding_type) or index.of_type("activityTrigger")
                   or index.of_type("entityTrigger"))
        if self.worker is None and durable:
            settings = self.runtime.taskhub_settings()
            store = self.runtime.store()
            owner = None
            if settings.provider == "sqlite":
                # The host lock proves no other host is alive, so this host may take over the
                # partition leases of a crashed predecessor at once: one fixed owner name.
                owner = "sqlite-host"
                self._lock = HostLock(settings.sqlite_path, settings.hub)
                self._lock.acquire()
                # Only the task hub's own queues: the queue triggers (same store, maybe already
                # running in this process) recover their claims themselves.
                released = sum(store.release_claimed_in(prefix)
                               for prefix in ("control-", WORKITEMS))
                if released:
                    log.info("Released %d message(s) claimed by a previous run that stopped "
                             "before finishing them.", released)
            # Development replays every episode as Azure does, to catch non-determinism at
            # once; production keeps the live session only (FUNCPY_REPLAY_CHECK=0 turns the
            # check off in development too).
            check = (not self.runtime.config.production
                     and self.runtime.environ.get("FUNCPY_REPLAY_CHECK", "1") != "0")
            self.worker = TaskHubWorker(store, settings, self.runtime.invoker, owner=owner,
                                        replay_check=check, clock=store_clock(store))
            self.worker.apply(index)
            await self.worker.start()
            where = (f"PostgreSQL (setting '{settings.connection_setting}')"
                     if settings.provider == "postgres" else str(settings.sqlite_path))
            log.info("Task hub '%s' on %s: %d partition(s).", settings.hub, where,
                     settings.partition_count)
        elif self.worker is not None:
            self.worker.apply(index)

    async def stop(self) -> list[str]:
        """Stop the task hub worker; returns the work it gave back unfinished."""
        abandoned: list[str] = []
        if self.worker is not None:
            abandoned = await self.worker.stop(grace=self.runtime.config.drain_seconds)
            self.worker = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        return abandoned

