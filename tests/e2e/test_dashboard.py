"""The dashboard at /runtime/dashboard/ in real headless Chromium, on the real `func-py start`
serving tests/apps/dashboard: the instance list (counts, filters, paging, live refresh), one
instance (values, failure, parent and children, history, timeline), the actions, entities,
functions, and a store that does not answer. Screenshots of the list and of a 200-activity
fan-out's timeline are saved as artefacts (see dashboard_browser.py).

Instances are started through the management API, each test under its own id prefix.
"""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import APPS
from tests.e2e.dashboard_browser import (
    API,
    DASHBOARD,
    artifacts_dir,
    browser,
    new_page,
    sync_api,
)
from tests.harness import HostProcess, wait_until

expect = sync_api.expect
BARS = "svg.timeline rect.bar:not(.orch)"


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    app = tmp_path_factory.mktemp("dashboard") / "app"
    shutil.copytree(APPS / "dashboard", app, ignore=shutil.ignore_patterns(".func-py",
                                                                            "__pycache__"))
    with HostProcess(app, "--no-reload") as h:
        yield h


@pytest.fixture(scope="module")
def http(host: HostProcess) -> Iterator[httpx.Client]:
    with host.client() as c:
        yield c


@pytest.fixture(scope="module")
def chrome() -> Iterator[Any]:
    with browser() as b:
        yield b


@pytest.fixture()
def page(chrome: Any) -> Iterator[Any]:
    with new_page(chrome) as p:
        yield p


def prefix() -> str:
    return f"d{uuid.uuid4().hex[:8]}"


def start(http: httpx.Client, name: str, iid: str, body: Any = None) -> str:
    r = http.post(f"{API}/orchestrators/{name}/{iid}", json=body)
    assert r.status_code == 202, r.text
    return iid


def status(http: httpx.Client, iid: str) -> dict[str, Any] | None:
    r = http.get(f"{API}/instances/{iid}")
    return r.json() if r.status_code in (200, 202) else None


def wait_status(http: httpx.Client, iid: str, *wanted: str, timeout: float = 30) -> dict:
    result: dict = wait_until(lambda: (s := status(http, iid)) and s["runtimeStatus"] in wanted
                              and s, timeout, interval=0.05, what=f"{iid} to be {wanted}")
    return result


def open_page(page: Any, host: HostProcess, fragment: str) -> None:
    page.goto(host.url(DASHBOARD) + fragment)


def test_served_with_types_cache_headers_and_links(http: httpx.Client,
                                                   host: HostProcess) -> None:
    for name, media in (("", "text/html"), ("app.js", "text/javascript"),
                        ("style.css", "text/css"), ("icon.svg", "image/svg+xml")):
        r = http.get(DASHBOARD + name)
        assert r.status_code == 200 and r.headers["content-type"].startswith(media), name
        assert r.headers["cache-control"] == "no-cache"
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        again = http.get(DASHBOARD + name, headers={"If-None-Match": r.headers["etag"]})
        assert again.status_code == 304 and not again.content
    assert http.head(DASHBOARD + "app.js").headers["content-length"] == str(
        len(http.get(DASHBOARD + "app.js").content))
    assert http.get(DASHBOARD + "nothing.js").status_code == 404
    moved = http.get(DASHBOARD.rstrip("/"))
    assert moved.status_code == 308 and moved.headers["location"] == DASHBOARD
    assert 'href="/runtime/dashboard/"' in http.get("/").text
    assert f"http://localhost:{host.port}/runtime/dashboard/" in host.output


