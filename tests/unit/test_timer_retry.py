"""Retry policies: parsing (`@app.retry`, function.json and host.json `"retry"`), the delays
between attempts, which triggers honour them, and a timer's attempts driven by a clock the test
moves (the real `TimerService` and `Invoker` on a real SQLite hub, as in test_timer.py)."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from funcpy.host.config import HostConfig
from funcpy.host.context import RetryContext
from funcpy.host.errors import SettingsError
from funcpy.host.index import FunctionInfo
from funcpy.host.invoke import Invoker
from funcpy.host.retry import (
    EXPONENTIAL_BACKOFF,
    FIXED_DELAY,
    RetryPolicy,
    dotnet_timespan,
    from_decorator,
    from_json,
)
from funcpy.host.runtime import Runtime, host_retry
from funcpy.host.settings import HostJson
from funcpy.host.taskhub.sqlite import SqliteStore

from tests.unit.test_timer import T0, FakeClock, World, index, run

S = timedelta(seconds=1)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    clock = FakeClock(T0)
    store = SqliteStore(tmp_path / "hub.sqlite", "RetryTests", clock=clock.timestamp)
    store.create()
    w = World(clock, store)
    yield w
    for h in w.hosts:
        h.invoker.shutdown()
    store.close()


# -- parsing -----------------------------------------------------------------------------------


def test_the_decorator_forms_as_the_worker_sends_them() -> None:
    fixed = from_decorator({"strategy": "fixed_delay", "max_retry_count": "3",
                            "delay_interval": "00:00:05"})
    assert fixed == RetryPolicy(FIXED_DELAY, 3, delay=5 * S, source="@app.retry")
    backoff = from_decorator({"strategy": "exponential_backoff", "max_retry_count": "-1",
                              "minimum_interval": "00:00:02", "maximum_interval": "00:15:00"})
    assert (backoff.strategy, backoff.max_retry_count, backoff.minimum, backoff.maximum) == (
        EXPONENTIAL_BACKOFF, -1, 2 * S, timedelta(minutes=15))


@pytest.mark.parametrize(("settings", "message"), [
    ({"strategy": "fixedDelay", "max_retry_count": "1", "delay_interval": "00:00:01"},
     "retry strategy 'fixedDelay' is not one of fixed_delay, exponential_backoff"),
    ({"strategy": "fixed_delay", "max_retry_count": "1"},
     "a fixed_delay retry needs delay_interval"),
    ({"strategy": "fixed_delay", "max_retry_count": "1", "delay_interval": "5"},
     "retry delay_interval '5' is not a time of day \"HH:MM:SS\""),
    ({"strategy": "fixed_delay", "max_retry_count": "-2", "delay_interval": "00:00:01"},
     "max_retry_count must be -1"),
    ({"strategy": "fixed_delay", "max_retry_count": "x", "delay_interval": "00:00:01"},
     "max_retry_count must be a whole number"),
    ({"strategy": "exponential_backoff", "max_retry_count": "1",
      "minimum_interval": "00:01:00", "maximum_interval": "00:00:10"},
     "the minimumInterval must not be greater than the maximumInterval"),
])
def test_a_bad_decorator_policy_says_what_is_wrong(settings: dict[str, str],
                                                   message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        from_decorator(settings)


def test_json_policies_take_any_key_case_and_timespans() -> None:
    policy = from_json({"Strategy": "FixedDelay", "MAXRETRYCOUNT": 4,
                        "delayInterval": "1.00:00:03"}, "function.json")
    assert policy == RetryPolicy(FIXED_DELAY, 4, delay=timedelta(days=1, seconds=3),
                                 source="function.json")
    with pytest.raises(ValueError, match="a exponentialBackoff retry needs maximumInterval"):
        from_json({"strategy": "exponentialBackoff", "maxRetryCount": 1,
                   "minimumInterval": "00:00:01"}, "host.json")
    with pytest.raises(ValueError, match="maxRetryCount is required"):
        from_json({"strategy": "fixedDelay", "delayInterval": "00:00:01"}, "host.json")


def test_a_bad_host_json_policy_is_a_settings_error_naming_host_json() -> None:
    assert host_retry(HostJson()) is None
    with pytest.raises(SettingsError, match=r"^host\.json retry: retry strategy 'linear'"):
        host_retry(HostJson(raw={"retry": {"strategy": "linear", "maxretrycount": 1}}))


# -- delays ------------------------------------------------------------------------------------


def test_fixed_delay_waits_the_same_before_every_retry() -> None:
    backoff = RetryPolicy(FIXED_DELAY, 3, delay=2 * S).backoff()
    assert [backoff.next_delay() for _ in range(4)] == [2 * S] * 4


def test_exponential_backoff_starts_at_the_minimum_and_stops_at_the_maximum() -> None:
    # With the randomization at its middle (factor 1.0): min, then min + min * 2^(n-1).
    backoff = RetryPolicy(EXPONENTIAL_BACKOFF, -1, minimum=S, maximum=10 * S).backoff(
        rand=lambda: 0.5)
    assert [backoff.next_delay() / S for _ in range(7)] == [1, 2, 3, 5, 9, 10, 10]
    # The randomization is +-20% of each increment.
    low = RetryPolicy(EXPONENTIAL_BACKOFF, -1, minimum=S, maximum=100 * S).backoff(
        rand=lambda: 0.0)
    assert [round(low.next_delay() / S, 3) for _ in range(3)] == [1, 1.8, 2.6]


def test_delays_print_as_dotnet_timespans() -> None:
    assert dotnet_timespan(5 * S) == "00:00:05"
    assert dotnet_timespan(timedelta(days=1, hours=2, milliseconds=250)) == \
        "1.02:00:00.2500000"


# -- a timer's attempts ------------------------------------------------------------------------


def failing_timer(world: World, name: str, fail_until: int) -> tuple[FunctionInfo, list[Any]]:
    """A timer that records (time, retry_count, max_retry_count, previous error) and fails
    while retry_count < fail_until."""
    trigger = {"type": "timerTrigger", "direction": "in", "name": "timer",
               "schedule": "0 0 0 1 1 *", "runOnStartup": True, "useMonitor": False}
    attempts: list[Any] = []

    async def user(timer: func.TimerRequest, context: func.Context) -> None:
        retry = context.retry_context
        attempts.append((world.clock.now(), retry.retry_count, retry.max_retry_count,
                         retry.rpc_exception.message, context.invocation_id))
        if retry.retry_count < fail_until:
            raise ValueError(f"attempt {retry.retry_count}")

    fn = FunctionInfo(name=name, trigger=trigger, bindings=(trigger,), func=user,
                      is_async=True, wants_context=True, directory=".",
                      script_file="function_app.py", fingerprint=name)
    return fn, attempts


def retrying_host(world: World, policy: RetryPolicy | None) -> Any:
    from funcpy.triggers.timer import TimerService

    service = TimerService(lambda: world.store, Invoker(timeout=None, environ={}), {},
                           clock=world.clock, owner="retry-host", retry_for=lambda fn: policy)
    world.hosts.append(service)
    return service


def test_a_failing_timer_is_retried_after_each_delay_until_it_succeeds(world: World) -> None:
    fn, attempts = failing_timer(world, "flaky", fail_until=2)

    async def scenario() -> None:
        host = retrying_host(world, RetryPolicy(FIXED_DELAY, 3, delay=5 * S))
        await host.apply(index(fn))
        await world.advance(60)
        await host.stop()

    run(scenario)
    assert [(t - T0, n, most) for t, n, most, *_ in attempts] == [
        (timedelta(0), 0, 3), (5 * S, 1, 3), (10 * S, 2, 3)]
    # Each retry sees the previous attempt's error, and is an invocation of its own.
    assert [a[3] for a in attempts] == ["", "ValueError: attempt 0", "ValueError: attempt 1"]
    assert len({a[4] for a in attempts}) == 3


def test_retries_stop_at_max_retry_count_with_the_hosts_message(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    fn, attempts = failing_timer(world, "doomed", fail_until=99)
    caplog.set_level(logging.INFO, logger="func_py")

    async def scenario() -> None:
        host = retrying_host(world, RetryPolicy(FIXED_DELAY, 2, delay=S))
        await host.apply(index(fn))
        await world.advance(30)
        await host.stop()

    run(scenario)
    assert [a[1] for a in attempts] == [0, 1, 2]
    text = caplog.text
    assert "Waiting for `00:00:01` before retrying function execution. Next attempt: '1'. " \
           "Max retry count: '2'." in text
    assert "Function execution failed after '2' retries." in text


def test_without_a_policy_a_failure_is_not_retried(world: World) -> None:
    fn, attempts = failing_timer(world, "plain", fail_until=99)

    async def scenario() -> None:
        host = retrying_host(world, None)
        await host.apply(index(fn))
        await world.advance(30)
        await host.stop()

    run(scenario)
    # No policy: the worker's context has retry_count 0 and max_retry_count 0.
    assert [(a[1], a[2]) for a in attempts] == [(0, 0)]


def test_stopping_the_host_ends_a_wait_between_retries(world: World) -> None:
    fn, attempts = failing_timer(world, "forever", fail_until=10**6)

    async def scenario() -> None:
        host = retrying_host(world, RetryPolicy(FIXED_DELAY, -1, delay=timedelta(hours=1)))
        await host.apply(index(fn))
        await world.settle()
        assert len(attempts) == 1 and len(host.runs) == 1  # waiting an hour to retry
        await asyncio.wait_for(host.stop(), timeout=5)
        assert not host.runs

    run(scenario)
    assert len(attempts) == 1


# -- which functions retry, found in a real app -------------------------------------------------


APP = '''
import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.timer_trigger(schedule="0 0 0 1 1 *", arg_name="timer", use_monitor=False)
@app.retry(strategy="fixed_delay", max_retry_count="2", delay_interval="00:00:03")
def own(timer: func.TimerRequest) -> None:
    pass


@app.timer_trigger(schedule="0 0 0 1 1 *", arg_name="timer", use_monitor=False)
def inherits(timer: func.TimerRequest) -> None:
    pass


@app.timer_trigger(schedule="0 0 0 1 1 *", arg_name="timer", use_monitor=False)
@app.retry(strategy="fixed_delay", max_retry_count="2")
def broken(timer: func.TimerRequest) -> None:
    pass


@app.route(route="web")
@app.retry(strategy="fixed_delay", max_retry_count="2", delay_interval="00:00:03")
def web(req: func.HttpRequest) -> str:
    return "ok"
'''


@pytest.fixture
def app_runtime(tmp_path: Path) -> Iterator[Runtime]:
    (tmp_path / "function_app.py").write_text(APP)
    (tmp_path / "host.json").write_text(json.dumps({"version": "2.0", "retry": {
        "strategy": "exponentialBackoff", "maxRetryCount": 5, "minimumInterval": "00:00:01",
        "maximumInterval": "00:01:00"}}))
    from funcpy.host.settings import load_host_json

    config = HostConfig(app_dir=tmp_path, host_json=load_host_json(tmp_path, {}))
    runtime = Runtime(config, environ={})
    try:
        yield runtime
    finally:
        runtime.invoker.shutdown()
        for name in [n for n, m in sys.modules.items()
                     if str(getattr(m, "__file__", "") or "").startswith(str(tmp_path))]:
            sys.modules.pop(name, None)


def test_policies_come_from_the_decorator_or_host_json_and_only_timers_retry(
        app_runtime: Runtime, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="func_py")
    index = app_runtime.load_initial()
    assert sorted(index.functions) == ["inherits", "own", "web"]
    assert "retry needs delay_interval" in index.errors["broken"]
    own = app_runtime.retry_policy(index.functions["own"])
    assert own == RetryPolicy(FIXED_DELAY, 2, delay=3 * S, source="@app.retry")
    inherited = app_runtime.retry_policy(index.functions["inherits"])
    assert inherited is not None and inherited.source == "host.json"
    assert inherited.strategy == EXPONENTIAL_BACKOFF and inherited.max_retry_count == 5
    assert app_runtime.retry_policy(index.functions["web"]) is None
    warning = ("Retries are not supported by the trigger binding for Functions.web: its "
               "retry policy (@app.retry) is ignored, as on Azure")
    assert caplog.text.count(warning) == 1
    app_runtime.load_initial()  # a reload does not warn again
    assert caplog.text.count(warning) == 1


def test_a_queue_trigger_with_a_policy_is_told_about_max_dequeue_count(
        app_runtime: Runtime, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="func_py")
    trigger = {"type": "queueTrigger", "direction": "in", "name": "msg", "queueName": "q"}
    queue_fn = FunctionInfo("onqueue", trigger, (trigger,), lambda msg: None, False, False,
                            ".", "function_app.py", "q")
    app_runtime._warn_ignored(queue_fn, "host.json")
    app_runtime._warn_ignored(queue_fn, "host.json")
    assert caplog.text.count("Retries are not supported by the trigger binding for "
                             "Functions.onqueue") == 1
    assert "extensions.queues.maxDequeueCount" in caplog.text
    assert app_runtime.retry_policy(queue_fn) is None


def test_a_v1_function_json_retry_is_that_functions_policy(tmp_path: Path) -> None:
    folder = tmp_path / "Tick"
    folder.mkdir()
    (folder / "__init__.py").write_text(
        "import azure.functions as func\n\n\ndef main(timer: func.TimerRequest) -> None:\n"
        "    pass\n")
    (folder / "function.json").write_text(json.dumps({
        "scriptFile": "__init__.py",
        "bindings": [{"type": "timerTrigger", "direction": "in", "name": "timer",
                      "schedule": "0 0 0 1 1 *", "useMonitor": False}],
        "retry": {"strategy": "fixedDelay", "maxRetryCount": 1, "delayInterval": "00:00:02"}}))
    runtime = Runtime(HostConfig(app_dir=tmp_path), environ={})
    try:
        index = runtime.load_initial()
        policy = runtime.retry_policy(index.functions["Tick"])
    finally:
        runtime.invoker.shutdown()
    assert policy == RetryPolicy(FIXED_DELAY, 1, delay=2 * S, source="function.json")


def test_the_first_attempt_carries_the_max_retry_count() -> None:
    # The worker's own sample compares the two to find its last attempt.
    context = RetryContext(0, 3)
    assert (context.retry_count, context.max_retry_count, context.rpc_exception.message) == (
        0, 3, "")
