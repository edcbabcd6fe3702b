"""A Durable Functions app exercising every orchestration feature func-py supports, written
exactly as for Azure (azure-functions + azure-functions-durable 1.x, v2 model). Driven by
tests/e2e/test_durable*.py through the real `func-py start`.

Attempt counters live in files under `attempts/` next to this module (not `.py`, so hot
reload ignores them); a key per test keeps instances apart.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import azure.functions as func
from azure.durable_functions.models import PurgeHistoryResult
from azure.durable_functions.models.DurableOrchestrationStatus import (
    DurableOrchestrationStatus,
)
from shapes import Point

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
ATTEMPTS = Path(__file__).parent / "attempts"


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _bump(key: str) -> int:
    ATTEMPTS.mkdir(exist_ok=True)
    f = ATTEMPTS / f"{key}.txt"
    n = int(f.read_text()) + 1 if f.exists() else 1
    f.write_text(str(n))
    return n


# -- activities -------------------------------------------------------------------------------

@app.activity_trigger(input_name="name")
def hello(name: str) -> str:
    return f"Hello {name}!"


@app.activity_trigger(input_name="n")
async def double(n: int) -> int:
    await asyncio.sleep(0)  # a real await: async activities run on the loop
    return n * 2


@app.activity_trigger(input_name="job")
def flaky(job: dict) -> int:
    """Fails its first `fail_times` attempts for `key`, then returns the attempt number."""
    n = _bump(job["key"])
    if n <= job["fail_times"]:
        raise ValueError(f"attempt {n} failed")
    return n


@app.activity_trigger(input_name="what")
def always_fails(what: str) -> str:
    raise ValueError(f"no luck with {what}")


@app.activity_trigger(input_name="p")
def move(p: Point) -> Point:
    return Point(p.x + 1, p.y + 1)


@app.activity_trigger(input_name="spec", activity="Renamed_Activity")
def renamed(spec: Any) -> str:
    return f"renamed got {spec!r}"


@app.activity_trigger(input_name="delay")
async def sleepy(delay: float) -> float:
    await asyncio.sleep(delay)
    return delay


# -- orchestrators ----------------------------------------------------------------------------

@app.orchestration_trigger(context_name="context")
def chain(context: df.DurableOrchestrationContext):
    a = yield context.call_activity("hello", "Tokyo")
    b = yield context.call_activity("HELLO", "Seattle")  # names are case-insensitive
    c = yield context.call_activity("hello", context.get_input())
    d = yield context.call_activity("Renamed_Activity", [1, 2])
    return [a, b, c, d]


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext):
    n = context.get_input()
    results = yield context.task_all([context.call_activity("double", i) for i in range(n)])
    return {"results": results, "sum": sum(results)}


@app.orchestration_trigger(context_name="context")
def first_of(context: df.DurableOrchestrationContext):
    """task_any over activities: a fast one and a slow one; the fast one wins."""
    slow = context.call_activity("sleepy", 2)
    fast = context.call_activity("sleepy", 0)
    winner = yield context.task_any([slow, fast])
    return {"winner": winner.result, "fast_won": winner is fast}


@app.orchestration_trigger(context_name="context")
def race(context: df.DurableOrchestrationContext):
    """An event against a timer (the classic approval timeout)."""
    seconds = context.get_input()
    timer = context.create_timer(context.current_utc_datetime + dt.timedelta(seconds=seconds))
    answer = context.wait_for_external_event("answer")
    winner = yield context.task_any([answer, timer])
    if winner is answer:
        timer.cancel()
        return {"winner": "event", "value": answer.result}
    return {"winner": "timer"}


@app.orchestration_trigger(context_name="context")
def retry_ok(context: df.DurableOrchestrationContext):
    job = context.get_input()
    options = df.RetryOptions(first_retry_interval_in_milliseconds=200,
                              max_number_of_attempts=job.pop("max", 3))
    attempt = yield context.call_activity_with_retry("flaky", options, job)
    return {"succeeded_on_attempt": attempt}


@app.orchestration_trigger(context_name="context")
def retry_fail(context: df.DurableOrchestrationContext):
    job = context.get_input()
    options = df.RetryOptions(first_retry_interval_in_milliseconds=100,
                              max_number_of_attempts=job.pop("max", 3))
    try:
        yield context.call_activity_with_retry("flaky", options, job)
    except Exception as exc:
        return {"error": str(exc)}
    return {"error": None}


@app.orchestration_trigger(context_name="context")
def child(context: df.DurableOrchestrationContext):
    x = context.get_input()
    doubled = yield context.call_activity("double", x["n"])
    return {"doubled": doubled, "me": context.instance_id,
            "parent": context.parent_instance_id}


@app.orchestration_trigger(context_name="context")
def flaky_child(context: df.DurableOrchestrationContext):
    n = yield context.call_activity("flaky", context.get_input())  # no retry here
    return {"attempt": n, "me": context.instance_id}


@app.orchestration_trigger(context_name="context", orchestration="Aliased_Child")
def aliased(context: df.DurableOrchestrationContext):
    """Registered under another name than the function's."""
    greeting = yield context.call_activity("hello", context.get_input())
    return {"greeting": greeting, "parent": context.parent_instance_id}


