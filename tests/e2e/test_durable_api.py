"""The Durable Functions HTTP management API (/runtime/webhooks/durabletask/...) called with
raw HTTP, as curl, Postman or another service would: status codes, headers, payload shapes,
query filters, paging and purge, and the answers to bad requests."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest

from tests.e2e.test_durable import API, Durable, durable_host, new_id

STATUS_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
CHECK_STATUS_KEYS = {"id", "statusQueryGetUri", "sendEventPostUri", "terminatePostUri",
                     "rewindPostUri", "purgeHistoryDeleteUri", "restartPostUri",
                     "suspendPostUri", "resumePostUri"}


@pytest.fixture(scope="module")
def durable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Durable]:
    with durable_host(tmp_path_factory.mktemp("durable-api"), "--no-reload") as d:
        yield d


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_start_answers_202_with_the_check_status_payload(durable: Durable) -> None:
    iid = new_id("api-start")
    r = durable.start_raw("approval", {"k": "v"}, iid)
    assert r.status_code == 202
    body = r.json()
    assert set(body) == CHECK_STATUS_KEYS
    assert body["id"] == iid
    origin = f"http://127.0.0.1:{durable.host.port}"
    assert body["statusQueryGetUri"].startswith(f"{origin}{API}/instances/{iid}?taskHub="
                                                "DurableTests&connection=Storage")
    assert r.headers["Location"] == body["statusQueryGetUri"]
    assert r.headers["Retry-After"] == "10"
    assert "{eventName}" in body["sendEventPostUri"]
    assert "reason={text}" in body["terminatePostUri"]

    status = durable.http.get(body["statusQueryGetUri"])
    assert status.status_code == 202
    assert status.headers["Retry-After"] == "5"
    assert status.headers["Location"] == body["statusQueryGetUri"]
    s = status.json()
    assert set(s) == {"name", "instanceId", "runtimeStatus", "input", "customStatus", "output",
                      "createdTime", "lastUpdatedTime"}
    assert s["name"] == "approval" and s["instanceId"] == iid
    assert s["input"] == {"k": "v"} and s["output"] is None
    assert STATUS_TIME.match(s["createdTime"]) and STATUS_TIME.match(s["lastUpdatedTime"])

    url = body["sendEventPostUri"].replace("{eventName}", "approve")
    assert durable.http.post(url, json=[1, 2]).status_code == 202
    done = durable.wait(iid)
    final = durable.http.get(body["statusQueryGetUri"])
    assert final.status_code == 200 and "Location" not in final.headers
    assert done["output"] == {"approved_with": [1, 2]}
    assert done["customStatus"] == {"approved": True}


def test_status_options_input_and_history(durable: Durable) -> None:
    iid = durable.start("chain", "Oslo")
    durable.wait(iid)
    plain = durable.status(iid).json()
    assert plain["input"] == "Oslo" and "historyEvents" not in plain
    assert durable.status(iid, showInput="false").json()["input"] is None
    history = durable.status(iid, showHistory="True").json()["historyEvents"]  # SDK casing
    kinds = [e["EventType"] for e in history]
    assert kinds == ["ExecutionStarted", *["TaskCompleted"] * 4, "ExecutionCompleted"]
    assert history[0]["FunctionName"] == "chain" and history[0]["Input"] == "Oslo"
    assert all("Result" not in e for e in history)  # only with showHistoryOutput
    assert [e["FunctionName"] for e in history[1:5]] == ["hello", "HELLO", "hello",
                                                         "Renamed_Activity"]
    for e in history[1:5]:
        assert set(e) >= {"EventType", "Timestamp", "FunctionName", "ScheduledTime"}
        assert "EventId" not in e and "TaskScheduledId" not in e
    with_output = durable.history(iid)
    assert with_output[3]["Result"] == "Hello Oslo!"
    assert with_output[-1]["Result"] == ["Hello Tokyo!", "Hello Seattle!", "Hello Oslo!",
                                         "renamed got [1, 2]"]
    no_input = durable.status(iid, showHistory="true", showInput="false").json()
    assert all("Input" not in e for e in no_input["historyEvents"])


def test_unknown_instances_and_routes_are_404(durable: Durable) -> None:
    ghost = new_id("ghost")
    assert durable.status(ghost).status_code == 404
    assert durable.http.delete(f"{API}/instances/{ghost}").status_code == 404
    for op in ("terminate", "suspend", "resume", "rewind", "restart"):
        assert durable.post(ghost, op).status_code == 404, op
    r = durable.raise_event(ghost, "x", 1)
    assert r.status_code == 404 and ghost in r.json()["Message"]
    assert durable.http.get(f"{API}/nowhere").status_code == 404
    assert durable.http.post(f"{API}/instances/{ghost}/explode").status_code == 404


def test_a_method_a_resource_does_not_take_is_405_with_allow(durable: Durable) -> None:
    iid = new_id("api-405")
    for method, path, allow in (
            ("GET", f"orchestrators/chain/{iid}", "POST"),
            ("PUT", "orchestrators/chain", "POST"),
            ("PUT", f"instances/{iid}", "GET, DELETE"),
            ("PATCH", f"instances/{iid}", "GET, DELETE"),
            ("POST", "instances", "GET, DELETE"),
            ("PUT", "instances/", "GET, DELETE"),
            ("GET", f"instances/{iid}/terminate", "POST"),
            ("DELETE", f"instances/{iid}/raiseEvent/go", "POST")):
        r = durable.http.request(method, f"{API}/{path}")
        assert r.status_code == 405, (method, path, r.status_code, r.text)
        assert r.headers["Allow"] == allow, (method, path)
    assert durable.http.request("PUT", f"{API}/nowhere").status_code == 404
    assert durable.http.head(f"{API}/instances/{iid}").status_code == 404  # HEAD is GET


def test_bad_starts_are_400_or_409(durable: Durable) -> None:
    r = durable.start_raw("no_such_orchestrator", 1)
    assert r.status_code == 400
    assert "'no_such_orchestrator'" in r.json()["ExceptionMessage"]
    assert "'chain'" in r.json()["ExceptionMessage"]  # lists the known ones
    r = durable.http.post(f"{API}/orchestrators/chain", content=b"{not json",
                          headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "JSON" in r.json()["Message"]
    assert durable.start_raw("chain", 1, "bad%5Cid").status_code == 400  # a backslash

    iid = new_id("api-dup")
    assert durable.start_raw("approval", None, iid).status_code == 202
    dup = durable.start_raw("approval", None, iid)
    assert dup.status_code == 409 and iid in dup.json()["Message"]
    # Once finished, the id may be used again (a new instance replaces the old one).
    assert durable.post(iid, "terminate", reason="r").status_code == 202
    durable.wait(iid)
    assert durable.start_raw("plain", "again", iid).status_code == 202
    status = durable.wait(iid)
    assert status["name"] == "plain" and status["output"] == {"plain": "again"}


def test_events_to_finished_instances_are_410_and_bad_event_bodies_400(durable: Durable
                                                                        ) -> None:
    iid = durable.start("plain", 1)
    durable.wait(iid)
    r = durable.raise_event(iid, "x", 1)
    assert r.status_code == 410
    for op in ("terminate", "suspend", "resume", "rewind"):
        assert durable.post(iid, op, reason="r").status_code == 410, op

    waiting = durable.start("approval")
    url = f"{API}/instances/{waiting}/raiseEvent/approve"
    assert durable.http.post(url, content=b"{broken", headers={
        "Content-Type": "application/json"}).status_code == 400
    assert durable.http.post(url, content=b'"text"', headers={
        "Content-Type": "text/plain"}).status_code == 400
    assert durable.status(waiting).json()["runtimeStatus"] in ("Pending", "Running")
    # A JSON string holding JSON text is that text, as the SDK's double-encoded calls need
    # (on Azure the SDK's client calls this same public endpoint; nothing tells it from curl).
    assert durable.http.post(url, content=b'"[1, 2]"', headers={
        "Content-Type": "application/json"}).status_code == 202
    assert durable.wait(waiting)["output"] == {"approved_with": [1, 2]}


def test_start_and_wait_with_timeout_query(durable: Durable) -> None:
    r = durable.http.post(f"{API}/orchestrators/fan_out", json=3,
                          params={"timeout": "10", "pollingInterval": "0.05"})
    assert r.status_code == 200
    assert r.json() == {"results": [0, 2, 4], "sum": 6}
    r = durable.http.post(f"{API}/orchestrators/approval", json=None,
                          params={"timeout": "0.2", "pollingInterval": "0.05"})
    assert r.status_code == 202 and set(r.json()) == CHECK_STATUS_KEYS
    durable.post(r.json()["id"], "terminate", reason="done")


def test_terminate_suspend_resume_and_rewind_raw(durable: Durable) -> None:
    iid = durable.start("approval")
    durable.wait_for(iid, lambda s: s["runtimeStatus"] == "Running", "running")
    assert durable.post(iid, "suspend", reason="hold").status_code == 202
    durable.wait_for(iid, lambda s: s["runtimeStatus"] == "Suspended", "suspended")
    r = durable.status(iid)
    assert r.status_code == 202  # suspended is still "in progress"
    assert durable.post(iid, "resume", reason="go").status_code == 202
    durable.wait_for(iid, lambda s: s["runtimeStatus"] == "Running", "running again")
    assert durable.post(iid, "terminate", reason="stop it").status_code == 202
    status = durable.wait(iid)
    assert status["runtimeStatus"] == "Terminated" and status["output"] == "stop it"
    kinds = [e["EventType"] for e in durable.history(iid)]
    assert kinds[-1] == "ExecutionCompleted"
    assert "ExecutionSuspended" in kinds and "ExecutionResumed" in kinds
    assert "ExecutionTerminated" in kinds

    key = new_id("api-rewind")
    failed = durable.start("rewindable", key)
    assert durable.wait(failed)["runtimeStatus"] == "Failed"
    assert durable.post(failed, "rewind", reason="retry").status_code == 202
    assert durable.wait(failed, "Completed")["output"] == {"greeting": "Hello rewind!",
                                                          "attempt": 2}
    assert durable.post(failed, "rewind").status_code == 410  # completed now

    boom = durable.start("boom", 1)  # failed, but no failed activity to run again
    assert durable.wait(boom)["runtimeStatus"] == "Failed"
    assert durable.post(boom, "rewind").status_code == 400


def test_restart_with_and_without_a_new_instance_id(durable: Durable) -> None:
    iid = durable.start("inputs", {"again": True})
    durable.wait(iid)
    r = durable.post(iid, "restart")
    assert r.status_code == 202
    new = r.json()["id"]
    assert new != iid
    assert durable.wait(new)["output"] == {"type": "dict", "value": {"again": True}}
    r = durable.post(iid, "restart", restartWithNewInstanceId="false")
    assert r.status_code == 202 and r.json()["id"] == iid
    assert durable.wait(iid)["input"] == {"again": True}


def test_list_filters_and_paging(durable: Durable) -> None:
    prefix = new_id("api-list")
    t0 = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    done = [durable.start("plain", i, f"{prefix}-{i:02d}") for i in range(7)]
    running = durable.start("approval", None, f"{prefix}-waiting")
    for iid in done:
        durable.wait(iid)
    durable.wait_for(running, lambda s: s["runtimeStatus"] == "Running", "running")

    def listing(**params: str) -> list[dict]:
        r = durable.http.get(f"{API}/instances/", params={"instanceIdPrefix": prefix,
                                                          **params})
        assert r.status_code == 200, r.text
        return list(r.json())

    everything = listing()
    assert sorted(s["instanceId"] for s in everything) == sorted([*done, running])
    assert all(s["input"] is None for s in everything)  # showInput defaults to false here
    assert {s["input"] for s in listing(showInput="true") if s["name"] == "plain"} == set(
        range(7))
    assert [s["instanceId"] for s in listing(runtimeStatus="Running")] == [running]
    both = listing(runtimeStatus="running,Completed")
    assert len(both) == 8
    assert listing(runtimeStatus="Failed") == []
    assert len(listing(createdTimeFrom=_iso(t0))) == 8
    assert listing(createdTimeTo=_iso(t0)) == []
    assert durable.http.get(f"{API}/instances/", params={"runtimeStatus": "Sleeping"}
                            ).status_code == 400
    assert durable.http.get(f"{API}/instances/", params={"createdTimeFrom": "yesterday"}
                            ).status_code == 400

    # Pages of 3 with the continuation token in a header, until the token is gone.
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        headers = {"x-ms-continuation-token": token} if token else {}
        r = durable.http.get(f"{API}/instances/", params={"instanceIdPrefix": prefix,
                                                          "top": "3"}, headers=headers)
        assert r.status_code == 200
        page = r.json()
        assert 1 <= len(page) <= 3
        seen += [s["instanceId"] for s in page]
        pages += 1
        token = r.headers.get("x-ms-continuation-token")
        if not token:
            break
    assert pages == 3
    assert sorted(seen) == sorted([*done, running]) and len(set(seen)) == 8
    durable.post(running, "terminate", reason="listed")
    durable.wait(running)


def test_purge_one_and_purge_by_filter(durable: Durable) -> None:
    r = durable.http.delete(f"{API}/instances/")
    assert r.status_code == 400
    assert r.json()["Message"] == "Please provide value for 'createdTimeFrom' parameter."

    iid = durable.start("plain", "purge me")
    durable.wait(iid)
    r = durable.http.delete(f"{API}/instances/{iid}")
    assert r.status_code == 200 and r.json() == {"instancesDeleted": 1}
    assert durable.status(iid).status_code == 404
    assert durable.http.delete(f"{API}/instances/{iid}").status_code == 404

    since = dt.datetime.now(dt.UTC)  # this machine's clock is the host's clock
    prefix = new_id("api-purge")
    finished = [durable.start("plain", i, f"{prefix}-{i}") for i in range(3)]
    alive = durable.start("approval", None, f"{prefix}-alive")
    for f in finished:
        durable.wait(f)
    durable.wait_for(alive, lambda s: s["runtimeStatus"] == "Running", "running")
    r = durable.http.delete(f"{API}/instances/", params={
        "createdTimeFrom": _iso(since), "runtimeStatus": "Completed"})
    assert r.status_code == 200 and r.json() == {"instancesDeleted": 3}
    assert [durable.status(f).status_code for f in finished] == [404] * 3
    assert durable.status(alive).status_code == 202
    r = durable.http.delete(f"{API}/instances/", params={
        "createdTimeFrom": _iso(since), "runtimeStatus": "Completed"})
    assert r.status_code == 404  # nothing left to purge
    durable.post(alive, "terminate", reason="purge")
    durable.wait(alive)
    r = durable.http.delete(f"{API}/instances/", params={
        "createdTimeFrom": _iso(since), "createdTimeTo": _iso(dt.datetime.now(dt.UTC)),
        "runtimeStatus": "Terminated"})
    assert r.status_code == 200 and r.json()["instancesDeleted"] >= 1
    assert durable.status(alive).status_code == 404
