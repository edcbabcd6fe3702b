"""Production mode through the real `func-py start --production`, no container needed: keys
required at start-up (from variables or a secrets file, never local.settings.json), readiness
before and after the app loads, JSON log lines, and the SIGTERM drain with a restart that
finishes the orchestration."""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.container.podman import FUNCTION_KEY, MASTER_KEY, free_port, make_demo_app
from tests.harness import HostProcess, run_start, wait_until

NO_KEYS = {"FUNCPY_MASTER_KEY": "", "FUNCPY_FUNCTION_KEYS": "", "FUNCPY_SYSTEM_KEY": "",
           "FUNCPY_SECRETS_FILE": "", "AzureWebJobsSecretStorageType": "", "PORT": ""}
KEYS = {**NO_KEYS, "FUNCPY_MASTER_KEY": MASTER_KEY, "FUNCPY_FUNCTION_KEYS": FUNCTION_KEY}


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_demo_app(tmp_path_factory.mktemp("prod") / "app")


def _host(app_dir: Path, tmp_path: Path, env: dict[str, str], *args: str) -> HostProcess:
    return HostProcess(app_dir, "--production", *args, env=env, log_path=tmp_path / "host.log")


def test_start_without_keys_fails_fast_with_one_clear_line(app_dir: Path) -> None:
    # local.settings.json sets FUNCPY_MASTER_KEY: production must not read it.
    result = run_start(app_dir, "--production", env=NO_KEYS, timeout=20)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("func-py: error: production mode enforces keys and none is set")
    assert "FUNCPY_MASTER_KEY" in lines[0] and "FUNCPY_SECRETS_FILE" in lines[0]
    assert result.stdout == ""


def test_production_flag_can_come_from_the_environment(app_dir: Path) -> None:
    result = run_start(app_dir, env={**NO_KEYS, "FUNCPY_PRODUCTION": "1"}, timeout=20)
    assert result.returncode == 1
    assert "production mode enforces keys" in result.stderr