@app.orchestration_trigger(context_name="context")
def parent(context: df.DurableOrchestrationContext):
    key = context.get_input()
    first = yield context.call_sub_orchestrator("child", {"n": 1})
    named = yield context.call_sub_orchestrator("child", {"n": 2}, f"{context.instance_id}-kid")
    both = yield context.task_all([context.call_sub_orchestrator("child", {"n": i})
                                   for i in (3, 4)])
    options = df.RetryOptions(first_retry_interval_in_milliseconds=100,
                              max_number_of_attempts=3)
    retried = yield context.call_sub_orchestrator_with_retry(
        "flaky_child", options, {"key": key, "fail_times": 1})
    alias = yield context.call_sub_orchestrator("aliased_child", "alias")
    try:
        yield context.call_sub_orchestrator("boom", "from parent")
        failed = None
    except Exception as exc:
        failed = str(exc)
    return {"first": first, "named": named, "both": both, "retried": retried,
            "alias": alias, "failed": failed, "parent_of_parent": context.parent_instance_id}


@app.orchestration_trigger(context_name="context")
def timer(context: df.DurableOrchestrationContext):
    seconds = context.get_input()
    before = context.current_utc_datetime
    yield context.create_timer(before + dt.timedelta(seconds=seconds))
    after = context.current_utc_datetime
    return {"before": _iso(before), "after": _iso(after)}


@app.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext):
    context.set_custom_status("waiting for approval")
    value = yield context.wait_for_external_event("approve")
    context.set_custom_status({"approved": True})
    return {"approved_with": value}


@app.orchestration_trigger(context_name="context")
def two_events(context: df.DurableOrchestrationContext):
    """Waits for `first` then `second`; a `second` raised early is buffered by the SDK."""
    a = yield context.wait_for_external_event("first")
    context.set_custom_status("got first")
    b = yield context.wait_for_external_event("second")
    return [a, b]


@app.orchestration_trigger(context_name="context")
def ticker(context: df.DurableOrchestrationContext):
    """One event per execution, then continue_as_new until `want` events were seen."""
    state = context.get_input()
    tick = yield context.wait_for_external_event("tick")
    seen = [*state["seen"], tick]
    if len(seen) < state["want"]:
        context.continue_as_new({"seen": seen, "want": state["want"]})
        return None
    return seen


@app.orchestration_trigger(context_name="context")
def counter(context: df.DurableOrchestrationContext):
    """continue_as_new without events: count up to a limit, each execution doing one activity."""
    n = context.get_input() or 0
    yield context.call_activity("double", n)
    if n < 3:
        context.continue_as_new(n + 1)
        return None
    return n


@app.orchestration_trigger(context_name="context")
def clock(context: df.DurableOrchestrationContext):
    """current_utc_datetime, new_uuid and is_replaying across episodes (and host restarts)."""
    t0 = _iso(context.current_utc_datetime)
    u0 = [context.new_uuid(), context.new_uuid()]
    if not context.is_replaying:
        logging.info("clock step=0 instance=%s", context.instance_id)
    context.set_custom_status({"t0": t0, "u0": u0})
    go = yield context.wait_for_external_event("go")
    t1 = _iso(context.current_utc_datetime)
    u1 = context.new_uuid()
    if not context.is_replaying:
        logging.info("clock step=1 instance=%s", context.instance_id)
    greeting = yield context.call_activity("hello", go)
    t2 = _iso(context.current_utc_datetime)
    if not context.is_replaying:
        logging.info("clock step=2 instance=%s", context.instance_id)
    return {"t0": t0, "u0": u0, "t1": t1, "u1": u1, "t2": t2, "greeting": greeting,
            "replaying_at_end": context.is_replaying}


@app.orchestration_trigger(context_name="context")
def inputs(context: df.DurableOrchestrationContext):
    value = context.get_input()
    if isinstance(value, Point):
        moved = yield context.call_activity("move", value)
        # Returned as plain data: SDK 1.x refuses custom objects in an orchestrator's output.
        return {"type": "Point", "x": value.x, "moved": [type(moved).__name__, moved.x, moved.y]}
    if value == "return a point":
        return Point(0, 0)  # fails the instance, in Azure too (the SDK's json.dumps check)
    return {"type": type(value).__name__, "value": value}


@app.orchestration_trigger(context_name="context")
def boom(context: df.DurableOrchestrationContext):
    yield context.call_activity("hello", "before the crash")
    raise ValueError(f"kaboom: {context.get_input()}")


@app.orchestration_trigger(context_name="context")
def catcher(context: df.DurableOrchestrationContext):
    try:
        yield context.call_activity("always_fails", "catcher")
    except Exception as exc:
        return {"caught": str(exc)}
    return {"caught": None}


