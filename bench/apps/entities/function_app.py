"""Entities and orchestrations for bench/entities.py: a counter entity; orchestrations that
signal one counter or many, call one counter in sequence, and (the baseline measured in the
same run) chain or fan out a trivial activity."""

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.entity_trigger(context_name="context")
def Counter(context: df.DurableEntityContext) -> None:
    current = context.get_state(lambda: 0)
    if context.operation_name == "add":
        current += context.get_input()
        context.set_state(current)
        context.set_result(current)
    elif context.operation_name == "get":
        context.set_result(current)
    elif context.operation_name == "delete":  # between rounds, to keep entity lists short
        context.destruct_on_exit()


@app.orchestration_trigger(context_name="context")
def signal_one(context: df.DurableOrchestrationContext):
    """Signals counter KEY `n` times with add 1, then reads it: signals from one sender arrive
    in order, so the read answers once all of them are applied."""
    args = context.get_input()
    entity = df.EntityId("Counter", args["key"])
    for _ in range(args["n"]):
        context.signal_entity(entity, "add", 1)
    return (yield context.call_entity(entity, "get"))


@app.orchestration_trigger(context_name="context")
def signal_spread(context: df.DurableOrchestrationContext):
    """Signals counters PREFIX0..PREFIX{keys-1} round-robin, `n` signals in all, then reads
    every one of them at once (task_all) and returns the sum."""
    args = context.get_input()
    entities = [df.EntityId("Counter", f"{args['prefix']}{i}") for i in range(args["keys"])]
    for i in range(args["n"]):
        context.signal_entity(entities[i % len(entities)], "add", 1)
    values = yield context.task_all([context.call_entity(e, "get") for e in entities])
    return sum(values)


@app.orchestration_trigger(context_name="context")
def call_chain(context: df.DurableOrchestrationContext):
    """`n` sequential calls of add 1 on counter KEY: each waits for the entity's answer."""
    args = context.get_input()
    entity = df.EntityId("Counter", args["key"])
    value = 0
    for _ in range(args["n"]):
        value = yield context.call_entity(entity, "add", 1)
    return value


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


@app.activity_trigger(input_name="x")
def noop(x: int) -> int:
    return x
