"""HTTP parity with Azure (issue #11) through the real `func-py start`, on tests/apps/http_parity:
Set-Cookie re-written cookie by cookie, the worker's log rules under host.json `Trace`, and the
response of functions with a named http output. A response the host cannot send fails the
invocation: the log never says Succeeded for it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import APPS
from tests.harness import HostProcess

APP = APPS / "http_parity"


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    log = tmp_path_factory.mktemp("parity") / "host.log"
    # The setting explicitly empty: the worker's root logger stays at INFO.
    with HostProcess(APP, "--no-reload", log_path=log,
                     env={"PYTHON_ENABLE_DEBUG_LOGGING": ""}) as h:
        yield h


@pytest.fixture(scope="module")
def debug_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    log = tmp_path_factory.mktemp("parity-debug") / "host.log"
    with HostProcess(APP, "--no-reload", log_path=log,
                     env={"PYTHON_ENABLE_DEBUG_LOGGING": "1"}) as h:
        yield h


def cookies(host: HostProcess, *values: str) -> httpx.Response:
    with host.client() as c:
        return c.get("/api/cookies", params={"h": json.dumps(list(values))})


def failed(host: HostProcess, name: str, after: int) -> str:
    """The Failed record of `name`'s first invocation logged past offset `after` (waited
    for), down to its `Exception:` line; that invocation must not also be Succeeded."""
    m = host.wait_for_log(rf"Executed 'Functions.{name}' \(Failed, Id=([0-9a-f-]+), "
                          r"Duration=\d+ms\)\n(?:.*\n)*?Exception: .*", after=after)
    assert f"Executed 'Functions.{name}' (Succeeded, Id={m.group(1)}" not in host.output
    return m.group(0)


def test_each_cookie_is_rewritten_as_the_host_writes_it(host: HostProcess) -> None:
    r = cookies(host, "foo3=42; Domain=example.com; Expires=Thu, 12-Jan-2017 13:55:08 GMT; "
                      "Path=/; Max-Age=10000000; Secure; HttpOnly",
                "foo3=43; Domain=example.com; Expires=Thu, 12-Jan-2018 13:55:08 GMT; "
                "Path=/; Max-Age=10000000; Secure; HttpOnly; SameSite=Strict")
    assert r.status_code == 200
    assert r.headers.get_list("set-cookie") == [
        "foo3=42; expires=Thu, 12 Jan 2017 13:55:08 GMT; max-age=10000000; "
        "domain=example.com; path=/; secure; httponly",
        "foo3=43; expires=Fri, 12 Jan 2018 13:55:08 GMT; max-age=10000000; "
        "domain=example.com; path=/; secure; samesite=strict; httponly",
    ]
    assert r.headers["hello"] == "world"  # other headers are untouched


def test_defaults_and_several_cookies_in_one_header(host: HostProcess) -> None:
    r = cookies(host, "foo=bar", 'a=1; b="x y"')
    assert r.headers.get_list("set-cookie") == [
        "foo=bar; domain=; path=", "a=1; domain=; path=", "b=x%20y; domain=; path="]


def test_an_empty_or_unparsable_header_is_not_sent(host: HostProcess) -> None:
    r = cookies(host, "")
    assert (r.status_code, "set-cookie" in r.headers) == (200, False)
    # Microsoft's nullable_double_err and nullable_bool_err headers: "SecureFalse" makes the
    # parse drop the whole cookie, its invalid Max-Age with it; the response is still 200.
    r = cookies(host, "foo3=42; Domain=example.com; Expires=Thu, 12-Jan-2017 13:55:08 GMT; "
                      "Path=/; Max-Age=Dummy; SecureFalse; HttpOnly")
    assert (r.status_code, r.text, "set-cookie" in r.headers) == (200, "cookies", False)


def test_secure_with_any_value_is_secure_and_an_unknown_samesite_is_dropped(
        host: HostProcess) -> None:
    r = cookies(host, "a=1; Secure=false; SameSite=Sometimes")
    assert r.headers.get_list("set-cookie") == ["a=1; domain=; path=; secure"]


def test_an_invalid_expires_fails_with_the_workers_log_line(host: HostProcess) -> None:
    start = len(host.output)
    r = cookies(host, "foo=bar; Domain=123; Expires=Dummy")
    assert (r.status_code, r.content) == (500, b"")
    record = failed(host, "cookies", start)
    assert "Exception: ParserError: Unknown string format: Dummy" in record
    host.wait_for_log(r"cookies\[[0-9a-f]{8}\] Can not parse value Dummy of expires in the "
                      r"cookie due to invalid format\.", after=start)


def test_an_invalid_max_age_fails_the_invocation(host: HostProcess) -> None:
    start = len(host.output)
    r = cookies(host, "foo=bar; Max-Age=Dummy")
    assert (r.status_code, r.content) == (500, b"")
    assert "Exception: TypeError: Cannot parse value Dummy of 'cookie.maxAge' to float." in \
        failed(host, "cookies", start)


def logs_of(host: HostProcess, function: str, tag: str) -> list[str]:
    with host.client() as c:
        inv = c.get(f"/api/{function}", params={"tag": tag}).text
    # The invoker writes an invocation's lines before its Executed line and its response.
    host.wait_for_log(rf"Executed 'Functions.{function}' \(Succeeded, Id={inv}")
    prefix = f"{function}[{inv[:8]}] {tag} "
    return [line.split(prefix, 1)[1] for line in host.output.splitlines() if prefix in line]


def test_trace_in_host_json_does_not_reveal_root_debug_records(host: HostProcess) -> None:
    # The worker pins the root logger to INFO: records of loggers without a level of their
    # own are never made below it. A logger given DEBUG keeps it. System categories never.
    assert logs_of(host, "levels", "plain") == ["root info", "levelled debug"]
    assert "sdk error" not in host.output and "worker warning" not in host.output


def test_python_enable_debug_logging_reveals_them(debug_host: HostProcess) -> None:
    assert logs_of(debug_host, "levels", "debug") == [
        "root debug", "root info", "unlevelled debug", "levelled debug"]
    assert "sdk error" not in debug_host.output and "worker error" not in debug_host.output


def test_host_json_still_filters_what_the_setting_lets_through(debug_host: HostProcess) -> None:
    # "Function.levels_info.User": "Information" in host.json.
    assert logs_of(debug_host, "levels_info", "filtered") == ["root info"]


def test_a_named_http_output_is_the_response_without_return(host: HostProcess) -> None:
    start = len(host.output)
    with host.client() as c:
        r = c.get("/api/named")
        assert (r.status_code, r.text) == (201, "hello")
        assert r.headers["content-type"] == "text/plain; charset=utf-8"
        r = c.get("/api/named_unset")  # nothing set: the host's empty 200 (OkResult)
        assert (r.status_code, r.content) == (200, b"")
        r = c.get("/api/named_cookie")  # converted inside the call: a bad cookie fails it
        assert (r.status_code, r.content) == (500, b"")
    failed(host, "named_cookie", start)


def test_with_return_a_none_result_fails_even_when_a_named_output_is_set(
        host: HostProcess) -> None:
    # @app.route adds $return: the worker encodes the return value, and None cannot be.
    start = len(host.output)
    with host.client() as c:
        r = c.get("/api/generic_out")
    assert (r.status_code, r.content) == (500, b"")
    record = failed(host, "generic_out", start)
    assert ('TypeError: unable to encode outgoing TypedData: unsupported type "http" for '
            'Python type "NoneType"') in record
    assert "binding_arg_name='foo'" in record  # says how to make foo the response


@pytest.mark.parametrize(("name", "type_name"), [
    ("returns_bytes", "bytes"), ("async_none", "NoneType"),
])
def test_a_result_that_is_no_response_is_a_failed_invocation(
        host: HostProcess, name: str, type_name: str) -> None:
    start = len(host.output)
    with host.client() as c:
        r = c.get(f"/api/{name}")
    assert (r.status_code, r.content) == (500, b"")
    assert re.search(rf'for Python type "{type_name}"', failed(host, name, start))