@app.orchestration_trigger(context_name="context")
def missing(context: df.DurableOrchestrationContext):
    """Calls an activity and a sub-orchestrator that don't exist: each call fails, catchably."""
    errors = []
    try:
        yield context.call_activity("no_such_activity", 1)
    except Exception as exc:
        errors.append(str(exc))
    try:
        yield context.call_sub_orchestrator("no_such_orchestrator", 1)
    except Exception as exc:
        errors.append(str(exc))
    return errors


@app.orchestration_trigger(context_name="context")
def rewindable(context: df.DurableOrchestrationContext):
    """Fails on its first run (flaky fails once); a rewind runs the activity again."""
    greeting = yield context.call_activity("hello", "rewind")
    n = yield context.call_activity("flaky", {"key": context.get_input(), "fail_times": 1})
    return {"greeting": greeting, "attempt": n}


@app.orchestration_trigger(context_name="context")
def plain(context: df.DurableOrchestrationContext):
    """An orchestrator with no yield at all."""
    if context.get_input() == "raise":
        raise ValueError("plain failure")
    return {"plain": context.get_input()}


@app.orchestration_trigger(context_name="context")
def call_then_wait(context: df.DurableOrchestrationContext):
    """tests/e2e/test_durable_replay.py hot-edits the lines below (keep them as they are)."""
    first = yield context.call_activity("hello", "original")
    go = yield context.wait_for_external_event("go")
    return {"first": first, "go": go, "version": 1}


# -- HTTP starters and client calls (the SDK's DurableOrchestrationClient) -------------------

@app.route(route="orchestrators/{functionName}/{instanceId?}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def http_start(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    """The starter every Durable Functions sample has."""
    body = req.get_body()
    payload = json.loads(body) if body else None
    instance_id = await client.start_new(req.route_params["functionName"],
                                         req.route_params.get("instanceId"), payload)
    logging.info("Started orchestration with ID = '%s'.", instance_id)
    return client.create_check_status_response(req, instance_id)


@app.route(route="run/{functionName}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def http_run(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    """Start and wait (up to ?timeout= ms) for the result."""
    body = req.get_body()
    instance_id = await client.start_new(req.route_params["functionName"], None,
                                         json.loads(body) if body else None)
    timeout = int(req.params.get("timeout", "10000"))
    return await client.wait_for_completion_or_create_check_status_response(
        req, instance_id, timeout_in_milliseconds=timeout,
        retry_interval_in_milliseconds=min(100, timeout))


def _when(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _jsonable(value: Any) -> Any:
    if isinstance(value, DurableOrchestrationStatus):
        out = value.to_json()
        out["historyEvents"] = getattr(value, "historyEvents", None)
        return out
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, PurgeHistoryResult):
        return {"instancesDeleted": value.instances_deleted}
    return value


@app.route(route="client/{method}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def client_call(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    """Calls one DurableOrchestrationClient method with the JSON body's keyword arguments;
    answers {"result": ...} or {"error": message} (status 500)."""
    method = req.route_params["method"]
    kwargs = req.get_json() if req.get_body() else {}
    for key in ("created_time_from", "created_time_to"):
        if key in kwargs:
            kwargs[key] = _when(kwargs[key])
    if kwargs.get("runtime_status") is not None:
        kwargs["runtime_status"] = [df.OrchestrationRuntimeStatus(s)
                                    for s in kwargs["runtime_status"]]
    try:
        result = await getattr(client, method)(**kwargs)
    except Exception as exc:
        return func.HttpResponse(json.dumps({"error": str(exc)}), status_code=500,
                                 mimetype="application/json")
    if isinstance(result, DurableOrchestrationStatus) and not result:
        return func.HttpResponse(json.dumps({"result": None, "falsy": True}),
                                 mimetype="application/json")
    return func.HttpResponse(json.dumps({"result": _jsonable(result)}, default=str),
                             mimetype="application/json")


@app.orchestration_trigger(context_name="context")
def my_version(context: df.DurableOrchestrationContext):
    return context.version


@app.orchestration_trigger(context_name="context")
def versions(context: df.DurableOrchestrationContext):
    child = yield context.call_sub_orchestrator("my_version", None)
    pinned = yield context.call_sub_orchestrator("my_version", None, version="9.9")
    return {"me": context.version, "child": child, "pinned": pinned}


@app.orchestration_trigger(context_name="context")
def branchy(context: df.DurableOrchestrationContext):
    """Not deterministic, on purpose: calls the activity a file names, which a test rewrites
    between two episodes (works with a live session only; fails on Azure's replay)."""
    with open(context.get_input()) as f:
        activity = f.read().strip()
    first = yield context.call_activity(activity, "x")
    yield context.wait_for_external_event("go")
    return first


@app.orchestration_trigger(context_name="context")
def call_busy(context: df.DurableOrchestrationContext):
    """Starts `approval` under an explicit id that the test keeps running."""
    try:
        yield context.call_sub_orchestrator("approval", None, context.get_input())
    except Exception as exc:  # the SDK surfaces the failure as a plain Exception
        return f"refused: {exc}"
    return "started"
