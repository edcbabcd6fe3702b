"""The app tests/e2e/test_harness.py loads with func-py's harness (copied to a temporary
folder first, as a user's app would be anywhere): an HTTP route and a durable starter, timers,
an external event, a Counter entity, a timer function, and an orchestrator that reads a module
global the test flips between episodes (a replay bug)."""

import os
from datetime import timedelta

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

STEP = "first"  # what `drifting` calls first: the non-determinism test changes it
TICKS: list[str] = []  # one line per run of `hourly`


@app.route(route="greet/{name}", methods=["GET"])
def greet(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"{os.environ['GREETING']}, {req.route_params['name']}!",
                             headers={"X-Served-By": "harness-app"})


@app.route(route="start/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    body = req.get_body()
    instance_id = await client.start_new(req.route_params["name"], None,
                                         req.get_json() if body else None)
    return client.create_check_status_response(req, instance_id)


@app.orchestration_trigger(context_name="context")
def sleeper(context: df.DurableOrchestrationContext):
    """current_utc_datetime before and after a durable timer of `input` seconds."""
    before = context.current_utc_datetime
    yield context.create_timer(before + timedelta(seconds=context.get_input()))
    return [before.isoformat(), context.current_utc_datetime.isoformat()]


@app.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext):
    context.set_custom_status("waiting")
    return (yield context.wait_for_external_event("decision"))


@app.orchestration_trigger(context_name="context")
def approval_with_deadline(context: df.DurableOrchestrationContext):
    timer = context.create_timer(context.current_utc_datetime + timedelta(hours=24))
    decision = context.wait_for_external_event("decision")
    winner = yield context.task_any([decision, timer])
    if winner == decision:
        timer.cancel()
        return decision.result
    return "expired"


@app.orchestration_trigger(context_name="context")
def drifting(context: df.DurableOrchestrationContext):
    first = yield context.call_activity(STEP, None)  # a global read: not deterministic
    yield context.create_timer(context.current_utc_datetime + timedelta(hours=1))
    return [first, (yield context.call_activity("second", None))]


@app.orchestration_trigger(context_name="context")
def drifting_late(context: df.DurableOrchestrationContext):
    """The same bug, showing only once the history has outgrown the replay check's replay of
    every episode (host/taskhub/instance_state.py), and before it doubles: the check's last
    replay, at the end of the execution, is what catches it."""
    first = yield context.call_activity(STEP, None)
    for _ in range(context.get_input()):
        yield context.call_activity("second", None)
    yield context.create_timer(context.current_utc_datetime + timedelta(hours=1))
    return first


@app.orchestration_trigger(context_name="context")
def ticker(context: df.DurableOrchestrationContext):
    """An eternal orchestration: one execution an hour, counting."""
    count = context.get_input() or 0
    context.set_custom_status(count)
    yield context.create_timer(context.current_utc_datetime + timedelta(hours=1))
    context.continue_as_new(count + 1)


@app.orchestration_trigger(context_name="context")
def chain(context: df.DurableOrchestrationContext):
    total = 0
    for i in range(context.get_input()):
        total += yield context.call_activity("double", i)
    return total


@app.activity_trigger(input_name="x")
def first(x: None) -> str:
    return "first"


@app.activity_trigger(input_name="x")
def second(x: None) -> str:
    return "second"


@app.activity_trigger(input_name="n")
def double(n: int) -> int:
    return 2 * n


@app.activity_trigger(input_name="name")
def hello(name: str) -> str:
    if not name:
        raise ValueError("a name is needed")
    return f"Hello {name}"


@app.entity_trigger(context_name="context", entity_name="Counter")
def counter(context: df.DurableEntityContext) -> None:
    value = context.get_state(lambda: 0)
    if context.operation_name == "add":
        value += context.get_input()
    elif context.operation_name == "reset":
        value = 0
    context.set_state(value)
    context.set_result(value)


@app.timer_trigger(schedule="0 0 * * * *", arg_name="timer", run_on_startup=True)
def hourly(timer: func.TimerRequest) -> None:
    TICKS.append("past due" if timer.past_due else "on time")
