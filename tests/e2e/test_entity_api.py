"""The Durable Entities routes of the management API (.../entities/...) on a real `func-py start`
host, called with raw HTTP, through the SDK's DurableOrchestrationClient in the app (the private
RPC path) and from outside it (the public path), plus the `func-py durable` entity commands.

The app has no orchestrator, activity or entity function, so the host runs no task hub worker:
a signal stays in the store as the message the tests read, and entity rows are put there by
the test as the scheduler keeps them (entity_ids.py). Running entity batches is not needed for
anything here."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from funcpy.host.taskhub import SqliteStore
from funcpy.host.taskhub.entity_ids import OperationRequest, request_of, scheduler_id
from funcpy.host.taskhub.history import ControlMessage, EventType
from funcpy.host.taskhub.store import InstanceRecord

from tests.e2e.test_durable_cli import durable as durable_cli
from tests.e2e.test_durable_cli import fails, ok
from tests.harness import HostProcess

APP = Path(__file__).resolve().parents[1] / "apps" / "entities_api"
API = "/runtime/webhooks/durabletask"
HUB = "EntityApiTests"
STATUS_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


class Hub:
    """The running host, an HTTP client on it, and the app's task hub store."""

    def __init__(self, host: HostProcess, app: Path) -> None:
        self.host = host
        self.app = app
        self.http = host.client()
        self.store = SqliteStore(app / ".func-py" / "taskhub.sqlite", HUB)
        self.store.create()  # idempotent; the host may not have opened the hub yet

    def put_entity(self, name: str, key: str, state: str | None, last_op: float) -> str:
        iid = scheduler_id(name, key)
        with self.store.transaction() as tx:
            tx.put_instance(InstanceRecord(
                instance_id=iid, name=name.lower(), execution_id=uuid.uuid4().hex,
                runtime_status="Running", input=state, output=None, custom_status=None,
                created_at=last_op, last_updated=last_op))
        return iid

    def requests_for(self, entity_id: str) -> list[OperationRequest]:
        """The operation requests queued for the entity, in queue order (all on one queue)."""
        found: list[tuple[str, OperationRequest]] = []
        for counts in self.store.list_queues("control-"):
            for m in self.store.peek_messages(counts.queue, 1000):
                cm = ControlMessage.decode(m.payload)
                if cm.instance_id != entity_id:
                    continue
                assert cm.event["EventType"] == EventType.EventRaised
                request = request_of(cm.event)
                assert request is not None and cm.event["Name"] == request.operation
                found.append((counts.queue, request))
        assert len({q for q, _ in found}) <= 1, "one entity's messages span partitions"
        return [r for _, r in found]


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    tmp = tmp_path_factory.mktemp("entity-api")
    app = Path(shutil.copytree(APP, tmp / "app", ignore=shutil.ignore_patterns(
        ".func-py", "__pycache__")))
    with HostProcess(app, "--no-reload", log_path=tmp / "host.log") as host:
        h = Hub(host, app)
        try:
            yield h
        finally:
            h.http.close()
            h.store.close()


def key() -> str:
    return f"k-{uuid.uuid4().hex[:10]}"


def sdk_read(hub: Hub, name: str, k: str) -> dict[str, Any]:
    r = hub.http.get(f"/api/entity/{name}/{k}")
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def outside_client_calls(hub: Hub, calls: list[tuple[str, tuple[Any, ...]]]) -> list[Any]:
    """The SDK's client built by a script outside the app, on the host's public API URL."""
    from azure.durable_functions import DurableOrchestrationClient, EntityId
    from azure.durable_functions.models.utils import http_utils

    base = f"http://127.0.0.1:{hub.host.port}{API}/"
    bindings = json.dumps({"taskHubName": HUB, "creationUrls": {}, "managementUrls": {},
                           "baseUrl": base, "requiredQueryStringParameters": "",
                           "rpcBaseUrl": base})

    async def run() -> list[Any]:
        client = DurableOrchestrationClient(bindings)
        try:
            return [await getattr(client, method)(EntityId(*args[:2]), *args[2:])
                    for method, args in calls]
        finally:  # the SDK keeps one aiohttp session per process
            session = getattr(http_utils, "_client_session", None)
            if session is not None:
                await session.close()
                http_utils._client_session = None

    return asyncio.run(run())


