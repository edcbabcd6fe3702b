"""Orchestrations for bench/durable.py: a chain, a fan-out/fan-in and a one-activity
orchestration, over a trivial activity."""

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.orchestration_trigger(context_name="context")
def chain(context: df.DurableOrchestrationContext):
    n = context.get_input()
    total = 0
    for i in range(n):
        total += yield context.call_activity("noop", i)
    return total


@app.orchestration_trigger(context_name="context")
def fanout(context: df.DurableOrchestrationContext):
    n = context.get_input()
    results = yield context.task_all([context.call_activity("noop", i) for i in range(n)])
    return sum(results)


@app.orchestration_trigger(context_name="context")
def single(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("noop", 1))


@app.activity_trigger(input_name="x")
def noop(x: int) -> int:
    return x
