"""The route table: which function answers a request, with Azure's precedence and conflict rules.

Owns ordering the HTTP functions' routes (function-name order, OrdinalIgnoreCase), joining their
templates into one regex alternation per method, and finding the duplicates Azure rejects.
Separate from `routing`, which owns one template's syntax and matching; this module only combines
compiled templates, so it reaches into their compiled regex and value extraction.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from funcpy.host.routing import REGEX_FLAGS, RouteTemplate, request_key


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
        self.regex = re.compile("|".join(sources), REGEX_FLAGS) if sources else None

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
        key, slash = request_key(path)
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
