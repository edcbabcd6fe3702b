"""The SDK's DurableOrchestrationClient entity calls, behind HTTP routes the entity API tests
call. No orchestrator, activity or entity function: the host runs no task hub worker, so what
a signal queues stays in the store for the tests to read."""

import json

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="entity/{name}/{key}", methods=["GET", "POST"])
@app.durable_client_input(client_name="client")
async def entity(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    """POST ?op=NAME signals with the JSON body's value as input (none without a body); GET
    answers read_entity_state as {"exists", "state"}; an SDK error is {"error"} (500)."""
    entity_id = df.EntityId(req.route_params["name"], req.route_params["key"])
    try:
        if req.method == "POST":
            body = req.get_body()
            await client.signal_entity(entity_id, req.params["op"],
                                       json.loads(body) if body else None)
            return func.HttpResponse(status_code=202)
        state = await client.read_entity_state(entity_id)
    except Exception as exc:  # the SDK raises plain Exceptions for unexpected statuses
        return func.HttpResponse(json.dumps({"error": str(exc)}), status_code=500,
                                 mimetype="application/json")
    return func.HttpResponse(json.dumps({"exists": state.entity_exists,
                                         "state": state.entity_state}),
                             mimetype="application/json")
