"""Core Tools' `func start` flags, host.json parity and timer retries, through the real
`func-py start` (and its alias `func-py host start`)."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from tests.conftest import APPS
from tests.harness import FUNC_PY, HostProcess, run_start, wait_until

HTTPS_STARTED = re.compile(r"Host started in \d+ms: https://localhost:(\d+)/")


def copy(app: str, dest: Path) -> Path:
    shutil.copytree(APPS / app, dest, ignore=shutil.ignore_patterns(".func-py", "__pycache__"))
    return dest


class AliasHost(HostProcess):
    """`func-py host start ...`, the command VS Code's tasks run."""

    def start(self, wait: bool = True, timeout: float = 30.0) -> AliasHost:
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [FUNC_PY, "host", "start", "--port", "0", *self.args], cwd=self.app_dir,
            env=self.env, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if wait:
            self.port = int(self.wait_for_log(r"Host started in \d+ms: http://localhost:(\d+)/",
                                              timeout=timeout).group(1))
        return self


# -- flags -------------------------------------------------------------------------------------


def test_every_core_tools_flag_is_accepted_by_host_start(tmp_path: Path) -> None:
    args = ["-t", "30", "--language-worker", "--", "-m debugpy --listen 127.0.0.1:9091",
            "--no-build", "--dotnet-isolated-debug", "--runtime", "default", "--debug", "VSCode",
            "--offline", "--python", "--cors", "http://a.example", "--cors-credentials",
            "--verbose", "--enableAuth", "false", "--functions", "hello", "log",
            "--user-log-level", "Information", "--no-reload"]
    with AliasHost(APPS / "parity_http", *args, log_path=tmp_path / "host.log") as host:
        line = host.wait_for_log(r"Core Tools flags accepted with no effect in func-py: (.*)\.")
        assert line.group(1) == (
            "--timeout 30, --language-worker '-m debugpy --listen 127.0.0.1:9091', --no-build, "
            "--dotnet-isolated-debug, --offline, --runtime default, --debug VSCode")
        with host.client() as c:
            r = c.get("/api/hello", headers={"Origin": "http://a.example"})
        assert r.text == "hello"  # --enableAuth false: keys are not enforced
        assert r.headers["access-control-allow-origin"] == "http://a.example"
        assert r.headers["access-control-allow-credentials"] == "true"


def test_user_log_level_filters_function_logs_and_json_goes_to_the_file(tmp_path: Path) -> None:
    out = tmp_path / "logs.jsonl"
    with HostProcess(APPS / "parity_http", "--no-reload", "--enable-json-output",
                     "--json-output-file", str(out), "--user-log-level", "warning",
                     log_path=tmp_path / "host.log") as host:
        with host.client() as c:
            assert c.get("/api/log", params={"tag": "one"}).text == "logged"
        wait_until(lambda: out.is_file() and "user warning one" in out.read_text(),
                   what="the warning in the JSON file")
        host.wait_for_log(r"\] log\[[0-9a-f]{8}\] user warning one")  # readable on the console
        records = [json.loads(line) for line in out.read_text().splitlines()]
    assert all({"time", "level", "category", "message"} <= r.keys() for r in records)
    warning = next(r for r in records if r["message"] == "user warning one")
    assert (warning["level"], warning["functionName"]) == ("WARNING", "log")
    messages = [r["message"] for r in records]
    assert "user info one" not in messages and "user debug one" not in messages
    # The level is the "Function" category's, as Core Tools sets it: Executing lines go too.
    assert not any(m.startswith("Executing 'Functions.log'") for m in messages)
    assert any(m.startswith("Host started in") for m in messages)
    assert '{"time"' not in host.output  # the console kept its own format


def test_user_log_level_debug_shows_debug_logs_and_json_output_on_the_console(
        tmp_path: Path) -> None:
    with HostProcess(APPS / "parity_http", "--no-reload", "--user-log-level", "Debug",
                     "--enable-json-output", log_path=tmp_path / "host.log") as host:
        with host.client() as c:
            c.get("/api/log", params={"tag": "two"})
        host.wait_for_log(r'"message": "user debug two"')
        lines = [line for line in host.output.splitlines() if line.startswith("{")]
    records = [json.loads(line) for line in lines]
    assert any(r["message"] == "user debug two" and r["functionName"] == "log"
               for r in records)
    assert any(r["message"].startswith("Executing 'Functions.log'") for r in records)


