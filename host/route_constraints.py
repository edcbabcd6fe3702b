"""The inline constraints of a route template ('{id:int}', '{n:range(1,9)}', '{x:regex(...)}').

Owns turning one constraint spec into a check on a route value, with .NET's parsing rules (what
`int.TryParse`, `decimal.TryParse`, `DateTime.TryParse`... accept). Separate from the template
parser (`routing`) because these rules are a table of .NET value formats, not route syntax.

The `datetime` constraint accepts a documented subset of .NET's lenient `DateTime.TryParse`:
`yyyy-M-d`, `yyyy/M/d` or `M/d/yyyy` (forms with '/' fit only a catch-all), optionally followed by
'T' or a space and `H:mm[:ss[.f]]` (1-7 fraction digits), then optional `AM`/`PM`, then optional
`Z` or `+hh:mm`.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from decimal import Decimal

Check = Callable[[str], bool]
_WS = r"[\t\n\v\f\r ]*"  # what .NET number parsing skips around a number
_INTEGER = re.compile(rf"{_WS}[+-]?[0-9]+{_WS}")
_LONG = (-(2**63), 2**63 - 1)
# NumberStyles.Number (decimal) and Float|AllowThousands (double, float) both allow ',' group
# separators in the integer part, as .NET does; only decimal allows a trailing sign.
_NUMBER = r"(?:[0-9][0-9,]*(?:\.[0-9]*)?|\.[0-9]+)"
_DECIMAL = re.compile(rf"{_WS}(?:[+-]{_NUMBER}|{_NUMBER}[+-]?){_WS}")
_DECIMAL_LIMIT = Decimal("79228162514264337593543950335.5")  # .NET rounds, then overflows here
_FLOAT = re.compile(rf"{_WS}[+-]?(?:{_NUMBER}(?:e[+-]?[0-9]+)?|nan|infinity){_WS}", re.IGNORECASE)
_GUID_D = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_GUID = re.compile(rf"[0-9a-f]{{32}}|{_GUID_D}|\{{{_GUID_D}\}}|\({_GUID_D}\)", re.IGNORECASE)
_TIME = (r"(?:[T ](?P<h>[0-9]{1,2}):(?P<mi>[0-9]{2})(?::(?P<s>[0-9]{2})(?:\.[0-9]{1,7})?)?"
         r"(?: ?(?P<ampm>[AP]M))?(?:Z|[+-][0-9]{2}:?[0-9]{2})?)?")
_DATES = tuple(re.compile(date + _TIME, re.IGNORECASE) for date in (
    r"(?P<y>[0-9]{4})-(?P<mo>[0-9]{1,2})-(?P<d>[0-9]{1,2})",
    r"(?P<y>[0-9]{4})/(?P<mo>[0-9]{1,2})/(?P<d>[0-9]{1,2})",
    r"(?P<mo>[0-9]{1,2})/(?P<d>[0-9]{1,2})/(?P<y>[0-9]{4})",
))
# .NET writes named groups (?<name>...) and \k<name>; Python's re spells them differently.
_NET_GROUP = re.compile(r"((?:^|[^\\])(?:\\\\)*)\(\?<(?=[^=!])")
_NET_BACKREF = re.compile(r"((?:^|[^\\])(?:\\\\)*)\\k<(\w+)>")


class Invalid(Exception):
    """Raised inside the parser; `RouteTemplate` adds the template text to the message."""


def _integer_between(low: int, high: int) -> Check:
    return lambda v: _INTEGER.fullmatch(v) is not None and low <= int(v) <= high


def _length_between(low: int, high: float) -> Check:
    # .NET counts UTF-16 code units, so a character outside the BMP counts twice.
    def check(v: str) -> bool:
        size = len(v) if v.isascii() else len(v.encode("utf-16-le")) // 2
        return low <= size <= high
    return check


def _is_decimal(v: str) -> bool:
    if _DECIMAL.fullmatch(v) is None:
        return False
    text = v.strip("\t\n\v\f\r ").replace(",", "")
    return Decimal(text[-1] + text[:-1] if text[-1] in "+-" else text).copy_abs() < _DECIMAL_LIMIT


def _is_datetime(v: str) -> bool:
    m = next(filter(None, (form.fullmatch(v.strip()) for form in _DATES)), None)
    if m is None:
        return False
    try:
        datetime.date(int(m["y"]), int(m["mo"]), int(m["d"]))
    except ValueError:
        return False
    return (int(m["h"] or 0) <= (12 if m["ampm"] else 23)
            and int(m["mi"] or 0) <= 59 and int(m["s"] or 0) <= 59)


def _is_file_name(v: str) -> bool:
    # ASP.NET's 'file': the last '/'-part has a '.' followed, somewhere, by something else.
    return v.rpartition("/")[2].partition(".")[2].strip(".") != ""


_PLAIN: dict[str, Check] = {
    "int": _integer_between(-(2**31), 2**31 - 1),
    "long": _integer_between(*_LONG),
    "bool": lambda v: v.strip().lower() in ("true", "false"),
    "alpha": lambda v: v.isascii() and (v == "" or v.isalpha()),
    "guid": lambda v: _GUID.fullmatch(v.strip()) is not None,
    "datetime": _is_datetime,
    "decimal": _is_decimal,
    "double": lambda v: _FLOAT.fullmatch(v) is not None,  # overflow parses as infinity in .NET
    "float": lambda v: _FLOAT.fullmatch(v) is not None,
    "required": lambda v: v != "",
    "file": _is_file_name,
    "nonfile": lambda v: not _is_file_name(v),
}
_NUMERIC: dict[str, tuple[tuple[int, ...], Callable[..., Check]]] = {
    "min": ((1,), lambda n: _integer_between(n, _LONG[1])),
    "max": ((1,), lambda n: _integer_between(_LONG[0], n)),
    "range": ((2,), lambda m, n: _integer_between(m, n)),
    "length": ((1, 2), lambda m, n=None: _length_between(m, m if n is None else n)),
    "minlength": ((1,), lambda n: _length_between(n, float("inf"))),
    "maxlength": ((1,), lambda n: _length_between(0, n)),
}


def make_check(spec: str) -> Check:
    """One inline constraint, e.g. 'int', 'range(1,9)', 'regex(^a.*$)'."""
    name, args = spec, None
    if "(" in spec and spec.endswith(")"):
        name, _, args = spec[:-1].partition("(")
    key = name.lower()  # the constraint map is case-insensitive
    if key in _PLAIN and args is None:
        return _PLAIN[key]
    if key == "regex" and args is not None:
        source = _NET_BACKREF.sub(r"\1(?P=\2)", _NET_GROUP.sub(r"\1(?P<", args))
        try:
            pattern = re.compile(source, re.IGNORECASE)
        except re.error as exc:
            raise Invalid(f"invalid regex '{args}' ({exc})") from None
        return lambda v: pattern.search(v) is not None
    if key in _NUMERIC and args is not None:
        counts, build = _NUMERIC[key]
        parts = args.split(",")
        if len(parts) not in counts or not all(_INTEGER.fullmatch(p) for p in parts):
            raise Invalid(f"constraint '{spec}' needs {' or '.join(map(str, counts))} "
                           f"integer argument(s)")
        numbers = [int(p) for p in parts]
        if (key.endswith("length") and min(numbers) < 0) or numbers != sorted(numbers):
            raise Invalid(f"constraint '{spec}' has arguments out of order or negative")
        return build(*numbers)
    if key in _PLAIN or key in _NUMERIC or key == "regex":
        raise Invalid(f"constraint '{spec}' has the wrong arguments")
    raise Invalid(f"unknown constraint '{name}'")
