"""Hot reload through the real `func-py start`: edits land while requests flow, none fails."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import APPS
from tests.harness import HostProcess, wait_until


@pytest.fixture()
def app(tmp_path: Path) -> Path:
    dest = tmp_path / "app"
    shutil.copytree(APPS / "reload", dest)
    return dest


@pytest.fixture()
def host(app: Path, tmp_path: Path) -> Iterator[HostProcess]:
    with HostProcess(app, log_path=tmp_path / "host.log") as h:
        yield h


def _set_version(app: Path, version: str) -> None:
    (app / "helper.py").write_text(f'VERSION = "{version}"\n')


class Load:
    """Requests in a loop on another thread, recording every answer."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.answers: list[tuple[int, str]] = []
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=10) as c:
            while not self._stop.is_set() and len(self.answers) < 20_000:
                try:
                    r = c.get(self.url)
                    self.answers.append((r.status_code, r.text))
                except httpx.HTTPError as exc:
                    self.errors.append(exc)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def test_edit_while_requests_flow_none_fails_and_new_code_answers(
        app: Path, host: HostProcess) -> None:
    with Load(host.url("/api/version")) as load:
        wait_until(lambda: len(load.answers) > 20, what="first answers")
        _set_version(app, "v2")
        wait_until(lambda: load.answers[-1] == (200, "v2"), what="v2 answering")
        seen = len(load.answers)
        wait_until(lambda: len(load.answers) > seen + 20, what="more answers")
    assert load.errors == []
    assert {a for a in load.answers} <= {(200, "v1"), (200, "v2")}
    # Once the new code answers, the old never does again.
    first_v2 = load.answers.index((200, "v2"))
    assert (200, "v1") not in load.answers[first_v2:]
    host.wait_for_log(r"Reloaded after a change to helper.py in \d+ms \(")


def test_request_in_flight_finishes_on_the_old_code(app: Path, host: HostProcess) -> None:
    result: dict[str, str] = {}
    slow = threading.Thread(
        target=lambda: result.update(v=httpx.get(host.url("/api/slow"), timeout=30).text))
    slow.start()
    host.wait_for_log(r"Executing 'Functions.slow'")
    _set_version(app, "v2")
    host.wait_for_log(r"Reloaded after")
    with host.client() as c:
        assert c.get("/api/version").text == "v2"
    (app / "release").touch()
    slow.join(30)
    assert result == {"v": "v1"}


def test_syntax_error_keeps_the_old_code_answering_until_fixed(
        app: Path, host: HostProcess) -> None:
    main = app / "function_app.py"
    good = main.read_text()
    main.write_text(good + "\nbroken = (\n")
    host.wait_for_log(r"Reload failed .*previous version keeps serving")
    assert "SyntaxError" in host.output
    with host.client() as c:
        assert c.get("/api/version").text == "v1"
        status = c.get("/admin/host/status").json()
        assert any("SyntaxError" in e for e in status["errors"])
    _set_version(app, "v3")
    main.write_text(good)
    with host.client() as c:
        wait_until(lambda: c.get("/api/version").text == "v3", what="v3 after the fix")
        assert c.get("/admin/host/status").json()["errors"] == []


def test_import_error_and_invalid_function_keep_the_last_good_version(
        app: Path, host: HostProcess) -> None:
    main = app / "function_app.py"
    good = main.read_text()
    main.write_text("import no_such_module_here\n" + good)
    host.wait_for_log(r"ModuleNotFoundError: No module named 'no_such_module_here'")
    with host.client() as c:
        assert c.get("/api/version").text == "v1"
    # A function whose new version is invalid keeps serving its old one; others update.
    main.write_text(good.replace('@app.route(route="version")',
                                 '@app.route(route="admin/version")').replace(
                                     "return VERSION\n\n\n@app", "return VERSION + '!'\n\n\n@app"))
    host.wait_for_log(r"The 'version' function is in error: The specified route conflicts")
    host.wait_for_log(r"'version' keeps serving its previous version")
    with host.client() as c:
        assert c.get("/api/version").text == "v1"


def test_functions_added_and_removed_are_reported(app: Path, host: HostProcess) -> None:
    main = app / "function_app.py"
    main.write_text(main.read_text() + '''

@app.route(route="extra")
def extra(req: func.HttpRequest) -> str:
    return "extra"
''')
    host.wait_for_log(r"Reloaded after .*\(added: extra\)")
    with host.client() as c:
        assert c.get("/api/extra").text == "extra"
    text = main.read_text()
    main.write_text(text[:text.index("@app.route(route=\"extra\")")])
    host.wait_for_log(r"Reloaded after .*\(removed: extra\)")
    with host.client() as c:
        assert c.get("/api/extra").status_code == 404


def test_host_json_edit_reloads_routes(app: Path, host: HostProcess) -> None:
    (app / "host.json").write_text('{"version": "2.0", "extensions": {"http": '
                                   '{"routePrefix": "v2api"}}}')
    with host.client() as c:
        wait_until(lambda: c.get("/v2api/version").status_code == 200, what="new prefix")
        assert c.get("/api/version").status_code == 404


def test_cache_and_venv_folders_are_ignored(app: Path, host: HostProcess) -> None:
    venv = app / ".venv" / "lib"
    venv.mkdir(parents=True)
    (venv / "thing.py").write_text("x = 1\n")
    (app / "__pycache__").mkdir(exist_ok=True)
    (app / "__pycache__" / "junk.py").write_text("x = 1\n")
    (app / "notes.txt").write_text("not code\n")
    # A real change afterwards is the only reload logged.
    _set_version(app, "v9")
    host.wait_for_log(r"Reloaded after a change to helper.py")
    assert host.output.count("Reloaded after") == 1
