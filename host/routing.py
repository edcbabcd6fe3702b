"""HTTP route templates as the Azure Functions host reads them (ASP.NET Core's syntax and matching).

Owns parsing and validating a template (`RouteTemplate`), matching a percent-decoded request path
against it, and the table that picks the function answering a request (`RouteTable`) with Azure's
precedence and conflict rules. It must not know Starlette, requests or responses, and it follows
ASP.NET even where ASP.NET is quirky (e.g. 'v{x}' does not match 'vv2'; decimal/double accept ',').

Each template compiles once to a regex for its shape plus per-parameter checks; a table joins its
templates into one ordered alternation per HTTP method, so a request costs one regex scan.
The `datetime` constraint accepts a documented subset of .NET's lenient `DateTime.TryParse`:
`yyyy-M-d`, `yyyy/M/d` or `M/d/yyyy` (forms with '/' fit only a catch-all), optionally followed by
'T' or a space and `H:mm[:ss[.f]]` (1-7 fraction digits), then optional `AM`/`PM`, then optional
`Z` or `+hh:mm`.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal

Check = Callable[[str], bool]
_FLAGS = re.IGNORECASE | re.DOTALL
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
_NAME = re.compile(r"\w+")
# .NET writes named groups (?<name>...) and \k<name>; Python's re spells them differently.
_NET_GROUP = re.compile(r"((?:^|[^\\])(?:\\\\)*)\(\?<(?=[^=!])")
_NET_BACKREF = re.compile(r"((?:^|[^\\])(?:\\\\)*)\\k<(\w+)>")


class RouteTemplateError(ValueError):
    """A route template ASP.NET Core would reject; the message names the template and the fault."""


class _Invalid(Exception):
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


def _make_check(spec: str) -> Check:
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
            raise _Invalid(f"invalid regex '{args}' ({exc})") from None
        return lambda v: pattern.search(v) is not None
    if key in _NUMERIC and args is not None:
        counts, build = _NUMERIC[key]
        parts = args.split(",")
        if len(parts) not in counts or not all(_INTEGER.fullmatch(p) for p in parts):
            raise _Invalid(f"constraint '{spec}' needs {' or '.join(map(str, counts))} "
                           f"integer argument(s)")
        numbers = [int(p) for p in parts]
        if (key.endswith("length") and min(numbers) < 0) or numbers != sorted(numbers):
            raise _Invalid(f"constraint '{spec}' has arguments out of order or negative")
        return build(*numbers)
    if key in _PLAIN or key in _NUMERIC or key == "regex":
        raise _Invalid(f"constraint '{spec}' has the wrong arguments")
    raise _Invalid(f"unknown constraint '{name}'")


@dataclass(frozen=True)
class _Param:
    name: str
    optional: bool
    default: str | None
    catch_all: bool
    checks: tuple[Check, ...]


def _args_end(rest: str, i: int) -> int:
    # As ASP.NET: ')' closes arguments only before ':', '=' or the end; a ':' or '=' inside them
    # jumps past the next ')', so regex arguments may hold all three characters.
    while i < len(rest):
        if rest[i] == ")" and rest[i + 1:i + 2] in ("", ":", "="):
            return i + 1
        if rest[i] in ":=":
            close = rest.find(")", i + 1)
            if close < 0:
                return i
            i = close
        i += 1
    return i


def _parse_param(raw: str) -> _Param:
    """The inside of '{...}' with braces unescaped: [*|**]name[:constraint...][=default][?]."""
    catch_all = raw.startswith("*")
    body = raw[2:] if raw.startswith("**") else raw[1:] if catch_all else raw
    optional = body.endswith("?")
    body = body[:-1] if optional else body
    cut = next((at for at, c in enumerate(body) if c in ":="), len(body))
    name, rest = body[:cut], body[cut:]
    if not _NAME.fullmatch(name):
        raise _Invalid(f"parameter name '{name}' is invalid: use letters, digits and '_'")
    specs, i = [], 0
    while i < len(rest) and rest[i] == ":":
        start = i = i + 1
        while i < len(rest) and rest[i] not in ":=(":
            i += 1
        if i < len(rest) and rest[i] == "(":
            i = _args_end(rest, i + 1)
        if i > start:  # ASP.NET skips empty names, as in '{id::int}'
            specs.append(rest[start:i])
    default = rest[i + 1:] if i < len(rest) else None
    if optional and (catch_all or default is not None):
        what = "a catch-all" if catch_all else "one with a default value"
        raise _Invalid(f"parameter '{name}' cannot be optional and {what}")
    return _Param(name, optional, default, catch_all, tuple(_make_check(s) for s in specs))


Segment = list["str | _Param"]


def _param_end(body: str, start: int) -> int:
    """Index of the '}' closing the parameter opened at `start`; inside, braces come doubled."""
    end = start + 1
    while end < len(body):
        doubled = body[end + 1:end + 2] == body[end]
        if body[end] == "{" and not doubled:
            raise _Invalid("unescaped '{' inside a parameter (write '{{')")
        if body[end] == "}" and not doubled:
            return end
        end += 2 if body[end] in "{}" else 1
    raise _Invalid("unclosed '{' (write '{{' for a literal brace)")


def _split_segments(body: str) -> list[Segment]:
    """Segments of literal strings and parameters; '{{' and '}}' are escaped braces."""
    segments: list[Segment] = [[]]
    literal, i = "", 0
    while i < len(body):
        c, nxt = body[i], body[i + 1:i + 2]
        if c == "/":
            if literal:
                segments[-1].append(literal)
            if not segments[-1]:
                raise _Invalid("empty segment: '/' must separate literals or parameters")
            segments.append([])
            literal = ""
        elif c in "{}" and nxt == c:
            literal, i = literal + c, i + 1
        elif c == "}":
            raise _Invalid("unmatched '}' (write '}}' for a literal brace)")
        elif c == "{":
            end = _param_end(body, i)
            if literal:
                segments[-1].append(literal)
            literal = ""
            segments[-1].append(_parse_param(body[i + 1:end].replace("}}", "}").replace("{{", "{")))
            i = end
        else:
            literal += c
        i += 1
    if literal:
        segments[-1].append(literal)
    if not segments[-1]:  # a template may end with one '/', or be empty
        segments.pop()
    return segments


def _validate(segments: list[Segment]) -> None:
    seen: set[str] = set()
    for index, parts in enumerate(segments):
        shown = "".join(p if isinstance(p, str) else "{" + p.name + "}" for p in parts)
        for at, part in enumerate(parts):
            if isinstance(part, str):
                if "?" in part:
                    raise _Invalid(f"literal '{part}' may not contain '?'")
                continue
            if part.name.lower() in seen:
                raise _Invalid(f"parameter '{part.name}' appears more than once")
            seen.add(part.name.lower())
            if part.catch_all and (len(parts) > 1 or index < len(segments) - 1):
                raise _Invalid(f"catch-all '{part.name}' must be alone in the last segment")
            if at and not isinstance(parts[at - 1], str):
                raise _Invalid(f"segment '{shown}' has two parameters in a row; separate them "
                               f"with a literal")
            if part.optional and len(parts) > 1 and (at < len(parts) - 1 or parts[at - 1] != "."):
                raise _Invalid(f"in segment '{shown}', optional parameter '{part.name}' must be "
                               f"last and follow a '.'")


def _fold(s: str) -> str:
    # OrdinalIgnoreCase compares upper-cased characters; keep lengths so indexes line up.
    return s.upper() if s.isascii() else "".join(
        c.upper() if len(c.upper()) == 1 else c for c in s)


def _match_parts(parts: tuple[str | _Param, ...], text: str) -> dict[str, str] | None:
    # ASP.NET's complex-segment walk, right to left: each literal is found at its last occurrence,
    # leaving at least one character for the parameter after it; it never backtracks.
    folded, values, end, pending = _fold(text), {}, len(text), None
    for index in range(len(parts) - 1, -1, -1):
        part = parts[index]
        if isinstance(part, _Param):
            pending = part
            continue
        at = folded.rfind(_fold(part), 0, end - 1 if pending else end)
        if at < 0 or (index == len(parts) - 1 and at + len(part) != len(text)):
            return None
        if pending:
            values[pending.name], pending = text[at + len(part):end], None
        end = at
    if pending and end:
        values[pending.name] = text[:end]
    elif pending or end:
        return None
    return dict(reversed(values.items()))  # found right to left; hand back in template order


def _match_complex(parts: tuple[str | _Param, ...], text: str) -> dict[str, str] | None:
    last = parts[-1]
    found = _match_parts(parts, text)
    if found is None and isinstance(last, _Param) and last.optional and not text.endswith("."):
        return _match_parts(parts[:-2], text)  # '{a}.{b?}' without the '.b'
    return found


def _request_key(path: str) -> tuple[str, bool]:
    """The path as templates' regexes see it ('/a/b', or '' for the root) and its trailing '/'."""
    path = path[1:] if path.startswith("/") else path
    slash = path.endswith("/")
    path = path[:-1] if slash else path
    return ("/" + path if path else ""), slash


