"""An ASGI (Starlette) app served through func.AsgiFunctionApp; routes include the /api prefix,
as they must on Azure, because the app sees the request's full path."""

import contextlib
from collections.abc import AsyncIterator

import azure.functions as func
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

STATE: dict[str, int] = {"startups": 0}


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    STATE["startups"] += 1
    yield


async def get_item(request: Request) -> Response:
    return JSONResponse({
        "id": request.path_params["id"],
        "q": request.query_params.get("q"),
        "tags": request.query_params.getlist("tag"),
        "startups": STATE["startups"],
    })


async def create_item(request: Request) -> Response:
    data = await request.json()
    return JSONResponse({"created": data, "path": request.url.path}, status_code=201,
                        headers={"Location": f"/api/items/{data['id']}", "X-Echo":
                                 request.headers.get("x-client", "")})


async def delete_item(request: Request) -> Response:
    return Response(status_code=204)


async def teapot(request: Request) -> Response:
    return PlainTextResponse("short and stout", status_code=418)


web = Starlette(
    routes=[
        Route("/api/items/{id:int}", get_item, methods=["GET"]),
        Route("/api/items/{id:int}", delete_item, methods=["DELETE"]),
        Route("/api/items", create_item, methods=["POST"]),
        Route("/api/teapot", teapot),
    ],
    lifespan=lifespan,
)

app = func.AsgiFunctionApp(app=web, http_auth_level=func.AuthLevel.ANONYMOUS)
