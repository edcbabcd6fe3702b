"""The app the dashboard's browser tests drive (tests/e2e/test_dashboard.py): one orchestration
of each shape the dashboard draws — a quick chain, a wait for an external event, a failure, a
fan-out of N activities, a parent with a timer and a sub-orchestration, one held running (an hour's
timer and an activity that runs until the test lets it go) — plus an entity, an HTTP
route, a timer (for the Functions page's next occurrences) and a timer whose schedule is
invalid (a function that fails to load, listed with its error).
"""

from __future__ import annotations

import os
import time
from datetime import timedelta

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.orchestration_trigger(context_name="context")
def quick(context: df.DurableOrchestrationContext):
    greeting = yield context.call_activity("hello", context.get_input() or "world")
    return greeting


@app.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext):
    context.set_custom_status({"waitingFor": "Approval"})
    answer = yield context.wait_for_external_event("Approval")
    context.set_custom_status({"approvedBy": answer})
    return {"approved": answer}


@app.orchestration_trigger(context_name="context")
def failing(context: df.DurableOrchestrationContext):
    yield context.call_activity("hello", "before the failure")
    yield context.call_activity("explode", context.get_input())
    return "not reached"


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext):
    count = int(context.get_input() or 10)
    results = yield context.task_all([context.call_activity("work", i) for i in range(count)])
    return sum(results)


@app.orchestration_trigger(context_name="context")
def parent(context: df.DurableOrchestrationContext):
    yield context.create_timer(context.current_utc_datetime + timedelta(milliseconds=200))
    child = yield context.call_sub_orchestrator("quick", "child")
    return {"child": child}


@app.orchestration_trigger(context_name="context")
def held(context: df.DurableOrchestrationContext):
    timer = context.create_timer(context.current_utc_datetime + timedelta(hours=1))
    yield context.task_any([timer, context.call_activity("hold", context.get_input())])
    return "released"


@app.activity_trigger(input_name="flag")
def hold(flag: str) -> str:
    """Runs until the file `flag` exists (a minute at most)."""
    deadline = time.monotonic() + 60
    while not os.path.exists(flag) and time.monotonic() < deadline:
        time.sleep(0.02)
    return "released"


@app.activity_trigger(input_name="name")
def hello(name: str) -> str:
    return f"Hello {name}!"


@app.activity_trigger(input_name="why")
def explode(why: str) -> str:
    raise ValueError(f"exploded on purpose: {why}")


@app.activity_trigger(input_name="n")
def work(n: int) -> int:
    # Some arithmetic whose cost grows with n: the fan-out's bars get different lengths.
    total = 0
    for i in range((n % 17) * 20000):
        total += i % 7
    return n + total * 0


@app.entity_trigger(context_name="context")
def Counter(context: df.DurableEntityContext) -> None:
    current = context.get_state(lambda: 0)
    if context.operation_name == "add":
        context.set_state(current + context.get_input())
    elif context.operation_name == "reset":
        context.set_state(0)
    elif context.operation_name == "get":
        context.set_result(current)


@app.route(route="ping", methods=["GET"])
def ping(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("pong")


@app.timer_trigger(schedule="0 0 3 * * *", arg_name="timer", run_on_startup=False)
def nightly(timer: func.TimerRequest) -> None:
    pass


@app.timer_trigger(schedule="not a schedule", arg_name="timer")
def broken_timer(timer: func.TimerRequest) -> None:
    pass
