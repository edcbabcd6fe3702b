"""HTTP route templates as the Azure Functions host reads them (ASP.NET Core's syntax and matching).

Owns parsing and validating a template (`RouteTemplate`) and matching a percent-decoded request path
against it; the constraint checks live in `route_constraints`, and the table that picks the function
answering a request (`RouteTable`, Azure's precedence and conflict rules) in `route_table`. It must
not know Starlette, requests or responses, and it follows ASP.NET even where ASP.NET is quirky
(e.g. 'v{x}' does not match 'vv2'; decimal/double accept ',').

Each template compiles once to a regex for its shape plus per-parameter checks; a table joins its
templates into one ordered alternation per HTTP method, so a request costs one regex scan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from funcpy.host.route_constraints import Check, Invalid, make_check

REGEX_FLAGS = re.IGNORECASE | re.DOTALL  # shared with route_table, which joins templates' regexes
_NAME = re.compile(r"\w+")


class RouteTemplateError(ValueError):
    """A route template ASP.NET Core would reject; the message names the template and the fault."""


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
        raise Invalid(f"parameter name '{name}' is invalid: use letters, digits and '_'")
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
        raise Invalid(f"parameter '{name}' cannot be optional and {what}")
    return _Param(name, optional, default, catch_all, tuple(make_check(s) for s in specs))


Segment = list["str | _Param"]


def _param_end(body: str, start: int) -> int:
    """Index of the '}' closing the parameter opened at `start`; inside, braces come doubled."""
    end = start + 1
    while end < len(body):
        doubled = body[end + 1:end + 2] == body[end]
        if body[end] == "{" and not doubled:
            raise Invalid("unescaped '{' inside a parameter (write '{{')")
        if body[end] == "}" and not doubled:
            return end
        end += 2 if body[end] in "{}" else 1
    raise Invalid("unclosed '{' (write '{{' for a literal brace)")


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
                raise Invalid("empty segment: '/' must separate literals or parameters")
            segments.append([])
            literal = ""
        elif c in "{}" and nxt == c:
            literal, i = literal + c, i + 1
        elif c == "}":
            raise Invalid("unmatched '}' (write '}}' for a literal brace)")
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
                    raise Invalid(f"literal '{part}' may not contain '?'")
                continue
            if part.name.lower() in seen:
                raise Invalid(f"parameter '{part.name}' appears more than once")
            seen.add(part.name.lower())
            if part.catch_all and (len(parts) > 1 or index < len(segments) - 1):
                raise Invalid(f"catch-all '{part.name}' must be alone in the last segment")
            if at and not isinstance(parts[at - 1], str):
                raise Invalid(f"segment '{shown}' has two parameters in a row; separate them "
                               f"with a literal")
            if part.optional and len(parts) > 1 and (at < len(parts) - 1 or parts[at - 1] != "."):
                raise Invalid(f"in segment '{shown}', optional parameter '{part.name}' must be "
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


def request_key(path: str) -> tuple[str, bool]:
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
        except Invalid as exc:
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
        object.__setattr__(self, "_regex", re.compile(source + tail, REGEX_FLAGS))
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
        return self._match_key(*request_key(path))

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
