"""Retry policies, as the Functions host runs them: `@app.retry`, function.json `"retry"` and
host.json `"retry"` (the default for every function without its own).

Owns parsing and validating a policy (with the host's and the worker's rules and messages), the
delays between attempts (the WebJobs SDK's fixed delay and randomized exponential backoff), which
triggers honour a policy, and finding each loaded function's policy. Running the attempts belongs
to the trigger that honours them (`triggers/timer.py`), through `execute_with_retries` here, which
calls only the invoker and sleeps only through the trigger's clock.

Which triggers: since host 4.x (WebJobs SDK PR #2860) a policy applies only to triggers whose
binding carries `[SupportsRetry]`: timer, Event Hubs, Cosmos DB and Kafka. For the others the
host logs "Retries are not supported by the trigger binding for ..." and ignores the policy. A
queue trigger retries through the queue instead (maxDequeueCount, then the poison queue).
"""

from __future__ import annotations

import json
import random
import sys
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from funcpy.host.context import RetryContext, RpcException
from funcpy.host.index import FunctionIndex, FunctionInfo
from funcpy.host.invocation import InvocationError
from funcpy.host.logs import log
from funcpy.host.settings import parse_timespan

FIXED_DELAY = "fixedDelay"
EXPONENTIAL_BACKOFF = "exponentialBackoff"
# Trigger bindings marked [SupportsRetry] in their extensions.
RETRY_TRIGGERS = frozenset({"timerTrigger", "eventHubTrigger", "cosmosDBTrigger", "kafkaTrigger"})
RANDOMIZATION_FACTOR = 0.2  # RandomizedExponentialBackoffStrategy's


@dataclass(frozen=True)
class RetryPolicy:
    strategy: str  # FIXED_DELAY or EXPONENTIAL_BACKOFF
    max_retry_count: int  # -1: until it succeeds
    delay: timedelta = timedelta(0)  # fixedDelay
    minimum: timedelta = timedelta(0)  # exponentialBackoff
    maximum: timedelta = timedelta(0)
    source: str = ""  # "@app.retry", "function.json", "host.json": for messages

    def backoff(self, rand: Callable[[], float] = random.random) -> Backoff:
        return Backoff(self, rand)

    def describe(self) -> str:
        times = "until it succeeds" if self.max_retry_count == -1 else \
            f"up to {self.max_retry_count} time{'s' * (self.max_retry_count != 1)}"
        if self.strategy == FIXED_DELAY:
            how = f"{_span(self.delay)} apart"
        else:
            how = f"backing off from {_span(self.minimum)} to {_span(self.maximum)}"
        return f"retries {times}, {how} ({self.source} {self.strategy})"


def _span(td: timedelta) -> str:
    total = td.total_seconds()
    whole = int(total)
    text = f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
    return text + (f"{total - whole:.3f}"[1:] if total != whole else "")


class Backoff:
    """The delay before each retry of one failed execution (a fresh one per execution)."""

    def __init__(self, policy: RetryPolicy, rand: Callable[[], float]) -> None:
        self.policy = policy
        self._rand = rand
        self._current: timedelta | None = None
        self._exponent = 0

    def next_delay(self) -> timedelta:
        p = self.policy
        if p.strategy == FIXED_DELAY:
            return p.delay
        # RandomizedExponentialBackoffStrategy: the first retry waits the minimum; each later
        # one adds minimum * 2^(n-1) * (0.8..1.2), until the maximum, which then stays.
        if self._current == p.maximum:
            return p.maximum
        interval = p.minimum
        if self._exponent > 0:
            factor = 1 - RANDOMIZATION_FACTOR + 2 * RANDOMIZATION_FACTOR * self._rand()
            interval += p.minimum * (factor * 2 ** (self._exponent - 1))
        if interval < p.maximum:
            self._current = interval
            self._exponent += 1
        else:
            self._current = p.maximum
        return self._current


# -- parsing -----------------------------------------------------------------------------------


