"""Crash safety: `kill -9` of the host at any moment loses no orchestration, and completed
activities do not run again (an activity that was running may: at-least-once, as Azure)."""

from __future__ import annotations

import shutil
import signal
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.conftest import APPS
from tests.harness import STARTED, HostProcess, wait_until

API = "/runtime/webhooks/durabletask"


@pytest.fixture()
def app(tmp_path: Path) -> Path:
    dest = tmp_path / "app"
    shutil.copytree(APPS / "crash", dest)
    return dest


def _start(host: HostProcess, steps: int, ms: int = 0) -> str:
    r = httpx.post(host.url(f"{API}/orchestrators/chain"), json={"steps": steps, "ms": ms})
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


def _runs(app: Path) -> Counter[int]:
    path = app / "runs.log"
    return Counter(int(x) for x in path.read_text().split()) if path.exists() else Counter()


def _finish_after_restart(app: Path, tmp_path: Path, iid: str) -> dict:
    with HostProcess(app, "--no-reload", log_path=tmp_path / "second.log") as host:
        def done() -> dict | None:
            r = httpx.get(host.url(f"{API}/instances/{iid}"))
            body = r.json() if r.status_code in (200, 202) else None
            return body if body and body["runtimeStatus"] == "Completed" else None
        return wait_until(done, timeout=30, what=f"instance {iid} to complete after restart")


@pytest.mark.parametrize(("point", "hit", "twice"), [
    ("episode-committed", 3, set()),
    ("activity-started", 3, set()),
    ("activity-committed", 2, set()),
    ("activity-finished", 4, {3}),  # ran, result not committed: runs again (at-least-once)
])
def test_fault_point_then_restart_completes_without_rerunning_completed_work(
        app: Path, tmp_path: Path, point: str, hit: int, twice: set[int]) -> None:
    host = HostProcess(app, "--no-reload", env={"FUNCPY_FAULTS": f"{point}:{hit}"},
                       log_path=tmp_path / "first.log").start()
    try:
        iid = _start(host, steps=6)
        assert host.wait_exit(30) == -signal.SIGKILL
    finally:
        host.stop()
    status = _finish_after_restart(app, tmp_path, iid)
    assert status["output"] == [i * i for i in range(6)]
    runs = _runs(app)
    assert set(runs) == set(range(6))
    assert {i for i, n in runs.items() if n > 1} == twice
    assert max(runs.values()) <= 2


def test_kill_9_mid_run_then_restart(app: Path, tmp_path: Path) -> None:
    host = HostProcess(app, "--no-reload", log_path=tmp_path / "first.log").start()
    try:
        ids = [_start(host, steps=12, ms=30) for _ in range(3)]
        wait_until(lambda: sum(_runs(app).values()) >= 8, timeout=30, what="some activities")
        host.proc.kill()  # type: ignore[union-attr]
        host.wait_exit(10)
    finally:
        host.stop()
    before = _runs(app)
    with HostProcess(app, "--no-reload", log_path=tmp_path / "second.log") as again:
        for iid in ids:
            def done(iid: str = iid) -> dict | None:
                body = httpx.get(again.url(f"{API}/instances/{iid}")).json()
                return body if body["runtimeStatus"] == "Completed" else None
            status = wait_until(done, timeout=60, what=f"{iid} completed")
            assert status["output"] == [i * i for i in range(12)]
    runs = _runs(app)
    assert sum(runs.values()) >= 36
    # Only activities in flight at the kill may have run twice: at most one per instance.
    assert sum(runs.values()) - 36 <= 3
    assert sum(before.values()) >= 8


def test_second_host_on_the_same_sqlite_hub_is_refused(app: Path, tmp_path: Path) -> None:
    with HostProcess(app, "--no-reload", log_path=tmp_path / "a.log"):
        second = HostProcess(app, "--no-reload", log_path=tmp_path / "b.log").start(wait=False)
        code = second.wait_exit(30)
        second.stop()
        assert code != 0
        assert "Another func-py host" in second.output