def test_the_keys_the_page_reads_beyond_the_extensions(http: httpx.Client) -> None:
    """New keys only: the history's timer creation, child and parent ids; the host status's
    timers, load errors and load time."""
    parent = start(http, "parent", f"{prefix()}-keys")
    wait_status(http, parent, "Completed")
    events = http.get(f"{API}/instances/{parent}", params={"showHistory": "true"}).json()[
        "historyEvents"]
    fired = next(e for e in events if e["EventType"] == "TimerFired")
    assert fired["ScheduledTime"] < fired["Timestamp"]
    child = next(e for e in events if e["EventType"] == "SubOrchestrationInstanceCompleted")
    started = http.get(f"{API}/instances/{child['InstanceId']}",
                       params={"showHistory": "true"}).json()["historyEvents"][0]
    assert started["ParentInstanceId"] == parent
    assert "ParentInstanceId" not in events[0]
    body = http.get("/admin/host/status").json()
    assert body["timers"]["nightly"]["schedule"] == "0 0 3 * * *"
    assert len(body["timers"]["nightly"]["next"]) == 5
    assert "not a schedule" in body["functionErrors"]["broken_timer"]
    assert body["lastLoaded"].endswith("Z") and body["generation"] == 1
    assert body["loadError"] is None


def test_counts_endpoint_counts_with_the_list_filters(http: httpx.Client) -> None:
    p = prefix()
    start(http, "quick", f"{p}-a", "a")
    start(http, "failing", f"{p}-b", "b")
    wait_status(http, f"{p}-a", "Completed")
    wait_status(http, f"{p}-b", "Failed")
    r = http.get("/admin/taskhub/counts", params={"instanceIdPrefix": p})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    assert r.json() == {"counts": {"Completed": 1, "Failed": 1}, "total": 2}
    assert http.get("/admin/taskhub/counts", params={"instanceIdPrefix": p, "name": "FAIL"}
                    ).json() == {"counts": {"Failed": 1}, "total": 1}
    assert http.get("/admin/taskhub/counts", params={
        "instanceIdPrefix": p, "createdTimeTo": "2001-01-01T00:00:00Z"}).json()["total"] == 0
    bad = http.get("/admin/taskhub/counts", params={"createdTimeFrom": "yesterday"})
    assert bad.status_code == 400
    assert bad.json()["error"] == "createdTimeFrom 'yesterday' is not an ISO 8601 time"
    assert http.get("/admin/taskhub/counts", params={"name": "x" * 300}).status_code == 400


def test_running_work_is_drawn_as_open_bars(http: httpx.Client, host: HostProcess, page: Any,
                                           tmp_path: Path) -> None:
    flag = tmp_path / "release"
    iid = start(http, "held", f"{prefix()}-held", str(flag))
    assert http.get("/admin/taskhub/instances/no-such-instance/pending").status_code == 404

    def both_scheduled() -> list[dict[str, Any]]:
        found = http.get(f"/admin/taskhub/instances/{iid}/pending").json()["pending"]
        return found if len(found) == 2 else []
    pending = wait_until(both_scheduled, timeout=30, what="the activity and timer scheduled")
    kinds = {p["kind"]: p for p in pending}
    assert set(kinds) == {"activity", "timer"}, pending
    assert kinds["activity"]["name"] == "hold" and kinds["timer"]["fireAt"]
    open_page(page, host, f"#/instance/{iid}")
    expect(page.locator(f"{BARS}.running")).to_have_count(2)
    expect(page.locator(".tl-labels")).to_contain_text("hold")
    page.locator(".tab-panel").screenshot(path=str(artifacts_dir() / "dashboard-running.png"))
    flag.write_text("go")
    wait_status(http, iid, "Completed")
    # Its page reads it again within 5 s (the refresh of an instance that can still change).
    # Finished: the activity's bar is a completed one; the abandoned timer is not drawn.
    expect(page.locator(f"{BARS}.running")).to_have_count(0, timeout=20_000)
    expect(page.locator(f"{BARS}.k-activity")).to_have_count(1)


