"""Trace propagation through the real host (tests/e2e/test_tracing.py): an HTTP starter starts
an orchestration that calls two activities and a sub-orchestration (which calls a third);
each function that gets a `func.Context` reports `context.trace_context`, and the orchestrator
returns what its activities reported. Written exactly as for Azure."""

from __future__ import annotations

import json
from typing import Any

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


def _trace(context: func.Context) -> dict[str, str]:
    return {"trace_parent": context.trace_context.trace_parent,
            "trace_state": context.trace_context.trace_state}


@app.route(route="start")
@app.durable_client_input(client_name="client")
async def starter(req: func.HttpRequest, client: df.DurableOrchestrationClient,
                  context: func.Context) -> func.HttpResponse:
    instance_id = await client.start_new("main")
    return func.HttpResponse(json.dumps({"id": instance_id, **_trace(context)}),
                             mimetype="application/json")


@app.route(route="plain")
def plain(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(_trace(context)), mimetype="application/json")


@app.orchestration_trigger(context_name="context")
def main(context: df.DurableOrchestrationContext) -> Any:
    a = yield context.call_activity("where", "a")
    b = yield context.call_activity("where", "b")
    sub = yield context.call_sub_orchestrator("sub", None)
    return {"a": a, "b": b, "sub": sub}


@app.orchestration_trigger(context_name="context")
def sub(context: df.DurableOrchestrationContext) -> Any:
    c = yield context.call_activity("where", "c")
    return c


@app.activity_trigger(input_name="label")
def where(label: str, context: func.Context) -> dict[str, str]:
    return {"label": label, **_trace(context)}
