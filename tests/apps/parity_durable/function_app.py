"""A small Durable app whose host.json names its task hub through an app setting
(`"hubName": "%TASKHUB_NAME%"`, as Azure samples do)."""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="start")
@app.durable_client_input(client_name="client")
async def start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    instance_id = await client.start_new("greet", None, "parity")
    return client.create_check_status_response(req, instance_id)


@app.orchestration_trigger(context_name="context")
def greet(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    name = context.get_input()
    return (yield context.call_activity("hello", name))


@app.activity_trigger(input_name="name")
def hello(name: str) -> str:
    return f"Hello {name}!"