def test_list_counts_filters_pages_refreshes_and_sorts(http: httpx.Client, host: HostProcess,
                                                       page: Any) -> None:
    p = prefix()
    for i in range(26):
        start(http, "quick", f"{p}-q{i:02d}", f"n{i}")
    start(http, "failing", f"{p}-fail", "why")
    start(http, "approval", f"{p}-wait")
    wait_status(http, f"{p}-fail", "Failed")
    for i in range(26):
        wait_status(http, f"{p}-q{i:02d}", "Completed")
    open_page(page, host, "#/instances")
    rows = page.locator("table.instances tbody tr")
    expect(rows.first).to_be_visible()
    page.fill("input[name=prefix]", p)
    page.select_option("select[name=size]", "25")
    expect(rows).to_have_count(25)
    expect(page.locator(".count.all strong")).to_have_text("28")
    expect(page.locator(".count.st-failed strong")).to_have_text("1")
    expect(page.locator(".count.st-completed strong")).to_have_text("26")
    expect(page.locator(".count.st-running strong")).to_have_text("1")
    page.click(".pager [data-page=next]")  # page 2 through the API's continuation token
    expect(rows).to_have_count(3)
    expect(page.locator(".pager")).to_contain_text("rows 26\u201328")
    page.click(".pager [data-page=previous]")
    expect(rows).to_have_count(25)

    page.select_option("select[name=status]", "Failed")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(f"{p}-fail")
    expect(rows.first.locator(".badge")).to_have_text("Failed")
    page.select_option("select[name=status]", "")
    page.fill("input[name=name]", "approval")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Running")
    expect(page.locator(".count.all strong")).to_have_text("1")  # counts follow the filters
    expect(page.locator(".count.st-running strong")).to_have_text("1")
    page.fill("input[name=name]", "")
    page.fill("input[name=prefix]", f"{p}-q2")
    expect(rows).to_have_count(6)  # q20..q25
    page.click("th button[data-key=instanceId]")
    page.click("th button[data-key=instanceId]")  # descending
    expect(rows.first).to_contain_text(f"{p}-q25")

    # Live: an instance started elsewhere shows up without a click (the 5 s refresh).
    start(http, "quick", f"{p}-q2-late", "late")
    expect(rows).to_have_count(7, timeout=20_000)
    page.fill("input[name=prefix]", p)
    page.fill("input[name=to]", "2001-01-01T00:00:00")  # created before 2001: none
    expect(page.locator(".empty-state")).to_have_text("No instances match these filters.")
    page.fill("input[name=to]", "")
    page.fill("input[name=from]", "2001-01-01T00:00:00")
    page.select_option("select[name=size]", "50")
    expect(rows).to_have_count(29)
    # Local time on the page, UTC on hover.
    expect(rows.first.locator("time").first).to_have_attribute("title", re.compile(r" UTC$"))
    page.screenshot(path=str(artifacts_dir() / "dashboard-instances.png"), full_page=True)


def test_instance_page_shows_values_history_and_timeline(http: httpx.Client,
                                                         host: HostProcess,
                                                         page: Any) -> None:
    p = prefix()
    fan = start(http, "fan_out", f"{p}-fan", 200)
    wait_status(http, fan, "Completed", timeout=60)
    open_page(page, host, f"#/instance/{fan}")
    expect(page.locator(BARS)).to_have_count(200)
    expect(page.locator(".tl-labels")).to_contain_text("activity \u00d7200")
    expect(page.locator(".values")).to_contain_text("19900")
    # The whole page first: an element's screenshot scrolls, and the sticky top bar with it.
    page.screenshot(path=str(artifacts_dir() / "dashboard-fanout-page.png"), full_page=True)
    page.locator(".tab-panel").screenshot(path=str(artifacts_dir()
                                                   / "dashboard-fanout-timeline.png"))
    page.click("button[data-tab=history]")
    expect(page.locator("table.history tbody tr")).to_have_count(202)
    expect(page.locator("table.history thead")).to_contain_text(
        "EventNameScheduledCompletedDurationResult")

    failed = start(http, "failing", f"{p}-fail", "on purpose")
    wait_status(http, failed, "Failed")
    open_page(page, host, f"#/instance/{failed}")
    page.click("button[data-tab=timeline]")
    expect(page.locator(".failure-reason")).to_contain_text("exploded on purpose: on purpose")
    expect(page.locator("pre.stack")).to_contain_text("Traceback")
    expect(page.locator(f"{BARS}.failed")).to_have_count(1)
    expect(page.locator(BARS)).to_have_count(2)
    expect(page.locator("button[data-action=rewind]")).to_be_visible()

    parent = start(http, "parent", f"{p}-parent")
    wait_status(http, parent, "Completed")
    open_page(page, host, f"#/instance/{parent}")
    expect(page.locator(f"{BARS}.k-timer")).to_have_count(1)
    expect(page.locator(f"{BARS}.k-suborchestration")).to_have_count(1)
    page.locator(".children a").click()
    expect(page.locator("h1")).to_contain_text(":")  # the child's generated id
    expect(page.locator(".values")).to_contain_text("Hello child!")
    page.locator(".facts a", has_text=parent).click()
    expect(page.locator("h1")).to_contain_text(parent)


