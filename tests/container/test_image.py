"""The Dockerfile `func-py init --docker-only` writes, built as it is for the demo app (plus a
slow workflow) with func-py installed from the wheel init put in wheels/, and run for real:
health, an HTTP function, an orchestration, keys, metrics, the read-only app folder, and SIGTERM
mid-orchestration with a restart on the same volume that finishes it. No layer of the image
holds the wheel, and a build without one fails saying what to do."""

from __future__ import annotations

import json
import subprocess
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from funcpy.host import __version__
from funcpy.host.init_cmd import NO_WHEEL
from prometheus_client.parser import text_string_to_metric_families

from tests.container.podman import (
    FUNCTION_KEY,
    KEYS,
    MASTER_KEY,
    Podman,
    free_port,
    make_demo_app,
    unique,
)
from tests.harness import FUNC_PY, wait_until

pytestmark = pytest.mark.container
DATA_DIR = "/home/site/wwwroot/.func-py"


@dataclass
class Running:
    name: str
    port: int

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"


def run_container(podman: Podman, image: str, name: str, volume: str,
                  env: dict[str, str]) -> Running:
    port = free_port()
    args = ["run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8080",
            "-v", f"{volume}:{DATA_DIR}"]
    for key, value in env.items():
        args += ["-e", f"{key}={value}"]
    podman.run(*args, image)
    running = Running(name, port)

    def ready() -> bool:
        if not podman.running(name):
            raise AssertionError(f"container {name} exited:\n{podman.logs(name)}")
        return httpx.get(running.url("/runtime/health/ready"), timeout=2).status_code == 200

    wait_until(ready, timeout=60, interval=0.05, what=f"{name} to be ready")
    return running


@pytest.fixture(scope="module")
def image(podman: Podman, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("image")
    app = make_demo_app(work / "app")
    init = subprocess.run([FUNC_PY, "init", "--docker-only"], cwd=app, capture_output=True,
                          text=True, timeout=300)
    assert init.returncode == 0, init.stderr
    assert (app / "Dockerfile").is_file() and (app / ".dockerignore").is_file()
    assert [w.name for w in (app / "wheels").glob("func_py-*.whl")] == [
        f"func_py-{__version__}-py3-none-any.whl"]
    tag = f"localhost/{unique('demo')}"
    try:
        podman.build(tag, app, "--layers=false")  # no untagged build-stage image left behind
        yield tag
    finally:
        podman.remove(images=(tag,))


@pytest.fixture(scope="module")
def served(podman: Podman, image: str) -> Iterator[Running]:
    name, volume = unique("served"), unique("served-data")
    try:
        yield run_container(podman, image, name, volume, KEYS)
    finally:
        podman.remove(containers=(name,), volumes=(volume,))


def test_image_runs_as_non_root_with_port_health_check_and_production_command(
        podman: Podman, image: str) -> None:
    inspected = json.loads(podman.run("image", "inspect", image).stdout)[0]
    config = inspected["Config"]
    assert config["User"] == "1000:1000"
    assert "8080/tcp" in config["ExposedPorts"]
    assert config["Cmd"] == ["func-py", "start", "--production"]
    health = inspected.get("Healthcheck") or config.get("Healthcheck")  # podman / docker
    assert "/runtime/health/ready" in " ".join(health["Test"])
    # local.settings.json is a development file: .dockerignore keeps it out of the image.
    listing = podman.run("run", "--rm", image, "ls", "-a", "/home/site/wwwroot").stdout.split()
    assert "local.settings.json" not in listing and "function_app" in listing


def test_no_layer_of_the_image_holds_the_wheels(podman: Podman, image: str,
                                               tmp_path: Path) -> None:
    archive = tmp_path / "image.tar"
    podman.run("image", "save", "--format", "docker-archive", "-o", str(archive), image)
    layers = 0
    with tarfile.open(archive) as outer:
        for member in outer.getmembers():
            if not member.name.endswith(".tar"):
                continue
            layers += 1
            blob = outer.extractfile(member)
            assert blob is not None
            with tarfile.open(fileobj=blob) as layer:
                # (the base image has wheels of its own: Debian's venv seeds pip from them)
                wheels = [n for n in layer.getnames() if ("func_py-" in n and n.endswith(".whl"))
                          or "wwwroot/wheels" in n or n.startswith("tmp/build")]
                assert wheels == [], f"{member.name} holds {wheels}"
    assert layers >= 2  # the base image's and the final stage's: every one was looked in
    listing = podman.run("run", "--rm", image, "ls", "-a", "/home/site/wwwroot").stdout
    assert "wheels" not in listing.split()


def test_a_build_without_the_wheel_fails_saying_what_to_do(
        podman: Podman, tmp_path: Path) -> None:
    app = make_demo_app(tmp_path / "app")
    init = subprocess.run([FUNC_PY, "init", "--docker-only"], cwd=app, capture_output=True,
                          text=True, timeout=300)
    assert init.returncode == 0, init.stderr
    for wheel in (app / "wheels").iterdir():
        wheel.unlink()
    (app / "wheels").rmdir()
    tag = f"localhost/{unique('nowheel')}"
    try:
        built = podman.run("build", "--pull=never", "--format", "docker", "--layers=false",
                           "-t", tag, str(app), check=False)
        assert built.returncode != 0
        assert NO_WHEEL in built.stdout + built.stderr
    finally:
        podman.remove(images=(tag,))


def test_the_app_folder_is_read_only_and_start_up_says_where_to_write(
        podman: Podman, served: Running) -> None:
    # conmon writes the container's output to its log file a moment after the host prints it
    logs = wait_until(lambda: (text := podman.logs(served.name))
                      and "The app folder /home/site/wwwroot is read-only" in text and text,
                      timeout=15, interval=0.1, what="the read-only notice in the logs")
    assert "Write to /home/site/wwwroot/.func-py instead" in logs
    probe = ("import pathlib, sys\n"
             "try:\n    pathlib.Path('/home/site/wwwroot/x.txt').write_text('x')\n"
             "except PermissionError:\n    pass\n"
             "else:\n    sys.exit('the app folder is writable')\n"
             "pathlib.Path('/home/site/wwwroot/.func-py/x.txt').write_text('x')\n")
    podman.run("exec", served.name, "python", "-c", probe)


def test_metrics_with_the_master_key(served: Running) -> None:
    with httpx.Client(base_url=served.url("/"), timeout=10) as c:
        assert c.get("/api/hello/metrics").status_code == 200
        assert c.get("/admin/metrics").status_code == 401
        r = c.get("/admin/metrics", headers={"x-functions-key": MASTER_KEY})
    assert r.status_code == 200
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(r.text) for s in f.samples}
    hello = [v for (name, labels), v in samples.items()
             if name == "funcpy_invocation_duration_seconds_count"
             and ("outcome", "Succeeded") in labels and ("trigger", "httpTrigger") in labels]
    assert hello and sum(hello) >= 1
    assert samples[("funcpy_taskhub_up", ())] == 1
    assert ("funcpy_queue_messages", (("kind", "workitems"), ("queue", "workitems"))) in samples


