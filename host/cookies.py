"""Set-Cookie headers as a function's response carries them out of Azure.

A function's `Set-Cookie` headers never reach the client as written. The library's response
encoder (`azure.functions.http.HttpResponseConverter.encode`) takes every one out of the
headers and parses each with `http.cookies.SimpleCookie`; the worker turns each parsed cookie
into an `RpcHttpCookie` (`bindings/datumdef.py`, `nullable_converters.py`); the host appends
each with ASP.NET Core (`response.Cookies.Append`, `SetCookieHeaderValue.ToString`), one header
line per cookie. This module is that pipeline in one pass, with the same results:

- a header SimpleCookie cannot parse (or an empty one) sends no cookie, silently; one header
  may hold several cookies (`a=1; b=2` is two);
- attributes come out lower-case, in ASP.NET's fixed order: `expires`, `max-age`, `domain`,
  `path`, `secure`, `samesite`, `httponly`; `domain=` and `path=` always (the worker sends
  both, empty when unset); the value URI-escaped, the name as written;
- `expires` is re-parsed (dateutil) and written in RFC 1123 at whole seconds, `max-age` as
  whole seconds; any `Secure`/`HttpOnly` value counts as set; an unknown SameSite is dropped;
- a bad `expires` (logged as the worker logs it) or `max-age` raises: the invocation fails
  and the client gets a 500, as in Azure.

It must not do more than that: no cookie policy of its own.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
from collections.abc import Iterable
from http.cookies import Morsel, SimpleCookie
from urllib.parse import quote

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun",
           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_SAME_SITE = {"lax": "lax", "strict": "strict", "none": "none"}
# ASP.NET checks the name is an HTTP token; SimpleCookie also accepts a few separators.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# TimeSpan.FromSeconds overflows past TimeSpan.MaxValue (about 29,227 years).
_MAX_AGE_LIMIT = 922_337_203_685.0


class CookieError(ValueError):
    """A cookie the host could not send: the invocation fails, as in Azure."""


def set_cookie_lines(values: Iterable[str]) -> list[bytes]:
    """The `Set-Cookie` header values the host sends for the ones a function set."""
    lines: list[bytes] = []
    for value in values:
        for name, morsel in SimpleCookie(value).items():
            lines.append(_serialise(name, morsel).encode("latin-1"))
    return lines


def _serialise(name: str, morsel: Morsel[str]) -> str:
    if not _TOKEN.fullmatch(name):
        raise CookieError(f"Invalid cookie name: {name}")
    parts = [f"{name}={quote(morsel.value, safe='')}"]
    expires = _expires(morsel["expires"])
    if expires is not None:
        parts.append(f"expires={expires}")
    max_age = _max_age(morsel["max-age"])
    if max_age is not None:
        parts.append(f"max-age={max_age}")
    parts.append(f"domain={morsel['domain']}")
    parts.append(f"path={morsel['path']}")
    if morsel["secure"]:
        parts.append("secure")
    same_site = _SAME_SITE.get(str(morsel["samesite"]).lower())
    if same_site is not None:
        parts.append(f"samesite={same_site}")
    if morsel["httponly"]:
        parts.append("httponly")
    return "; ".join(parts)


def _expires(raw: str) -> str | None:
    if not raw:
        return None
    # Imported here: only responses that set an expiring cookie pay for it.
    from dateutil import parser

    try:
        when = parser.parse(raw)
    except parser.ParserError:
        # The worker logs this on the root logger (a user log of the invocation), then fails.
        logging.error("Can not parse value %s of expires in the cookie due to invalid format.",
                      raw)
        raise
    except OverflowError:
        logging.error("Can not parse value %s of expires in the cookie because the parsed "
                      "date exceeds the largest valid C integer on your system.", raw)
        raise
    try:
        # A naive date is local time, as the worker's datetime.timestamp() takes it.
        seconds = int(when.timestamp())
    except (OverflowError, OSError, ValueError) as exc:
        raise TypeError(f"A 'datetime' or 'int' type was expected instead of a "
                        f"'{type(when)}' type. Cannot parse value {when} of "
                        "'cookie.expires'.") from exc
    # The wire carries whole seconds; the host writes the UTC date ("r" format).
    try:
        utc = _EPOCH + dt.timedelta(seconds=seconds)
    except OverflowError as exc:
        raise CookieError(f"expires {raw!r} is outside the dates the host can write") from exc
    return (f"{_DAYS[utc.weekday()]}, {utc.day:02d} {_MONTHS[utc.month - 1]} {utc.year:04d} "
            f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d} GMT")


def _max_age(raw: str) -> int | None:
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        raise TypeError(f"Cannot parse value {raw} of 'cookie.maxAge' to float.") from None
    if not math.isfinite(seconds) or abs(seconds) > _MAX_AGE_LIMIT:
        # Python accepts these; the host's TimeSpan.FromSeconds throws on them.
        raise CookieError(f"Max-Age {raw} is not a number of seconds the host can write")
    return int(seconds)  # (long)TimeSpan.TotalSeconds: truncated toward zero
