"""Helpers for the container tests: when they run, the podman they drive, the demo app they
build, and a wheel of this checkout.

Container tests (marked `container`) run when `FUNCPY_TEST_CONTAINERS=1` or in CI (`CI=true`,
which `.ci/run` has); otherwise they are skipped, since a first build takes a minute. Where they
run, a missing podman or base image is a failure in CI and a skip with the reason elsewhere.
podman is used as `/work/shared/container/prepare.sh` sets it up (its exports, or its config
under /var/tmp/funcpy-ctr when the exports are not in the environment).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BASE_IMAGE = "docker.io/library/python:3.11-slim"
PREPARED = Path(os.environ.get("FUNCPY_CTR", "/var/tmp/funcpy-ctr")) / "conf"
SLOW_BLUEPRINT = Path(__file__).with_name("slow_workflow.py")
MASTER_KEY = "test-master-key-0123456789"
FUNCTION_KEY = "test-function-key-0123456789"
KEYS = {"FUNCPY_MASTER_KEY": MASTER_KEY, "FUNCPY_FUNCTION_KEYS": FUNCTION_KEY}


def enabled() -> bool:
    return os.environ.get("FUNCPY_TEST_CONTAINERS") == "1" or in_ci()


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true")


def unique(prefix: str) -> str:
    return f"funcpy-test-{prefix}-{uuid.uuid4().hex[:8]}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Podman:
    """Runs podman (and podman-compose) with prepare.sh's configuration."""

    def __init__(self) -> None:
        env = dict(os.environ)
        if "CONTAINERS_CONF" not in env and (PREPARED / "containers.conf").exists():
            env["CONTAINERS_CONF"] = str(PREPARED / "containers.conf")
            env["CONTAINERS_STORAGE_CONF"] = str(PREPARED / "storage.conf")
        self.env = env

    def problem(self) -> str | None:
        """Why podman cannot be used here, or None."""
        if shutil.which("podman") is None:
            return ("podman is not installed: run `eval \"$(../shared/container/prepare.sh)\"` "
                    "from the repository root (.ci/run does)")
        info = self.run("info", check=False, timeout=60)
        if info.returncode != 0:
            return f"`podman info` failed: {info.stderr.strip()[-300:]}"
        if self.run("image", "exists", BASE_IMAGE, check=False).returncode != 0:
            return (f"the base image {BASE_IMAGE} is missing: run "
                    "`eval \"$(../shared/container/prepare.sh)\"` (it builds a local stand-in)")
        return None

    def run(self, *args: str, check: bool = True, timeout: float = 600,
            cwd: Path | None = None, env: Mapping[str, str] | None = None,
            tool: str = "podman") -> subprocess.CompletedProcess[str]:
        result = subprocess.run([tool, *args], capture_output=True, text=True, timeout=timeout,
                                cwd=cwd, env={**self.env, **(env or {})},
                                stdin=subprocess.DEVNULL)
        if check and result.returncode != 0:
            raise AssertionError(f"{tool} {' '.join(args)} exited {result.returncode}:\n"
                                 f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        return result

    def build(self, tag: str, context: Path, *extra: str) -> None:
        self.run("build", "--pull=never", "--format", "docker", "-t", tag, *extra, str(context))

    def logs(self, name: str) -> str:
        out = self.run("logs", name, check=False)
        return out.stdout + out.stderr

    def exit_code(self, name: str) -> int:
        return int(self.run("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip())

    def running(self, name: str) -> bool:
        out = self.run("inspect", "--format", "{{.State.Running}}", name, check=False)
        return out.stdout.strip() == "true"

    def remove(self, *, containers: tuple[str, ...] = (), images: tuple[str, ...] = (),
               volumes: tuple[str, ...] = ()) -> None:
        """Best-effort cleanup of what a test created."""
        for c in containers:
            self.run("rm", "-f", "-t", "0", c, check=False)
        for v in volumes:
            self.run("volume", "rm", "-f", v, check=False)
        for i in images:
            self.run("rmi", "-f", i, check=False)


def build_wheel(dest: Path) -> Path:
    """A wheel of this checkout (its sources copied aside, so the build leaves no files in it)."""
    src = dest / "src"
    src.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    for pkg in ("host", "triggers"):
        shutil.copytree(REPO / pkg, src / pkg,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = dest / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--wheel-dir", str(out), str(src)], check=True, capture_output=True,
                   timeout=300)
    wheels = list(out.glob("func_py-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def make_demo_app(dest: Path) -> Path:
    """The demo app (function_app/ and host.json) plus the test blueprint, as a user's app
    folder: with a requirements.txt, and local.settings.json (which production ignores)."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "function_app", dest / "function_app",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy2(REPO / "host.json", dest / "host.json")
    shutil.copy2(SLOW_BLUEPRINT, dest / "function_app" / "slow.py")
    init = dest / "function_app" / "__init__.py"
    init.write_text(init.read_text() + "\n\nfrom .slow import bp as _slow  # tests/container\n"
                    "\napp.register_functions(_slow)\n")
    (dest / "requirements.txt").write_text("azure-functions\nazure-functions-durable\n")
    (dest / "local.settings.json").write_text(
        '{"IsEncrypted": false, "Values": {"FUNCTIONS_WORKER_RUNTIME": "python", '
        '"FUNCPY_MASTER_KEY": "from-local-settings", "SLOW_STEP_SECONDS": "0"}}')
    return dest