def test_a_missing_secrets_file_is_named(app_dir: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    result = run_start(app_dir, "--production",
                       env={**NO_KEYS, "FUNCPY_SECRETS_FILE": str(missing)}, timeout=20)
    assert result.returncode == 1
    assert f"{missing} does not exist (is the secret mounted?)" in result.stderr


def test_keys_from_a_mounted_secrets_file(app_dir: Path, tmp_path: Path) -> None:
    secrets = tmp_path / "keys.json"
    master, host_key, own = ("file-master-key-0123456789", "file-host-key-0123456789",
                             "file-own-key-0123456789")  # production keys: 16+ characters
    secrets.write_text(json.dumps({
        "masterKey": {"name": "master", "value": master, "encrypted": False},
        "functionKeys": [{"name": "default", "value": host_key, "encrypted": False}],
        "functions": {"SlowStart": {"partner": own}},
    }))
    env = {**NO_KEYS, "FUNCPY_SECRETS_FILE": str(secrets)}
    with _host(app_dir, tmp_path, env) as host, host.client() as c:
        assert c.get("/admin/host/status").status_code == 401
        assert c.get("/admin/host/status", params={"code": master}).status_code == 200
        assert c.post("/api/slow/0").status_code == 401
        for key in (host_key, own, master):
            assert c.post("/api/slow/0", headers={"x-functions-key": key}).status_code == 202
        assert c.post("/api/slow/0", params={"code": "from-local-settings"}).status_code == 401


def test_keys_enforced_and_status_urls_carry_the_code(app_dir: Path, tmp_path: Path) -> None:
    with _host(app_dir, tmp_path, KEYS) as host, host.client() as c:
        assert c.get("/api/hello/Ada").text == "Hello, Ada!"  # anonymous
        assert c.post("/api/slow/0").status_code == 401  # function level
        assert c.get("/admin/functions").status_code == 401
        assert c.get("/runtime/webhooks/durabletask/instances").status_code == 401
        assert c.get("/admin/functions", params={"code": MASTER_KEY}).status_code == 200
        assert c.get("/runtime/webhooks/durabletask/instances",
                     headers={"x-functions-key": MASTER_KEY}).status_code == 200
        r = c.post("/api/slow/1", headers={"x-functions-key": FUNCTION_KEY})
        assert r.status_code == 202
        status_url = r.json()["statusQueryGetUri"]
        assert "code=" in status_url
        done = wait_until(lambda: c.get(status_url).json()["runtimeStatus"] == "Completed"
                          and c.get(status_url).json(), timeout=20, what="completion")
        assert done["output"] == ["step 0 done"]
        # JSON lines on stdout, one object per line.
        records = [json.loads(line) for line in host.output.splitlines() if line.strip()]
        assert any("Host started" in r["message"] for r in records)
        assert {"time", "level", "category", "message"} <= set(records[0])


def test_readiness_is_503_until_the_app_has_loaded(app_dir: Path, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    port = free_port()
    env = {**KEYS, "FUNCPY_TEST_IMPORT_GATE": str(gate)}
    host = _host(app_dir, tmp_path, env, "--port", str(port)).start(wait=False)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: httpx.get(f"{base}/runtime/health/live").status_code == 200,
                   timeout=20, what="liveness while the app is importing")
        ready = httpx.get(f"{base}/runtime/health/ready")
        assert ready.status_code == 503
        assert ready.json()["status"] == "Unhealthy"
        assert httpx.get(f"{base}/api/hello").status_code == 503
        gate.touch()
        wait_until(lambda: httpx.get(f"{base}/runtime/health/ready").status_code == 200,
                   timeout=20, what="readiness after the import")
        assert httpx.get(f"{base}/api/hello").text == "Hello, world!"
    finally:
        host.stop()


def test_a_broken_app_exits_1_after_serving_health(tmp_path: Path) -> None:
    (tmp_path / "host.json").write_text('{"version": "2.0"}')
    (tmp_path / "function_app.py").write_text("raise RuntimeError('boom at import')\n")
    result = run_start(tmp_path, "--production", env=KEYS, timeout=20)
    assert result.returncode == 1
    assert "boom at import" in result.stdout


def test_sigterm_drains_then_a_restart_finishes_the_orchestration(
        app_dir: Path, tmp_path: Path) -> None:
    env = {**KEYS, "SLOW_STEP_SECONDS": "1.5"}
    first = _host(app_dir, tmp_path, env).start()
    with first.client() as c:
        r = c.post("/api/slow/3", headers={"x-functions-key": FUNCTION_KEY})
        status_url = r.json()["statusQueryGetUri"]
        first.wait_for_log(r"Executing 'Functions\.SlowStep'", timeout=20)
        # A slow request in flight when the signal comes must still be answered.
        answers: list[int] = []
        slow = threading.Thread(target=lambda: answers.append(
            c.get("/api/sleep/800").status_code))
        slow.start()
        first.wait_for_log(r"Executing 'Functions\.SlowHttp'", timeout=10)
        assert first.proc is not None
        first.proc.send_signal(signal.SIGTERM)
        slow.join(15)
    assert first.wait_exit(40) == 0
    assert answers == [200]
    out = first.output
    assert "Draining" in out and "Drained in" in out
    # The activity in flight finished inside the drain, before the host stopped.
    assert out.index("Executed 'Functions.SlowStep' (Succeeded") < out.index("Drained in")
    ran_before = out.count("Executing 'Functions.SlowStep'")
    assert ran_before < 3

    second = HostProcess(app_dir, "--production", env=env, log_path=tmp_path / "second.log")
    with second, second.client() as c:
        url = httpx.URL(status_url).copy_with(port=second.port)
        done = wait_until(lambda: (s := c.get(str(url)).json())["runtimeStatus"] == "Completed"
                          and s, timeout=30, what="the orchestration to complete")
    assert done["output"] == [f"step {i} done" for i in range(3)]
    # Nothing ran twice: the drained activity's result was kept.
    assert ran_before + second.output.count("Executing 'Functions.SlowStep'") == 3


@pytest.fixture(autouse=True)
def _no_leftover_hub(app_dir: Path) -> Iterator[None]:
    yield
    # Each test starts from an empty task hub (the SQLite file lives under the app folder).
    for f in (app_dir / ".func-py").glob("taskhub.sqlite*"):
        f.unlink()
