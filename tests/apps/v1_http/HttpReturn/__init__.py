"""The `$return` HTTP output, a route from an app setting, and `context` (not in function.json)."""

import json

import azure.functions as func

from ..shared import greeting


def main(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    body = {
        "greeting": greeting(req.route_params["name"]),
        "function_name": context.function_name,
        "function_directory": context.function_directory,
        "module": __name__,
    }
    return func.HttpResponse(json.dumps(body), mimetype="application/json")