@dataclass(frozen=True)
class RouteTemplate:
    """A parsed, compiled route template; `text` is the template as written (prefix joined)."""

    text: str
    _source: str = field(init=False, repr=False, compare=False)
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _slots: tuple[_Param | tuple[str | _Param, ...], ...] = field(
        init=False, repr=False, compare=False)
    _params: tuple[_Param, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        body = self.text[1:] if self.text.startswith("/") else self.text
        try:
            segments = _split_segments(body)
            _validate(segments)
        except _Invalid as exc:
            raise RouteTemplateError(f"route '{self.text}': {exc}") from None

        def skippable(parts: Segment) -> bool:
            p = parts[0]
            return len(parts) == 1 and isinstance(p, _Param) and (
                p.optional or p.catch_all or p.default is not None)

        # Only a trailing run of optional, defaulted or catch-all segments may be missing.
        required = len(segments)
        while required and skippable(segments[required - 1]):
            required -= 1
        source, slots = "", []
        for parts in segments[:required]:
            if len(parts) == 1 and isinstance(parts[0], str):
                source += "/" + re.escape(parts[0])
            else:
                source += "/([^/]+)"
                slots.append(parts[0] if len(parts) == 1 else tuple(parts))
        trailing = [p for parts in segments[required:] for p in parts if isinstance(p, _Param)]
        tail = ""
        for param in reversed(trailing):  # nested: '/a' may be missing only if '/b' is too
            tail = f"(?:/({'[^/].*' if param.catch_all else '[^/]+'}){tail})?"
        slots.extend(trailing)
        params = tuple(p for parts in segments for p in parts if isinstance(p, _Param))
        object.__setattr__(self, "_source", source + tail)
        object.__setattr__(self, "_regex", re.compile(source + tail, _FLAGS))
        object.__setattr__(self, "_slots", tuple(slots))
        object.__setattr__(self, "_params", params)

    @classmethod
    def parse(cls, text: str) -> RouteTemplate:
        return cls(text)

    @property
    def parameters(self) -> tuple[str, ...]:
        return tuple(p.name for p in self._params)

    def match(self, path: str) -> dict[str, str] | None:
        """Route values for `path` (percent-decoded per segment, no leading '/', e.g. 'api/x/5'):
        strings, defaults included, unmatched optional parameters absent; None if no match."""
        return self._match_key(*_request_key(path))

    def _match_key(self, key: str, slash: bool) -> dict[str, str] | None:
        m = self._regex.fullmatch(key)
        return None if m is None else self._values(m, 0, slash)

    def _values(self, m: re.Match[str], base: int, slash: bool) -> dict[str, str] | None:
        """Route values from `m`, whose groups base+1... are this template's, or None when a
        complex segment or a constraint rejects them."""
        values: dict[str, str] = {}
        for group, slot in enumerate(self._slots, base + 1):
            text = m.group(group)
            if isinstance(slot, tuple):
                found = _match_complex(slot, text)
                if found is None:
                    return None
                values.update(found)
            elif text is not None:  # ASP.NET hands a catch-all the raw rest, trailing '/' too
                values[slot.name] = text + "/" if slot.catch_all and slash else text
            elif slot.default is not None:
                values[slot.name] = slot.default
        for param in self._params:
            value = values.get(param.name)
            if value is None:
                if param.checks and not param.optional:  # e.g. an empty '{*rest:int}'
                    return None
            elif not all(check(value) for check in param.checks):
                return None
        return values


def join_route(prefix: str, route: str) -> str:
    """routePrefix + '/' + route, or just the route when the prefix is empty."""
    prefix, route = prefix.strip("/"), route.strip("/")
    return f"{prefix}/{route}" if prefix and route else prefix or route


def is_reserved_route(route: str) -> bool:
    """True when the route (as written, before the prefix) claims the host's own paths."""
    return route.strip("/").lower().startswith(("admin", "runtime"))


@dataclass(frozen=True)
class RouteEntry:
    name: str
    template: RouteTemplate
    methods: frozenset[str] | None  # None (or empty) = all methods

    def __post_init__(self) -> None:
        methods = frozenset(m.upper() for m in self.methods) if self.methods else None
        object.__setattr__(self, "methods", methods)


class _Alternation:
    """Entries tried in order by one regex: Python's alternation takes the first alternative that
    fits, so the scan finds the first entry whose shape matches; if its constraints then reject
    the values, the entries after it are tried one by one."""

    def __init__(self, entries: Iterable[RouteEntry]) -> None:
        self.entries = tuple(entries)
        self.first_group: dict[int, int] = {}  # outer group number -> entry position
        sources, group = [], 1
        for position, entry in enumerate(self.entries):
            self.first_group[group] = position
            sources.append(f"({entry.template._source})")
            group += 1 + entry.template._regex.groups
        self.regex = re.compile("|".join(sources), _FLAGS) if sources else None

    def match(self, key: str, slash: bool) -> tuple[RouteEntry, dict[str, str]] | None:
        m = self.regex.fullmatch(key) if self.regex else None
        if m is None or m.lastindex is None:
            return None
        position = self.first_group[m.lastindex]  # the outer group closes last
        entry = self.entries[position]
        values = entry.template._values(m, m.lastindex, slash)
        if values is not None:
            return entry, values
        for entry in self.entries[position + 1:]:
            values = entry.template._match_key(key, slash)
            if values is not None:
                return entry, values
        return None


_STATIC_HITS = 256  # paths of the table's answers without route values, remembered


class RouteTable:
    """Immutable (it only remembers its answers for static paths). Entries are tried in
    function-name order, case-insensitive (OrdinalIgnoreCase);
    the first match wins. A method mismatch means 'no match' for that entry, so another entry may
    match, else the caller answers 404 (never 405)."""

    def __init__(self, entries: Iterable[RouteEntry]) -> None:
        # OrdinalIgnoreCase upper-cases, so '_' sorts after letters: 'ab' < 'a_b'.
        self.entries = tuple(sorted(entries, key=lambda e: e.name.upper()))
        methods = {m for e in self.entries for m in e.methods or ()}
        self._other = _Alternation(e for e in self.entries if e.methods is None)
        self._by_method = {method: _Alternation(
            e for e in self.entries if e.methods is None or method in e.methods)
            for method in methods}
        self._static: dict[tuple[str, str], RouteEntry] = {}

    def match(self, method: str, path: str) -> tuple[RouteEntry, dict[str, str]] | None:
        static = self._static.get((method, path))
        if static is not None:
            return static, {}
        key, slash = _request_key(path)
        found = self._by_method.get(method.upper(), self._other).match(key, slash)
        if found is not None and not found[1] and len(self._static) < _STATIC_HITS:
            # The table never changes, so a path's answer doesn't either; only answers without
            # route values are kept (a route like 'items/{id}' would fill it with ids).
            self._static[method, path] = found[0]
        return found

    def conflicts(self) -> list[tuple[str, str]]:
        """(later_name, earlier_name) for each entry Azure rejects: same template (trimmed of '/',
        case-insensitive) as an earlier accepted entry, with overlapping methods."""
        accepted: list[tuple[str, RouteEntry]] = []
        found = []
        for entry in self.entries:
            key = entry.template.text.strip("/").upper()
            earlier = next((e for k, e in accepted if k == key and (
                e.methods is None or entry.methods is None or e.methods & entry.methods)), None)
            if earlier is None:
                accepted.append((key, entry))
            else:
                found.append((entry.name, earlier.name))
        return found