def test_a_message_that_keeps_killing_its_host_is_given_up(app: Path, tmp_path: Path) -> None:
    host = HostProcess(app, "--no-reload", log_path=tmp_path / "run0.log").start()
    r = httpx.post(host.url(f"{API}/orchestrators/doomed"), json=None)
    assert r.status_code == 202, r.text
    iid = r.json()["id"]
    assert host.wait_exit(30) == -signal.SIGKILL
    host.stop()
    # each start re-delivers the work item, which kills the host again
    statuses, deaths = _serve_until(app, tmp_path, [iid], restarts=10)
    status = statuses[iid]
    assert status["runtimeStatus"] == "Failed", status
    assert "'killer' was abandoned after 5 attempts" in status["output"], status
    assert 1 + deaths == 5  # five deliveries killed the host; the sixth is given up


def _serve_until(app: Path, tmp_path: Path, iids: list[str], restarts: int) -> tuple[dict, int]:
    """Run the host on the app, starting it again each time it dies, until every instance in
    `iids` has finished. Returns their statuses and how many times the host died."""
    deaths = 0
    for run in range(restarts):
        host = HostProcess(app, "--no-reload", log_path=tmp_path / f"serve{run}.log")
        host.start(wait=False)
        try:
            def up(host: HostProcess = host) -> str | None:
                if host.proc is not None and host.proc.poll() is not None:
                    return "died"
                m = STARTED.search(host.output)
                return m.group(1) if m else None
            outcome = wait_until(up, timeout=30, what="the host to die or to start")
            if outcome == "died":
                deaths += 1
                continue
            host.port = int(outcome)

            def settled(host: HostProcess = host) -> dict | str | None:
                if host.proc is not None and host.proc.poll() is not None:
                    return "died"
                found = {}
                for iid in iids:
                    body = httpx.get(host.url(f"{API}/instances/{iid}"), timeout=10).json()
                    if body["runtimeStatus"] in ("Pending", "Running"):
                        return None
                    found[iid] = body
                return found
            result = wait_until(settled, timeout=60, what="the instances to finish")
            if result == "died":
                deaths += 1
                continue
            assert isinstance(result, dict)
            return result, deaths
        finally:
            host.stop()
    raise AssertionError(f"the instances did not finish in {restarts} runs ({deaths} deaths)")


def test_poison_messages_fail_only_their_own_instances(app: Path, tmp_path: Path) -> None:
    """Ten healthy chains in flight beside a poison activity and a poison orchestrator: each
    crash raises the dequeue count of every message the host held, but after the first one
    the suspects run alone, so only the two poison instances fail."""
    with HostProcess(app, "--no-reload", log_path=tmp_path / "first.log") as host:
        healthy = [_start(host, steps=5, ms=300) for _ in range(10)]
        poisoned = []
        for name in ("doomed_later", "suicidal"):
            r = httpx.post(host.url(f"{API}/orchestrators/{name}"), json=None)
            assert r.status_code == 202, r.text
            poisoned.append(r.json()["id"])
        (app / "armed").touch()  # both poisons strike now, with the healthy chains in flight
        assert host.wait_exit(30) == -signal.SIGKILL
    statuses, deaths = _serve_until(app, tmp_path, healthy + poisoned, restarts=20)
    for iid in healthy:
        assert statuses[iid]["runtimeStatus"] == "Completed", statuses[iid]
        assert statuses[iid]["output"] == [i * i for i in range(5)], statuses[iid]
    activity, orchestrator = (statuses[i] for i in poisoned)
    assert activity["runtimeStatus"] == "Failed"
    assert "Activity function 'killer' was abandoned after 5 attempts" in activity["output"]
    assert orchestrator["runtimeStatus"] == "Failed"
    assert "Orchestration 'suicidal' was failed by the host" in orchestrator["output"]
    # each poison message killed the host at most five times: once beside others, then alone
    assert 1 + deaths <= 10, deaths
