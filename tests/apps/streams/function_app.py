"""HTTP streams with azurefunctions-extensions-http-fastapi, as in Microsoft's samples."""

import asyncio
import threading

import azure.functions as func
from azurefunctions.extensions.http.fastapi import (
    JSONResponse,
    PlainTextResponse,
    Request,
    StreamingResponse,
)

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

# Set by GET /api/release: the event stream holds its second event until then, so a client
# that reads the first event before releasing proves the body is not buffered.
released = asyncio.Event()


async def events():
    yield "data: first\n\n"
    await asyncio.wait_for(released.wait(), timeout=20)
    for i in range(3):
        yield f"data: event {i}\n\n"


@app.route(route="sse", methods=[func.HttpMethod.GET])
async def sse(req: Request) -> StreamingResponse:
    released.clear()
    return StreamingResponse(events(), media_type="text/event-stream")


@app.route(route="release")
async def release(req: Request) -> JSONResponse:
    released.set()
    return JSONResponse({"released": True})


@app.route(route="items/{id:int}", methods=["POST"])
async def echo(req: Request) -> JSONResponse:
    body = await req.body()
    return JSONResponse({
        "method": req.method,
        "path": req.url.path,
        "query": dict(req.query_params),
        "path_params": req.path_params,
        "header": req.headers.get("x-thing"),
        "invocation_header": req.headers.get("x-ms-invocation-id"),
        "body": body.decode(),
    }, status_code=201)


@app.route(route="upload", methods=["POST"])
async def upload(req: Request) -> dict:
    size = chunks = 0
    async for chunk in req.stream():
        size += len(chunk)
        chunks += 1 if chunk else 0
    return {"bytes": size}


@app.route(route="sync")
def sync_fn(req: Request) -> PlainTextResponse:
    return PlainTextResponse(f"{req.query_params.get('name')} in {threading.current_thread().name}")


@app.route(route="value")
def plain_value(req: Request):
    return {"answer": 42, "items": [1, 2]}


@app.route(route="text")
async def text(req: Request):
    return "Hello Async World!"


@app.route(route="none")
async def returns_none(req: Request):
    return None


@app.route(route="classic")
def returns_classic(req: Request):
    return func.HttpResponse("classic")


async def breaks():
    yield "data: one\n\n"
    raise ValueError("stream broke")


@app.route(route="broken")
async def broken(req: Request) -> StreamingResponse:
    return StreamingResponse(breaks(), media_type="text/event-stream")


@app.route(route="wrong")
def wrong_annotation(req: func.HttpRequest) -> str:
    return "never loaded"


@app.route(route="wrong_return")
def wrong_return(req: Request) -> func.HttpResponse:
    return func.HttpResponse("never loaded")
