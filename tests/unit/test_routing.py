"""Route templates and the route table, against ASP.NET Core's (and so Azure's) behaviour."""

from __future__ import annotations

import itertools

import pytest
from funcpy.host.route_table import RouteEntry, RouteTable
from funcpy.host.routing import RouteTemplate, RouteTemplateError, is_reserved_route, join_route

GUID = "0f8fad5b-d9cb-469f-a165-70867728950e"

# constraint, values it accepts, values it rejects
CONSTRAINTS: list[tuple[str, list[str], list[str]]] = [
    ("int", ["0", "42", "-7", "+7", "2147483647", "-2147483648", " 5 "],
     ["2147483648", "-2147483649", "1.0", "1_000", "1,000", "abc", "0x1F", "١٢", "- 5"]),
    ("long", ["9223372036854775807", "-9223372036854775808", "2147483648"],
     ["9223372036854775808", "1e3", "x"]),
    ("bool", ["true", "False", "TRUE"], ["yes", "1", "truex", "t"]),
    ("alpha", ["abc", "ABCxyz"], ["abc1", "é", "a-b", "a b"]),
    ("guid", [GUID, GUID.upper(), GUID.replace("-", ""), "{" + GUID + "}", "(" + GUID + ")"],
     [GUID[:-1], "{" + GUID, "(" + GUID + "}", GUID.replace("0", "g"), GUID + "-"]),
    ("datetime", ["2024-01-15", "2024-1-5", "2024-01-15T10:30", "2024-01-15T10:30:00",
                  "2024-01-15T10:30:00.1234567Z", "2024-01-15 10:30:00", "2024-02-29",
                  "2024-01-15T10:30:00+02:00", "1/15/2024", "01/15/2024 23:59",
                  "12/31/2024 11:59 PM", "2024/1/5"],
     ["2024-02-30", "2023-02-29", "2024-13-01", "15/1/2024", "2024-01-15T25:00", "yesterday",
      "1/15/2024 13:00 PM", "2024-01-15T10:61", "0000-01-01", "2024-01-15T10"]),
    ("decimal", ["1", "-1.5", ".5", "5.", "1,000.25", "5-", "+3", "79228162514264337593543950335",
                 "-79228162514264337593543950335.4"],
     ["1e5", "--1", "79228162514264337593543950336", "79228162514264337593543950335.5", "abc",
      ".", "NaN", "+5-", ",5"]),
    ("double", ["1", "1.5e10", "-2E-3", "NaN", "-Infinity", "infinity", "1,000.5", "1e400", ".5"],
     ["1e", "abc", "1.2.3", "5-", "0x10", "1_0"]),
    ("float", ["3.14", "-1e-5", "+NaN"], ["pi", "1..2"]),
    ("min(10)", ["10", "11", "999999999999"], ["9", "-10", "abc", "10.5"]),
    ("max(10)", ["10", "-5"], ["11", "abc"]),
    ("min(-5)", ["-5", "0"], ["-6"]),
    ("range(1,9)", ["1", "9", "5"], ["0", "10", "x"]),
    ("range( 1 , 9 )", ["5"], ["10"]),
    ("length(3)", ["abc", "\U0001f600a"], ["ab", "abcd", "\U0001f600ab"]),  # 😀 is 2 UTF-16 units
    ("length(2,4)", ["ab", "abcd"], ["a", "abcde"]),
    ("minlength(3)", ["abc", "abcdef"], ["ab"]),
    ("maxlength(3)", ["a", "abc"], ["abcd"]),
    ("regex(^[a-c]+$)", ["abc", "ABC"], ["abcd", "ab1"]),
    ("regex(b)", ["abc", "b"], ["ac"]),  # IsMatch searches; users anchor with ^$
    ("regex(^\\d{{5}}$)", ["12345"], ["1234", "123456"]),  # doubled braces are un-escaped
    ("regex(^a:(b|c)$)", ["a:b", "A:C"], ["a:d", "b:b"]),  # ':' and ')' inside the arguments
    ("regex(^a=(b)$)", ["a=b"], ["a=c"]),
    ("regex(^(?<year>\\d{{4}})-\\k<year>$)", ["2024-2024"], ["2024-2025"]),  # .NET group syntax
    ("required", ["x"], []),
    ("file", ["a.txt", "a/b.c", "a..b", ".x", "a.b/c.d"], ["abc", "a.", "a..", "a.b/c"]),
    ("nonfile", ["abc", "a.", "a.b/c"], ["a.txt", "a/b.c"]),
    ("int:min(1)", ["1", "99"], ["0", "x"]),  # chained: all must pass
    ("INT", ["5"], ["x"]),  # constraint names are case-insensitive
    ("int:", ["5"], ["x"]),
]


