"""The dashboard with keys enforced (`func-py start --enable-auth`, the master key from
FUNCPY_MASTER_KEY, as tests/e2e/test_keys.py sets keys up), in real headless Chromium: without
the key the page shows nothing but the prompt; the key entered there is kept in sessionStorage
and sent in the x-functions-key header, never in a URL."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import APPS
from tests.e2e.dashboard_browser import API, DASHBOARD, browser, new_page, sync_api
from tests.harness import HostProcess, wait_until

expect = sync_api.expect
MASTER = "dashboard-master-key-0123456789"
KEY_ITEM = "funcpy.dashboard.key"


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    app = tmp_path_factory.mktemp("dashboard-keys") / "app"
    shutil.copytree(APPS / "dashboard", app, ignore=shutil.ignore_patterns(".func-py",
                                                                            "__pycache__"))
    env = {"FUNCPY_MASTER_KEY": MASTER, "FUNCPY_FUNCTION_KEYS": ""}
    with HostProcess(app, "--no-reload", "--enable-auth", env=env) as h:
        yield h


@pytest.fixture(scope="module")
def http(host: HostProcess) -> Iterator[httpx.Client]:
    with host.client(headers={"x-functions-key": MASTER}) as c:
        yield c


@pytest.fixture()
def page(host: HostProcess) -> Iterator[Any]:
    with browser() as chrome, new_page(chrome) as p:
        yield p


def test_the_shell_is_served_but_no_data_without_the_key(host: HostProcess) -> None:
    with host.client() as anonymous:
        assert anonymous.get(DASHBOARD).status_code == 200  # static files, no data in them
        assert anonymous.get(DASHBOARD + "app.js").status_code == 200
        assert anonymous.get("/admin/host/status").status_code == 401
        assert anonymous.get("/admin/functions").status_code == 401
        assert anonymous.get("/admin/taskhub/counts").status_code == 401
        assert anonymous.get(f"{API}/instances").status_code == 401


def test_the_page_asks_for_the_master_key_and_sends_it_only_in_a_header(
        http: httpx.Client, host: HostProcess, page: Any) -> None:
    iid = "keys-quick"
    assert http.post(f"{API}/orchestrators/quick/{iid}", json="k").status_code == 202
    wait_until(lambda: http.get(f"{API}/instances/{iid}").json()["runtimeStatus"]
               == "Completed", 30, what="the instance to complete")
    sent: list[tuple[str, str | None]] = []
    page.on("request", lambda r: sent.append((r.url, r.headers.get("x-functions-key"))))

    page.goto(host.url(DASHBOARD) + "#/instances")
    expect(page.locator("#key-form")).to_be_visible()
    expect(page.locator("#key-reason")).to_contain_text("requires an admin key")
    expect(page.locator("table.instances")).to_have_count(0)

    page.fill("#key-form input[name=key]", "not-the-key")
    page.click("#key-form button[type=submit]")
    expect(page.locator("#key-reason")).to_contain_text("The key was refused")

    page.fill("#key-form input[name=key]", MASTER)
    page.click("#key-form button[type=submit]")
    expect(page.locator("table.instances tbody tr", has_text=iid)).to_be_visible()
    assert page.evaluate(f"() => sessionStorage.getItem('{KEY_ITEM}')") == MASTER
    assert page.evaluate("() => localStorage.length") == 0
    page.reload()  # sessionStorage outlives a reload of the tab
    expect(page.locator("table.instances tbody tr", has_text=iid)).to_be_visible()
    page.goto(host.url(DASHBOARD) + "#/functions")
    expect(page.locator("tr[data-fn=nightly] .occurrences li")).to_have_count(5)
    page.goto(host.url(DASHBOARD) + f"#/instance/{iid}")
    expect(page.locator(".values")).to_contain_text("Hello k!")

    assert sent
    for url, _ in sent:
        assert MASTER not in url and "code=" not in url, url
    data = [(u, k) for u, k in sent if "/admin/" in u or "/runtime/webhooks/" in u]
    assert any(k == MASTER for _, k in data)
    assert all(k in (None, "not-the-key", MASTER) for _, k in data)

    page.click("#forget-key")
    expect(page.locator("#key-form")).to_be_visible()
    assert page.evaluate(f"() => sessionStorage.getItem('{KEY_ITEM}')") is None
