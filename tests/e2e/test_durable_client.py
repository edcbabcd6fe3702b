"""The SDK's DurableOrchestrationClient inside the app, through the real `func-py start`: HTTP
starters (create_check_status_response, wait_for_completion_or_create_check_status_response),
raise_event, terminate, suspend/resume, rewind, queries and purges. The app's `client/{method}`
function calls one client method per request (see tests/apps/durable/function_app.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from tests.e2e.test_durable import API, Durable, SdkError, durable_host, new_id, run


@pytest.fixture(scope="module")
def durable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Durable]:
    with durable_host(tmp_path_factory.mktemp("durable-client"), "--no-reload") as d:
        yield d



def test_http_starter_check_status_response(durable: Durable) -> None:
    iid = new_id("starter")
    r = durable.http.post(f"/api/orchestrators/approval/{iid}", json={"n": 1})
    assert r.status_code == 202
    body = r.json()
    assert body["id"] == iid
    base = f"http://127.0.0.1:{durable.host.port}{API}/instances/{iid}"
    assert body["statusQueryGetUri"].startswith(base + "?")
    assert r.headers["Location"] == body["statusQueryGetUri"]
    assert r.headers["Retry-After"] == "10"
    assert body["sendEventPostUri"].startswith(f"{base}/raiseEvent/{{eventName}}?")
    for key in ("terminatePostUri", "purgeHistoryDeleteUri", "rewindPostUri",
                "restartPostUri", "suspendPostUri", "resumePostUri"):
        assert body[key].startswith(base), key
    # The URLs work as given.
    status = durable.http.get(body["statusQueryGetUri"])
    assert status.status_code == 202 and status.json()["runtimeStatus"] in ("Pending",
                                                                             "Running")
    url = body["sendEventPostUri"].replace("{eventName}", "approve")
    assert durable.http.post(url, json="ok").status_code == 202
    assert durable.wait(iid)["output"] == {"approved_with": "ok"}
    # Starting a running id again is refused; a finished one may be started again.
    assert durable.http.post(f"/api/orchestrators/approval/{iid}").status_code == 202
    again = durable.http.post(f"/api/orchestrators/approval/{iid}")
    assert again.status_code == 500  # the SDK raises; the starter does not catch it
    with pytest.raises(SdkError, match="already exists"):
        durable.sdk("start_new", orchestration_function_name="approval", instance_id=iid)
    durable.sdk("terminate", instance_id=iid, reason="cleanup")


def test_wait_for_completion_times_out_into_a_check_status_response(durable: Durable
                                                                     ) -> None:
    r = run(durable, "approval", None, timeout_ms=300)
    assert r.status_code == 202
    iid = r.json()["id"]
    assert r.headers["Location"] == r.json()["statusQueryGetUri"]
    durable.sdk("terminate", instance_id=iid, reason="timed out")
    status = durable.wait(iid)
    assert status["runtimeStatus"] == "Terminated"
    assert status["output"] == "timed out"


def test_terminate_suspend_resume_through_the_sdk(durable: Durable) -> None:
    iid = new_id("lifecycle")
    durable.sdk("start_new", orchestration_function_name="approval", instance_id=iid)
    durable.wait_for(iid, lambda s: s["runtimeStatus"] == "Running", "running")
    durable.sdk("suspend", instance_id=iid, reason="pause")
    durable.wait_for(iid, lambda s: s["runtimeStatus"] == "Suspended", "suspended")
    durable.sdk("raise_event", instance_id=iid, event_name="approve", event_data="while away")
    assert durable.status(iid).json()["runtimeStatus"] == "Suspended"
    durable.sdk("resume", instance_id=iid, reason="continue")
    status = durable.wait(iid)
    assert status["output"] == {"approved_with": "while away"}
    kinds = [e["EventType"] for e in durable.history(iid)]
    assert kinds.index("ExecutionSuspended") < kinds.index("ExecutionResumed") \
        < kinds.index("EventRaised")

    other = durable.sdk("start_new", orchestration_function_name="approval")
    durable.wait_for(other, lambda s: s["runtimeStatus"] == "Running", "running")
    durable.sdk("terminate", instance_id=other, reason="no longer needed")
    status = durable.wait(other)
    assert status["runtimeStatus"] == "Terminated"
    assert status["output"] == "no longer needed"
    durable.sdk("terminate", instance_id=other, reason="again")  # 410 is accepted by the SDK
    with pytest.raises(SdkError, match="No instance"):
        durable.sdk("terminate", instance_id=new_id("ghost"), reason="x")


def test_rewind_runs_the_failed_activity_again(durable: Durable) -> None:
    key = new_id("rewind")
    iid = durable.sdk("start_new", orchestration_function_name="rewindable", client_input=key)
    status = durable.wait(iid)
    assert status["runtimeStatus"] == "Failed"
    assert "attempt 1 failed" in status["output"]
    durable.sdk("rewind", instance_id=iid, reason="fixed it")
    status = durable.wait(iid, "Completed")
    assert status["output"] == {"greeting": "Hello rewind!", "attempt": 2}
    assert durable.attempts(key) == 2
    with pytest.raises(SdkError, match="only supported on failed"):
        durable.sdk("rewind", instance_id=iid, reason="again")


def test_purge_and_query_through_the_sdk(durable: Durable) -> None:
    prefix = new_id("query")
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    done = [durable.sdk("start_new", orchestration_function_name="plain",
                        instance_id=f"{prefix}-done-{i}", client_input=i) for i in range(3)]
    waiting = durable.sdk("start_new", orchestration_function_name="approval",
                          instance_id=f"{prefix}-waiting")
    for iid in done:
        durable.wait(iid)
    durable.wait_for(waiting, lambda s: s["runtimeStatus"] == "Running", "running")
    found = durable.sdk("get_status_by", instance_id_prefix=prefix,
                        created_time_from=since.isoformat())
    assert sorted(s["instanceId"] for s in found) == sorted([*done, waiting])
    completed = durable.sdk("get_status_by", instance_id_prefix=prefix,
                            runtime_status=["Completed"])
    assert sorted(s["instanceId"] for s in completed) == sorted(done)
    running = durable.sdk("get_status_by", instance_id_prefix=prefix,
                          runtime_status=["Running", "Pending"])
    assert [s["instanceId"] for s in running] == [waiting]
    assert durable.sdk("get_status_by", instance_id_prefix=prefix,
                       created_time_to=since.isoformat()) == []
    everything = durable.sdk("get_status_all")
    assert {*done, waiting} <= {s["instanceId"] for s in everything}

    assert durable.sdk("purge_instance_history", instance_id=done[0]) == {
        "instancesDeleted": 1}
    assert durable.sdk("purge_instance_history", instance_id=done[0]) == {
        "instancesDeleted": 0}
    assert durable.status(done[0]).status_code == 404
    assert durable.sdk("get_status", instance_id=done[0]) is None  # a falsy status
    durable.sdk("terminate", instance_id=waiting, reason="done")
    durable.wait(waiting)

    detailed = durable.sdk("get_status", instance_id=done[1], show_history=True,
                           show_history_output=True, show_input=True)
    assert detailed["input"] == 1 and detailed["output"] == {"plain": 1}
    assert [e["EventType"] for e in detailed["historyEvents"]] == [
        "ExecutionStarted", "ExecutionCompleted"]
    assert detailed["historyEvents"][-1]["Result"] == {"plain": 1}
    purged = durable.sdk("purge_instance_history_by", created_time_from=since.isoformat(),
                         runtime_status=["Terminated"])
    assert purged["instancesDeleted"] >= 1
    assert durable.status(waiting).status_code == 404
    assert durable.status(done[1]).status_code == 200  # completed: not in that filter


def test_an_outside_sdk_client_on_the_public_api_gets_what_the_apps_client_gets(
        durable: Durable) -> None:
    """A script outside the app builds the SDK's DurableOrchestrationClient on the host's public
    management URL: its double-encoded inputs and event data must give the same values as the
    same calls from the app's own client (the binding's private RPC path)."""
    import asyncio
    import json

    from azure.durable_functions import DurableOrchestrationClient

    base = f"http://127.0.0.1:{durable.host.port}{API}/"
    outside = json.dumps({"taskHubName": "TestHubName", "creationUrls": {},
                          "managementUrls": {}, "baseUrl": base,
                          "requiredQueryStringParameters": "", "rpcBaseUrl": base})
    values: list[object] = [{"a": 1, "b": [True, None]}, "text", "42", 42, [1, "x"], None]

    async def start_all() -> list[str]:
        from azure.durable_functions.models.utils import http_utils

        client = DurableOrchestrationClient(outside)
        try:
            return [await client.start_new("plain", new_id("outside"), v) for v in values]
        finally:  # the SDK keeps one aiohttp session per process
            session = getattr(http_utils, "_client_session", None)
            if session is not None:
                await session.close()
                http_utils._client_session = None

    outside_ids = asyncio.run(start_all())
    assert all(outside_ids)
    inside_ids = [durable.sdk("start_new", orchestration_function_name="plain",
                              instance_id=new_id("inside"), client_input=v) for v in values]
    for value, a, b in zip(values, outside_ids, inside_ids, strict=True):
        got_outside, got_inside = durable.wait(a)["output"], durable.wait(b)["output"]
        assert got_outside == got_inside == {"plain": value}, (value, got_outside, got_inside)
