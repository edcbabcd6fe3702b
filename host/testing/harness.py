"""`AppHarness`: one Functions app loaded in process, on a temporary task hub, for a test.

The host is the real one (`func-py start`'s Runtime, HostApp and ASGI stack, its trigger
services and task hub worker), minus the network and the schedule: requests reach the ASGI app
in process (host/testing/loopback.py), timer functions run when a test calls `run_timer`, and
durable time is virtual (host/testing/driver.py). The host runs on an event loop of its own
thread; every method hands its work to that loop and waits, bounded by `timeout`.
"""

from __future__ import annotations

import importlib
import json
import shutil
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import httpx
from funcpy.host.index import FunctionInfo
from funcpy.host.invocation import InvocationError
from funcpy.host.taskhub.api_json import history_json, status_json
from funcpy.host.taskhub.store import InstanceQuery
from funcpy.host.testing.clock import VirtualClock
from funcpy.host.testing.driver import Driver
from funcpy.host.testing.inprocess import InProcessHost

T = TypeVar("T")
DEFAULT_TIMEOUT = 30.0
NONDETERMINISM = "Non-deterministic workflow detected"
MANUAL_REASON = "This function was programmatically called via the host APIs."


class OrchestrationFailed(AssertionError):
    """The instance ended Failed or Terminated; `status` is its status (the API's shape)."""

    def __init__(self, status: dict[str, Any]) -> None:
        self.status = status
        super().__init__(f"instance {status['instanceId']!r} ({status['name']}) is "
                         f"{status['runtimeStatus']}: {status.get('output')}")


class NonDeterminismError(OrchestrationFailed):
    """The replay check failed the instance: its orchestrator did not make the same calls when
    it was replayed from its history."""


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


