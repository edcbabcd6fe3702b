"""Durable Entities through the real `func-py start`, against tests/apps/entities: the counter
entity of the Durable docs called and signalled from orchestrations and from clients, an
entity that raises, many senders to one entity, and kill -9 around an entity batch's commit."""

from __future__ import annotations

import shutil
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import APPS
from tests.harness import HostProcess, wait_until

API = "/runtime/webhooks/durabletask"


def copy_app(dest: Path) -> Path:
    shutil.copytree(APPS / "entities", dest,
                    ignore=shutil.ignore_patterns(".func-py", "__pycache__"))
    return dest


def key() -> str:
    # Not bare hex: a key such as "3514779e41" is a JSON number, and an orchestration input
    # that is a string holding JSON text reaches the orchestrator decoded (as on Azure, where
    # the SDK df_loads every string input), so the orchestrator would address another entity.
    return f"k-{uuid.uuid4().hex[:10]}"


def start(http: httpx.Client, name: str, body: Any) -> str:
    r = http.post(f"{API}/orchestrators/{name}", json=body)
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


def finished(http: httpx.Client, iid: str, timeout: float = 30) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        r = http.get(f"{API}/instances/{iid}")
        body = r.json() if r.status_code in (200, 202) else None
        return body if body and body["runtimeStatus"] in ("Completed", "Failed") else None
    result: dict[str, Any] = wait_until(done, timeout=timeout, what=f"instance {iid} to end")
    return result


def run(http: httpx.Client, name: str, body: Any) -> Any:
    status = finished(http, start(http, name, body))
    assert status["runtimeStatus"] == "Completed", status
    return status["output"]


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    app = copy_app(tmp_path_factory.mktemp("entities") / "app")
    with HostProcess(app, "--no-reload") as h:
        yield h


@pytest.fixture()
def http(host: HostProcess) -> Iterator[httpx.Client]:
    with host.client() as c:
        yield c


def test_entity_functions_load(host: HostProcess) -> None:
    assert "Counter: entityTrigger" in host.output
    assert "cart_function: entityTrigger" in host.output
    assert "skipped" not in host.output


def test_orchestration_calls_an_entity_and_gets_its_result(http: httpx.Client) -> None:
    k = key()
    assert run(http, "count_orchestrator", {"key": k, "amount": 5}) == 5
    assert run(http, "count_orchestrator", {"key": k, "amount": 2}) == 7
    assert run(http, "read_orchestrator", k) == 7


def test_entity_registered_under_its_entity_name_keeps_state_per_key(
        http: httpx.Client) -> None:
    k = key()
    assert run(http, "cart_orchestrator", k) == [[{"sku": "apple"}],
                                                 [{"sku": "apple"}, {"sku": "pear"}]]
    assert run(http, "cart_orchestrator", key()) == [[{"sku": "apple"}],
                                                     [{"sku": "apple"}, {"sku": "pear"}]]


def test_an_entity_exception_reaches_the_calling_orchestrator(
        http: httpx.Client, host: HostProcess) -> None:
    assert run(http, "failing_call_orchestrator", key()) == "caught: counter refuses: no"
    host.wait_for_log(r"operation 'fail' failed: counter refuses: no")


def test_signals_from_an_orchestration_are_applied_in_order(http: httpx.Client) -> None:
    k = key()
    assert run(http, "signal_orchestrator", {"key": k, "amount": 4}) == "signalled"
    wait_until(lambda: run(http, "read_orchestrator", k) == 4, timeout=30,
               what="the signal to be applied")
    # 150 signals: more than one batch of messages; the call after them sees them all.
    assert run(http, "signal_many_orchestrator", {"key": k, "times": 150}) == 154


def test_many_orchestrations_signalling_one_entity_count_every_signal(
        http: httpx.Client) -> None:
    k = key()
    ids = [start(http, "signal_orchestrator", {"key": k, "amount": 1}) for _ in range(60)]
    for iid in ids:
        assert finished(http, iid)["runtimeStatus"] == "Completed"
    wait_until(lambda: run(http, "read_orchestrator", k) == 60, timeout=30,
               what="all 60 signals to be counted")


def test_destruct_on_exit_deletes_the_entity(http: httpx.Client) -> None:
    k = key()
    assert run(http, "count_orchestrator", {"key": k, "amount": 3}) == 3
    run(http, "signal_orchestrator", {"key": k, "amount": 0})
    # "delete" through a direct signal is the client's job; here through an orchestration
    # that calls it: the next read starts from the initial state again.
    assert run(http, "delete_orchestrator", k) is None
    assert run(http, "read_orchestrator", k) == 0


@pytest.mark.parametrize(("point", "hit"), [
    ("entity-ran", 1),         # the entity batch ran; its commit did not happen
    ("episode-committed", 1),  # the orchestration's signals and call were committed
    ("episode-committed", 2),  # the entity batch (state + response) was committed
])
def test_kill_9_around_an_entity_batch_applies_every_operation_once(
        tmp_path: Path, point: str, hit: int) -> None:
    """Killed at each step of an orchestration that signals an entity 20 times and then calls
    it: after a restart every signal is counted exactly once (an uncommitted batch runs again
    from the old state; a committed one never runs again)."""
    app = copy_app(tmp_path / "app")
    k = key()
    first = HostProcess(app, "--no-reload", env={"FUNCPY_FAULTS": f"{point}:{hit}"},
                        log_path=tmp_path / "first.log").start()
    try:
        with first.client() as http:
            iid = start(http, "signal_many_orchestrator", {"key": k, "times": 20})
        assert first.wait_exit(60) == -signal.SIGKILL
    finally:
        first.stop()
    with HostProcess(app, "--no-reload", log_path=tmp_path / "second.log") as again, \
            again.client() as http:
        status = finished(http, iid)
        assert status["runtimeStatus"] == "Completed", status
        assert status["output"] == 20
        assert run(http, "read_orchestrator", k) == 20


def test_the_counter_from_a_client_and_over_http_add_reset_get_delete(
        http: httpx.Client) -> None:
    """The Durable docs' counter driven by the SDK's client (the app's /api/counter routes use
    signal_entity / read_entity_state) and by the raw HTTP entities API."""
    k = key()
    url = f"{API}/entities/Counter/{k}"
    assert http.get(f"/api/counter/{k}").json() == {"exists": False, "state": None}
    assert http.get(url).status_code == 404
    assert http.post(f"/api/counter/{k}/add", content="5").status_code == 202
    assert http.post(url, params={"op": "add"}, json=3).status_code == 202
    wait_until(lambda: http.get(f"/api/counter/{k}").json() == {"exists": True, "state": 8},
               timeout=20, what="both adds")
    assert http.post(url, params={"op": "reset"}).status_code == 202
    wait_until(lambda: http.get(url).json() == 0, timeout=20, what="the reset")
    assert run(http, "read_orchestrator", k) == 0  # get, from an orchestration
    assert http.delete(url).status_code == 202  # the API's DELETE: the "delete" operation
    wait_until(lambda: http.get(url).status_code == 404, timeout=20, what="the delete")
    assert http.get(f"/api/counter/{k}").json() == {"exists": False, "state": None}
