"""The HTTP fast paths against the library's own code, over many generated requests/responses.

func-py builds `func.HttpRequest` without its constructors (triggers/http_request.py) and reads
`func.HttpResponse` without its properties (triggers/http_response.py). What a function sees
and what a client gets must not differ from the official objects in anything public.
"""

from __future__ import annotations

import http
import json
import random
from typing import Any
from urllib.parse import quote

import azure.functions as func
import pytest
from funcpy.triggers import http_request
from funcpy.triggers.http_request import build_request, headers_of, official_request, query_of
from funcpy.triggers.http_response import _from_http_response

HEADER_NAMES = ["Accept", "X-Thing", "x-thing", "X-THING", "Content-Type", "Cookie",
                "traceparent", "X-Ünïcode".encode().decode("latin-1"), "Authorization"]
WORDS = ["a", "b", "", "ä", "日本", "x y", "1,2", "=", "&", "%", "+", "caf\u00e9", "\U0001F600"]
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "get"]


def _query_string(rng: random.Random) -> bytes:
    parts = []
    for _ in range(rng.randint(0, 6)):
        key, value = rng.choice(WORDS[:8]), rng.choice(WORDS)
        style = rng.random()
        if style < 0.1:
            parts.append(quote(key))  # a key without '='
        elif style < 0.2:
            parts.append(f"{quote(key)}=")  # an empty value (dropped)
        else:
            parts.append(f"{quote(key)}={quote(value)}")
    return "&".join(parts).encode("latin-1")


def _body(rng: random.Random) -> tuple[bytes, str | None]:
    kind = rng.randrange(7)
    if kind == 0:
        return b"", None
    if kind == 1:
        return json.dumps({"k": rng.choice(WORDS), "n": rng.randint(0, 9)}).encode(), \
            "application/json"
    if kind == 2:
        return b"{not json", "application/json"
    if kind == 3:
        return "&".join(f"{quote(rng.choice(WORDS[:6]))}={quote(rng.choice(WORDS))}"
                        for _ in range(rng.randint(1, 4))).encode(), \
            "application/x-www-form-urlencoded"
    if kind == 4:
        boundary = "b0undary"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"field\"\r\n\r\n"
                f"{rng.choice(WORDS[:4])}\r\n--{boundary}\r\nContent-Disposition: form-data; "
                f"name=\"upload\"; filename=\"f.txt\"\r\nContent-Type: text/plain\r\n\r\n"
                f"file body\r\n--{boundary}--\r\n").encode()
        return body, f"multipart/form-data; boundary={boundary}"
    if kind == 5:
        return bytes(rng.randrange(256) for _ in range(rng.randint(1, 40))), None
    return "text ünïcode".encode(), "text/plain; charset=utf-8"


def _scope(rng: random.Random) -> dict[str, Any]:
    headers: list[tuple[bytes, bytes]] = []
    if rng.random() < 0.9:
        headers.append((b"host", rng.choice([b"127.0.0.1:7071", b"localhost", b"example.com"])))
    for _ in range(rng.randint(0, 6)):
        name = rng.choice(HEADER_NAMES).encode("latin-1")
        headers.append((name, rng.choice(WORDS[:4]).encode("utf-8")))
    path = "/api/" + "/".join(quote(rng.choice(WORDS[:6]) or "x") for _ in range(rng.randint(1, 3)))
    scope: dict[str, Any] = {
        "type": "http", "method": rng.choice(METHODS), "path": path, "headers": headers,
        "query_string": _query_string(rng), "scheme": rng.choice(["http", "https"]),
    }
    if rng.random() < 0.8:
        scope["raw_path"] = path.encode()
    return scope


def _outcome(call: Any) -> tuple[str, Any]:
    try:
        return "ok", call()
    except Exception as exc:  # the same error, same message, is part of the behaviour
        return type(exc).__name__, str(exc)


def _observed(req: func.HttpRequest) -> dict[str, Any]:
    """Everything public a function can read off a request."""
    h = req.headers
    files = req.files
    return {
        "type": type(req), "url": req.url, "method": req.method,
        "headers": dict(h), "headers_len": len(h), "headers_type": type(h),
        "lookups": [(n, n in h, h.get(n)) for n in [*HEADER_NAMES, "HOST", "missing"]],
        "params": dict(req.params), "params_type": type(req.params),
        "route_params": dict(req.route_params), "route_type": type(req.route_params),
        "body": req.get_body(), "json": _outcome(req.get_json),
        "form": {k: req.form.getlist(k) for k in req.form},
        "files": {k: [(f.filename, f.read()) for f in files.getlist(k)] for k in files},
    }