class AppHarness:
    """See funcpy.host.testing for the whole API."""

    def __init__(self, app_dir: str | Path, settings: Mapping[str, Any] | None = None, *,
                 hub_dir: str | Path | None = None, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.timeout = timeout
        self.clock = VirtualClock()
        self._reported: set[str] = set()
        self._closed = False
        self._own_hub = hub_dir is None
        self.hub_dir = Path(tempfile.mkdtemp(prefix="funcpy-hub-") if hub_dir is None
                            else hub_dir)
        self.hub_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._host = InProcessHost(Path(app_dir).resolve(), dict(settings or {}),
                                       self.hub_dir, self.clock, timeout)
        except BaseException:
            self._remove_hub()
            raise
        self.runtime: Any = self._host.runtime
        self.driver = Driver(self.runtime, self.clock)
        assert self._host.http is not None
        self.http: httpx.Client = self._host.http
        self.entry_module = self._host.entry_module
        self.clock._advance = self.advance

    def _remove_hub(self) -> None:
        if self._own_hub:
            shutil.rmtree(self.hub_dir, ignore_errors=True)

    def close(self, check: bool = True) -> None:
        """Stop the host and undo what the harness changed in the process. With `check`,
        raise NonDeterminismError for an instance the replay check failed that no `wait`
        or `result` reported."""
        if self._closed:
            return
        self._closed = True
        unreported: list[dict[str, Any]] = []
        try:
            if check:
                unreported = self._host.run(self._unreported(), self.timeout)
        finally:
            self.clock._advance = None
            try:
                self._host.close()
            finally:
                self._remove_hub()
        if unreported:
            raise NonDeterminismError(unreported[0])

    async def _unreported(self) -> list[dict[str, Any]]:
        records, _ = self.runtime.store().query_instances(
            InstanceQuery(runtime_status=frozenset({"Failed"})))
        return [status_json(r) for r in records
                if r.instance_id not in self._reported and NONDETERMINISM in (r.output or "")]

    def __enter__(self) -> AppHarness:
        return self

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        self.close(check=kind is None)

    # -- running on the loop -------------------------------------------------------------------

    def _run(self, make: Callable[[float], Coroutine[Any, Any, T]],
             timeout: float | None = None) -> T:
        if self._closed:
            raise RuntimeError("the harness is closed")
        limit = self.timeout if timeout is None else timeout
        # The driver's own deadline comes first and says what was still busy; the loop's is
        # the backstop for a coroutine that never reaches a check.
        return self._host.run(make(time.monotonic() + limit), limit + 5.0)

    def _client(self) -> Any:
        return self.runtime.durable.client()

    # -- orchestrations ------------------------------------------------------------------------

    def start(self, name: str, input: Any = None, *, instance_id: str | None = None,
              settle: bool = True) -> str:
        async def go(deadline: float) -> str:
            iid = self._client().start(name, instance_id, _json(input))
            if settle:
                await self.driver.settle(deadline)
            return str(iid)
        return self._run(go)

    def wait(self, instance_id: str, *, timeout: float | None = None) -> dict[str, Any]:
        """Run the hub, skipping durable timers, until the instance ends; its status."""
        record = self._run(lambda deadline: self.driver.wait(instance_id, deadline), timeout)
        status = status_json(record)
        if record.runtime_status == "Failed" and NONDETERMINISM in (record.output or ""):
            self._reported.add(instance_id)
            raise NonDeterminismError(status)
        return status

    def result(self, instance_id: str, *, timeout: float | None = None) -> Any:
        """`wait`, then the output of a Completed instance (OrchestrationFailed otherwise)."""
        status = self.wait(instance_id, timeout=timeout)
        if status["runtimeStatus"] != "Completed":
            raise OrchestrationFailed(status)
        return status["output"]

    def raise_event(self, instance_id: str, name: str, data: Any = None, *,
                    settle: bool = True) -> None:
        async def go(deadline: float) -> None:
            self._client().raise_event(instance_id, name, _json(data))
            if settle:
                await self.driver.settle(deadline)
        self._run(go)

    def terminate(self, instance_id: str, reason: str | None = None) -> None:
        async def go(deadline: float) -> None:
            self._client().terminate(instance_id, reason)
            await self.driver.settle(deadline)
        self._run(go)

    def status(self, instance_id: str) -> dict[str, Any] | None:
        """The instance's status now (the management API's body), or None if none exists."""
        async def go(deadline: float) -> dict[str, Any] | None:
            record = self._client().get(instance_id)
            return None if record is None else status_json(record)
        return self._run(go)

    def history(self, instance_id: str) -> list[dict[str, Any]]:
        """The instance's history as the management API's `historyEvents` shows it."""
        async def go(deadline: float) -> list[dict[str, Any]]:
            client = self._client()
            record = client.get(instance_id)
            if record is None:
                raise KeyError(f"no instance with id {instance_id!r}")
            return history_json(client.history(record), True, True)
        return self._run(go)

    def settle(self, *, timeout: float | None = None) -> None:
        """Run everything that can run at the current virtual time (no time is skipped)."""
        self._run(self.driver.settle, timeout)

    def advance(self, seconds: float) -> None:
        """Move virtual time ahead, running every durable timer due on the way, then settle."""
        self._run(lambda deadline: self.driver.advance(float(seconds), deadline))

    # -- entities ------------------------------------------------------------------------------

    def signal_entity(self, name: str, key: str, operation: str, input: Any = None, *,
                      settle: bool = True) -> None:
        async def go(deadline: float) -> None:
            self._client().signal_entity(name, key, operation, _json(input))
            if settle:
                await self.driver.settle(deadline)
        self._run(go)

    def entity_state(self, name: str, key: str) -> Any:
        """The entity's state, or None if it does not exist."""
        async def go(deadline: float) -> Any:
            record = self._client().read_entity(name, key)
            return None if record is None or record.input is None else json.loads(record.input)
        return self._run(go)

    # -- functions called directly -------------------------------------------------------------

    def _function(self, name: str, trigger: str) -> FunctionInfo:
        from funcpy.host.taskhub.instance_state import durable_name

        for fn in self.runtime.index.of_type(trigger):
            names = {fn.name.lower()}
            if trigger == "activityTrigger":
                names.add(durable_name(fn, "activity").lower())
            if name.lower() in names:
                return fn
        known = ", ".join(sorted(f.name for f in self.runtime.index.of_type(trigger)))
        raise KeyError(f"no {trigger} function named {name!r} (loaded: {known or 'none'})")

    def call_activity(self, name: str, input: Any = None) -> Any:
        """Run an activity as the worker runs it (its input and result through the activity
        converter); its result as an orchestrator receives it. The activity's exception is
        raised as itself."""
        from azure.functions import meta

        converter = meta.get_binding_registry().get("activityTrigger")
        fn = self._function(name, "activityTrigger")

        async def go(deadline: float) -> Any:
            value = converter.decode(meta.Datum(json.dumps(input), "string"),
                                     trigger_metadata={})
            try:
                outcome = await self.runtime.invoker.invoke(fn, value, reason="(null)")
            except InvocationError as exc:
                raise exc.cause from None
            encoded = converter.encode(outcome.value, expected_type=None).value
            return json.loads(encoded) if encoded is not None else None
        return self._run(go)

    def run_timer(self, name: str) -> None:
        """Run a timer function once, as `POST /admin/functions/NAME` does (a fresh
        TimerRequest, not past due). Its exception is raised as itself."""
        from funcpy.triggers.base import ManualRun
        from funcpy.triggers.timer import KIND

        fn = self._function(name, "timerTrigger")

        async def go(deadline: float) -> None:
            value: Any = KIND.manual_value(fn, None, self.runtime)
            data: dict[str, Any] = {}
            if isinstance(value, ManualRun):
                value, data = value.value, dict(value.binding_data)
            try:
                await self.runtime.invoker.invoke(fn, value, reason=MANUAL_REASON,
                                                  binding_data=data)
            except InvocationError as exc:
                raise exc.cause from None
        self._run(go)

    def module(self, name: str | None = None) -> ModuleType:
        """The app's module as this harness imported it (the entry module by default): the
        one whose globals the functions read. A module a test file imported at its top is
        another copy."""
        target = name or self.entry_module
        if target is None:
            raise KeyError("the app has no v2 entry module (function_app.py)")
        return importlib.import_module(target)


@contextmanager
def open_app(app_dir: str | Path, settings: Mapping[str, Any] | None = None, *,
             hub_dir: str | Path | None = None,
             timeout: float = DEFAULT_TIMEOUT) -> Iterator[AppHarness]:
    """Load the app in `app_dir` for a test; the host stops and the process is put back as it
    was when the block ends. `hub_dir`: where the task hub's SQLite file goes (a temporary
    folder, removed afterwards, by default)."""
    with AppHarness(app_dir, settings, hub_dir=hub_dir, timeout=timeout) as harness:
        yield harness
