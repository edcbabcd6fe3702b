"""Container figures for the image `func-py init --docker-only` writes, built for the demo app
with func-py from a wheel of this checkout (podman, as the container tests use it):

- image size, next to the base image's;
- build time (no cache, the base image local);
- container start (`podman run -d`) to the first 200 from an HTTP function, next to the same
  app started as a plain `func-py start --production` process (the baseline);
- drain time (`podman stop -t 30`, SIGTERM to exit) idle, and under a small load: clients
  calling a 200 ms function without keep-alive, plus orchestrations with 1 s activities in
  flight; with what became of the requests sent during the drain.

Run (after `eval "$(../shared/container/prepare.sh)"`):
    .venv/bin/python bench/container.py [--runs 5] [--clients 8]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
from common import FUNC_PY, ROOT, median, start, stop

sys.path.insert(0, str(ROOT))
from tests.container.podman import (
    BASE_IMAGE,
    FUNCTION_KEY,
    KEYS,
    Podman,
    build_wheel,
    free_port,
    make_demo_app,
    unique,
)


def first_200(url: str, started: float, timeout: float = 60.0) -> float:
    deadline = started + timeout
    with httpx.Client(timeout=1.0) as c:
        while time.perf_counter() < deadline:
            try:
                if c.get(url).status_code == 200:
                    return time.perf_counter() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.002)
    raise TimeoutError(f"{url} did not answer 200 within {timeout}s")


def run(podman: Podman, image: str, name: str, env: dict[str, str]) -> tuple[int, float]:
    """Start a container; (port, seconds from `podman run` to the first 200)."""
    port = free_port()
    args = ["run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8080"]
    for k, v in env.items():
        args += ["-e", f"{k}={v}"]
    t0 = time.perf_counter()
    podman.run(*args, image)
    return port, first_200(f"http://127.0.0.1:{port}/api/hello", t0)


def process_start(app: Path) -> float:
    port = free_port()
    t0 = time.perf_counter()
    proc = start([FUNC_PY, "start", "--production", "--port", str(port)], cwd=app,
                 env={**KEYS, "PYTHONUNBUFFERED": "1"})
    try:
        return first_200(f"http://127.0.0.1:{port}/api/hello", t0)
    finally:
        stop(proc)


class Load:
    """Clients calling GET /api/sleep/200 on fresh connections until stopped."""

    def __init__(self, port: int, clients: int) -> None:
        self.url = f"http://127.0.0.1:{port}/api/sleep/200"
        self.outcomes: Counter[str] = Counter()
        self.during_drain: Counter[str] = Counter()
        self.draining = False
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._client, daemon=True)
                        for _ in range(clients)]

    def _client(self) -> None:
        while not self._stop.is_set():
            draining = self.draining
            try:
                outcome = str(httpx.get(self.url, timeout=10).status_code)
            except httpx.ConnectError:
                outcome = "refused"  # never accepted: a load balancer retries elsewhere
            except httpx.HTTPError as exc:
                outcome = f"lost ({type(exc).__name__})"
            with self._lock:
                (self.during_drain if draining else self.outcomes)[outcome] += 1
            if outcome == "refused":
                time.sleep(0.01)

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self.threads:
            t.join(15)


def drain(podman: Podman, image: str, clients: int, orchestrations: int) -> dict[str, object]:
    name = unique("bench-drain")
    try:
        port, _ = run(podman, image, name, {**KEYS, "SLOW_STEP_SECONDS": "1"})
        base = f"http://127.0.0.1:{port}"
        for _ in range(orchestrations):
            httpx.post(f"{base}/api/slow/3", headers={"x-functions-key": FUNCTION_KEY})
        with Load(port, clients) as load:
            if clients:
                deadline = time.monotonic() + 10
                while sum(load.outcomes.values()) < clients and time.monotonic() < deadline:
                    time.sleep(0.05)
            load.draining = True
            t0 = time.perf_counter()
            podman.run("stop", "-t", "30", name, timeout=60)
            seconds = time.perf_counter() - t0
        return {"seconds": seconds, "exit": podman.exit_code(name),
                "before": dict(load.outcomes), "during": dict(load.during_drain)}
    finally:
        podman.remove(containers=(name,))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5, help="starts to take the median of")
    ap.add_argument("--clients", type=int, default=8, help="concurrent clients in the load")
    args = ap.parse_args()
    podman = Podman()
    problem = podman.problem()
    if problem:
        print(problem, file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="funcpy-bench-"))
    image = f"localhost/{unique('bench')}"
    try:
        app = make_demo_app(work / "app")
        wheel = build_wheel(work)
        (app / "wheels").mkdir()
        shutil.copy2(wheel, app / "wheels" / wheel.name)
        from funcpy.host.init_cmd import write_container_files

        write_container_files(app)
        t0 = time.perf_counter()
        podman.build(image, app, "--no-cache")
        build_s = time.perf_counter() - t0
        size = int(podman.run("image", "inspect", "--format", "{{.Size}}", image).stdout)
        base = int(podman.run("image", "inspect", "--format", "{{.Size}}", BASE_IMAGE).stdout)

        starts = []
        for _ in range(args.runs):
            name = unique("bench-start")
            try:
                starts.append(run(podman, image, name, KEYS)[1])
            finally:
                podman.remove(containers=(name,))
        local = [process_start(app) for _ in range(args.runs)]
        idle = drain(podman, image, 0, 0)
        loaded = drain(podman, image, args.clients, 2)
    finally:
        podman.remove(images=(image,))
        shutil.rmtree(work, ignore_errors=True)

    mb = 1e6
    print(f"\nContainer figures (podman, base {BASE_IMAGE}, {args.runs} runs, medians)\n")
    print(f"{'figure':<46} {'func-py image':>14} {'baseline':>12}")
    print(f"{'image size (MB); baseline: the base image':<46} {size / mb:>14.0f} "
          f"{base / mb:>12.0f}")
    print(f"{'build time, no cache (s)':<46} {build_s:>14.1f} {'':>12}")
    print(f"{'start to first 200 (ms); baseline: process':<46} {median(starts) * 1000:>14.0f} "
          f"{median(local) * 1000:>12.0f}")
    print(f"{'drain, podman stop -t 30 (ms); baseline: idle':<46} "
          f"{loaded['seconds'] * 1000:>14.0f} {idle['seconds'] * 1000:>12.0f}")  # type: ignore[operator]
    print(f"\nexit codes after SIGTERM: loaded {loaded['exit']}, idle {idle['exit']}")
    print(f"load ({args.clients} clients, GET /api/sleep/200 on fresh connections, 2 "
          "orchestrations with 1 s activities): answers before the stop "
          f"{loaded['before']}, requests sent during the drain {loaded['during']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
