"""Test an Azure Functions app without starting a server: func-py's test harness.

`open_app(path)` loads the app folder in process, as `func-py start` would (its host.json,
local.settings.json, v2 or v1 functions), on a temporary embedded task hub, and returns an
`AppHarness`; the pytest plugin (`funcpy.host.testing.plugin`, installed with func-py) gives
one per test as the `funcpy_app` fixture.

    def test_monitor(funcpy_app):
        r = funcpy_app.http.post("/api/monitors/CTSO", json={"threshold": 1e9})
        iid = r.json()["id"]
        status = funcpy_app.wait(iid)   # durable timers are skipped: a day takes a moment
        assert status["runtimeStatus"] == "Completed"

What a harness offers:

- `http`: an `httpx.Client` for the app's routes and the host's own (`/admin/...`, the durable
  management API), through the same ASGI stack and conversions as the server. HTTP work runs
  in the background, as on a server: `settle()` or `wait()` to let what it started finish.
- Orchestrations: `start(name, input, instance_id=)`, `wait(id)` (its status at the end),
  `result(id)` (its output; `OrchestrationFailed` otherwise), `raise_event(id, name, data)`,
  `terminate(id)`, `status(id)`, `history(id)` (the API's `historyEvents`).
- Entities: `signal_entity(name, key, operation, input)`, `entity_state(name, key)`.
- Functions called directly: `call_activity(name, input)` (its result, or its exception),
  `run_timer(name)` (timer functions never run on their schedule in a harness).
- Time: `clock` is virtual: wall time plus what was skipped. When nothing can run before the
  next durable timer, `wait` moves the clock to it; `advance(seconds)` moves it by hand, running
  the timers due on the way; `settle()` runs what is due now without moving it. Activities and
  HTTP functions take their real time. Orchestrators see the virtual time in
  `current_utc_datetime`.
- Every call that changes the hub (`start`, `raise_event`, `signal_entity`, `terminate`)
  returns once everything that can run at the current virtual time has run (`settle=False` to
  return at once). Reads (`status`, `history`, `entity_state`) do not wait.
- The replay check of development mode is on: an orchestrator that does not replay the same
  calls fails, `wait` raises `NonDeterminismError`, and one nobody waited for fails the test
  when the harness closes.
- `module(name)`: the app's module as the harness imported it (each harness imports the app
  afresh and removes it again; a module a test file imported at its top is another copy).

Settings: `open_app(path, settings={...})` (or the `funcpy_settings` fixture / marker) set app
settings in `os.environ` before the app loads, over local.settings.json's; everything the
harness set is restored when it closes. Every wait is bounded by `timeout` (seconds of real
time, 30 by default).
"""

from __future__ import annotations

import importlib
from typing import Any

# Loaded on first use: the pytest plugin imports this package in every pytest run of an
# environment where func-py is installed, and the host is only needed by tests that use it.
_EXPORTS = {
    "AppHarness": "harness", "NonDeterminismError": "harness", "OrchestrationFailed": "harness",
    "open_app": "harness", "DEFAULT_TIMEOUT": "harness", "Stuck": "driver",
    "VirtualClock": "clock",
}
__all__ = ["AppHarness", "ClientError", "NonDeterminismError", "OrchestrationFailed", "Stuck",
           "VirtualClock", "open_app"]


def __getattr__(name: str) -> Any:
    if name == "ClientError":  # what the hub refuses (an unknown orchestrator, a bad id)
        from funcpy.host.taskhub.client import ClientError

        return ClientError
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
