"""Azure Storage queue triggers and queue output bindings, on the task hub store's queues.

Owns the `queueTrigger` kind (load-time validation of the queue name and of host.json
`extensions.queues`, the banner line, the manual trigger value), the `queue` output binding's
writer (`QueueOutputWriter`, registered with the invoker) and `QueueService`, which keeps one
`QueueListener` (triggers/queue_listener.py) per queue-triggered function of the current index.

User queues are rows of the task hub's message table (`queue:<name>`, beside the durable
engine's "workitems" and "control-NN"), in the same store object as the task hub, so a
queue-triggered function's outputs commit in the transaction that deletes its message. An
enqueue wakes this host's listeners on that queue at once; on PostgreSQL the store's NOTIFY
wakes the other hosts. On SQLite the host holds a lock of its own for the queue triggers, which
proves no other host consumes these queues, so messages a crashed predecessor held are released
at start (only the user queues': the durable engine's claims are its own business); on
PostgreSQL a dead host's claims run out after the claim length (FUNCPY_LEASE_SECONDS).
Calling user code is the invoker's job; conversions are triggers/queue_codec.py's.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from funcpy.host.errors import FuncPyError, SettingsError
from funcpy.host.index import Binding
from funcpy.host.taskhub.hostlock import HostLock
from funcpy.host.taskhub.sqlite import SqliteStore
from funcpy.host.taskhub.store import StoreError
from funcpy.triggers import queue_store
from funcpy.triggers.base import ManualRun
from funcpy.triggers.queue_codec import (
    MAX_TIME,
    host_messages,
    host_time,
    resolve_expressions,
    trigger_value,
    worker_encode,
)
from funcpy.triggers.queue_listener import QueueListener, QueueSpec
from funcpy.triggers.queue_options import (
    STORE_PREFIX,
    QueueOptions,
    normalize_queue_name,
    poison_queue,
    user_queue,
)
from funcpy.triggers.queue_store import Outgoing

if TYPE_CHECKING:
    from funcpy.host.config import HostConfig
    from funcpy.host.index import FunctionIndex, FunctionInfo
    from funcpy.host.invoke import Invoker
    from funcpy.host.taskhub.settings import TaskHubSettings
    from funcpy.host.taskhub.store import TaskHubStore
    from funcpy.triggers.base import HostServices


log = logging.getLogger("func_py.queues")
MIN_CLAIM_SECONDS = 5.0


def spec_of(fn: FunctionInfo, config: HostConfig, environ: Mapping[str, str]) -> QueueSpec:
    """Raises ValueError with the reason (the loader names the function)."""
    queue = normalize_queue_name(fn.trigger.get("queueName"))
    options = QueueOptions.from_host_json(config.host_json.raw, environ)
    return QueueSpec(queue, poison_queue(queue), options)


class QueueTriggerKind:
    binding_type = "queueTrigger"

    def validate(self, fn: FunctionInfo, config: HostConfig) -> None:
        # %NAME% was resolved by the loader; WEBSITE_SKU comes from the process environment,
        # where the CLI put local.settings.json's values.
        spec_of(fn, config, os.environ)  # (output names: host.binding_rules, for every kind)

    def validate_all(self, fns: list[FunctionInfo], config: HostConfig) -> dict[str, str]:
        return {}

    def describe(self, fn: FunctionInfo, config: HostConfig) -> str:
        return f"{self.binding_type}: {normalize_queue_name(fn.trigger.get('queueName'))}"

    def create_service(self, runtime: HostServices) -> QueueService:
        service = QueueService(runtime.store, runtime.taskhub_settings, runtime.invoker,
                               runtime.config, runtime.environ)
        runtime.invoker.add_writer("queue", service.writer)
        return service

    def manual_value(self, fn: FunctionInfo, input: Any, runtime: HostServices) -> Any:
        """POST /admin/functions/NAME {"input": "..."}: the extension turns the text into a
        message with no id or pop receipt, dequeue count 0 and no expiry."""
        text = input if isinstance(input, str) else json.dumps(input)
        data = {"QueueTrigger": text, "DequeueCount": 0, "ExpirationTime": MAX_TIME,
                "InsertionTime": host_time(time.time()), "NextVisibleTime": MAX_TIME}
        return ManualRun(trigger_value(fn, text.encode("utf-8"), data), data)


KIND = QueueTriggerKind()


class QueueOutputWriter:
    """The `queue` output binding: values become messages as the worker and the host make
    them; written here in their own transaction, or by the queue trigger in its own."""

    def __init__(self, service: QueueService) -> None:
        self.service = service

    def convert(self, fn: FunctionInfo, binding: Binding, value: Any,
                binding_data: Mapping[str, Any]) -> list[Outgoing]:
        name = resolve_expressions(str(binding.get("queueName") or ""), binding_data)
        queue = normalize_queue_name(name)
        return [Outgoing(queue, body) for body in host_messages(worker_encode(fn, binding,
                                                                                value))]

    async def write(self, items: list[Any]) -> None:
        svc = self.service
        await svc.offload(queue_store.put, svc.open(), items)
        svc.notify({item.queue for item in items})


class QueueService:
    """One listener per enabled queue-triggered function of the current index."""

    def __init__(self, open_store: Callable[[], TaskHubStore],
                 settings: Callable[[], TaskHubSettings], invoker: Invoker,
                 config: HostConfig, environ: Mapping[str, str]) -> None:
        self._open_store = open_store
        self._settings = settings
        self.invoker = invoker
        self.config = config
        self.environ = environ
        self.writer = QueueOutputWriter(self)
        self.store: Any = None
        self.claim_seconds = 30.0
        self.listeners: dict[str, QueueListener] = {}
        # Listeners a reload replaced whose messages are still running: stop waits for them.
        self._retired: set[QueueListener] = set()
        self._lock: HostLock | None = None
        self._consuming = False
        self._stop_listening: Callable[[], None] | None = None
        self._applied = False

    def open(self) -> TaskHubStore:
        if self.store is None:
            self.store = self._open_store()
        return self.store

    async def offload(self, call: Callable[..., Any], *args: Any) -> Any:
        # SQLite answers in microseconds on the loop (the task hub worker's choice, for the
        # same reason); a network database goes to a thread so the loop keeps serving.
        if isinstance(self.store, SqliteStore):
            return call(*args)
        return await asyncio.to_thread(call, *args)

    def notify(self, queues: Iterable[str]) -> None:
        """Messages were committed to these user queues: wake their listeners here."""
        for name in queues:
            for listener in self.listeners.values():
                if listener.spec.queue == name:
                    listener.wake.set()

    def _on_remote(self, stored: str) -> None:
        name = user_queue(stored)
        if name is not None:
            self.notify([name])

    # -- the index --------------------------------------------------------------------------

    async def apply(self, index: FunctionIndex) -> None:
        first, self._applied = not self._applied, True
        wanted: dict[str, tuple[FunctionInfo, QueueSpec]] = {}
        for fn in index.of_type(KIND.binding_type):
            if fn.name in index.disabled:
                continue
            try:
                wanted[fn.name] = (fn, spec_of(fn, self.config, self.environ))
            except ValueError as exc:
                log.error("The '%s' function is in error: %s", fn.name, exc)
        self._retired = {r for r in self._retired if r.tasks}
        for name in [n for n in self.listeners if n not in wanted]:
            await self._retire(self.listeners.pop(name))
            log.info("The queue listener of '%s' is stopped.", name)
        if wanted and not self._consuming:
            try:
                await self._start_consuming()
            except (FuncPyError, StoreError) as exc:
                if first:
                    raise SettingsError(str(exc)) from None
                log.error("Queue triggers cannot run: %s", exc)
                return
        for name, (fn, spec) in wanted.items():
            listener = self.listeners.get(name)
            if listener is not None and listener.spec == spec:
                listener.fn = fn  # new code, same queue and options: keep its claims going
                continue
            if listener is not None:
                await self._retire(listener)
            self.listeners[name] = listener = QueueListener(self, fn, spec)
            listener.start()
            log.debug("Storage queue listener started (queue name='%s') for '%s'.",
                      spec.queue, name)

    async def _retire(self, listener: QueueListener) -> None:
        await listener.retire()  # its messages in flight finish and settle on their own
        if listener.tasks:
            self._retired.add(listener)

    async def _start_consuming(self) -> None:
        settings = self._settings()
        store = self.open()
        self.claim_seconds = max(MIN_CLAIM_SECONDS, settings.lease_seconds)
        if settings.provider == "sqlite":
            self._lock = self._host_lock(settings)
            try:
                released = await self.offload(store.release_claimed_in, STORE_PREFIX)
            except StoreError:
                self._lock.release()  # the next index tries again from the start
                self._lock = None
                raise
            if released:
                log.info("Released %d queue message(s) claimed by a previous run that stopped "
                         "before finishing them.", released)
        listen = getattr(store, "listen", None)
        if listen is not None:
            loop = asyncio.get_running_loop()
            self._stop_listening = await asyncio.to_thread(
                listen, lambda q, at: loop.call_soon_threadsafe(self._on_remote, q))
        log.debug("QueuesOptions %s", QueueOptions.from_host_json(self.config.host_json.raw,
                                                                  self.environ).format())
        self._consuming = True

    @staticmethod
    def _host_lock(settings: TaskHubSettings) -> HostLock:
        # A lock file of its own beside the durable engine's: the two consumers of the hub
        # start and stop independently (an app may have either, or both).
        lock = HostLock(settings.sqlite_path, f"{settings.hub}-queues")
        try:
            lock.acquire()
        except SettingsError as exc:
            raise SettingsError(str(exc).replace(
                f"task hub '{settings.hub}-queues'",
                f"the queue triggers of task hub '{settings.hub}'")) from None
        return lock

    async def stop(self) -> None:
        """Claim nothing more, let messages in flight finish within the drain limit, then
        give back (uncounted) what is still claimed."""
        listeners = [*self.listeners.values(), *self._retired]
        self.listeners.clear()
        self._retired.clear()
        await asyncio.gather(*(listener.retire() for listener in listeners))
        tasks = [t for listener in listeners for t in listener.tasks]
        if tasks:
            log.info("Waiting for %d queue message(s) in flight.", len(tasks))
            await asyncio.wait(tasks, timeout=max(0.0, self.config.drain_seconds - 1.0))
        given = 0
        for listener in listeners:
            given += await listener.give_back()
        for task in tasks:
            task.cancel()
        if given:
            log.warning("Gave back %d queue message(s) still running at the drain limit; "
                        "they are delivered again.", given)
        if self._stop_listening is not None:
            await asyncio.to_thread(self._stop_listening)
            self._stop_listening = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        self._consuming = False
