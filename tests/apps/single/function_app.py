"""A single-file app exercising the HTTP trigger's conversions."""

import asyncio
import json
import logging
import threading

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="echo", methods=["POST", "PUT"])
def echo(req: func.HttpRequest) -> func.HttpResponse:
    body = {
        "method": req.method,
        "url": req.url,
        "params": dict(req.params),
        "headers": {k: v for k, v in req.headers.items() if k.startswith("x-")},
        "body": req.get_body().decode("utf-8", "replace"),
        "length": len(req.get_body()),
    }
    return func.HttpResponse(json.dumps(body), mimetype="application/json")


@app.route(route="json", methods=["POST"])
def parse_json(req: func.HttpRequest) -> func.HttpResponse:
    try:
        data = req.get_json()
    except ValueError as exc:
        return func.HttpResponse(f"bad json: {exc}", status_code=400)
    return func.HttpResponse(json.dumps({"got": data}), mimetype="application/json")


@app.route(route="items/{id:int}", methods=["GET"])
async def item(req: func.HttpRequest) -> func.HttpResponse:
    await asyncio.sleep(0)
    return func.HttpResponse(json.dumps({"id": int(req.route_params["id"]),
                                         "thread": threading.current_thread().name}),
                             mimetype="application/json")


@app.route(route="items/{name:alpha}", methods=["GET"])
def item_by_name(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"name={req.route_params['name']} "
                             f"thread={threading.current_thread().name}")


@app.route(route="files/{*rest}")
def files(req: func.HttpRequest) -> str:
    return "rest=" + req.route_params.get("rest", "")


@app.route(route="opt/{a=x}/{b?}")
def optional(req: func.HttpRequest) -> str:
    return json.dumps(dict(req.route_params))


@app.route(route="ctx")
def ctx(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    logging.info("hello from ctx")
    return func.HttpResponse(json.dumps({
        "invocation_id": context.invocation_id,
        "function_name": context.function_name,
        "function_directory": context.function_directory,
        "trace_parent": context.trace_context.trace_parent,
        "retry_count": context.retry_context.retry_count,
    }), mimetype="application/json")


@app.route(route="boom")
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise ValueError("kaboom")


@app.route(route="none")
def returns_none(req: func.HttpRequest) -> func.HttpResponse:
    return None  # type: ignore[return-value]


@app.route(route="text")
def text(req: func.HttpRequest) -> str:
    return "plain text"


@app.route(route="shape")
def shape(req: func.HttpRequest) -> str:
    return json.dumps({"body": "from shape", "status": 201, "headers": {"x-shape": "yes"}})


@app.route(route="headers")
def headers(req: func.HttpRequest) -> func.HttpResponse:
    resp = func.HttpResponse(b"\x00\x01", status_code=203, mimetype="application/octet-stream")
    resp.headers["x-one"] = "1"
    resp.headers.add("Set-Cookie", "a=1; Path=/")
    resp.headers.add("Set-Cookie", "b=2; Path=/")
    return resp


@app.route(route="html")
def html(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("<b>hi</b>", mimetype="text/html", charset="latin-1")


@app.route(route="user-log")
def user_log(req: func.HttpRequest, context: func.Context) -> str:
    logging.warning("user warning marker")

    def worker() -> None:
        context.thread_local_storage.invocation_id = context.invocation_id
        logging.warning("thread marker")

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    return context.invocation_id
