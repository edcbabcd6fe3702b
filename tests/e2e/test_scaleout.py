"""Scale-out on PostgreSQL: several real `func-py start` hosts share one task hub; the work
spreads over them and nothing is lost when one is killed."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import APPS
from tests.harness import STARTED, HostProcess, wait_until

POSTGRES = os.environ.get("FUNCPY_TEST_POSTGRES")
pytestmark = [pytest.mark.postgres,
              pytest.mark.skipif(not POSTGRES, reason="set FUNCPY_TEST_POSTGRES to a "
                                 "PostgreSQL URL to run the scale-out tests")]
API = "/runtime/webhooks/durabletask"


@pytest.fixture()
def hub_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    hub = f"Scale{uuid.uuid4().hex[:10]}"
    env = {"FUNCPY_PG": str(POSTGRES), "FUNCPY_LEASE_SECONDS": "3",
           "AzureFunctionsJobHost__extensions__durableTask__hubName": hub,
           "FUNCPY_TEST_RUNS": str(tmp_path / "runs.log"),
           "FUNCPY_TEST_TICKS": str(tmp_path / "ticks.log"),
           "FUNCPY_TEST_OVERLAPS": str(tmp_path / "overlaps.log")}
    yield env
    from funcpy.host.taskhub.postgres import PostgresStore

    store = PostgresStore(str(POSTGRES), hub)
    store.delete_hub()
    store.close()


def _hosts(n: int, env: dict[str, str], tmp_path: Path) -> list[HostProcess]:
    return [HostProcess(APPS / "scaleout", "--no-reload", env=env,
                        log_path=tmp_path / f"host{i}.log").start() for i in range(n)]


def _status(host: HostProcess, iid: str) -> dict:
    return httpx.get(host.url(f"{API}/instances/{iid}"), timeout=10).json()


def _start(host: HostProcess, name: str, arg: object, iid: str) -> None:
    r = httpx.post(host.url(f"{API}/orchestrators/{name}/{iid}"), json=arg, timeout=10)
    assert r.status_code == 202, r.text


def test_three_hosts_mixed_load_survive_a_kill_9(hub_env: dict[str, str],
                                                 tmp_path: Path) -> None:
    hosts = _hosts(3, hub_env, tmp_path)
    try:
        a, b, c = hosts
        # Partitions spread over the hosts.
        wait_until(lambda: all(
            httpx.get(h.url("/admin/host/status")).json()["taskHub"]["partitions"]
            for h in hosts), timeout=20, what="every host to own a partition")
        expected: dict[str, object] = {}
        for i in range(8):
            _start(a, "chain", 6, f"chain-{i}")
            expected[f"chain-{i}"] = sum(2 * k for k in range(6))
        for i in range(3):
            _start(b, "fanout", 12, f"fan-{i}")
            expected[f"fan-{i}"] = sum(2 * k for k in range(12))
        for i in range(4):
            _start(c, "approval", None, f"ask-{i}")
            expected[f"ask-{i}"] = {"decision": f"yes-{i}", "done": 2}
        runs = Path(hub_env["FUNCPY_TEST_RUNS"])
        wait_until(lambda: runs.exists() and len(runs.read_text().splitlines()) >= 20,
                   timeout=30, what="activities to run")
        b.proc.send_signal(signal.SIGKILL)  # type: ignore[union-attr]
        b.wait_exit(10)
        for i in range(4):
            r = httpx.post(c.url(f"{API}/instances/ask-{i}/raiseEvent/decision"),
                           json=f"yes-{i}", timeout=10)
            assert r.status_code == 202, r.text
        for iid, output in expected.items():
            status = wait_until(
                lambda iid=iid: (s := _status(a, iid))["runtimeStatus"] == "Completed" and s,
                timeout=60, what=f"{iid} to complete after the kill")
            assert status["output"] == output, iid
        pids = {line.split()[0] for line in runs.read_text().splitlines()}
        assert len(pids) >= 2  # activities ran on several hosts
        # The survivors take over the dead host's partitions once its leases expire.
        def owned() -> list[int]:
            return sorted(p for h in (a, c) for p in
                          httpx.get(h.url("/admin/host/status")).json()["taskHub"]["partitions"])
        wait_until(lambda: owned() == [0, 1, 2, 3], timeout=20,
                   what="the survivors to own every partition")
        # Each timer occurrence fired once across all hosts (never twice).
        ticks = Counter(line.split()[0]
                        for line in Path(hub_env["FUNCPY_TEST_TICKS"]).read_text().splitlines())
        assert ticks and max(ticks.values()) == 1, ticks.most_common(3)
    finally:
        for h in hosts:
            h.stop()


def test_graceful_stop_hands_partitions_over_at_once(hub_env: dict[str, str],
                                                     tmp_path: Path) -> None:
    env = {**hub_env, "FUNCPY_LEASE_SECONDS": "30"}  # a takeover by expiry would take 30 s
    first, second = _hosts(2, env, tmp_path)
    try:
        wait_until(lambda: all(
            httpx.get(h.url("/admin/host/status")).json()["taskHub"]["partitions"]
            for h in (first, second)), timeout=30, what="both hosts to own partitions")
        assert first.stop(signal.SIGTERM) == 0
        t0 = time.monotonic()
        wait_until(lambda: sorted(httpx.get(second.url("/admin/host/status")).json()
                                  ["taskHub"]["partitions"]) == [0, 1, 2, 3],
                   timeout=20, what="the other host to take every partition")
        assert time.monotonic() - t0 < 15  # released, not expired (30 s)
        _start(second, "chain", 3, "after-stop")
        status = wait_until(lambda: (s := _status(second, "after-stop"))["runtimeStatus"]
                            == "Completed" and s, timeout=20, what="a chain on the survivor")
        assert status["output"] == 6
    finally:
        first.stop()
        second.stop()


def _partitions(host: HostProcess) -> list[int]:
    return sorted(httpx.get(host.url("/admin/host/status"), timeout=10).json()
                  ["taskHub"]["partitions"])


def test_hosts_started_together_split_the_partitions_and_survive_a_holder_kill(
        hub_env: dict[str, str], tmp_path: Path) -> None:
    """Three hosts started at once converge to an even split within a couple of seconds
    (balance is checked every second, not only at lease renewals), so killing one soon after
    start leaves partitions behind, and the survivors take them over when its leases expire."""
    from funcpy.host.taskhub.history import partition_of

    env = {**hub_env, "FUNCPY_LEASE_SECONDS": "6"}
    hosts = [HostProcess(APPS / "scaleout", "--no-reload", env=env,
                         log_path=tmp_path / f"host{i}.log") for i in range(3)]
    try:
        for h in hosts:
            h.start(wait=False)
        for h in hosts:
            h.port = int(h.wait_for_log(STARTED, timeout=30).group(1))
        t0 = time.monotonic()

        def split() -> list[list[int]] | None:
            owned = [_partitions(h) for h in hosts]
            flat = sorted(p for ps in owned for p in ps)
            even = flat == [0, 1, 2, 3] and all(1 <= len(ps) <= 2 for ps in owned)
            return owned if even else None
        owned = wait_until(split, timeout=10, interval=0.1, what="an even partition split")
        assert time.monotonic() - t0 < 6  # within a lease length of start, not after expiry
        victim = max(range(3), key=lambda i: len(owned[i]))
        lost = owned[victim]
        hosts[victim].proc.send_signal(signal.SIGKILL)  # type: ignore[union-attr]
        hosts[victim].wait_exit(10)
        survivors = [h for i, h in enumerate(hosts) if i != victim]
        wait_until(lambda: sorted(p for h in survivors for p in _partitions(h)) == [0, 1, 2, 3],
                   timeout=20, interval=0.1, what="the survivors to take every partition")
        iid = next(f"orphan-{n}" for n in range(1000) if partition_of(f"orphan-{n}", 4) in lost)
        _start(survivors[0], "chain", 3, iid)
        status = wait_until(lambda: (s := _status(survivors[1], iid))["runtimeStatus"]
                            == "Completed" and s, timeout=20, what="a chain in a taken partition")
        assert status["output"] == 6
    finally:
        for h in hosts:
            h.stop()


def test_entities_on_two_hosts_run_one_batch_at_a_time_and_survive_a_kill_9(
        hub_env: dict[str, str], tmp_path: Path) -> None:
    """Signals to 6 entities spread over two hosts' partitions: no entity ever runs on both
    hosts at once, and after one host is killed mid-load every signal is counted once."""
    a, b = _hosts(2, hub_env, tmp_path)
    try:
        wait_until(lambda: all(
            httpx.get(h.url("/admin/host/status")).json()["taskHub"]["partitions"]
            for h in (a, b)), timeout=20, what="both hosts to own a partition")
        keys = [f"k{i}" for i in range(6)]
        ids = []
        for n in range(120):
            host = a if n % 2 else b
            iid = f"tally-{n}"
            _start(host, "signal_tally", keys[n % len(keys)], iid)
            ids.append(iid)
            if n == 60:
                b.proc.send_signal(signal.SIGKILL)  # type: ignore[union-attr]
                b.wait_exit(10)
                b = a  # the rest go to the survivor
        for iid in ids:
            wait_until(lambda iid=iid: _status(a, iid).get("runtimeStatus") == "Completed",
                       timeout=60, what=f"{iid} to complete")

        def counts() -> dict[str, object]:
            return {k: httpx.get(a.url(f"{API}/entities/Tally/{k}"), timeout=10).json()
                    for k in keys}
        wait_until(lambda: counts() == {k: 20 for k in keys}, timeout=60,
                   what="every signal counted once")
        overlaps = Path(hub_env["FUNCPY_TEST_OVERLAPS"])
        assert not overlaps.exists(), overlaps.read_text()
    finally:
        for h in (a, b):
            h.stop()