# -- reading --------------------------------------------------------------------------------------


def test_an_unknown_entity_is_404_naming_it_and_the_sdk_says_it_does_not_exist(hub: Hub
                                                                               ) -> None:
    k = key()
    r = hub.http.get(f"{API}/entities/Counter/{k}")
    assert r.status_code == 404
    assert "'Counter'" in r.json()["Message"] and f"'{k}'" in r.json()["Message"]
    assert sdk_read(hub, "Counter", k) == {"exists": False, "state": None}
    [state] = outside_client_calls(hub, [("read_entity_state", ("Counter", k))])
    assert state.entity_exists is False and state.entity_state is None


def test_an_entitys_state_is_200_json_for_raw_http_and_both_sdk_paths(hub: Hub) -> None:
    k = key()
    hub.put_entity("counter", k, '{"n": 5, "tags": ["a"]}', 1_700_000_000.0)
    for name in ("counter", "Counter", "COUNTER"):  # names are case-insensitive
        r = hub.http.get(f"{API}/entities/{name}/{k}")
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/json"
        assert r.json() == {"n": 5, "tags": ["a"]}
    assert hub.http.get(f"{API}/entities/counter/{k.upper()}").status_code == 404  # exact key
    assert sdk_read(hub, "Counter", k) == {"exists": True, "state": {"n": 5, "tags": ["a"]}}
    [state] = outside_client_calls(hub, [("read_entity_state", ("Counter", k))])
    assert state.entity_exists is True and state.entity_state == {"n": 5, "tags": ["a"]}


def test_the_key_dollar_is_the_empty_key(hub: Hub) -> None:
    name = f"blank{uuid.uuid4().hex[:6]}"
    assert hub.http.get(f"{API}/entities/{name}/$").status_code == 404
    hub.put_entity(name, "", "7", 1_700_000_000.0)
    r = hub.http.get(f"{API}/entities/{name}/$")
    assert r.status_code == 200 and r.json() == 7
    assert hub.http.post(f"{API}/entities/{name}/$", params={"op": "add"}).status_code == 202
    assert hub.http.post(f"{API}/entities/{name}", params={"op": "add"}).status_code == 202
    assert [r.operation for r in hub.requests_for(f"@{name}@")] == ["add", "add"]


# -- signalling -----------------------------------------------------------------------------------


def test_a_signal_is_202_and_one_request_in_the_store_for_every_body_kind(hub: Hub) -> None:
    k = key()
    entity_id = f"@counter@{k}"
    url = f"{API}/entities/Counter/{k}"
    answers = [
        hub.http.post(url, params={"op": "add"}, json={"n": 1}),
        hub.http.post(url, params={"op": "add"}, content=b"5",
                      headers={"content-type": "application/json"}),
        hub.http.post(url, params={"op": "say"}, content=b"hello there",
                      headers={"content-type": "text/plain"}),  # not JSON: a string
        hub.http.post(url, params={"op": "reset"}),  # no body: no input
        hub.http.delete(url),  # the extension's DELETE: a signal of "delete"
    ]
    assert [a.status_code for a in answers] == [202] * 5, [a.text for a in answers]
    assert all(a.content == b"" for a in answers)
    requests = hub.requests_for(entity_id)
    assert [(r.operation, r.input) for r in requests] == [
        ("add", '{"n": 1}'), ("add", "5"), ("say", '"hello there"'), ("reset", None),
        ("delete", None)]
    assert all(r.signal and r.parent is None for r in requests)
    assert len({r.request_id for r in requests}) == 5
    assert hub.store.get_instance(entity_id) is None  # only the scheduler creates entities


