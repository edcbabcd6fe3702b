"""CORS through the real `func-py start`: `--cors` / `--cors-credentials` as Core Tools applies them
(ASP.NET Core's `WithOrigins(...).AllowAnyHeader().AllowAnyMethod()`), none when not configured."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import APPS
from tests.harness import HostProcess

PREFLIGHT = {"Origin": "http://a.test", "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "x-custom, content-type"}


@contextlib.contextmanager
def _client(tmp_path_factory: pytest.TempPathFactory, name: str, *args: str,
            env: dict[str, str] | None = None) -> Iterator[httpx.Client]:
    log = tmp_path_factory.mktemp(name) / "host.log"
    with HostProcess(APPS / "keys", "--no-reload", *args, log_path=log, env=env) as h, \
            h.client() as c:
        yield c


@pytest.fixture(scope="module")
def cors(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    with _client(tmp_path_factory, "cors", "--cors", "http://a.test,http://b.test",
                 "--cors-credentials") as c:
        yield c


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    with _client(tmp_path_factory, "no-cors") as c:
        yield c


def _cors_headers(r: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in r.headers.items() if k.startswith("access-control-")}


def test_preflight_from_an_allowed_origin(cors: httpx.Client) -> None:
    r = cors.options("/api/anon", headers=PREFLIGHT)
    assert (r.status_code, r.content) == (204, b"")
    assert _cors_headers(r) == {
        "access-control-allow-origin": "http://a.test",
        "access-control-allow-methods": "POST",
        "access-control-allow-headers": "x-custom, content-type",
        "access-control-allow-credentials": "true",
    }
    assert "Origin" in r.headers["vary"]


def test_preflight_is_answered_before_routing(cors: httpx.Client) -> None:
    # The CORS middleware runs first: even a path no function claims gets its preflight answer.
    r = cors.options("/api/nowhere", headers={**PREFLIGHT, "Origin": "http://b.test"})
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "http://b.test"


def test_preflight_from_another_origin_gets_no_cors_headers(cors: httpx.Client) -> None:
    r = cors.options("/api/anon", headers={**PREFLIGHT, "Origin": "http://evil.test"})
    assert r.status_code == 204
    assert _cors_headers(r) == {}


def test_simple_request_from_an_allowed_origin(cors: httpx.Client) -> None:
    r = cors.get("/api/anon", headers={"Origin": "http://b.test"})
    assert r.text == "anon ok"
    assert r.headers["access-control-allow-origin"] == "http://b.test"
    assert r.headers["access-control-allow-credentials"] == "true"


def test_simple_request_from_another_origin_is_served_without_cors_headers(
        cors: httpx.Client) -> None:
    r = cors.get("/api/anon", headers={"Origin": "http://evil.test"})
    assert r.text == "anon ok"
    assert _cors_headers(r) == {}


def test_no_cors_headers_when_cors_is_not_configured(plain: httpx.Client) -> None:
    r = plain.options("/api/anon", headers=PREFLIGHT)
    assert "access-control-allow-origin" not in r.headers
    assert r.text == "anon ok"  # no CORS middleware: OPTIONS reaches the function (all methods)
    r = plain.get("/api/anon", headers={"Origin": "http://a.test"})
    assert _cors_headers(r) == {}


def test_any_origin_never_allows_credentials_and_precedes_auth(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    env = {"FUNCPY_MASTER_KEY": "", "FUNCPY_FUNCTION_KEYS": ""}
    with _client(tmp_path_factory, "cors-any", "--cors", "*", "--cors-credentials",
                 "--enable-auth", env=env) as c:
        r = c.options("/api/func", headers=PREFLIGHT)  # a function-level route, no key
        assert r.status_code == 204
        assert r.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in r.headers
        # A 401 still carries the CORS header, so a browser script can read it.
        r = c.get("/api/func", headers={"Origin": "http://a.test"})
        assert r.status_code == 401
        assert r.headers["access-control-allow-origin"] == "*"
