"""Worker processes: `func-py start` with FUNCTIONS_WORKER_PROCESS_COUNT (or --workers) serves
one port from N processes, restarts one that dies, reloads every one, drains them all."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import APPS
from tests.harness import HostProcess, run_start, wait_until

API = "/runtime/webhooks/durabletask"
POSTGRES = os.environ.get("FUNCPY_TEST_POSTGRES")


@pytest.fixture()
def app(tmp_path: Path) -> Path:
    dest = tmp_path / "app"
    shutil.copytree(APPS / "workers", dest)
    (tmp_path / "records").mkdir()
    return dest


def _host(app: Path, *args: str, env: dict[str, str] | None = None) -> HostProcess:
    records = app.parent / "records"
    return HostProcess(app, *args, env={"FUNCPY_TEST_RECORDS": str(records), **(env or {})},
                       log_path=app.parent / "host.log")


@pytest.fixture()
def host(app: Path) -> Iterator[HostProcess]:
    with _host(app) as h:  # two workers, from the app's local.settings.json
        yield h


def _processes(host: HostProcess) -> dict:
    return httpx.get(host.url("/admin/host/status"), timeout=10).json()["processes"]


def _all_serving(host: HostProcess, count: int = 2) -> list[int]:
    """The workers' pids, once each one has answered a request (fresh connections, so the
    kernel may hand each to either process)."""
    seen: set[int] = set()

    def check() -> list[int] | None:
        seen.add(int(httpx.get(host.url("/api/pid"), timeout=10).text.split()[1]))
        pids = _processes(host)["pids"]
        return pids if len(pids) == count and set(pids) == seen else None

    return wait_until(check, timeout=30, what=f"{count} worker processes to answer")


def _records(app: Path, kind: str) -> list[dict]:
    path = app.parent / "records" / f"{kind}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _completed(host: HostProcess, iid: str) -> dict | None:
    status = httpx.get(host.url(f"{API}/instances/{iid}"), timeout=10).json()
    return status if status["runtimeStatus"] == "Completed" else None


def test_two_processes_serve_one_port(host: HostProcess) -> None:
    pids = _all_serving(host)
    assert len(set(pids)) == 2 and os.getpid() not in pids
    status = _processes(host)
    assert status["count"] == 2 and status["pid"] in pids
    assert status["pid"] == pids[status["index"]]
    out = host.output
    assert "2 worker processes serve" in out
    # Core Tools' ready lines, the banner and "Host started" come once, not once per worker.
    for line in ("Worker process started and initialized.", "Host started in",
                 "Host lock lease acquired", "Functions:"):
        assert out.count(line) == 1, line
    assert re.search(r"\[worker 1\] Worker process 1 started in \d+ms", out)


def test_a_killed_worker_is_restarted_and_requests_keep_flowing(host: HostProcess) -> None:
    first = _all_serving(host)
    os.kill(first[1], signal.SIGKILL)
    served = 0

    def restarted() -> list[int] | None:
        nonlocal served
        r = httpx.get(host.url("/api/pid"), timeout=10)  # never fails while one is down
        assert r.status_code == 200
        served += 1
        pids = _processes(host)["pids"]
        return pids if pids[1] not in (None, first[1]) else None

    pids = wait_until(restarted, timeout=30, what="worker 1 to be started again")
    assert pids[0] == first[0] and served > 0
    host.wait_for_log(rf"Worker process 1 \(pid {first[1]}\) was killed by signal 9 \(SIGKILL\)")
    host.wait_for_log(r"Worker process 1 is serving again", timeout=30)
    assert set(_all_serving(host)) == set(pids)


@pytest.mark.parametrize(("how", "said"), [
    ("exit", "exited with code 3"), ("segv", r"was killed by signal 11 \(SIGSEGV\)")])
def test_a_worker_that_crashes_is_restarted(host: HostProcess, how: str, said: str) -> None:
    before = _all_serving(host)
    with pytest.raises(httpx.HTTPError):  # the process answering it dies
        httpx.get(host.url(f"/api/crash?how={how}"), timeout=10)
    m = host.wait_for_log(rf"Worker process (\d) \(pid (\d+)\) {said}; starting it again")
    index, pid = int(m.group(1)), int(m.group(2))
    assert before[index] == pid
    host.wait_for_log(r"Worker process \d is serving again", timeout=30)
    after = _all_serving(host)
    assert after[1 - index] == before[1 - index] and after[index] != pid


def test_orchestration_started_through_the_second_worker_completes(
        app: Path, host: HostProcess) -> None:
    pids = _all_serving(host)

    def start_on_worker_1() -> str | None:
        answer = httpx.post(host.url("/api/start/fanout?n=4"), timeout=10).json()
        return answer["id"] if answer["pid"] == pids[1] else None

    iid = wait_until(start_on_worker_1, timeout=30, what="a start answered by worker 1")
    status = wait_until(lambda: _completed(host, iid), timeout=30, what="the orchestration")
    assert status["output"] == 12
    # On SQLite one process runs the engine (the hub's single consumer): worker 0.
    assert {r["pid"] for r in _records(app, "work")} == {pids[0]}


def test_killing_the_engine_worker_loses_no_durable_work(app: Path, host: HostProcess) -> None:
    pids = _all_serving(host)
    # One activity after another: most of the chain is still to run when worker 0 (SQLite's
    # engine) is killed after the first one.
    iid = httpx.post(host.url("/api/start/chain?n=30"), timeout=10).json()["id"]
    wait_until(lambda: _records(app, "work"), timeout=30, what="activities to run")
    os.kill(pids[0], signal.SIGKILL)
    status = wait_until(lambda: _completed(host, iid), timeout=60,
                        what="the chain to complete after the kill")
    assert status["output"] == sum(2 * i for i in range(30))
    new = _processes(host)["pids"][0]
    assert new not in (None, pids[0])
    assert {r["pid"] for r in _records(app, "work")} == {pids[0], new}


def test_a_timer_fires_once_per_occurrence(app: Path, host: HostProcess) -> None:
    _all_serving(host)
    wait_until(lambda: len(_records(app, "tick")) >= 4, timeout=30, what="four ticks")
    counts = Counter(r["next"] for r in _records(app, "tick"))
    assert max(counts.values()) == 1, counts.most_common(3)


def test_an_edit_reaches_every_worker(app: Path, host: HostProcess) -> None:
    pids = _all_serving(host)
    source = app / "function_app.py"
    source.write_text(source.read_text().replace('VERSION = "v1"', 'VERSION = "v2"'))
    answered: set[int] = set()

    def both_new() -> bool:
        version, pid = httpx.get(host.url("/api/pid"), timeout=10).text.split()
        if version == "v2":
            answered.add(int(pid))
        return answered == set(pids)

    wait_until(both_new, timeout=30, what="both workers to answer with the edited code")


def test_sigterm_drains_every_worker(host: HostProcess) -> None:
    _all_serving(host)
    result: list[httpx.Response] = []
    request = threading.Thread(target=lambda: result.append(
        httpx.get(host.url("/api/slow?s=2"), timeout=30)))
    request.start()
    host.wait_for_log(r"Executing 'Functions\.slow'")
    assert host.stop(signal.SIGTERM, timeout=30) == 0
    request.join(10)
    assert result and result[0].status_code == 200
    assert result[0].text.startswith("slow done")


def test_workers_flag_overrides_the_setting(app: Path) -> None:
    with _host(app, "--workers", "1", "--no-reload") as h:
        status = _processes(h)
        assert status["count"] == 1 and status["pids"] == [status["pid"]]
        assert "worker processes" not in h.output


@pytest.mark.parametrize(("args", "env", "shown"), [
    ((), {"FUNCTIONS_WORKER_PROCESS_COUNT": "11"}, "FUNCTIONS_WORKER_PROCESS_COUNT is '11'"),
    ((), {"FUNCTIONS_WORKER_PROCESS_COUNT": "two"}, "FUNCTIONS_WORKER_PROCESS_COUNT is 'two'"),
    (("--workers", "0"), {}, "--workers is '0'"),
])
def test_a_bad_count_is_refused(app: Path, args: tuple[str, ...], env: dict[str, str],
                                shown: str) -> None:
    done = run_start(app, *args, env=env)
    assert done.returncode == 1
    assert shown in done.stderr and "from 1 to 10" in done.stderr


def test_debug_with_several_workers_is_refused(app: Path) -> None:
    done = run_start(app, "--debug", "127.0.0.1:0")
    assert done.returncode == 1
    assert "--debug cannot be used with 2 worker processes" in done.stderr


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES, reason="set FUNCPY_TEST_POSTGRES to a PostgreSQL URL")
def test_postgres_fan_out_uses_both_workers(app: Path) -> None:
    hub = f"Workers{uuid.uuid4().hex[:10]}"
    (app / "host.json").write_text(json.dumps({"version": "2.0", "extensions": {"durableTask": {
        "hubName": hub,
        "storageProvider": {"type": "postgres", "connectionStringName": "FUNCPY_PG"}}}}))
    try:
        with _host(app, "--no-reload", env={"FUNCPY_PG": str(POSTGRES)}) as h:
            pids = _all_serving(h)
            iid = httpx.post(h.url("/api/start/fanout?n=60"), timeout=10).json()["id"]
            status = wait_until(lambda: _completed(h, iid), timeout=60, what="the fan-out")
            assert status["output"] == sum(2 * i for i in range(60))
            assert {r["pid"] for r in _records(app, "work")} == set(pids)
            wait_until(lambda: len(_records(app, "tick")) >= 4, timeout=30, what="four ticks")
            counts = Counter(r["next"] for r in _records(app, "tick"))
            assert max(counts.values()) == 1, counts.most_common(3)
    finally:
        from funcpy.host.taskhub.postgres import PostgresStore

        store = PostgresStore(str(POSTGRES), hub)
        store.delete_hub()
        store.close()
