"""A small Durable Functions app for tests/e2e/test_api_hardening.py: HTTP functions that call
the SDK's DurableOrchestrationClient the way apps do (and echo its errors, as apps often do),
plus two orchestrators: one that finishes at once and one that waits for an event."""

from __future__ import annotations

import json

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


def _json(value: object, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(value), status_code=status, mimetype="application/json")


@app.orchestration_trigger(context_name="context")
def echo(context: df.DurableOrchestrationContext):
    return context.get_input()


@app.orchestration_trigger(context_name="context")
def wait_for_go(context: df.DurableOrchestrationContext):
    value = yield context.wait_for_external_event("go")
    return value


@app.route(route="start", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    """Starts `echo` under the id in the JSON body; an SDK error is echoed to the caller."""
    body = req.get_json()
    try:
        iid = await client.start_new(body.get("name", "echo"), body.get("id"), body.get("input"))
    except Exception as exc:
        return _json({"error": str(exc)}, 500)
    return _json({"id": iid})


@app.route(route="many", methods=["POST"])
@app.durable_client_input(client_name="client")
async def many(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    """Starts `n` instances of `echo` with ids `<prefix>-0000`, ..."""
    body = req.get_json()
    for i in range(int(body["n"])):
        await client.start_new("echo", f"{body['prefix']}-{i:04d}", i)
    return _json({"started": body["n"]})


@app.route(route="listed", methods=["POST"])
@app.durable_client_input(client_name="client")
async def listed(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    """What get_status_all and get_status_by(instance_id_prefix=...) return, as id lists."""
    prefix = req.get_json()["prefix"]
    every = [s.instance_id for s in await client.get_status_all()]
    by = [s.instance_id for s in await client.get_status_by(instance_id_prefix=prefix)]
    return _json({"all": every, "by_prefix": by})


@app.route(route="rpc-url", methods=["GET"])
@app.durable_client_input(client_name="client")
async def rpc_url(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    """The binding's rpcBaseUrl (the test needs the secret to look for it everywhere else)."""
    return _json({"rpcBaseUrl": client._orchestration_bindings.rpc_base_url})


@app.route(route="call", methods=["POST"])
@app.durable_client_input(client_name="client")
async def call(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    """Calls client.<method>(instance_id=<id>, **kwargs); echoes an SDK error."""
    body = req.get_json()
    try:
        result = await getattr(client, body["method"])(instance_id=body["id"],
                                                       **body.get("kwargs", {}))
    except Exception as exc:
        return _json({"error": str(exc)}, 500)
    return _json({"result": str(result)})