def test_the_sdks_signal_entity_lands_the_same_values_on_both_paths(hub: Hub) -> None:
    """The SDK double-encodes the input (a JSON string holding JSON text): the request must
    carry the value's JSON text, from the app's client and from an outside one alike."""
    values: list[Any] = [{"a": [1, None]}, 42, "text", "42", [1, "x"], None]
    inside, outside = key(), key()
    for v in values:
        r = hub.http.post(f"/api/entity/Counter/{inside}", params={"op": "set"},
                          content=json.dumps(v).encode() if v is not None else b"")
        assert r.status_code == 202, r.text
    outside_client_calls(hub, [("signal_entity", ("Counter", outside, "set", v))
                               for v in values])
    for k in (inside, outside):
        got = [None if r.input is None else json.loads(r.input)
               for r in hub.requests_for(f"@counter@{k}")]
        assert got == values, k


def test_a_signal_without_op_is_400_naming_it(hub: Hub) -> None:
    k = key()
    for params in ({}, {"op": ""}):
        r = hub.http.post(f"{API}/entities/Counter/{k}", params=params, json=1)
        assert r.status_code == 400
        assert "'op'" in r.json()["Message"]
    assert hub.requests_for(f"@counter@{k}") == []


@pytest.mark.parametrize(("method", "path", "message"), [
    ("GET", "entities/Counter/a/b", "the entity key 'a/b' contains '/'"),
    ("POST", "entities/Counter/a/b?op=x", "the entity key 'a/b' contains '/'"),
    ("GET", "entities/a@b/k", "the entity name 'a@b' contains '@'"),
    ("POST", "entities/a@b/k?op=x", "the entity name 'a@b' contains '@'"),
    ("GET", "entities/Counter/a%0Ab", "the entity key 'a\\nb' contains"),
    ("GET", "entities/counter?lastOperationTimeFrom=yesterday", "is not an ISO 8601 time"),
    ("GET", "entities?top=0", "top must be at least 1"),
])
def test_bad_entity_requests_are_400_naming_the_problem(hub: Hub, method: str, path: str,
                                                        message: str) -> None:
    r = hub.http.request(method, f"{API}/{path}")
    assert r.status_code == 400, r.text
    assert message in r.json()["Message"]


def test_a_json_body_that_is_not_json_is_400(hub: Hub) -> None:
    k = key()
    r = hub.http.post(f"{API}/entities/Counter/{k}", params={"op": "add"}, content=b"{nope",
                      headers={"content-type": "application/json"})
    assert r.status_code == 400 and "Could not parse" in r.json()["Message"]
    assert hub.requests_for(f"@counter@{k}") == []


def test_a_method_an_entity_resource_does_not_take_is_405_with_allow(hub: Hub) -> None:
    for method, path, allow in (("PUT", "entities/Counter/k", "GET, POST, DELETE"),
                                ("PATCH", "entities/Counter", "GET, POST, DELETE"),
                                ("POST", "entities", "GET"),
                                ("DELETE", "entities/", "GET")):
        r = hub.http.request(method, f"{API}/{path}")
        assert r.status_code == 405, (method, path, r.status_code, r.text)
        assert r.headers["Allow"] == allow, (method, path)


# -- listing --------------------------------------------------------------------------------------


