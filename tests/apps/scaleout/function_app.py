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


@app.entity_trigger(context_name="context")
def Tally(context: df.DurableEntityContext) -> None:
    """Counts; notes in FUNCPY_TEST_OVERLAPS any moment two hosts ran this entity at once (an
    exclusive non-blocking flock per key, held while the operation works)."""
    import fcntl

    lock_path = f"{os.environ['FUNCPY_TEST_RUNS']}.{context.entity_key}.lock"
    with open(lock_path, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            with open(os.environ["FUNCPY_TEST_OVERLAPS"], "a") as f:
                f.write(f"{context.entity_key} {os.getpid()}\n")
            fcntl.flock(lock, fcntl.LOCK_EX)
        time.sleep(0.005)  # the operation's work, long enough for an overlap to show
        if context.operation_name == "add":
            context.set_state(context.get_state(lambda: 0) + context.get_input())
        fcntl.flock(lock, fcntl.LOCK_UN)


@app.orchestration_trigger(context_name="context")
def signal_tally(context: df.DurableOrchestrationContext):
    context.signal_entity(df.EntityId("Tally", context.get_input()), "add", 1)
    return "sent"