def act(page: Any, action: str, **fields: str) -> None:
    page.click(f"button[data-action={action}]")
    dialog = page.locator("dialog[open]")
    for name, value in fields.items():
        dialog.locator(f"[name={name}]").fill(value)
    dialog.locator("button[type=submit]").click()


def test_terminate_suspend_resume_and_restart_from_the_page(
        http: httpx.Client, host: HostProcess, page: Any) -> None:
    p = prefix()
    one, two = start(http, "approval", f"{p}-a"), start(http, "approval", f"{p}-b")
    wait_status(http, one, "Running")
    wait_status(http, two, "Running")
    open_page(page, host, f"#/instance/{one}")
    act(page, "terminate", reason="not needed")
    expect(page.locator("#toasts")).to_contain_text("Terminate: requested")
    expect(page.locator("h1 .badge")).to_have_text("Terminated")
    assert wait_status(http, one, "Terminated")["output"] == "not needed"
    act(page, "restart")  # with a new id: the page moves to the new instance
    expect(page.locator("h1 .badge")).to_have_text("Running")
    expect(page.locator("h1")).not_to_contain_text(one)

    open_page(page, host, f"#/instance/{two}")
    act(page, "suspend")
    expect(page.locator("h1 .badge")).to_have_text("Suspended")
    act(page, "resume")
    expect(page.locator("h1 .badge")).to_have_text("Running")
    # An action the API refuses shows the API's reason, in the dialog (an open dialog holds
    # the page still, so the button is there while the instance ends elsewhere).
    page.click("button[data-action=terminate]")
    assert http.post(f"{API}/instances/{two}/terminate").status_code == 202
    wait_status(http, two, "Terminated")
    page.locator("dialog[open] button[type=submit]").click()
    expect(page.locator("dialog[open] .form-error")).to_contain_text("is terminated and cannot")


def test_raise_event_refuses_bad_json_then_completes_the_instance(
        http: httpx.Client, host: HostProcess, page: Any) -> None:
    iid = start(http, "approval", f"{prefix()}-approve")
    wait_status(http, iid, "Running")
    open_page(page, host, f"#/instance/{iid}")
    expect(page.locator(".values")).to_contain_text("waitingFor")
    act(page, "raise", event="Approval", payload="{not json")
    expect(page.locator("dialog[open] .form-error")).to_contain_text("not valid JSON")
    assert status(http, iid)["runtimeStatus"] == "Running"  # type: ignore[index]
    dialog = page.locator("dialog[open]")
    dialog.locator("[name=payload]").fill('"alice"')
    dialog.locator("button[type=submit]").click()
    expect(page.locator("h1 .badge")).to_have_text("Completed")
    expect(page.locator(".values")).to_contain_text('"approved": "alice"')
    assert wait_status(http, iid, "Completed")["output"] == {"approved": "alice"}
    expect(page.locator(f"{BARS}.k-event")).to_have_count(1)


def test_purge_then_the_page_says_not_found(http: httpx.Client, host: HostProcess,
                                            page: Any) -> None:
    iid = start(http, "quick", f"{prefix()}-purge", "p")
    wait_status(http, iid, "Completed")
    open_page(page, host, f"#/instance/{iid}")
    act(page, "purge")
    expect(page.locator("h1")).to_have_text("Instance not found")
    assert http.get(f"{API}/instances/{iid}").status_code == 404


