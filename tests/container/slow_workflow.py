"""Test-only additions to the demo app, copied in as `function_app/slow.py` by the container
tests: a function-level HTTP starter, an orchestration whose activities take a while (for the
drain tests), a slow anonymous HTTP function, and an import gate for the readiness test."""

import asyncio
import os
import time

import azure.durable_functions as df
import azure.functions as func

_gate = os.environ.get("FUNCPY_TEST_IMPORT_GATE")
if _gate:  # the import waits until the test creates this file; readiness answers 503 meanwhile
    _deadline = time.monotonic() + 60
    while not os.path.exists(_gate) and time.monotonic() < _deadline:
        time.sleep(0.01)

bp = df.Blueprint()


@bp.function_name("SlowStart")
@bp.route(route="slow/{steps:int}", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
async def slow_start(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    instance_id = await client.start_new("SlowChain", None, int(req.route_params["steps"]))
    return client.create_check_status_response(req, instance_id)


@bp.function_name("SlowChain")
@bp.orchestration_trigger(context_name="context")
def slow_chain(context: df.DurableOrchestrationContext):
    done = []
    for step in range(context.get_input()):
        context.set_custom_status({"step": step})
        done.append((yield context.call_activity("SlowStep", step)))
    return done


@bp.function_name("SlowStep")
@bp.activity_trigger(input_name="step")
def slow_step(step: int) -> str:
    time.sleep(float(os.environ.get("SLOW_STEP_SECONDS", "2")))
    return f"step {step} done"


@bp.function_name("SlowHttp")
@bp.route(route="sleep/{ms:int}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def slow_http(req: func.HttpRequest) -> func.HttpResponse:
    await asyncio.sleep(int(req.route_params["ms"]) / 1000)
    return func.HttpResponse("slept")
