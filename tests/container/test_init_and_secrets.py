"""`func-py init --docker-only` (host/init_cmd.py) and mounted secrets files (host/secrets.py,
fed into KeyRing), without containers."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from funcpy.host import __version__
from funcpy.host.auth import ADMIN, ANONYMOUS, FUNCTION, KeyRing
from funcpy.host.errors import FuncPyError
from funcpy.host.init_cmd import (
    DOCKERIGNORE,
    NO_WHEEL,
    read_only_notice,
    write_container_files,
)
from funcpy.host.secrets import SecretsError, load_secrets

from tests.harness import FUNC_PY


@pytest.fixture
def app(tmp_path: Path) -> Path:
    (tmp_path / "host.json").write_text('{"version": "2.0"}')
    (tmp_path / "function_app.py").write_text("")
    (tmp_path / "requirements.txt").write_text("azure-functions\n")
    return tmp_path


def test_init_writes_a_production_dockerfile_and_dockerignore(app: Path) -> None:
    done = write_container_files(app, python_version="3.12")
    text = (app / "Dockerfile").read_text()
    for needed in ("ARG PYTHON_VERSION=3.12", "FROM python:${PYTHON_VERSION}-slim AS build",
                   "requirements.txt", "func_py-*.whl", '"$1[postgres]"', NO_WHEEL,
                   "RUN rm -rf /app/wheels", "COPY --from=build /opt/venv /opt/venv",
                   "COPY --from=build /app ./", "USER 1000:1000",
                   "EXPOSE 8080", "HEALTHCHECK", "/runtime/health/ready",
                   'CMD ["func-py", "start", "--production"]'):
        assert needed in text, needed
    assert "func-py[postgres]==" not in text  # not on the package index: from the wheel only
    final = text[text.index("FROM python:${PYTHON_VERSION}-slim\n"):]
    assert "wheels" not in final.replace("no layer of it holds the wheels", "")
    ignored = (app / ".dockerignore").read_text().splitlines()
    assert "local.settings.json" in ignored and ".func-py" in ignored and ".venv" in ignored
    assert done[0].startswith("Wrote Dockerfile")


def test_an_existing_dockerfile_needs_force(app: Path) -> None:
    (app / "Dockerfile").write_text("FROM mine\n")
    with pytest.raises(FuncPyError, match="already exists: use --force"):
        write_container_files(app)
    assert (app / "Dockerfile").read_text() == "FROM mine\n"
    write_container_files(app, force=True)
    assert "--production" in (app / "Dockerfile").read_text()


def test_an_existing_dockerignore_is_kept_without_force(app: Path) -> None:
    (app / ".dockerignore").write_text("mine\n")
    done = write_container_files(app)
    assert (app / ".dockerignore").read_text() == "mine\n"
    assert any("Kept the existing .dockerignore" in line for line in done)
    write_container_files(app, force=True)
    assert (app / ".dockerignore").read_text() == DOCKERIGNORE


@pytest.mark.parametrize(("remove", "message"), [
    ("host.json", "has no host.json"), ("requirements.txt", "has no requirements.txt")])
def test_init_refuses_a_folder_that_is_not_an_app(app: Path, remove: str, message: str) -> None:
    (app / remove).unlink()
    with pytest.raises(FuncPyError, match=message):
        write_container_files(app)
    assert not (app / "Dockerfile").exists()


@pytest.mark.parametrize("version", ["3.10", "3", "python3.11", "4.0"])
def test_init_refuses_an_unsupported_python(app: Path, version: str) -> None:
    with pytest.raises(FuncPyError, match=r"needs Python 3\.11 or newer"):
        write_container_files(app, python_version=version)


def test_the_cli(app: Path) -> None:
    plain = subprocess.run([FUNC_PY, "init"], cwd=app, capture_output=True, text=True)
    assert plain.returncode == 1 and "func-py init --docker-only" in plain.stderr
    (app / "wheels").mkdir()
    (app / "wheels" / "func_py-0.0.1-py3-none-any.whl").write_bytes(b"an older one")
    (app / "wheels" / "other-1.0-py3-none-any.whl").write_bytes(b"the app's")
    ok = subprocess.run([FUNC_PY, "init", "--docker-only", "--python-version", "3.11"],
                        cwd=app, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "Wrote Dockerfile" in ok.stdout and "docker build" in ok.stdout
    wheel = f"func_py-{__version__}-py3-none-any.whl"
    assert f"Wrote wheels/{wheel}" in ok.stdout
    assert "Removed wheels/func_py-0.0.1-py3-none-any.whl" in ok.stdout
    assert sorted(p.name for p in (app / "wheels").iterdir()) == [
        wheel, "other-1.0-py3-none-any.whl"]
    again = subprocess.run([FUNC_PY, "init", "--docker-only"], cwd=app, capture_output=True,
                           text=True)
    assert again.returncode == 1
    assert again.stderr.strip().endswith("already exists: use --force to overwrite it")


def test_the_read_only_notice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app_dir, data = tmp_path / "app", tmp_path / "app" / ".func-py"
    data.mkdir(parents=True)
    assert read_only_notice(app_dir, data) is None  # writable: nothing to say
    writable = {data}
    monkeypatch.setattr("os.access", lambda path, mode: Path(path) in writable)
    notice = read_only_notice(app_dir, data)
    assert notice is not None and f"The app folder {app_dir} is read-only" in notice
    assert "PermissionError" in notice and f"Write to {data} instead" in notice
    writable.clear()
    notice = read_only_notice(app_dir, data)
    assert notice is not None and f"The data folder {data} is not writable either" in notice


# -- secrets ----------------------------------------------------------------------------------

def _file(tmp_path: Path, data: object) -> dict[str, str]:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(data))
    return {"FUNCPY_SECRETS_FILE": str(path)}


def test_no_secrets_configured(tmp_path: Path) -> None:
    assert load_secrets({}) is None
    assert KeyRing.from_settings({}).empty


def test_simple_secrets_file(tmp_path: Path) -> None:
    env = _file(tmp_path, {"masterKey": "m", "functionKeys": {"default": "h1", "ci": "h2"},
                           "systemKeys": {"durabletask_extension": "s"},
                           "functions": {"my-func": {"a": "f1", "b": "f2"}, "Other": "o"}})
    ring = KeyRing.from_settings(env)
    assert ring.master == "m" and ring.host_keys == ("h1", "h2") and ring.system_key == "s"
    assert ring.level_of("m", None) == ADMIN
    assert ring.level_of("h2", "anything") == FUNCTION
    assert ring.level_of("f2", "my-func") == FUNCTION
    assert ring.level_of("f2", "Other") == ANONYMOUS
    assert ring.level_of("o", "other") == FUNCTION


def test_azure_shapes_and_variables_winning(tmp_path: Path) -> None:
    env = _file(tmp_path, {
        "masterKey": {"name": "master", "value": "file-master", "encrypted": False},
        "functionKeys": [{"name": "default", "value": "file-host", "encrypted": False}]})
    ring = KeyRing.from_settings({**env, "FUNCPY_MASTER_KEY": "env-master",
                                  "FUNCPY_FUNCTION_KEYS": "env-host"})
    assert ring.master == "env-master"
    assert ring.host_keys == ("env-host", "file-host")
    assert ring.level_of("file-master", None) == ANONYMOUS


def test_azure_files_secret_storage_folder(tmp_path: Path) -> None:
    folder = tmp_path / "Secrets"
    folder.mkdir()
    (folder / "host.json").write_text(json.dumps({
        "masterKey": {"name": "master", "value": "m", "encrypted": False},
        "functionKeys": [{"name": "default", "value": "h", "encrypted": False}],
        "systemKeys": [{"name": "durabletask_extension", "value": "s", "encrypted": False}]}))
    (folder / "OrderWorkflow.json").write_text(json.dumps(
        {"keys": [{"name": "default", "value": "own", "encrypted": False}]}))
    ring = KeyRing.from_settings({"AzureWebJobsSecretStorageType": "files",
                                  "FUNCTIONS_SECRETS_PATH": str(folder)})
    assert (ring.master, ring.host_keys, ring.system_key) == ("m", ("h",), "s")
    assert ring.level_of("own", "orderworkflow") == FUNCTION


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "is not valid JSON: .* at line 1 column 2"),
    ("[]", "must hold a JSON object"),
    ('{"masterKey": {"value": "x", "encrypted": true}}', "masterKey is encrypted"),
    ('{"masterKey": ""}', "masterKey must be a non-empty string"),
    ('{"functionKeys": 3}', '"functionKeys" must be an object'),
])
def test_bad_secrets_files_are_named_with_the_problem(tmp_path: Path, content: str,
                                                      message: str) -> None:
    path = tmp_path / "keys.json"
    path.write_text(content)
    with pytest.raises(SecretsError, match=message):
        load_secrets({"FUNCPY_SECRETS_FILE": str(path)})


def test_files_storage_needs_its_folder(tmp_path: Path) -> None:
    with pytest.raises(SecretsError, match="needs FUNCTIONS_SECRETS_PATH"):
        load_secrets({"AzureWebJobsSecretStorageType": "files"})
    with pytest.raises(SecretsError, match="is not a folder"):
        load_secrets({"AzureWebJobsSecretStorageType": "files",
                      "FUNCTIONS_SECRETS_PATH": str(tmp_path / "nope")})
