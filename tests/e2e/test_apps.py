"""App shapes through the real `func-py start`: a `function_app/` package with blueprints, ASGI and
WSGI apps, an app that cannot be imported, and an app with good and bad functions side by side."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import APPS
from tests.harness import HostProcess, run_start, wait_until


def _host(tmp_path_factory: pytest.TempPathFactory, app: str, *args: str,
          env: dict[str, str] | None = None) -> HostProcess:
    log = tmp_path_factory.mktemp(app) / "host.log"
    return HostProcess(APPS / app, "--no-reload", *args, log_path=log, env=env)


# -- a function_app/ package whose functions live in blueprints ---------------------------------


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    with _host(tmp_path_factory, "package") as h:
        yield h


def test_package_functions_from_both_blueprints_and_the_app_are_listed(
        package: HostProcess) -> None:
    base = f"http://localhost:{package.port}/api"
    out = package.output
    assert f"\tcreate_order: [POST] {base}/orders" in out  # register_blueprint, @function_name
    assert f"\tget_user: [GET] {base}/users/{{name}}" in out  # register_functions
    assert f"\troot: {base}/root" in out
    with package.client() as c:
        assert set(c.get("/admin/host/status").json()["functions"]) == {
            "create_order", "get_user", "root"}


def test_package_module_is_imported_as_function_app(package: HostProcess) -> None:
    with package.client() as c:
        assert c.get("/api/root").text == "root module=function_app"


def test_blueprint_with_a_relative_import_runs_with_its_own_directory(
        package: HostProcess) -> None:
    with package.client() as c:
        r = c.get("/api/users/ada%20lovelace")
    assert r.status_code == 200
    body = r.json()
    assert body["user"] == "Ada Lovelace"  # from ..naming, a relative import
    assert body["function_name"] == "get_user"
    # The worker's function_directory is the folder of the file that defines the function.
    assert body["function_directory"] == str(APPS / "package" / "function_app" / "blueprints")


def test_blueprint_with_absolute_imports_of_package_and_top_level_modules(
        package: HostProcess) -> None:
    with package.client() as c:
        r = c.post("/api/orders", json={"customer": " grace hopper ",
                                        "lines": [{"qty": 2, "price": 1.25},
                                                  {"qty": 1, "price": 0.5}]})
        assert r.status_code == 201
        assert r.json() == {"customer": "Grace Hopper", "total": 3.0}
        assert c.get("/api/orders").status_code == 404  # POST only


# -- func.AsgiFunctionApp around a Starlette app -------------------------------------------------


@pytest.fixture(scope="module")
def asgi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    with _host(tmp_path_factory, "asgi") as h:
        yield h


def test_asgi_app_is_one_catch_all_function(asgi: HostProcess) -> None:
    assert (f"\thttp_app_func: [DELETE,GET,HEAD,OPTIONS,PATCH,POST,PUT] "
            f"http://localhost:{asgi.port}/api/{{*route}}") in asgi.output


def test_asgi_path_params_query_string_and_lifespan(asgi: HostProcess) -> None:
    with asgi.client() as c:
        for _ in range(2):
            r = c.get("/api/items/5?q=x&tag=a&tag=b")
            assert r.status_code == 200
            assert r.headers["content-type"] == "application/json"
            # The app's lifespan startup ran once, before the first request, not per request.
            assert r.json() == {"id": 5, "q": "x", "tags": ["a", "b"], "startups": 1}


def test_asgi_json_body_status_and_headers_round_trip(asgi: HostProcess) -> None:
    with asgi.client() as c:
        r = c.post("/api/items", json={"id": 9, "name": "nine"}, headers={"X-Client": "me"})
    assert r.status_code == 201
    assert r.json() == {"created": {"id": 9, "name": "nine"}, "path": "/api/items"}
    assert r.headers["location"] == "/api/items/9"
    assert r.headers["x-echo"] == "me"


def test_asgi_app_chooses_status_codes_and_its_own_404(asgi: HostProcess) -> None:
    with asgi.client() as c:
        r = c.delete("/api/items/3")
        assert (r.status_code, r.content) == (204, b"")
        r = c.get("/api/teapot")
        assert (r.status_code, r.text) == (418, "short and stout")
        # Unknown paths under the prefix reach the app, which answers its own 404 page.
        r = c.get("/api/items/not-a-number")
        assert (r.status_code, r.text) == (404, "Not Found")
        # Outside the route prefix nothing matches the catch-all: the host's own 404.
        r = c.get("/elsewhere")
        assert (r.status_code, r.content) == (404, b"")


# -- func.WsgiFunctionApp around a plain WSGI callable -------------------------------------------


@pytest.fixture(scope="module")
def wsgi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    with _host(tmp_path_factory, "wsgi") as h:
        yield h


def test_wsgi_path_query_and_headers_reach_the_app(wsgi: HostProcess) -> None:
    with wsgi.client() as c:
        r = c.get("/api/greet/bob?lang=fr", headers={"X-Agent": "tests"})
    assert r.status_code == 200
    assert r.json() == {"hello": "bob", "lang": "fr", "agent": "tests", "script_name": ""}


def test_wsgi_body_status_and_response_headers(wsgi: HostProcess) -> None:
    with wsgi.client() as c:
        r = c.post("/api/sum", content=b"[1, 2, 3.5]")
        assert r.status_code == 201
        assert r.json() == {"sum": 6.5}
        assert r.headers["x-count"] == "3"
        assert r.headers["content-type"] == "application/json"
        r = c.patch("/api/nowhere")
        assert (r.status_code, r.text) == (404, "no route for PATCH /api/nowhere")


def test_wsgi_5xx_becomes_a_failed_invocation_as_on_azure(wsgi: HostProcess) -> None:
    # azure.functions' WsgiMiddleware raises on a 5xx status, so the client sees the host's 500
    # with an empty body, and the app's body text is in the logged exception.
    with wsgi.client() as c:
        r = c.get("/api/fail")
    assert (r.status_code, r.content) == (500, b"")
    m = wsgi.wait_for_log(r"Executed 'Functions.http_app_func' \(Failed, Id=[0-9a-f-]+")
    assert "b'try later'" in wsgi.output[m.end():]


def test_wsgi_function_auth_level_is_enforced_with_enable_auth(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    # The app-level http_auth_level applies to the catch-all function (FUNCTION here).
    env = {"FUNCPY_FUNCTION_KEY_HTTP_APP_FUNC": "wsgi-key"}
    with _host(tmp_path_factory, "wsgi", "--enable-auth", env=env) as h, h.client() as c:
        assert c.get("/api/greet/x").status_code == 401
        assert c.get("/api/greet/x?code=wsgi-key").json()["hello"] == "x"
        r = c.get("/api/greet/x?lang=de", headers={"x-functions-key": "wsgi-key"})
        assert r.json()["lang"] == "de"


# -- an app that cannot be imported --------------------------------------------------------------


def test_import_error_in_production_exits_non_zero_with_the_reason_and_the_traceback() -> None:
    # In development the host stays up instead (tests/e2e/test_stay_up.py).
    result = run_start(APPS / "broken_import", "--production",
                       env={"FUNCPY_MASTER_KEY": "Broken-Import-Master-Key-0123456789"})
    assert result.returncode != 0
    assert "Host started" not in result.stdout
    errors = [json.loads(line) for line in result.stdout.splitlines()
              if line.startswith("{") and '"level": "ERROR"' in line]
    assert len(errors) == 1, result.stdout
    message = errors[0]["message"]
    assert re.match(r".*function_app\.py failed to import: ModuleNotFoundError: No module named "
                    r"'definitely_not_installed_funcpy_module'\nTraceback", message)
    # The traceback starts in the app's code and goes through the helper that failed.
    assert re.search(r'function_app\.py", line \d+, in <module>', message)
    assert 'helper_that_imports_a_missing_module.py", line 1, in <module>' in message
    assert "importlib" not in message


# -- good and bad functions side by side ---------------------------------------------------------


BAD = {
    "underscore_binding": "The binding name my_req is invalid.",
    "extra_param": "the following parameters are declared in Python but not in the bindings: "
                   "['other']",
    "admin_route": "The specified route conflicts with one or more built in routes.",
    "runtime_route": "The specified route conflicts with one or more built in routes.",
    "admins": "The specified route conflicts with one or more built in routes.",
    "dup_b": "The route specified conflicts with the route defined by function 'dup_a'.",
    "bad_template": "unknown constraint 'nosuchconstraint'",
    "missing_setting": "'%FUNCPY_TEST_MISSING_SETTING%' does not resolve to a value.",
    "no_trigger": "Function no_trigger does not have a trigger.",
}


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    with _host(tmp_path_factory, "broken_functions") as h:
        yield h


@pytest.mark.parametrize("name", sorted(BAD))
def test_each_bad_function_is_reported_by_name_with_its_reason(
        broken: HostProcess, name: str) -> None:
    line = re.search(rf"The '{name}' function is in error: (.*)", broken.output)
    assert line is not None, broken.output
    assert BAD[name] in line.group(1)


def test_the_good_functions_serve_and_the_bad_ones_are_absent(broken: HostProcess) -> None:
    with broken.client() as c:
        assert c.get("/api/good").text == "good"
        for path in ("/api/underscore", "/api/extra", "/api/bad/1", "/api/runtime/stats",
                     "/api/administrators", "/api/admin/thing"):
            assert c.get(path).status_code == 404, path


def test_route_conflict_rejects_the_later_name_not_the_later_declaration(
        broken: HostProcess) -> None:
    # dup_b is declared first, but the host orders functions by name: dup_a wins the route.
    with broken.client() as c:
        assert c.get("/api/same").text == "dup_a"
        assert c.delete("/api/same").text == "dup_c"  # disjoint methods: no conflict
        assert c.post("/api/same").status_code == 404  # only dup_b had POST


def test_unsupported_trigger_is_skipped_with_a_warning(broken: HostProcess) -> None:
    assert ("The 'on_blob' function is skipped: trigger 'blobTrigger' is not supported"
            in broken.output)
    assert "\ton_blob: skipped (trigger 'blobTrigger'" in broken.output


def test_host_status_lists_the_loaded_functions_errors_and_skipped(broken: HostProcess) -> None:
    with broken.client() as c:
        status = c.get("/admin/host/status").json()
    assert status["state"] == "Running"
    assert status["functions"] == ["dup_a", "dup_c", "good"]
    assert set(status["skipped"]) == {"on_blob"}
    assert len(status["errors"]) == len(BAD)
    for name, reason in BAD.items():
        assert any(e.startswith(f"The '{name}' function is in error: ") and reason in e
                   for e in status["errors"]), name


def test_function_status_endpoint(broken: HostProcess) -> None:
    with broken.client() as c:
        r = c.get("/admin/functions/dup_b/status")
        assert r.status_code == 200
        assert r.json() == {"errors": [f"The 'dup_b' function is in error: {BAD['dup_b']}"]}
        assert c.get("/admin/functions/good/status").json() == {"errors": []}
        assert c.get("/admin/functions/NO_TRIGGER/status").json()["errors"]  # any case
        assert c.get("/admin/functions/nope/status").status_code == 404



# -- app modules named like func-py's folders ------------------------------------------------


@pytest.mark.parametrize("layout", ["modules", "package"])
def test_app_modules_named_host_and_triggers_do_not_clash_with_func_py(
        tmp_path: Path, layout: str) -> None:
    """func-py imports itself as `funcpy.host` / `funcpy.triggers`: an app's own `host.py`,
    `triggers.py` or `host/` package is the app's (it failed with "cannot import name" when
    func-py's packages were the top-level `host` and `triggers`)."""
    app = tmp_path / "app"
    app.mkdir()
    (app / "host.json").write_text('{"version": "2.0"}')
    (app / "triggers.py").write_text("def greet(name):\n    return f'hi {name}'\n")
    if layout == "modules":
        (app / "host.py").write_text("WHERE = 'host.py'\n")
    else:
        (app / "host").mkdir()
        (app / "host" / "__init__.py").write_text("WHERE = 'host/ package'\n")
    (app / "function_app.py").write_text(
        "import azure.functions as func\n"
        "from host import WHERE\n"
        "from triggers import greet\n\n"
        "app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)\n\n\n"
        "@app.route(route='hello')\n"
        "def hello(req: func.HttpRequest) -> str:\n"
        "    return f'{greet(\"ada\")} from {WHERE}'\n")
    with HostProcess(app, log_path=tmp_path / "host.log") as h, h.client() as c:
        assert c.get("/api/hello").text == (
            "hi ada from " + ("host.py" if layout == "modules" else "host/ package"))
        # Hot reload re-imports the app's modules, never func-py's.
        (app / "triggers.py").write_text("def greet(name):\n    return f'hello {name}'\n")
        (app / "function_app.py").write_text(
            (app / "function_app.py").read_text().replace("hello')", "hello2')"))
        wait_until(lambda: c.get("/api/hello2").status_code == 200, timeout=20,
                   what="the reloaded app")
        assert c.get("/api/hello2").text.startswith("hello ada from ")
