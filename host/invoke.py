"""The one place that calls user code.

Arguments are matched by binding name (the trigger's value, input bindings from their providers,
`func.Out` objects for output bindings, `context` when the function asks for it). Sync functions
run in a thread pool sized by PYTHON_THREADPOOL_THREAD_COUNT, async ones on the loop. Every call
is logged as Core Tools logs it, timed, bounded by functionTimeout, and its exception captured.

Output bindings that leave the host (a queue, not the HTTP response) are collected after a call
that succeeded: each value set on a `func.Out` or returned for `$return` goes to the writer of
its binding type, which converts it (a value it cannot carry fails the invocation, as in Azure)
and writes it. A trigger that commits its own effects (the queue trigger: the outputs and the
deletion of its message in one transaction) asks for them back instead (`defer_outputs`).
The types callers share (results, errors, the provider and writer protocols) are invocation.py's.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextvars
import functools
import inspect
import os
import time
import traceback
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from funcpy.host import tracing
from funcpy.host.context import Context, Out, RetryContext
from funcpy.host.index import FunctionInfo
from funcpy.host.invocation import (
    FunctionTimeout,
    InputProvider,
    InvocationError,
    InvocationResult,
    OutputWriter,
    PendingOutput,
    new_invocation_id,
    user_frames,
)
from funcpy.host.logs import (
    InvocationTag,
    current_invocation,
    flush_logs,
    forget_invocation,
    host_line,
    log,
    remember_invocation,
)
from funcpy.host.metrics import Metrics

_current_task = asyncio.current_task
_NO_OUTS: dict[str, Out] = {}  # never written: the outputs of a call without output bindings
# Triggers whose return value is the output even without a $return binding (worker rule).
IMPLICIT_OUTPUT_TRIGGERS = frozenset({"orchestrationTrigger", "activityTrigger", "entityTrigger"})


class _Plan:
    """What every call of one function needs that does not change between calls, worked out
    at its first call (the per-request path reads it instead of walking the bindings)."""

    __slots__ = ("collects", "executing", "extras", "fn", "may_return", "succeeded",
                 "trigger_name")

    def __init__(self, fn: FunctionInfo, writers: Mapping[str, OutputWriter]) -> None:
        self.fn = fn  # kept so the id it is cached under cannot be reused meanwhile
        self.trigger_name = str(fn.trigger["name"])
        # Bindings that become arguments besides the trigger: inputs and outputs.
        self.extras = tuple(b for b in fn.bindings
                            if b is not fn.trigger and str(b["name"]) != "$return")
        self.collects = any(b["direction"] == "out" and str(b["type"]) in writers
                            for b in fn.bindings)
        self.may_return = fn.has_return or fn.trigger_type in IMPLICIT_OUTPUT_TRIGGERS
        self.executing = f"Executing 'Functions.{fn.name}' (Reason='"
        self.succeeded = f"Executed 'Functions.{fn.name}' (Succeeded, Id="


def thread_count(environ: Mapping[str, str]) -> int | None:
    raw = environ.get("PYTHON_THREADPOOL_THREAD_COUNT")
    if not raw:
        return None
    try:
        n = int(raw)
        if n < 1:
            raise ValueError
        return n
    except ValueError:
        log.warning("PYTHON_THREADPOOL_THREAD_COUNT=%r is not an integer >= 1; ignored", raw)
        return None


class Invoker:
    def __init__(self, *, timeout: timedelta | None, environ: Mapping[str, str] | None = None,
                 providers: Mapping[str, InputProvider] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.pool = ThreadPoolExecutor(max_workers=thread_count(env), thread_name_prefix="func")
        self.timeout = timeout
        self.providers: dict[str, InputProvider] = dict(providers or {})
        self.writers: dict[str, OutputWriter] = {}
        self.in_flight = 0
        # What is running, for the drain's report: invocations by id, and sync calls whose
        # caller stopped waiting (timed out or cancelled) while their thread runs on.
        self.active: dict[str, FunctionInfo] = {}
        self.orphans: dict[str, FunctionInfo] = {}
        self.cancelled: collections.Counter[tuple[str, str]] = collections.Counter()
        self._deadlines: dict[asyncio.Task[Any], float] = {}
        self._expired: set[asyncio.Task[Any]] = set()
        self._watchdog: asyncio.Task[None] | None = None
        self.metrics = Metrics()  # /admin/metrics (host/metrics.py)
        self._plans: dict[int, _Plan] = {}

    def _plan(self, fn: FunctionInfo) -> _Plan:
        plan = self._plans.get(id(fn))
        if plan is None or plan.fn is not fn:
            if len(self._plans) > 4096:  # functions of indexes replaced by reloads
                self._plans.clear()
            plan = self._plans[id(fn)] = _Plan(fn, self.writers)
        return plan

    def add_provider(self, binding_type: str, provider: InputProvider) -> None:
        self.providers[binding_type] = provider

    def add_writer(self, binding_type: str, writer: OutputWriter) -> None:
        self.writers[binding_type] = writer
        self._plans.clear()  # which functions have outputs to collect may have changed

    def _collect(self, fn: FunctionInfo, value: Any, outs: Mapping[str, Out],
                 binding_data: Mapping[str, Any]) -> list[PendingOutput]:
        """Convert what the call set on its written output bindings (None sets nothing)."""
        pending: dict[str, PendingOutput] = {}
        for b in fn.bindings:
            writer = self.writers.get(str(b["type"])) if b["direction"] == "out" else None
            if writer is None:
                continue
            name = str(b["name"])
            v = value if name == "$return" else outs[name].get() if name in outs else None
            if v is None:
                continue
            items = writer.convert(fn, b, v, binding_data)
            kind = str(b["type"])
            if kind in pending:
                pending[kind].items.extend(items)
            else:
                pending[kind] = PendingOutput(kind, writer, list(items))
        return list(pending.values())

    def _arguments(self, fn: FunctionInfo, plan: _Plan, trigger_value: Any,
                   invocation_id: str, retry: RetryContext | None,
                   trace: tracing.SpanRef | None) -> tuple[dict[str, Any], dict[str, Out]]:
        args: dict[str, Any] = {plan.trigger_name: trigger_value}
        outs: dict[str, Out] = {}
        for b in plan.extras:
            name = str(b["name"])
            if b["direction"] == "out":
                outs[name] = args[name] = Out()
                continue
            provider = self.providers.get(str(b["type"]))
            if provider is None:  # the loader skips such functions; defensive only
                raise RuntimeError(f"no provider for binding type {b['type']!r}")
            args[name] = provider.value(fn, b, invocation_id)
        if fn.wants_context:
            args["context"] = Context(
                invocation_id, fn.name, fn.directory, tracing.trace_context(trace), retry,
            )
        return args, outs

    async def invoke(self, fn: FunctionInfo, trigger_value: Any, *, reason: str,
                     invocation_id: str | None = None,
                     retry: RetryContext | None = None,
                     target: Callable[[], Any] | None = None,
                     defer_outputs: bool = False,
                     binding_data: Mapping[str, Any] | None = None,
                     trace: tracing.SpanRef | None = None) -> InvocationResult:
        """Call `fn` with arguments built from `trigger_value` — or, for orchestrators, call
        `target()` on the loop: the task hub drives the SDK's replay itself, and orchestrator
        code is deterministic and non-blocking by contract, so it needs no thread hop.

        Written output bindings are converted after the call and written before this returns
        (a failed write fails the invocation); with `defer_outputs` they are returned in
        `pending` instead, for the caller to commit together with its own effects.

        `trace` is the invocation's own span (a child of its caller's; host/tracing.py), None
        for a new trace; an orchestrator episode sets it with `tracing.running`."""
        inv = invocation_id or new_invocation_id()
        if target is not None and trace is None:
            trace = tracing.target_span()
        traced = tracing.begin(fn, trace, inv, trigger_value)  # None unless tracing is on
        if traced is not None:
            trace = traced.span
        plan = self._plan(fn)
        tag = InvocationTag(inv, fn.name)
        token = current_invocation.set(tag)
        remember_invocation(tag)
        self.in_flight += 1
        self.active[inv] = fn
        host_line(f"{plan.executing}{reason}', Id={inv})", tag)
        start = time.perf_counter()
        pending: list[PendingOutput] = []
        outs: dict[str, Out] = _NO_OUTS
        try:
            if target is not None:
                value = target()
                if inspect.isawaitable(value):  # a target that runs in the thread pool
                    value = await value
            else:
                if plan.extras or fn.wants_context:
                    args, outs = self._arguments(fn, plan, trigger_value, inv, retry, trace)
                else:  # the trigger's value only (most HTTP functions)
                    args = {plan.trigger_name: trigger_value}
                value = await self._call(fn, args, inv)
            if value is not None and not plan.may_return:
                raise RuntimeError(
                    f"function '{fn.name}' without a $return binding returned a non-None value"
                )
            if plan.collects and target is None:
                pending = self._collect(fn, value, outs, binding_data or {})
                if pending and not defer_outputs:
                    for p in pending:
                        await p.writer.write(p.items)
                    pending = []
        except BaseException as exc:
            ms = (time.perf_counter() - start) * 1000
            if traced is not None:
                traced.close(error=exc)
            if isinstance(exc, asyncio.CancelledError):
                self.cancelled[fn.name, fn.trigger_type] += 1
                self.metrics.invoked(fn, "Cancelled", ms)
                log.info("Executed 'Functions.%s' (Cancelled, Id=%s, Duration=%dms)",
                         fn.name, inv, ms)
                flush_logs()
                raise
            self._log_failure(fn, inv, exc, ms)
            self.metrics.invoked(fn, "Failed", ms)
            flush_logs()
            raise InvocationError(fn.name, inv, exc) from exc
        finally:
            self.in_flight -= 1
            self.active.pop(inv, None)
            current_invocation.reset(token)
            forget_invocation(inv)
        ms = (time.perf_counter() - start) * 1000
        if traced is not None:
            traced.close(value, {k: o.get() for k, o in outs.items()})
        self.metrics.invoked(fn, "Succeeded", ms)
        host_line(f"{plan.succeeded}{inv}, Duration={int(ms)}ms)", tag)
        # Before the caller answers (an HTTP response, a committed activity result): whoever
        # sees the outcome finds the invocation's lines already in the output.
        flush_logs()
        return InvocationResult(inv, value, {k: o.get() for k, o in outs.items()} if outs else {},
                                ms, pending)

    async def _call(self, fn: FunctionInfo, args: dict[str, Any], inv: str) -> Any:
        thread: concurrent.futures.Future[Any] | None = None
        if fn.is_async:
            call: Any = fn.func(**args)
        else:
            # What loop.run_in_executor does, keeping the thread's own future: a thread cannot
            # be stopped, so one whose caller stops waiting is tracked until it really ends.
            ctx = contextvars.copy_context()
            thread = self.pool.submit(ctx.run, functools.partial(fn.func, **args))
            call = asyncio.wrap_future(thread)
        task: asyncio.Task[Any] | None = None
        timeout = self.timeout
        if timeout is not None:
            # One watchdog checks every call's deadline (to within a second, for a limit of at
            # least a second), instead of a timer per call on the hot path.
            task = _current_task()
            assert task is not None
            self._deadlines[task] = time.monotonic() + timeout.total_seconds()
            watchdog = self._watchdog
            if watchdog is None or watchdog.done():
                self._start_watchdog()
        try:
            return await call
        except asyncio.CancelledError:
            if task is None or task not in self._expired:
                raise
            task.uncancel()
            assert self.timeout is not None
            raise FunctionTimeout(fn.name, self.timeout) from None
        finally:
            if task is not None:
                self._deadlines.pop(task, None)
                if self._expired:
                    self._expired.discard(task)
            if thread is not None and not thread.done():
                self.orphans[inv] = fn
                thread.add_done_callback(lambda _: self.orphans.pop(inv, None))

    def running(self) -> list[FunctionInfo]:
        """The functions running now, one entry per call: invocations in flight, and sync
        calls still in their thread after their caller stopped waiting."""
        # Copies first: pool threads remove orphans while this runs.
        active = dict(self.active)
        orphans = [fn for inv, fn in list(self.orphans.items()) if inv not in active]
        return list(active.values()) + orphans

    def _start_watchdog(self) -> None:
        if self._watchdog is None or self._watchdog.done():
            self._watchdog = asyncio.ensure_future(self._watch())

    async def _watch(self) -> None:
        while self._deadlines:
            await asyncio.sleep(0.25)
            now = time.monotonic()
            for task, deadline in list(self._deadlines.items()):
                if deadline <= now and task not in self._expired:
                    self._expired.add(task)
                    task.cancel()

    def _log_failure(self, fn: FunctionInfo, inv: str, exc: BaseException, ms: float) -> None:
        tb = "".join(traceback.format_exception(type(exc), exc, user_frames(exc.__traceback__)))
        log.error(
            "Executed 'Functions.%s' (Failed, Id=%s, Duration=%dms)\n"
            "Exception while executing function: Functions.%s. Result: Failure\n"
            "Exception: %s: %s\n%s",
            fn.name, inv, ms, fn.name, type(exc).__name__, exc, tb.rstrip(),
        )

    def shutdown(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