def test_health_http_function_and_health_check(podman: Podman, served: Running) -> None:
    assert httpx.get(served.url("/runtime/health/live")).status_code == 200
    assert httpx.get(served.url("/runtime/health/ready")).json()["status"] == "Healthy"
    assert httpx.get(served.url("/api/hello/Ada")).text == "Hello, Ada!"
    assert podman.run("healthcheck", "run", served.name, check=False).returncode == 0
    logs = podman.logs(served.name)
    first = next(line for line in logs.splitlines() if line.startswith("{"))
    assert {"time", "level", "message"} <= set(json.loads(first))  # JSON lines


def test_keys_are_enforced(served: Running) -> None:
    with httpx.Client(base_url=served.url("/"), timeout=10) as c:
        assert c.post("/api/slow/0").status_code == 401
        assert c.get("/admin/host/status").status_code == 401
        assert c.get("/runtime/webhooks/durabletask/instances").status_code == 401
        assert c.post("/api/slow/0", params={"code": FUNCTION_KEY}).status_code == 202
        assert c.get("/admin/host/status",
                     headers={"x-functions-key": MASTER_KEY}).status_code == 200
        assert c.get("/runtime/webhooks/durabletask/instances",
                     params={"code": MASTER_KEY}).status_code == 200


def test_an_orchestration_runs_to_completion_through_its_status_url(served: Running) -> None:
    order = {"items": [{"sku": "mug", "qty": 1}], "email": "ada@example.com"}
    r = httpx.post(served.url("/api/orders"), json=order)
    assert r.status_code == 202
    status_url = r.json()["statusQueryGetUri"]
    assert status_url.startswith(served.url("/runtime/webhooks/durabletask/instances/"))
    assert "code=" in status_url  # what the client needs to follow it
    status = wait_until(lambda: (s := httpx.get(status_url).json())["runtimeStatus"]
                        == "Completed" and s, timeout=30, what="the order to complete")
    assert status["output"]["tracking"].startswith("TRK")


def test_sigterm_mid_orchestration_drains_and_a_restart_on_the_volume_finishes_it(
        podman: Podman, image: str) -> None:
    volume, first, second = unique("drain-data"), unique("drain-1"), unique("drain-2")
    env = {**KEYS, "SLOW_STEP_SECONDS": "2"}
    try:
        running = run_container(podman, image, first, volume, env)
        r = httpx.post(running.url("/api/slow/3"), headers={"x-functions-key": FUNCTION_KEY})
        assert r.status_code == 202
        status_path = httpx.URL(r.json()["statusQueryGetUri"])
        # Stop while the second activity runs: one result is in, one activity in flight.
        wait_until(lambda: podman.logs(first).count("Executing 'Functions.SlowStep'") >= 2,
                   timeout=30, interval=0.1, what="the second activity to start")
        started = time.monotonic()
        podman.run("stop", "-t", "30", first, timeout=60)
        drain_seconds = time.monotonic() - started
        assert podman.exit_code(first) == 0
        logs = podman.logs(first)
        assert "Draining" in logs and "Drained in" in logs
        assert logs.index("Executed 'Functions.SlowStep' (Succeeded") < logs.index("Drained in")
        assert drain_seconds < 25, f"drain took {drain_seconds:.1f}s"
        ran_first = logs.count("Executing 'Functions.SlowStep'")
        assert ran_first < 3

        again = run_container(podman, image, second, volume, env)
        url = str(status_path.copy_with(port=again.port))
        status = wait_until(lambda: (s := httpx.get(url).json())["runtimeStatus"]
                            == "Completed" and s, timeout=30, what="completion after restart")
        assert status["output"] == [f"step {i} done" for i in range(3)]
        # The activity in flight at SIGTERM finished during the drain: nothing ran twice.
        assert ran_first + podman.logs(second).count("Executing 'Functions.SlowStep'") == 3
    finally:
        podman.remove(containers=(first, second), volumes=(volume,))
