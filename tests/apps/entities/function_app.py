"""Durable Entities as the Durable Functions docs write them (v2 model): the counter entity
(add, reset, get, delete), an entity written with `df.Entity.create` by hand, orchestrations
that call and signal entities, and clients that signal and read them. Driven by
tests/e2e/test_entities.py through the real `func-py start`.
"""

from __future__ import annotations

import json

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.entity_trigger(context_name="context")
def Counter(context: df.DurableEntityContext) -> None:
    current = context.get_state(lambda: 0)
    op = context.operation_name
    if op == "add":
        current += context.get_input()
        context.set_state(current)
    elif op == "reset":
        context.set_state(0)
    elif op == "get":
        context.set_result(current)
    elif op == "fail":
        raise ValueError(f"counter refuses: {context.get_input()}")
    elif op == "delete":
        context.destruct_on_exit()


def cart_function(context: df.DurableEntityContext) -> None:
    items = context.get_state(list)
    if context.operation_name == "put":
        items.append(context.get_input())
        context.set_state(items)
    context.set_result(items)


# An entity registered under another name than its function's.
app.entity_trigger(context_name="context", entity_name="Cart")(cart_function)


@app.orchestration_trigger(context_name="context")
def count_orchestrator(context: df.DurableOrchestrationContext):
    """Adds the input's amount to counter KEY, then reads it back through a call."""
    args = context.get_input()
    entity = df.EntityId("Counter", args["key"])
    yield context.call_entity(entity, "add", args["amount"])
    value = yield context.call_entity(entity, "get")
    return value


@app.orchestration_trigger(context_name="context")
def signal_orchestrator(context: df.DurableOrchestrationContext):
    args = context.get_input()
    context.signal_entity(df.EntityId("Counter", args["key"]), "add", args["amount"])
    return "signalled"


@app.orchestration_trigger(context_name="context")
def read_orchestrator(context: df.DurableOrchestrationContext):
    return (yield context.call_entity(df.EntityId("Counter", context.get_input()), "get"))


@app.orchestration_trigger(context_name="context")
def signal_many_orchestrator(context: df.DurableOrchestrationContext):
    """Signals counter KEY `times` times with add 1, then reads it (signals from one sender
    arrive in order, so the read sees them all)."""
    args = context.get_input()
    entity = df.EntityId("Counter", args["key"])
    for _ in range(args["times"]):
        context.signal_entity(entity, "add", 1)
    return (yield context.call_entity(entity, "get"))


@app.orchestration_trigger(context_name="context")
def delete_orchestrator(context: df.DurableOrchestrationContext):
    return (yield context.call_entity(df.EntityId("Counter", context.get_input()), "delete"))


@app.orchestration_trigger(context_name="context")
def failing_call_orchestrator(context: df.DurableOrchestrationContext):
    try:
        yield context.call_entity(df.EntityId("Counter", context.get_input()), "fail", "no")
    except Exception as exc:  # the entity's exception reaches the orchestrator
        return f"caught: {exc}"
    return "not raised"


@app.orchestration_trigger(context_name="context")
def cart_orchestrator(context: df.DurableOrchestrationContext):
    entity = df.EntityId("Cart", context.get_input())
    first = yield context.call_entity(entity, "put", {"sku": "apple"})
    second = yield context.call_entity(entity, "put", {"sku": "pear"})
    return [first, second]


@app.route(route="start/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    instance_id = await client.start_new(req.route_params["name"], None, req.get_json())
    return client.create_check_status_response(req, instance_id)


@app.route(route="counter/{key}/{op}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def signal(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    body = req.get_body()
    value = json.loads(body) if body else None
    await client.signal_entity(df.EntityId("Counter", req.route_params["key"]),
                               req.route_params["op"], value)
    return func.HttpResponse(status_code=202)


@app.route(route="counter/{key}", methods=["GET"])
@app.durable_client_input(client_name="client")
async def read(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    state = await client.read_entity_state(df.EntityId("Counter", req.route_params["key"]))
    return func.HttpResponse(json.dumps({"exists": state.entity_exists,
                                         "state": state.entity_state}),
                             mimetype="application/json")
