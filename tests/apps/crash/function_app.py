"""A chain whose activities record each run in runs.log, for the crash tests."""

import os
import time

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.orchestration_trigger(context_name="context")
def chain(context: df.DurableOrchestrationContext):
    spec = context.get_input() or {}
    results = []
    for i in range(int(spec.get("steps", 6))):
        results.append((yield context.call_activity("step", {"i": i, "ms": spec.get("ms", 0)})))
    return results


@app.activity_trigger(input_name="job")
def step(job: dict) -> int:
    time.sleep(job["ms"] / 1000)
    with open("runs.log", "a") as f:
        f.write(f"{job['i']}\n")
        f.flush()
        os.fsync(f.fileno())
    return job["i"] * job["i"]


@app.orchestration_trigger(context_name="context")
def doomed(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("killer", None))


@app.activity_trigger(input_name="nothing")
def killer(nothing: None) -> None:
    """Kills its own host, every time: a poison message."""
    os.kill(os.getpid(), 9)


@app.orchestration_trigger(context_name="context")
def suicidal(context: df.DurableOrchestrationContext):
    """Once armed, kills its own host at every episode: a poison orchestrator."""
    yield context.call_activity("armed", None)
    os.kill(os.getpid(), 9)


@app.orchestration_trigger(context_name="context")
def doomed_later(context: df.DurableOrchestrationContext):
    yield context.call_activity("armed", None)
    return (yield context.call_activity("killer", None))


@app.activity_trigger(input_name="nothing")
def armed(nothing: None) -> None:
    """Returns once the test has created the file `armed` (the poison waits for it)."""
    while not os.path.exists("armed"):
        time.sleep(0.01)