def test_list_entities_shape_filters_and_paging(hub: Hub) -> None:
    name = f"list{uuid.uuid4().hex[:6]}"
    t0 = 1_600_000_000.0
    for i in range(3):
        hub.put_entity(name, f"k{i}", json.dumps({"i": i}), t0 + 3600 * i)
    hub.put_entity(f"other{name}", "k0", "0", t0)

    r = hub.http.get(f"{API}/entities/{name.upper()}", params={"fetchState": "True"})
    assert r.status_code == 200 and "x-ms-continuation-token" not in r.headers
    body = r.json()
    assert [e["entityId"] for e in body] == [{"name": name, "key": f"k{i}"} for i in range(3)]
    assert [e["state"] for e in body] == [{"i": i} for i in range(3)]
    assert all(set(e) == {"entityId", "lastOperationTime", "state"} for e in body)
    assert body[0]["lastOperationTime"] == "2020-09-13T12:26:40Z"
    assert all(STATUS_TIME.match(e["lastOperationTime"]) for e in body)
    plain = hub.http.get(f"{API}/entities/{name}").json()
    assert [e["state"] for e in plain] == [None] * 3  # state only with fetchState

    pages, token, seen = 0, None, []
    while True:
        r = hub.http.get(f"{API}/entities/{name}", params={"top": "2"},
                         headers={"x-ms-continuation-token": token} if token else {})
        pages += 1
        seen += [e["entityId"]["key"] for e in r.json()]
        token = r.headers.get("x-ms-continuation-token")
        if not token:
            break
    assert seen == ["k0", "k1", "k2"] and pages == 2

    r = hub.http.get(f"{API}/entities/{name}", params={
        "lastOperationTimeFrom": "2020-09-13T13:26:40Z",
        "lastOperationTimeTo": "2020-09-13T14:26:40.000000Z"})
    assert [e["entityId"]["key"] for e in r.json()] == ["k1", "k2"]
    everything = [e["entityId"] for e in hub.http.get(f"{API}/entities",
                                                      params={"top": "1000"}).json()]
    assert {"name": f"other{name}", "key": "k0"} in everything
    assert all(scheduler_id(e["name"], e["key"]).startswith("@") for e in everything)
    # Orchestration listings never show entities.
    assert hub.http.get(f"{API}/instances").json() == []


def test_a_bad_continuation_token_is_400(hub: Hub) -> None:
    r = hub.http.get(f"{API}/entities", headers={"x-ms-continuation-token": "zzz"})
    assert r.status_code == 400


# -- func-py durable ------------------------------------------------------------------------------


def test_durable_cli_entity_commands_with_the_host_running(hub: Hub) -> None:
    app, k = hub.app, key()
    hub.put_entity("counter", k, '{"n": 3}', 1_700_000_000.0)
    assert ok(app, "get-entity", "Counter", k) == {"n": 3}
    assert f"No entity 'Counter' with key '{k}-x' exists" in fails(
        app, "get-entity", "Counter", f"{k}-x")

    sent = ok(app, "signal-entity", "Counter", k, "add", "--input", '{"by": 2}')
    assert sent["entityId"] == {"name": "counter", "key": k} and sent["accepted"] is True
    [request] = hub.requests_for(f"@counter@{k}")
    assert (request.operation, json.loads(request.input or "")) == ("add", {"by": 2})
    assert request.request_id == sent["requestId"] and request.signal

    listed = ok(app, "get-entities", "--name", "COUNTER", "--fetch-state", "--top", "1000")
    assert {"entityId": {"name": "counter", "key": k}, "lastOperationTime":
            "2023-11-14T22:13:20Z", "state": {"n": 3}} in listed

    assert ok(app, "delete-entity", "counter", k) == {
        "entityId": {"name": "counter", "key": k}, "deleted": True}
    assert hub.http.get(f"{API}/entities/counter/{k}").status_code == 404
    assert "No entity" in fails(app, "delete-entity", "counter", k)
    assert "the entity key 'a/b' contains '/'" in fails(app, "signal-entity", "c", "a/b", "x")
    r = durable_cli(app, "get-entity", "Counter")
    assert r.returncode != 0 and "required: key" in r.stderr


def test_durable_cli_entity_commands_without_a_hub_create_nothing(tmp_path: Path) -> None:
    app = Path(shutil.copytree(APP, tmp_path / "app", ignore=shutil.ignore_patterns(
        ".func-py", "__pycache__")))
    assert ok(app, "get-entities") == []
    assert "No entity 'counter' with key 'k' exists" in fails(app, "get-entity", "counter", "k")
    assert "No entity" in fails(app, "delete-entity", "counter", "k")
    assert not (app / ".func-py").exists()
    ok(app, "signal-entity", "counter", "", "reset")  # the empty key; creates the hub
    store = SqliteStore(app / ".func-py" / "taskhub.sqlite", HUB)
    try:
        queued = [ControlMessage.decode(m.payload) for q in store.list_queues("control-")
                  for m in store.peek_messages(q.queue, 10)]
    finally:
        store.close()
    assert [(m.instance_id, request_of(m.event).operation)  # type: ignore[union-attr]
            for m in queued] == [("@counter@", "reset")]
