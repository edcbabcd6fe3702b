"""func-py's demo app: a small shop, written with the official azure.functions package.

`func-py start` in the repository root serves it (it would run unchanged under Core Tools).
The catalogue lives in a blueprint (`catalog.py`); this module holds the app and a greeting.
"""

import azure.functions as func

from .catalog import bp as catalog

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
app.register_functions(catalog)


@app.route(route="hello/{name?}", methods=["GET"])
def hello(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/hello/Ada or /api/hello?name=Ada"""
    name = req.route_params.get("name") or req.params.get("name") or "world"
    return func.HttpResponse(f"Hello, {name}!")
