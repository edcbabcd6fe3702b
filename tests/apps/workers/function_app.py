"""Worker-process test app (tests/e2e/test_workers.py): every answer names the process that
gave it; activities and timer firings are recorded with their pid in $FUNCPY_TEST_RECORDS."""

import json
import os
import time

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
VERSION = "v1"


def record(kind: str, **fields: object) -> None:
    folder = os.environ.get("FUNCPY_TEST_RECORDS")
    if folder:
        with open(os.path.join(folder, f"{kind}.jsonl"), "a") as f:
            f.write(json.dumps({"pid": os.getpid(), **fields}) + "\n")


@app.route(route="pid")
def pid(req: func.HttpRequest) -> str:
    return f"{VERSION} {os.getpid()}"


@app.route(route="slow")
def slow(req: func.HttpRequest) -> str:
    time.sleep(float(req.params.get("s", "2")))
    return f"slow done {os.getpid()}"


@app.route(route="crash")
def crash(req: func.HttpRequest) -> str:
    if req.params.get("how") == "segv":
        import ctypes

        ctypes.string_at(0)  # a segfault, as a broken C extension would cause
    os._exit(3)


@app.route(route="start/{name}")
@app.durable_client_input(client_name="client")
async def start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    iid = await client.start_new(req.route_params["name"], None, int(req.params.get("n", "3")))
    return func.HttpResponse(json.dumps({"id": iid, "pid": os.getpid()}),
                             mimetype="application/json")


@app.orchestration_trigger(context_name="context")
def fanout(context: df.DurableOrchestrationContext):
    n = context.get_input()
    results = yield context.task_all([context.call_activity("work", i) for i in range(n)])
    return sum(results)


@app.orchestration_trigger(context_name="context")
def chain(context: df.DurableOrchestrationContext):
    total = 0
    for i in range(context.get_input()):
        total += yield context.call_activity("work", i)
    return total


@app.activity_trigger(input_name="i")
def work(i: int) -> int:
    time.sleep(0.05)
    record("work", i=i)
    return i * 2


@app.timer_trigger(schedule="*/1 * * * * *", arg_name="timer", use_monitor=True)
def tick(timer: func.TimerRequest) -> None:
    record("tick", next=timer.schedule_status.get("Next") if timer.schedule_status else None)
