"""`context.call_http` as written for Azure (azure-functions-durable 1.x, v2 model): an
orchestrator calls HTTP functions of this same app (their base URL comes in its input) and a
port nobody listens on. Driven by tests/e2e/test_call_http.py through the real `func-py start`.
"""

from __future__ import annotations

import json

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
SECRET = "Bearer e2e-call-http-secret"  # the test checks no log line carries it


@app.route(route="target/ok", methods=["GET"])
def target_ok(req: func.HttpRequest) -> func.HttpResponse:
    body = {"hello": "world", "authorized": req.headers.get("authorization") == SECRET}
    return func.HttpResponse(json.dumps(body), mimetype="application/json",
                             headers={"X-Target": "ok"})


@app.route(route="target/missing", methods=["POST"])
def target_missing(req: func.HttpRequest) -> func.HttpResponse:
    sent = req.get_json()
    return func.HttpResponse(f"nothing here for {sent['k']}", status_code=404)


@app.orchestration_trigger(context_name="context")
def call_http_orchestrator(context: df.DurableOrchestrationContext):
    urls = context.get_input()
    ok = yield context.call_http("GET", f"{urls['base']}/api/target/ok",
                                 headers={"Authorization": SECRET})
    missing = yield context.call_http("POST", f"{urls['base']}/api/target/missing",
                                      content={"k": 7},
                                      headers={"Content-Type": "application/json"})
    try:
        yield context.call_http("GET", urls["refused"])
        error = None
    except Exception as exc:  # a request that got no response fails the task
        error = str(exc)
    return {
        "ok": {"status": ok["statusCode"], "body": json.loads(ok["content"]),
               "target": {k.lower(): v for k, v in ok["headers"].items()}.get("x-target")},
        "missing": {"status": missing["statusCode"], "body": missing["content"]},
        "error": error,
    }


@app.orchestration_trigger(context_name="context")
def call_once(context: df.DurableOrchestrationContext):
    """One call to the URL in the input (the crash test's counting server)."""
    response = yield context.call_http("GET", context.get_input())
    return {"status": response["statusCode"], "body": response["content"]}


@app.route(route="orchestrators/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    """The starter every Durable Functions sample has."""
    instance_id = await client.start_new(req.route_params["name"], None, req.get_json())
    return client.create_check_status_response(req, instance_id)