def _count(raw: Any, key: str) -> int:
    if raw is None or raw == "":
        raise ValueError(f"{key} is required")
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise ValueError(f"{key} must be a whole number, got {raw!r}") from None
    if value < -1:
        raise ValueError(f"{key} must be -1 (retry until it succeeds) or more, got {value}")
    return value


def _check_intervals(policy: RetryPolicy) -> RetryPolicy:
    if policy.strategy == EXPONENTIAL_BACKOFF and policy.minimum > policy.maximum:
        raise ValueError("the minimumInterval must not be greater than the maximumInterval")
    return policy


def from_decorator(settings: Mapping[str, Any]) -> RetryPolicy:
    """`@app.retry(...)` as the worker sends it: strategy `fixed_delay` or `exponential_backoff`
    (protobuf enum names), intervals as `HH:MM:SS` (the worker's `time.strptime` format)."""
    strategy = str(settings.get("strategy") or "")
    names = {"fixed_delay": FIXED_DELAY, "exponential_backoff": EXPONENTIAL_BACKOFF}
    if strategy not in names:
        raise ValueError(f"retry strategy '{strategy}' is not one of fixed_delay, "
                         "exponential_backoff")
    count = _count(settings.get("max_retry_count"), "max_retry_count")

    def interval(key: str) -> timedelta:
        text = settings.get(key)
        if not text:
            raise ValueError(f"a {strategy} retry needs {key} (\"HH:MM:SS\")")
        try:
            t = time.strptime(str(text), "%H:%M:%S")
        except ValueError:
            raise ValueError(f"retry {key} '{text}' is not a time of day \"HH:MM:SS\"") from None
        return timedelta(hours=t.tm_hour, minutes=t.tm_min, seconds=t.tm_sec)

    if names[strategy] == FIXED_DELAY:
        return RetryPolicy(FIXED_DELAY, count, delay=interval("delay_interval"),
                           source="@app.retry")
    return _check_intervals(RetryPolicy(
        EXPONENTIAL_BACKOFF, count, minimum=interval("minimum_interval"),
        maximum=interval("maximum_interval"), source="@app.retry"))


def from_json(raw: Any, source: str) -> RetryPolicy:
    """function.json or host.json `"retry"` (`RetryOptions`): keys case-insensitive, intervals
    .NET TimeSpans, validated as the host's `Utility.ValidateRetryOptions` does."""
    if not isinstance(raw, Mapping):
        raise ValueError("\"retry\" must be an object such as {\"strategy\": \"fixedDelay\", "
                         "\"maxRetryCount\": 3, \"delayInterval\": \"00:00:05\"}")
    conf = {str(k).lower(): v for k, v in raw.items()}
    strategy = str(conf.get("strategy") or "").strip()
    by_name = {FIXED_DELAY.lower(): FIXED_DELAY, EXPONENTIAL_BACKOFF.lower(): EXPONENTIAL_BACKOFF}
    if strategy.lower() not in by_name:
        raise ValueError(f"retry strategy '{strategy}' is not one of {FIXED_DELAY}, "
                         f"{EXPONENTIAL_BACKOFF}")
    count = _count(conf.get("maxretrycount"), "maxRetryCount")

    def interval(key: str) -> timedelta:
        text = conf.get(key.lower())
        if text is None or text == "":
            raise ValueError(f"a {by_name[strategy.lower()]} retry needs {key}")
        try:
            value = parse_timespan(str(text))
        except ValueError as exc:
            raise ValueError(f"retry {key}: {exc}") from None
        return value

    if by_name[strategy.lower()] == FIXED_DELAY:
        return RetryPolicy(FIXED_DELAY, count, delay=interval("delayInterval"), source=source)
    return _check_intervals(RetryPolicy(
        EXPONENTIAL_BACKOFF, count, minimum=interval("minimumInterval"),
        maximum=interval("maximumInterval"), source=source))


# -- each loaded function's policy -------------------------------------------------------------


def _v1_retry(fn: FunctionInfo, app_dir: Path) -> Any:
    folder = Path(fn.directory)
    config = folder / "function.json"
    if folder.parent.resolve() != app_dir.resolve() or not config.is_file():
        return None
    try:
        data = json.loads(config.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError):
        return None  # the v1 loader read this file already; a race with an edit reloads again
    return data.get("retry") if isinstance(data, dict) else None