@pytest.mark.parametrize("seed", range(40))
def test_fast_request_equals_the_official_one(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(25):
        scope = _scope(rng)
        body, content_type = _body(rng)
        if content_type is not None:
            scope["headers"].append((b"content-type", content_type.encode()))
        route = {rng.choice(["id", "name", "rest"]): rng.choice(WORDS) for _ in range(2)}
        fast = build_request(scope, headers_of(scope), query_of(scope["query_string"]),
                             route, body)
        official = official_request(scope, headers_of(scope), query_of(scope["query_string"]),
                                    route, body)
        assert _observed(fast) == _observed(official), scope
        assert fast.__dict__.keys() == official.__dict__.keys()


def test_the_installed_library_takes_the_fast_request() -> None:
    # Another azure-functions layout falls back to the constructors (right, but slower):
    # this says so when an upgrade makes the fast path silently go away.
    assert http_request._layout_matches()
    assert http_request.build_request is not official_request


def test_request_values_are_the_workers() -> None:
    scope = {"method": "POST", "path": "/api/x", "raw_path": b"/api/x", "scheme": "http",
             "query_string": b"a=1&b=&a=2&c=%C3%A4",
             "headers": [(b"Host", b"h:1"), (b"X-A", b"1"), (b"x-a", b"2")]}
    req = build_request(scope, headers_of(scope), query_of(scope["query_string"]),
                        {"id": "5"}, b'{"v": 1}')
    assert req.url == "http://h:1/api/x?a=1&b=&a=2&c=%C3%A4"
    assert dict(req.headers) == {"host": "h:1", "x-a": "1,2"}
    assert req.headers["X-A"] == "1,2"
    assert dict(req.params) == {"a": "1,2", "c": "ä"}  # percent-escapes are UTF-8
    assert dict(req.route_params) == {"id": "5"}
    assert req.get_json() == {"v": 1}
    with pytest.raises(TypeError):
        req.params["new"] = "x"  # type: ignore[index]  # read-only, as the official one


class _Subclass(func.HttpResponse):
    """Read through its properties (the path any non-library class takes): the reference."""


def _response(rng: random.Random, cls: type[func.HttpResponse]) -> func.HttpResponse:
    kwargs: dict[str, Any] = {}
    if rng.random() < 0.7:
        kwargs["body"] = rng.choice(["ok", "ünï", b"\x00\x01", b"", "", bytearray(b"ba")])
    if rng.random() < 0.5:
        kwargs["status_code"] = rng.choice([200, 201, 404, 500, http.HTTPStatus.ACCEPTED])
    if rng.random() < 0.4:
        kwargs["mimetype"] = rng.choice(["text/html", "application/json", "image/png"])
    if rng.random() < 0.3:
        kwargs["charset"] = rng.choice(["utf-8", "latin-1"])
    if rng.random() < 0.6:
        kwargs["headers"] = {rng.choice(["X-A", "Content-Type", "Content-Length", "Set-Cookie",
                                         "Cache-Control"]): rng.choice(
            ["v", "text/csv", "5", "a=b; Path=/", "no-store"]) for _ in range(3)}
    resp = cls(**kwargs)
    for _ in range(rng.randint(0, 3)):  # repeated headers, added as users do
        name = rng.choice(["X-A", "x-a", "Set-Cookie", "content-type"])
        resp.headers.add(name, rng.choice(["1", "2", "c=d; HttpOnly", "text/plain"]))
    return resp


@pytest.mark.parametrize("seed", range(40))
def test_fast_response_read_equals_the_property_read(seed: int) -> None:
    for _ in range(25):
        state = random.Random(seed).getstate()
        outcomes = []
        for cls in (func.HttpResponse, _Subclass):
            rng = random.Random()
            rng.setstate(state)
            resp = _response(rng, cls)
            outcomes.append(_outcome(lambda r=resp: _raw(_from_http_response(r))))
        assert outcomes[0] == outcomes[1]
        seed += 1000


def _raw(response: Any) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    return response.status_code, response.raw_headers, response.body


def test_response_as_the_host_sends_it() -> None:
    resp = func.HttpResponse("hé", status_code=http.HTTPStatus.CREATED,
                             headers={"X-A": "1"}, mimetype="text/html", charset="latin-1")
    resp.headers.add("x-a", "2")
    resp.headers.add("Set-Cookie", "a=b")
    status, headers, body = _raw(_from_http_response(resp))
    assert (status, body) == (201, "hé".encode("latin-1"))
    assert headers[:3] == [(b"x-a", b"2"), (b"content-type", b"text/html; charset=latin-1"),
                           (b"content-length", b"2")]
    assert headers[3][0] == b"set-cookie" and headers[3][1].startswith(b"a=b")
    assert _raw(_from_http_response(func.HttpResponse(mimetype="image/png")))[1][0] == \
        (b"content-type", b"image/png")
