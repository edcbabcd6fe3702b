"""HTTP parity with Azure's worker and host: cookies, log categories, named http outputs."""

import json
import logging

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

unlevelled = logging.getLogger("parity.unlevelled")  # inherits the root logger's level
levelled = logging.getLogger("parity.levelled")
levelled.setLevel(logging.DEBUG)  # a level of its own: the worker's root pin does not apply


@app.route(route="cookies")
def cookies(req: func.HttpRequest) -> func.HttpResponse:
    """Adds each string of the JSON list `h` as a Set-Cookie header."""
    resp = func.HttpResponse("cookies", headers={"HELLO": "world"})
    for value in json.loads(req.params.get("h", "[]")):
        resp.headers.add("Set-Cookie", value)
    return resp


def _log_everything(tag: str) -> None:
    logging.debug("%s root debug", tag)
    logging.info("%s root info", tag)
    unlevelled.debug("%s unlevelled debug", tag)
    levelled.debug("%s levelled debug", tag)
    logging.getLogger("azure.functions.Sdk").error("%s sdk error", tag)
    logging.getLogger("azure_functions_worker").warning("%s worker warning", tag)
    logging.getLogger("azure_functions_worker_errors").error("%s worker error", tag)


@app.route(route="levels")
def levels(req: func.HttpRequest, context: func.Context) -> str:
    _log_everything(req.params.get("tag", "levels"))
    return context.invocation_id


@app.route(route="levels_info")
def levels_info(req: func.HttpRequest, context: func.Context) -> str:
    _log_everything(req.params.get("tag", "levels_info"))
    return context.invocation_id


@app.route(route="named", binding_arg_name="foo")
def named(req: func.HttpRequest, foo: func.Out[func.HttpResponse]):
    foo.set(func.HttpResponse(body="hello", status_code=201))


@app.route(route="named_cookie", binding_arg_name="foo")
def named_cookie(req: func.HttpRequest, foo: func.Out[func.HttpResponse]):
    resp = func.HttpResponse(body="hello")
    resp.headers.add("Set-Cookie", "foo=bar; Expires=Dummy")
    foo.set(resp)


@app.route(route="named_unset", binding_arg_name="foo")
def named_unset(req: func.HttpRequest, foo: func.Out[func.HttpResponse]):
    logging.info("set nothing")


@app.route(route="generic_out")
@app.generic_output_binding(arg_name="foo", type="http")
def generic_out(req: func.HttpRequest, foo: func.Out[func.HttpResponse]):
    # The route's $return is the response: a None return fails in Azure, foo or not.
    foo.set(func.HttpResponse(body="from foo", status_code=202))


@app.route(route="returns_bytes")
def returns_bytes(req: func.HttpRequest):
    return b"Hello World!"


@app.route(route="async_none")
async def async_none(req: func.HttpRequest):
    return None