def test_a_level_that_is_not_one_is_ignored_with_a_warning(tmp_path: Path) -> None:
    with HostProcess(APPS / "parity_http", "--no-reload", "--user-log-level", "loud",
                     log_path=tmp_path / "host.log") as host:
        host.wait_for_log(r"--user-log-level 'loud' is not a level \(Trace, Debug, "
                          r"Information, Warning, Error, Critical, None\); ignored")


# -- HTTPS -------------------------------------------------------------------------------------


def make_pfx(path: Path, password: bytes) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    path.write_bytes(pkcs12.serialize_key_and_certificates(
        b"test", key, cert, None, serialization.BestAvailableEncryption(password)))


class HttpsHost(HostProcess):
    def start(self, wait: bool = True, timeout: float = 30.0) -> HttpsHost:
        super().start(wait=False)
        self.port = int(self.wait_for_log(HTTPS_STARTED, timeout=timeout).group(1))
        return self

    def get(self, path: str) -> httpx.Response:
        with httpx.Client(base_url=f"https://localhost:{self.port}", verify=False,
                          timeout=10) as c:
            return c.get(path)


@pytest.fixture()
def pfx(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "dev cert.pfx"
    make_pfx(path, b"Pfx-Secret-42")
    yield path


def test_https_serves_the_pfx_certificate_and_leaves_no_key_file(tmp_path: Path,
                                                                 pfx: Path) -> None:
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    password_file = tmp_path / "password.txt"
    password_file.write_text("Pfx-Secret-42\n")  # a file holding the password, as Core Tools
    with HttpsHost(APPS / "parity_http", "--no-reload", "--useHttps", "--cert", str(pfx),
                   "--password", str(password_file), env={"TMPDIR": str(private_tmp)},
                   log_path=tmp_path / "host.log") as host:
        assert host.get("/api/hello").text == "hello"
        assert list(private_tmp.iterdir()) == []  # the PEM with the key lived until loaded
        assert f"HTTPS with the certificate in {pfx}." in host.output
        assert re.search(r"\thello: https://localhost:\d+/api/hello", host.output)
        assert "Pfx-Secret-42" not in host.output


def test_a_wrong_password_is_one_line_naming_the_file(pfx: Path) -> None:
    result = run_start(APPS / "parity_http", "--useHttps", "--cert", str(pfx),
                       "--password", "not-the-password")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"func-py: error: Cannot open the certificate file {pfx}: the --password is wrong, or "
        "it is not a PKCS#12 (.pfx) file")
    assert "not-the-password" not in result.stdout + result.stderr


def test_https_without_a_certificate_uses_a_self_signed_one(tmp_path: Path) -> None:
    with HttpsHost(APPS / "parity_http", "--no-reload", "--useHttps",
                   log_path=tmp_path / "host.log") as host:
        assert host.get("/api/hello").text == "hello"
        assert "HTTPS with a self-signed certificate for localhost" in host.output


def test_https_host_serves_durable_client_bindings(tmp_path: Path) -> None:
    """The SDK's client calls the host back over plain HTTP (aiohttp would refuse the
    self-signed certificate): an HTTPS host keeps a loopback call-back listener for it."""
    app = copy("parity_durable", tmp_path / "app")
    with HttpsHost(app, "--no-reload", "--useHttps", log_path=tmp_path / "host.log") as host, \
            httpx.Client(base_url=f"https://localhost:{host.port}", verify=False,
                         timeout=10) as c:
        started = c.post("/api/start")
        assert started.status_code == 202, started.text
        status_url = started.json()["statusQueryGetUri"]
        assert status_url.startswith("https://")

        def done() -> dict[str, Any] | None:
            body = c.get(status_url).json()
            return body if body.get("runtimeStatus") == "Completed" else None
        assert wait_until(done, timeout=30, what="the orchestration")["output"] == \
            "Hello parity!"
        assert "do not work with --useHttps" not in host.output


# -- host.json parity ---------------------------------------------------------------------------


