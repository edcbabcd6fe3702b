"""compose.yaml at the repository root, run for real with podman-compose: the demo image built
from the root Dockerfile, two replicas on one PostgreSQL task hub. PostgreSQL is a local
stand-in image (tests/container/postgres) since no registry is reachable here."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.container.podman import REPO, Podman, free_port, in_ci, unique
from tests.harness import wait_until

pytestmark = pytest.mark.container
MASTER = "compose-test-master-key"


@pytest.fixture(scope="module")
def replicas(podman: Podman) -> Iterator[list[str]]:
    if shutil.which("podman-compose") is None:
        reason = "podman-compose is not installed (apt-get install podman-compose; .ci/run does)"
        if in_ci():
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    project = unique("compose").replace("-", "")
    postgres, demo = f"localhost/{unique('postgres')}", f"localhost/{unique('demo')}"
    ports = [free_port(), free_port()]
    env = {"POSTGRES_IMAGE": postgres, "FUNCPY_DEMO_IMAGE": demo, "FUNCPY_MASTER_KEY": MASTER,
           "DEMO1_PORT": str(ports[0]), "DEMO2_PORT": str(ports[1]),
           # keep the HEALTHCHECK, and leave no untagged image of the wheel-building stage
           "BUILDAH_FORMAT": "docker", "BUILDAH_LAYERS": "false"}

    def compose(*args: str, check: bool = True) -> str:
        return podman.run("-p", project, "-f", str(REPO / "compose.yaml"), *args, check=check,
                          cwd=REPO, env=env, tool="podman-compose").stdout

    try:
        podman.build(postgres, Path(__file__).with_name("postgres"))
        compose("up", "-d")
        urls = [f"http://127.0.0.1:{p}" for p in ports]
        for url in urls:
            wait_until(lambda u=url: httpx.get(f"{u}/runtime/health/ready",
                                               timeout=2).status_code == 200,
                       timeout=120, interval=0.2, what=f"{url} to be ready")
        yield urls
    finally:
        compose("down", "-v", check=False)
        podman.run("network", "rm", "-f", f"{project}_default", check=False)
        podman.remove(images=(demo, postgres))


def test_two_replicas_share_one_postgres_task_hub(replicas: list[str]) -> None:
    first, second = replicas
    assert httpx.get(f"{first}/api/hello/compose").text == "Hello, compose!"
    started = []
    for _ in range(8):  # instance ids spread over the partitions both replicas hold
        r = httpx.post(f"{first}/api/orders", json={"items": [{"sku": "mug"}]})
        assert r.status_code == 202, r.text
        started.append(r.json()["id"])
    for instance in started:
        # Asked of the other replica: the hub is shared.
        url = f"{second}/runtime/webhooks/durabletask/instances/{instance}"
        status = wait_until(lambda u=url: (s := httpx.get(u, params={"code": MASTER}).json())
                            ["runtimeStatus"] == "Completed" and s, timeout=30,
                            what=f"order {instance} to complete")
        assert status["output"]["orderId"] == instance
    assert httpx.get(f"{second}/runtime/webhooks/durabletask/instances").status_code == 401