def test_start_an_orchestrator_from_the_page(http: httpx.Client, host: HostProcess,
                                             page: Any) -> None:
    iid = f"{prefix()}-started"
    open_page(page, host, "#/instances")
    page.click("#start-instance")
    dialog = page.locator("dialog[open]")
    # One option per orchestrator of the test app.
    expect(dialog.locator("select[name=name] option")).to_have_count(6)
    dialog.locator("select[name=name]").select_option("quick")
    dialog.locator("[name=id]").fill(iid)
    dialog.locator("[name=input]").fill("{'single': 'quotes'}")
    dialog.locator("button[type=submit]").click()
    expect(dialog.locator(".form-error")).to_contain_text("Input is not valid JSON")
    dialog.locator("[name=input]").fill('"bob"')
    dialog.locator("button[type=submit]").click()
    page.locator("#toasts a", has_text=iid).click()
    expect(page.locator(".values")).to_contain_text("Hello bob!")
    assert wait_status(http, iid, "Completed")["output"] == "Hello bob!"


def test_entities_list_state_and_signal(http: httpx.Client, host: HostProcess,
                                        page: Any) -> None:
    key = prefix()
    r = http.post(f"{API}/entities/Counter/{key}", params={"op": "add"}, json=5)
    assert r.status_code == 202
    wait_until(lambda: http.get(f"{API}/entities/Counter/{key}").text == "5", 30,
               what="the counter to hold 5")
    open_page(page, host, "#/entities")
    row = page.locator("table.entities tbody tr", has_text=key)
    expect(row).to_contain_text("counter")
    row.click()
    expect(page.locator(".entity-detail pre.json")).to_have_text("5")
    act(page, "signal", op="add", input="3")
    expect(page.locator(".entity-detail pre.json")).to_have_text("8", timeout=20_000)
    assert http.get(f"{API}/entities/Counter/{key}").text == "8"


def test_functions_page_lists_triggers_schedules_and_load_errors(
        host: HostProcess, page: Any) -> None:
    open_page(page, host, "#/functions")
    nightly = page.locator("tr[data-fn=nightly]")
    expect(nightly.locator(".occurrences li")).to_have_count(5)
    expect(nightly).to_contain_text("0 0 3 * * *")
    expect(page.locator("tr[data-fn=ping]")).to_contain_text("/api/ping")
    expect(page.locator("tr[data-fn=quick]")).to_contain_text("Orchestrator")
    expect(page.locator(".errors [data-fn=broken_timer]")).to_contain_text("not a schedule")
    expect(page.locator(".last-load")).to_contain_text("load #1")


def test_a_store_or_host_that_does_not_answer_shows_a_banner(host: HostProcess,
                                                             page: Any) -> None:
    reason = "The task hub store is unavailable for the moment (busy, or its connection " \
             "was lost); retry the request."
    store_down = f"**{API}/instances*"
    page.route(store_down, lambda route: route.fulfill(
        status=503, content_type="application/json", body=f'{{"Message": "{reason}"}}'))
    open_page(page, host, "#/instances")
    expect(page.locator("#banner")).to_contain_text(reason)
    page.unroute(store_down)
    page.click("text=Refresh")
    expect(page.locator("#banner")).to_be_hidden()
    page.route(store_down, lambda route: route.abort())
    page.click("text=Refresh")
    expect(page.locator("#banner")).to_contain_text("The host does not answer")
    page.unroute(store_down)
    # An instance id nobody started: "not found", not a broken page.
    open_page(page, host, "#/instance/no-such-instance")
    expect(page.locator("h1")).to_have_text("Instance not found")


def test_artifacts_are_ignored_by_git() -> None:
    ignore = (Path(__file__).parents[2] / ".gitignore").read_text()
    assert "tests/artifacts/" in ignore.splitlines()
