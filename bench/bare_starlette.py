"""The baseline: the same two endpoints on a bare Starlette app under the same uvicorn."""

import sys

import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route


async def ping(request):
    return PlainTextResponse("ok")


def ping_sync(request):
    return PlainTextResponse("ok")


app = Starlette(routes=[Route("/api/ping", ping), Route("/api/ping-sync", ping_sync)])

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=False,
                log_level="warning", server_header=False)
