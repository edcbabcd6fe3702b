"""A plain WSGI callable served through func.WsgiFunctionApp (no framework)."""

import json
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

import azure.functions as func

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def _json(start: StartResponse, status: str, body: Any,
          extra: list[tuple[str, str]] | None = None) -> list[bytes]:
    data = json.dumps(body).encode()
    start(status, [("Content-Type", "application/json"), *(extra or [])])
    return [data]


def web(environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
    method = environ["REQUEST_METHOD"]
    path = environ["PATH_INFO"]
    parts = path.strip("/").split("/")
    if method == "GET" and parts[:2] == ["api", "greet"] and len(parts) == 3:
        query = parse_qs(environ.get("QUERY_STRING") or "")
        return _json(start, "200 OK", {
            "hello": parts[2],
            "lang": query.get("lang", ["en"])[0],
            "agent": environ.get("HTTP_X_AGENT"),
            "script_name": environ.get("SCRIPT_NAME"),
        })
    if method == "POST" and parts == ["api", "sum"]:
        size = int(environ.get("CONTENT_LENGTH") or 0)
        numbers = json.loads(environ["wsgi.input"].read(size))
        return _json(start, "201 Created", {"sum": sum(numbers)},
                     [("X-Count", str(len(numbers)))])
    if parts == ["api", "fail"]:
        start("503 Service Unavailable", [("Content-Type", "text/plain"), ("Retry-After", "7")])
        return [b"try later"]
    start("404 Not Found", [("Content-Type", "text/plain")])
    return [f"no route for {method} {path}".encode()]


app = func.WsgiFunctionApp(app=web, http_auth_level=func.AuthLevel.FUNCTION)
