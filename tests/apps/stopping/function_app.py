"""Work that blocks, for the stop tests (the fan-out sample's shape: sync activities sleeping
in the thread pool, and HTTP functions that sleep), plus HTTP functions that log, for the
log-ordering test. Sleep lengths come from the query or SLEEP_SECONDS (default 120)."""

import asyncio
import logging
import os
import time

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


def _seconds(req: func.HttpRequest | None = None) -> float:
    given = req.params.get("seconds") if req is not None else None
    return float(given or os.environ.get("SLEEP_SECONDS", "120"))


@app.route(route="block", methods=["GET"])
def block(req: func.HttpRequest) -> func.HttpResponse:
    logging.info("block sleeping")
    time.sleep(_seconds(req))
    return func.HttpResponse("woke")


@app.route(route="block-async", methods=["GET"])
async def block_async(req: func.HttpRequest) -> func.HttpResponse:
    logging.info("block-async sleeping")
    await asyncio.sleep(_seconds(req))
    return func.HttpResponse("woke")


@app.route(route="fanout/{count:int}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start_fanout(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    instance_id = await client.start_new("fan_out", None, int(req.route_params["count"]))
    return client.create_check_status_response(req, instance_id)


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext):
    count = context.get_input()
    results = yield context.task_all([context.call_activity("sleepy", i) for i in range(count)])
    return results


@app.activity_trigger(input_name="index")
def sleepy(index: int) -> str:
    logging.info("sleepy %s started", index)
    time.sleep(_seconds())
    return f"slept {index}"


@app.route(route="logline/{n:int}", methods=["GET"])
def logline(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    logging.info("logline %s from %s", req.route_params["n"], context.invocation_id)
    return func.HttpResponse(context.invocation_id)


@app.route(route="logline-async/{n:int}", methods=["GET"])
async def logline_async(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    logging.info("logline %s from %s", req.route_params["n"], context.invocation_id)
    return func.HttpResponse(context.invocation_id)


@app.timer_trigger(schedule="0 0 0 1 1 *", arg_name="timer", run_on_startup=True,
                   use_monitor=False)
def blocking_timer(timer: func.TimerRequest) -> None:
    # The timer service waits for a run in flight longer than a short drain limit allows.
    if os.environ.get("BLOCK_TIMER") == "1":
        logging.info("timer blocking")
        time.sleep(_seconds())