def _completed(host: HostProcess, status_url: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        with host.client() as c:
            body = c.get(status_url).json()
        return body if body.get("runtimeStatus") == "Completed" else None

    return wait_until(check, timeout=30, what="the orchestration to complete")


def test_hub_name_from_an_app_setting(tmp_path: Path) -> None:
    app = copy("parity_durable", tmp_path / "app")
    with HostProcess(app, "--no-reload", log_path=tmp_path / "host.log") as host:
        with host.client() as c:
            started = c.post("/api/start")
        assert started.status_code == 202, started.text
        urls = started.json()
        assert "taskHub=ParityHub" in urls["statusQueryGetUri"]
        assert _completed(host, urls["statusQueryGetUri"])["output"] == "Hello parity!"
        with host.client() as c:
            assert c.get("/admin/host/status").json()["taskHub"]["name"] == "ParityHub"


def test_an_unknown_setting_in_hub_name_is_one_clear_error(tmp_path: Path) -> None:
    app = copy("parity_durable", tmp_path / "app")
    (app / "local.settings.json").write_text(json.dumps(
        {"IsEncrypted": False, "Values": {"FUNCTIONS_WORKER_RUNTIME": "python"}}))
    result = run_start(app)
    assert result.returncode == 1
    assert result.stderr.strip().startswith(
        "func-py: error: host.json extensions.durableTask.hubName '%TASKHUB_NAME%': "
        "'%TASKHUB_NAME%' does not resolve to a value.")


@pytest.mark.parametrize(("provider", "named"), [
    ("azureManaged", "the Durable Task Scheduler"), ("mssql", "Microsoft SQL Server"),
    ("netherite", "Netherite")])
def test_azure_storage_providers_run_on_the_embedded_hub_with_one_line(
        tmp_path: Path, provider: str, named: str) -> None:
    app = copy("parity_durable", tmp_path / "app")
    (app / "host.json").write_text(json.dumps({"version": "2.0", "extensions": {"durableTask": {
        "hubName": "%TASKHUB_NAME%",
        "storageProvider": {"type": provider, "connectionStringName": "SOME_CONNECTION"}}}}))
    with HostProcess(app, "--no-reload", log_path=tmp_path / "host.log") as host:
        host.wait_for_log(rf"Task hub 'ParityHub': storageProvider\.type '{provider}' names "
                          rf"{named}, which func-py does not reach, so the hub runs on the "
                          r"embedded SQLite store at .*taskhub\.sqlite \(one host\)\. For a hub "
                          r"that several hosts share, set host\.json .*\"postgres\"")
        assert host.output.count("which func-py does not reach") == 1
        with host.client() as c:
            urls = c.post("/api/start").json()
        assert _completed(host, urls["statusQueryGetUri"])["output"] == "Hello parity!"
        with host.client() as c:
            assert c.get("/admin/host/status").json()["taskHub"]["provider"] == "sqlite"


# -- timer retries ------------------------------------------------------------------------------


def test_a_timer_retries_with_its_fixed_delay_policy(tmp_path: Path) -> None:
    records = tmp_path / "records"
    records.mkdir()
    with HostProcess(APPS / "parity_retry", "--no-reload", env={
            "RETRY_RECORD_DIR": str(records)}, log_path=tmp_path / "host.log") as host:
        flaky = records / "flaky.jsonl"
        wait_until(lambda: flaky.is_file() and len(flaky.read_text().splitlines()) == 3,
                   timeout=20, what="three attempts")
        host.wait_for_log(r"Executed 'Functions\.flaky' \(Succeeded")
        output = host.output
    attempts = [json.loads(line) for line in flaky.read_text().splitlines()]
    assert [(a["retry_count"], a["max_retry_count"]) for a in attempts] == [
        (0, 2), (1, 2), (2, 2)]
    assert [a["previous"] for a in attempts] == [
        "", "RuntimeError: attempt 0 fails on purpose", "RuntimeError: attempt 1 fails on purpose"]
    assert len({a["invocation_id"] for a in attempts}) == 3
    gaps = [b["t"] - a["t"] for a, b in itertools.pairwise(attempts)]
    assert all(g >= 0.95 for g in gaps), gaps  # delayInterval 00:00:01 between attempts
    assert "\t\tretries up to 2 times, 00:00:01 apart (@app.retry fixedDelay)" in output
    assert ("Waiting for `00:00:01` before retrying function execution. Next attempt: '1'. "
            "Max retry count: '2'.") in output
    # The HTTP function's policy is ignored, as on Azure, with the host's warning.
    assert ("Retries are not supported by the trigger binding for Functions.once: its retry "
            "policy (@app.retry) is ignored, as on Azure") in output
    assert "once: http://" in output and "\t\tretries" not in output.split("once: http://")[1]