@pytest.mark.parametrize(("constraint", "value", "accepted"), [
    (c, v, ok) for c, good, bad in CONSTRAINTS for ok, values in ((True, good), (False, bad))
    for v in values
])
def test_constraint(constraint: str, value: str, accepted: bool) -> None:
    expected = {"x": value} if accepted else None
    # A value holding '/' spans segments, so only a catch-all can carry it.
    assert RouteTemplate.parse(f"v/{{*x:{constraint}}}").match(f"v/{value}") == expected
    if "/" not in value:
        assert RouteTemplate.parse(f"v/{{x:{constraint}}}").match(f"v/{value}") == expected


# template, path, route values (None: no match)
MATCHES: list[tuple[str, str, dict[str, str] | None]] = [
    ("api/items/{id}", "api/items/5", {"id": "5"}),
    ("api/items/{id}", "api/items/5/", {"id": "5"}),  # a trailing '/' is ignored
    ("api/items/{id}", "api/items", None),
    ("api/items/{id}", "api/items/5/6", None),
    ("api/items/{id}", "api/items//", None),
    ("api/items/{id}/x", "api/items//x", None),  # empty request segment
    ("Api/Items/{ID}", "api/ITEMS/5", {"ID": "5"}),  # literals case-insensitive, names as written
    ("/items", "items", {}),  # one leading and one trailing '/' in a template are allowed
    ("items/", "items", {}),
    ("", "", {}),
    ("", "x", None),
    ("a{{b}}", "a{b}", {}),  # escaped braces are literal
    # optional parameters and defaults: only a trailing run may be missing
    ("items/{id?}", "items", {}),
    ("items/{id?}", "items/", {}),
    ("items/{id?}", "items/7", {"id": "7"}),
    ("items/{id:int?}", "items/x", None),
    ("items/{id:int?}", "items", {}),
    ("items/{id=7}", "items", {"id": "7"}),
    ("items/{id=7}", "items/8", {"id": "8"}),
    ("items/{id:int=7}", "items", {"id": "7"}),
    ("{a?}/{b?}", "", {}),
    ("{a?}/{b?}", "x", {"a": "x"}),
    ("{a?}/{b?}", "x/y", {"a": "x", "b": "y"}),
    ("{a?}/{b?}", "x/y/z", None),
    ("{controller=Home}/{action=Index}/{id?}", "", {"controller": "Home", "action": "Index"}),
    ("{controller=Home}/{action=Index}/{id?}", "shop/buy/3",
     {"controller": "shop", "action": "buy", "id": "3"}),
    ("{a?}/b", "x/b", {"a": "x"}),  # an optional followed by a literal is effectively required
    ("{a?}/b", "b", None),
    ("{a=x}/{b}", "y", None),
    # catch-all: last segment, may be empty, keeps slashes
    ("files/{*path}", "files", {}),
    ("files/{*path}", "files/a", {"path": "a"}),
    ("files/{*path}", "files/a/b/c", {"path": "a/b/c"}),
    ("files/{*path}", "files/a//b", {"path": "a//b"}),
    ("files/{*path}", "files//a", None),  # empty segments before the catch-all still fail
    ("files/{*path}", "files/a/b/", {"path": "a/b/"}),  # ASP.NET keeps the raw rest
    ("files/{*path}", "filesx/a", None),
    ("files/{**path}", "files/a/b", {"path": "a/b"}),
    ("files/{*path=index.html}", "files", {"path": "index.html"}),
    ("files/{*path:int}", "files", None),  # a constraint on a missing catch-all fails
    ("files/{*path:int}", "files/5", {"path": "5"}),
    ("files/{*path:regex(^static/)}", "files/static/a.css", {"path": "static/a.css"}),
    ("{v?}/{*rest}", "a/b/c", {"v": "a", "rest": "b/c"}),
    # complex segments: ASP.NET's right-to-left walk
    ("files/{name}.{ext}", "files/report.pdf", {"name": "report", "ext": "pdf"}),
    ("files/{name}.{ext}", "files/a.b.c", {"name": "a.b", "ext": "c"}),
    ("files/{name}.{ext}", "files/report", None),
    ("files/{name}.{ext}", "files/.pdf", None),
    ("files/{name}.{ext}", "files/report.", None),
    ("files/{name}.{ext?}", "files/report", {"name": "report"}),
    ("files/{name}.{ext?}", "files/report.pdf", {"name": "report", "ext": "pdf"}),
    ("files/{name}.{ext?}", "files/a.b.c", {"name": "a.b", "ext": "c"}),
    ("files/{name}.{ext?}", "files/report.", None),
    ("files/{name}.{ext?}", "files", None),
    ("img-{id:int}.png", "img-5.png", {"id": "5"}),
    ("img-{id:int}.png", "IMG-5.PNG", {"id": "5"}),
    ("img-{id:int}.png", "img-x.png", None),
    ("img-{id:int}.png", "img-5.png.bak", None),
    ("img-{id:int}.png", "ximg-5.png", None),
    ("{a}-{b}-{c}", "1-2-3-4", {"a": "1-2", "b": "3", "c": "4"}),
    ("{a}-{b}", "x--", {"a": "x", "b": "-"}),
    ("{name}.json", "data.json.json", {"name": "data.json"}),
    ("pre{x}post", "preApost", {"x": "A"}),
    ("pre{x}post", "PREapost", {"x": "a"}),
    ("v{version}", "v2", {"version": "2"}),
    ("v{version}", "vv2", None),  # the prefix found again in the value: ASP.NET does not match
]