def _decorator_settings(module_name: str) -> dict[str, Mapping[str, Any]]:
    """Function name -> `@app.retry` settings, read from the app's builders (the loader keeps
    only what the index needs)."""
    from funcpy.host.loader import find_function_app

    module = sys.modules.get(module_name)
    if module is None:
        return {}
    try:
        app = find_function_app(module)
    except Exception:
        return {}
    found: dict[str, Mapping[str, Any]] = {}
    for builder in getattr(app, "_function_builders", []):
        function = getattr(builder, "_function", None)
        try:
            settings = function.get_settings_dict("retry_policy") if function else None
            if settings:
                found[function.get_function_name()] = settings
        except Exception:
            continue
    return found


def function_policies(index: FunctionIndex, app_dir: Path, module_name: str | None
                      ) -> tuple[dict[str, RetryPolicy], dict[str, str]]:
    """Each function's own policy (not host.json's), and the functions whose policy is invalid
    with the reason (the host fails such a function)."""
    decorated = _decorator_settings(module_name) if module_name else {}
    policies: dict[str, RetryPolicy] = {}
    errors: dict[str, str] = {}
    for name, fn in index.functions.items():
        try:
            if name in decorated:
                policies[name] = from_decorator(decorated[name])
            elif (raw := _v1_retry(fn, app_dir)) is not None:
                policies[name] = from_json(raw, "function.json")
        except ValueError as exc:
            errors[name] = str(exc)
    return policies, errors


# -- running an execution's attempts -----------------------------------------------------------


def dotnet_timespan(td: timedelta) -> str:
    """`TimeSpan.ToString()`: `[d.]hh:mm:ss[.fffffff]`, as the host prints a retry's delay."""
    ticks = round(td.total_seconds() * 10_000_000)
    seconds, fraction = divmod(ticks, 10_000_000)
    days, rest = divmod(seconds, 86_400)
    text = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    if days:
        text = f"{days}.{text}"
    return text + (f".{fraction:07d}" if fraction else "")


async def execute_with_retries(invoke: Callable[[RetryContext | None], Awaitable[Any]],
                               policy: RetryPolicy | None,
                               wait: Callable[[timedelta], Awaitable[bool]]) -> bool:
    """One execution as the WebJobs SDK runs it (`FunctionExecutorExtensions.TryExecuteAsync`):
    the first attempt and, while attempts fail, up to `max_retry_count` retries, each a new
    invocation whose `context.retry_context` counts it. `wait(delay)` sleeps before a retry and
    returns False when the host is stopping, which ends the retries (the SDK's cancellation).
    Returns whether an attempt succeeded; failures are already logged by the invoker."""
    if policy is None:
        try:
            await invoke(None)
        except InvocationError:
            return False
        return True
    backoff = policy.backoff()
    most = policy.max_retry_count
    # The first attempt already carries max_retry_count (retry_count 0): apps compare the two
    # to know when the last attempt runs.
    context = RetryContext(0, most)
    attempt = 0
    while True:
        try:
            await invoke(context)
        except InvocationError as exc:
            failure = exc
        else:
            return True
        if most != -1 and attempt == most:
            log.error("Function execution failed after '%d' retries.", attempt)
            return False
        attempt += 1
        delay = backoff.next_delay()
        # The SDK logs this at Debug; here it is Information, so a retry is seen locally.
        log.info("Waiting for `%s` before retrying function execution. Next attempt: '%d'. "
                 "Max retry count: '%d'.", dotnet_timespan(delay), attempt, most)
        if not await wait(delay):
            log.info("Retries of 'Functions.%s' end: the host is stopping.",
                     failure.function_name)
            return False
        cause = failure.cause
        context = RetryContext(attempt, most, RpcException(
            source=type(cause).__module__, message=str(failure),
            stack_trace="".join(traceback.format_exception(cause)).rstrip()))
