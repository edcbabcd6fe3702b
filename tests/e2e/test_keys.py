"""Function keys through the real `func-py start` (tests/apps/keys): not enforced by default, as in
Core Tools; enforced with --enable-auth, keys coming from FUNCPY_* settings (see host/auth.py)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import APPS
from tests.harness import HostProcess, run_start

MASTER, HOST_KEY, OWN_KEY = "master-secret", "host-secret", "func-level-secret"
UNICODE_KEY = "cl\u00e9-\u5bc6\u94a5-0123456789"  # keys are text: UTF-8 on the wire
KEYS = {
    "FUNCPY_MASTER_KEY": MASTER,
    "FUNCPY_FUNCTION_KEYS": f" other-host-key , {HOST_KEY} , {UNICODE_KEY}",
    "FUNCPY_FUNCTION_KEY_FUNC_LEVEL": OWN_KEY,
}
NO_KEYS = {"FUNCPY_MASTER_KEY": "", "FUNCPY_FUNCTION_KEYS": ""}


def _start(tmp_path_factory: pytest.TempPathFactory, name: str, *args: str,
           env: dict[str, str]) -> HostProcess:
    log = tmp_path_factory.mktemp(name) / "host.log"
    return HostProcess(APPS / "keys", "--no-reload", *args, log_path=log, env=env)


@pytest.fixture(scope="module")
def open_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    with _start(tmp_path_factory, "keys-open", env=NO_KEYS) as h:
        yield h


@pytest.fixture(scope="module")
def auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    env = {**KEYS, "AzureWebJobs.off.Disabled": "true"}
    with _start(tmp_path_factory, "keys-auth", "--enable-auth", env=env) as h, h.client() as c:
        yield c


@pytest.fixture(scope="module")
def unkeyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    with _start(tmp_path_factory, "keys-none", "--enable-auth", env=NO_KEYS) as h, \
            h.client() as c:
        yield c


def test_without_enable_auth_every_level_answers_without_a_key(open_host: HostProcess) -> None:
    with open_host.client() as c:
        for path, text in (("/api/anon", "anon ok"), ("/api/func", "function ok"),
                           ("/api/other", "other ok"), ("/api/adm", "admin ok")):
            r = c.get(path)
            assert (r.status_code, r.text) == (200, text)
        assert c.get("/admin/host/status").status_code == 200


def test_anonymous_needs_no_key(auth: httpx.Client) -> None:
    assert auth.get("/api/anon").text == "anon ok"


def test_missing_key_is_401_saying_where_to_put_one(auth: httpx.Client) -> None:
    r = auth.get("/api/func")
    assert r.status_code == 401
    assert "requires a function key" in r.text
    assert "x-functions-key" in r.text and "code" in r.text


@pytest.mark.parametrize("key", [HOST_KEY, "other-host-key", OWN_KEY, MASTER])
def test_function_level_accepts_host_own_and_master_keys(auth: httpx.Client, key: str) -> None:
    assert auth.get("/api/func", headers={"x-functions-key": key}).text == "function ok"
    assert auth.get("/api/func", params={"code": key}).text == "function ok"


def test_wrong_key_is_401(auth: httpx.Client) -> None:
    r = auth.get("/api/func", params={"code": "nope"})
    assert r.status_code == 401
    assert "does not grant the function level" in r.text


def test_a_function_key_works_only_for_its_own_function(auth: httpx.Client) -> None:
    assert auth.get("/api/func", params={"code": OWN_KEY}).status_code == 200
    assert auth.get("/api/other", params={"code": OWN_KEY}).status_code == 401
    assert auth.get("/api/other", params={"code": HOST_KEY}).text == "other ok"


def test_header_wins_over_query(auth: httpx.Client) -> None:
    ok = auth.get("/api/func", params={"code": "nope"}, headers={"x-functions-key": HOST_KEY})
    assert ok.status_code == 200
    bad = auth.get("/api/func", params={"code": HOST_KEY}, headers={"x-functions-key": "nope"})
    assert bad.status_code == 401


def test_admin_level_needs_the_master_key(auth: httpx.Client) -> None:
    for key in (HOST_KEY, OWN_KEY):
        r = auth.get("/api/adm", params={"code": key})
        assert r.status_code == 401
        assert "does not grant the admin level" in r.text
    assert auth.get("/api/adm", params={"code": MASTER}).text == "admin ok"


def test_admin_endpoints_need_the_master_key(auth: httpx.Client) -> None:
    assert auth.get("/admin/host/status").status_code == 401
    r = auth.get("/admin/host/status", headers={"x-functions-key": HOST_KEY})
    assert r.status_code == 401 and "admin" in r.json()["error"]
    r = auth.get("/admin/host/status", headers={"x-functions-key": MASTER})
    assert r.status_code == 200 and r.json()["state"] == "Running"
    assert auth.get("/admin/functions/anon/status", params={"code": HOST_KEY}).status_code == 401
    assert auth.get("/admin/functions/anon/status", params={"code": MASTER}).json() == {
        "errors": []}
    assert auth.post("/admin/functions/anon", json={"input": ""}).status_code == 401
    # Ping and the home page stay anonymous.
    assert auth.get("/admin/host/ping").status_code == 200
    assert auth.get("/").status_code == 200


def test_disabled_function_is_404_unless_the_caller_is_admin(auth: httpx.Client) -> None:
    assert auth.get("/api/off").status_code == 404
    assert auth.get("/api/off", params={"code": HOST_KEY}).status_code == 404
    assert auth.get("/api/off", params={"code": MASTER}).text == "off ok"


def test_enable_auth_without_keys_says_which_setting_to_set(unkeyed: httpx.Client) -> None:
    assert unkeyed.get("/api/anon").text == "anon ok"
    for path in ("/api/func", "/api/adm", "/api/func?code=guess", "/admin/host/status"):
        r = unkeyed.get(path)
        assert r.status_code == 401, path
        assert "no keys are configured" in r.text and "FUNCPY_MASTER_KEY" in r.text, path


def test_non_ascii_keys_are_compared_not_a_500(auth: httpx.Client) -> None:
    durable = "/runtime/webhooks/durabletask/instances"
    for path in ("/api/func", "/admin/host/status", durable):
        r = auth.get(path + "?code=%C3%A9")
        assert r.status_code == 401, (path, r.status_code, r.text)
        r = auth.get(path, headers=[(b"x-functions-key", "\u00e9".encode())])
        assert r.status_code == 401, (path, r.status_code, r.text)
        r = auth.get(path, headers=[(b"x-functions-key", b"\xff\xfe")])  # not even UTF-8
        assert r.status_code == 401, (path, r.status_code, r.text)
    # A configured non-ASCII key works, in the query (percent-encoded) and in the header.
    assert auth.get("/api/func", params={"code": UNICODE_KEY}).text == "function ok"
    r = auth.get("/api/func", headers=[(b"x-functions-key", UNICODE_KEY.encode())])
    assert r.text == "function ok"


@pytest.mark.parametrize("weak", ["tiny-Key", " ", "Spaced key with 20+ chars"])
def test_production_refuses_a_weak_key_naming_the_setting(weak: str) -> None:
    r = run_start(APPS / "keys", "--production", env={
        **NO_KEYS, "FUNCPY_MASTER_KEY": "Ok-Master-Key-0123456789",
        "FUNCPY_FUNCTION_KEY_FUNC_LEVEL": weak})
    assert r.returncode == 1, r.stdout + r.stderr
    assert "FUNCPY_FUNCTION_KEY_FUNC_LEVEL" in r.stderr and "16 characters" in r.stderr
    if weak.strip():
        assert weak not in r.stdout + r.stderr
    assert "Traceback" not in r.stderr