@pytest.mark.parametrize(("template", "path", "expected"), MATCHES)
def test_match(template: str, path: str, expected: dict[str, str] | None) -> None:
    assert RouteTemplate.parse(template).match(path) == expected
    # A one-entry table goes through the shared alternation and must agree.
    found = RouteTable([RouteEntry("f", RouteTemplate.parse(template), None)]).match("GET", path)
    assert (found and found[1]) == expected


# template, what the error message must contain
ERRORS = [
    ("items/{id:foo}", "route 'items/{id:foo}': unknown constraint 'foo'"),
    ("a//b", "empty segment"),
    ("//a", "empty segment"),
    ("a//", "empty segment"),
    ("{id}/{ID}", "parameter 'ID' appears more than once"),
    ("{id=5?}", "cannot be optional and one with a default value"),
    ("{*rest?}", "cannot be optional and a catch-all"),
    ("{*rest}/x", "catch-all 'rest' must be alone in the last segment"),
    ("x{*rest}", "catch-all 'rest' must be alone"),
    ("{a}{b}", "two parameters in a row"),
    ("{a?}.{b}", "optional parameter 'a' must be last"),
    ("{a}-{b?}", "follow a '.'"),
    ("file.{ext?}", "follow a '.'"),
    ("a?b", "literal 'a?b' may not contain '?'"),
    ("{a", "unclosed '{'"),
    ("a}", "unmatched '}'"),
    ("{a{b}", "unescaped '{'"),
    ("{}", "parameter name '' is invalid"),
    ("{a-b}", "parameter name 'a-b' is invalid"),
    ("{id:int()}", "constraint 'int()' has the wrong arguments"),
    ("{id:min}", "constraint 'min' has the wrong arguments"),
    ("{id:regex}", "wrong arguments"),
    ("{id:min(x)}", "needs 1 integer argument(s)"),
    ("{id:length(1,2,3)}", "needs 1 or 2 integer argument(s)"),
    ("{id:range(9,1)}", "out of order"),
    ("{id:length(-1)}", "negative"),
    ("{id:regex(()}", "invalid regex '('"),
    ("{id:regex(a):b)}", "unknown constraint 'b)'"),
    # as in ASP.NET, a ')' followed by ':' ends the arguments, even inside a regex group
    ("{id:regex(^(a|b):c)}", "invalid regex '^(a|b'"),
]


