"""A mixed load for tests/e2e/test_scaleout.py: chains, fan-outs, external events and a timer,
on a PostgreSQL task hub shared by several hosts (host.json points at the FUNCPY_PG setting)."""

import os
import time

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.orchestration_trigger(context_name="context")
def chain(context: df.DurableOrchestrationContext):
    n = context.get_input()
    total = 0
    for i in range(n):
        total += yield context.call_activity("work", i)
    return total


@app.orchestration_trigger(context_name="context")
def fanout(context: df.DurableOrchestrationContext):
    n = context.get_input()
    results = yield context.task_all([context.call_activity("work", i) for i in range(n)])
    return sum(results)


@app.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext):
    decision = yield context.wait_for_external_event("decision")
    done = yield context.call_activity("work", 1)
    return {"decision": decision, "done": done}


@app.activity_trigger(input_name="i")
def work(i: int) -> int:
    time.sleep(0.03)
    with open(os.environ["FUNCPY_TEST_RUNS"], "a") as f:
        f.write(f"{os.getpid()} {i}\n")
    return i * 2


@app.timer_trigger(schedule="*/2 * * * * *", arg_name="timer", use_monitor=True)
def tick(timer: func.TimerRequest) -> None:
    with open(os.environ["FUNCPY_TEST_TICKS"], "a") as f:
        f.write(f"{timer.schedule_status.get('Next')} {os.getpid()}\n")
