"""Settings from local.settings.json and host.json, as a function sees them."""

import asyncio
import json
import os

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="env")
def env(req: func.HttpRequest) -> func.HttpResponse:
    names = req.params.get("names", "").split(",")
    # None (JSON null) tells "unset" apart from "set to the empty string".
    return func.HttpResponse(json.dumps({n: os.environ.get(n) for n in names}),
                             mimetype="application/json")


@app.route(route="%ROUTE_SEGMENT%/hello")
def from_setting(req: func.HttpRequest) -> str:
    return "resolved route"


@app.route(route="slow")
async def slow(req: func.HttpRequest) -> str:
    await asyncio.sleep(float(req.params.get("seconds", "5")))
    return "finished"


@app.route(route="disabled")
def disabled_fn(req: func.HttpRequest) -> str:
    return "should be disabled"