@pytest.mark.parametrize(("template", "message"), ERRORS)
def test_parse_error(template: str, message: str) -> None:
    with pytest.raises(RouteTemplateError) as caught:
        RouteTemplate.parse(template)
    assert message in str(caught.value)
    assert str(caught.value).startswith(f"route '{template}': ")
    assert isinstance(caught.value, ValueError)


def test_template_basics() -> None:
    template = RouteTemplate.parse("api/{a}/{b:int?}/{*c}")
    assert template.text == "api/{a}/{b:int?}/{*c}"
    assert template.parameters == ("a", "b", "c")
    assert RouteTemplate.parse("{x}.{y}").parameters == ("x", "y")
    assert template == RouteTemplate.parse("api/{a}/{b:int?}/{*c}")
    assert len({template, RouteTemplate.parse("api/{a}/{b:int?}/{*c}")}) == 1
    assert template.match("/api/1") == {"a": "1"}  # a leading '/' is tolerated


def entry(name: str, route: str, methods: str | None = None) -> RouteEntry:
    return RouteEntry(name, RouteTemplate.parse(join_route("api", route)),
                      frozenset(methods.split(",")) if methods else None)


def test_entry_methods_normalised() -> None:
    assert entry("f", "x", "get,Post").methods == frozenset({"GET", "POST"})
    assert RouteEntry("f", RouteTemplate.parse("x"), frozenset()).methods is None


# entries, method, path, expected function name (None: 404)
PRECEDENCE = [
    # first match in function-name order, no "most specific" ranking
    ([entry("a_get", "items/{id}"), entry("b_new", "items/new")], "GET", "api/items/new", "a_get"),
    ([entry("b_new", "items/new"), entry("a_get", "items/{id}")], "GET", "api/items/new", "a_get"),
    ([entry("B_first", "x/{v}"), entry("a_second", "x/{w}")], "GET", "api/x/1", "a_second"),
    # OrdinalIgnoreCase upper-cases: '_' (0x5F) sorts after letters, so 'ab' comes before 'a_b'
    ([entry("a_b", "x/{v}"), entry("ab", "x/{w}")], "GET", "api/x/1", "ab"),
    ([entry("a-b", "x/{v}"), entry("ab", "x/{w}")], "GET", "api/x/1", "a-b"),
    # a method mismatch falls through to the next entry, or to 404 (never 405)
    ([entry("a_post", "items/{id}", "POST"), entry("b_get", "items/{id}", "GET")],
     "GET", "api/items/1", "b_get"),
    ([entry("a_post", "items/{id}", "POST"), entry("b_get", "items/{id}", "GET")],
     "POST", "api/items/1", "a_post"),
    ([entry("a_post", "items/{id}", "POST"), entry("b_get", "items/{id}", "GET")],
     "DELETE", "api/items/1", None),
    ([entry("a_post", "items/{id}", "POST"), entry("b_get", "items/{id}", "GET")],
     "get", "api/items/1", "b_get"),
    ([entry("a_get", "items/{id}", "GET"), entry("b_any", "items/{id}")],
     "HEAD", "api/items/1", "b_any"),  # HEAD is not implied by GET
    # a failing constraint or complex segment falls through too
    ([entry("a_int", "items/{id:int}"), entry("b_any", "items/{name}")],
     "GET", "api/items/x", "b_any"),
    ([entry("a_int", "items/{id:int}"), entry("b_any", "items/{name}")],
     "GET", "api/items/5", "a_int"),
    ([entry("a_int", "f/{id:int}"), entry("b_json", "f/{n}.json"), entry("c_any", "f/{x}")],
     "GET", "api/f/x.txt", "c_any"),
    ([entry("a_int", "f/{id:int}"), entry("b_json", "f/{n}.json"), entry("c_any", "f/{x}")],
     "GET", "api/f/x.json", "b_json"),
    ([entry("a", "items"), entry("b", "other")], "GET", "api/nothing", None),
    ([], "GET", "api/x", None),
]


