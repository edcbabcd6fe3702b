"""Set-Cookie conversion, rule by rule: the library's SimpleCookie parse, the worker's
RpcHttpCookie rules and ASP.NET Core's writer, as host/cookies.py reproduces them."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
from dateutil.parser import ParserError
from funcpy.host.cookies import CookieError, set_cookie_lines


def lines(*values: str) -> list[str]:
    return [line.decode("latin-1") for line in set_cookie_lines(values)]


def test_an_unset_domain_and_path_are_still_written_empty() -> None:
    # The worker always sends domain and path (SimpleCookie gives '' when absent).
    assert lines("foo=bar") == ["foo=bar; domain=; path="]


def test_attributes_are_lower_case_in_aspnet_order_one_line_per_cookie() -> None:
    # Microsoft's worker test multiple_set_cookie_resp_headers, as the host writes it.
    assert lines(
        "foo3=42; Domain=example.com; Expires=Thu, 12-Jan-2017 13:55:08 GMT; Path=/; "
        "Max-Age=10000000; Secure; HttpOnly",
        "foo3=43; Domain=example.com; Expires=Thu, 12-Jan-2018 13:55:08 GMT; Path=/; "
        "Max-Age=10000000; Secure; HttpOnly",
    ) == [
        "foo3=42; expires=Thu, 12 Jan 2017 13:55:08 GMT; max-age=10000000; "
        "domain=example.com; path=/; secure; httponly",
        "foo3=43; expires=Fri, 12 Jan 2018 13:55:08 GMT; max-age=10000000; "
        "domain=example.com; path=/; secure; httponly",
    ]


def test_samesite_before_httponly_and_a_quoted_value_unquoted_then_escaped() -> None:
    assert lines('sid="a b"; Path=/; HttpOnly; SameSite=Lax; Max-Age=3600') == [
        "sid=a%20b; max-age=3600; domain=; path=/; samesite=lax; httponly"]


def test_the_value_is_uri_escaped_and_the_name_kept() -> None:
    assert lines('tok="x/y+z=="') == ["tok=x%2Fy%2Bz%3D%3D; domain=; path="]
    assert lines("a-b.c_d~=v~-._") == ["a-b.c_d~=v~-._; domain=; path="]


def test_an_empty_or_unparsable_header_sends_no_cookie() -> None:
    assert lines("") == []
    assert lines("bad cookie") == []
    assert lines("sid=a b; Path=/") == []  # an unquoted space: SimpleCookie gives up
    # Microsoft's nullable_double_err / nullable_bool_err apps: the stray "SecureFalse"
    # makes SimpleCookie drop the whole header, bad Max-Age included, so the response is 200.
    assert lines("foo3=42; Domain=example.com; Expires=Thu, 12-Jan-2017 13:55:08 GMT; "
                 "Path=/; Max-Age=Dummy; SecureFalse; HttpOnly") == []
    assert lines("foo3=42; Domain=example.com; Expires=Thu, 12-Jan-2017 13:55:08 GMT; "
                 "Path=/; Max-Age=10000000; SecureFalse; HttpOnly") == []


def test_one_header_may_hold_several_cookies() -> None:
    assert lines("a=1; b=2") == ["a=1; domain=; path=", "b=2; domain=; path="]


def test_expires_is_rewritten_in_rfc1123_utc_at_whole_seconds() -> None:
    assert lines("a=1; Expires=2099-01-01T02:00:00.900+02:00") == [
        "a=1; expires=Thu, 01 Jan 2099 00:00:00 GMT; domain=; path="]
    assert lines("a=1; Expires=Thu, 01 Jan 2099 00:00:00 GMT") == [
        "a=1; expires=Thu, 01 Jan 2099 00:00:00 GMT; domain=; path="]
    assert lines("a=1; Expires=Sun, 06-Nov-1994 08:49:37 GMT") == [  # dashes in, spaces out
        "a=1; expires=Sun, 06 Nov 1994 08:49:37 GMT; domain=; path="]


@pytest.fixture
def local_time_plus_two(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "Etc/GMT-2")  # POSIX sign: two hours east of UTC
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_an_expires_without_a_zone_is_local_time(local_time_plus_two: None) -> None:
    # The worker's datetime.timestamp() takes a naive date as the machine's local time.
    assert lines("a=1; Expires=2099-01-01T02:00:00") == [
        "a=1; expires=Thu, 01 Jan 2099 00:00:00 GMT; domain=; path="]


def test_an_invalid_expires_is_logged_as_the_worker_logs_it_and_fails(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR), pytest.raises(ParserError):
        lines("foo=bar; Domain=123; Expires=Dummy")
    assert [(r.name, r.getMessage()) for r in caplog.records] == [
        ("root", "Can not parse value Dummy of expires in the cookie due to invalid format.")]


def test_an_expires_past_the_c_integer_range_fails_with_the_workers_message(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR), pytest.raises(OverflowError):
        lines("a=1; Expires=99999999999999999999")
    assert caplog.records[0].getMessage() == (
        "Can not parse value 99999999999999999999 of expires in the cookie because the parsed "
        "date exceeds the largest valid C integer on your system.")


def test_max_age_is_whole_seconds_truncated_toward_zero() -> None:
    assert lines("a=1; Max-Age=1.9") == ["a=1; max-age=1; domain=; path="]
    assert lines("a=1; Max-Age=-1.9") == ["a=1; max-age=-1; domain=; path="]
    assert lines("a=1; Max-Age=0") == ["a=1; max-age=0; domain=; path="]


def test_a_max_age_that_is_not_a_number_fails_the_invocation() -> None:
    with pytest.raises(TypeError, match=r"^Cannot parse value Dummy of 'cookie.maxAge' to "
                                        r"float\.$"):
        lines("foo=bar; Max-Age=Dummy")


@pytest.mark.parametrize("value", ["inf", "nan", "1e300"])
def test_a_max_age_the_host_cannot_hold_fails(value: str) -> None:
    with pytest.raises(CookieError, match="Max-Age"):
        lines(f"a=1; Max-Age={value}")


def test_any_secure_or_httponly_value_counts_as_set() -> None:
    assert lines("a=1; Secure=false; HttpOnly=no") == ["a=1; domain=; path=; secure; httponly"]


@pytest.mark.parametrize(("given", "written"), [
    ("Lax", "; samesite=lax"), ("STRICT", "; samesite=strict"), ("none", "; samesite=none"),
    ("Weird", ""),
])
def test_samesite_is_matched_case_insensitively_and_an_unknown_one_dropped(
        given: str, written: str) -> None:
    assert lines(f"a=1; SameSite={given}") == [f"a=1; domain=; path={written}"]


def test_domain_and_path_are_written_as_given() -> None:
    assert lines("a=1; Domain=.Example.com; Path=/Some/Path") == [
        "a=1; domain=.Example.com; path=/Some/Path"]


def test_a_name_that_is_no_http_token_fails_as_aspnet_refuses_it() -> None:
    with pytest.raises(CookieError, match="Invalid cookie name: a:b"):
        lines("a:b=1")