@pytest.mark.parametrize(("entries", "method", "path", "expected"), PRECEDENCE)
def test_table_precedence(entries: list[RouteEntry], method: str, path: str,
                          expected: str | None) -> None:
    found = RouteTable(entries).match(method, path)
    assert (found[0].name if found else None) == expected


def test_table_values() -> None:
    table = RouteTable([entry("one", "a/{x}/{y?}"), entry("two", "b/{p}.{q}"),
                        entry("three", "c/{*rest}")])
    assert table.match("GET", "api/a/1/2") == (table.entries[0], {"x": "1", "y": "2"})
    assert table.match("GET", "api/b/f.txt")[1] == {"p": "f", "q": "txt"}  # type: ignore[index]
    assert table.match("GET", "api/c/d/e")[1] == {"rest": "d/e"}  # type: ignore[index]


def test_table_agrees_with_trying_each_template_in_order() -> None:
    routes = ["items/{id:int}", "items/{name:alpha}", "items/{a}.{b?}", "items/new",
              "{x}/{y=1}/{*z}", "files/{*p}", "img-{n:int}.png", "{a:length(2)}", "",
              "things/{id:guid}/{v:bool?}"]
    entries = [entry(f"f{i}", r, "GET" if i % 3 == 0 else None) for i, r in enumerate(routes)]
    table = RouteTable(entries)
    words = ["items", "files", "new", "5", "x", "a.b", "a.", "img-5.png", "ab", "things", GUID,
             "true", ""]
    paths = ["/".join(p) for n in range(4) for p in itertools.product(words, repeat=n)]
    for method, path in itertools.product(["GET", "POST"], (f"api/{p}" for p in paths)):
        expected = next(((e, v) for e in table.entries
                         if (e.methods is None or method in e.methods)
                         and (v := e.template.match(path)) is not None), None)
        assert table.match(method, path) == expected, (method, path)


# entries, expected (later, earlier) pairs
CONFLICTS = [
    ([entry("a", "Items/{id}"), entry("b", "items/{id}/")], [("b", "a")]),
    ([entry("b", "items"), entry("a", "items")], [("b", "a")]),
    ([entry("a", "x", "GET"), entry("b", "x", "GET,POST")], [("b", "a")]),
    ([entry("a", "x", "GET"), entry("b", "x", "POST")], []),
    ([entry("a", "x"), entry("b", "x", "POST")], [("b", "a")]),
    ([entry("a", "x", "PUT"), entry("b", "x")], [("b", "a")]),
    ([entry("a", "x"), entry("b", "x"), entry("c", "x")], [("b", "a"), ("c", "a")]),
    # a rejected function is not registered, so it cannot conflict with later ones
    ([entry("a", "x", "GET"), entry("b", "x", "GET,POST"), entry("c", "x", "POST")], [("b", "a")]),
    ([entry("a", "items/{id}"), entry("b", "items/{key}")], []),  # compared as text
    ([entry("a", "items/{id}"), entry("b", "items/new")], []),
]


@pytest.mark.parametrize(("entries", "expected"), CONFLICTS)
def test_conflicts(entries: list[RouteEntry], expected: list[tuple[str, str]]) -> None:
    assert RouteTable(entries).conflicts() == expected


@pytest.mark.parametrize(("route", "reserved"), [
    ("admin", True), ("admin/x", True), ("/Admin/functions", True), ("runtime/webhooks", True),
    ("RUNTIME", True), ("administrator", True),  # Azure checks the prefix only
    ("api/admin", False), ("my-admin", False), ("items", False), ("", False),
])
def test_is_reserved_route(route: str, reserved: bool) -> None:
    assert is_reserved_route(route) is reserved


@pytest.mark.parametrize(("prefix", "route", "joined"), [
    ("api", "items", "api/items"), ("", "items", "items"), ("/api/", "/items/", "api/items"),
    ("api", "", "api"), ("", "", ""), ("v1/api", "items/{id}", "v1/api/items/{id}"),
])
def test_join_route(prefix: str, route: str, joined: str) -> None:
    assert join_route(prefix, route) == joined
