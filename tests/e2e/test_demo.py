"""The demo app of README's quick start (function_app/ at the repository root), through the real
`func-py start`: an order is priced with call_http, reserved on Stock entities, then paid and
shipped; an order that cannot be reserved gives its earlier lines back and fails with the
entity's reason; a restock is a signal."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness import HostProcess, wait_until

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    app = tmp_path_factory.mktemp("demo")
    shutil.copytree(ROOT / "function_app", app / "function_app",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("host.json", "local.settings.json"):
        shutil.copy(ROOT / name, app / name)
    with HostProcess(app, "--no-reload") as h:
        yield h


def _order(c: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    r = c.post("/api/orders", json=body)
    assert r.status_code == 202, r.text
    uri = r.json()["statusQueryGetUri"]

    def done() -> dict[str, Any] | None:
        s = c.get(uri).json()
        return s if s["runtimeStatus"] in ("Completed", "Failed") else None
    result: dict[str, Any] = wait_until(done, timeout=30, what="the order to finish")
    return result


def _units(c: httpx.Client, sku: str) -> int:
    return int(c.get(f"/api/stock/{sku}").json()["units"])


def test_an_order_is_priced_reserved_paid_and_shipped(demo: HostProcess) -> None:
    with demo.client() as c:
        before = _units(c, "mug")
        status = _order(c, {"items": [{"sku": "mug", "qty": 2}, {"sku": "kettle"}],
                            "email": "ada@example.com"})
        assert status["runtimeStatus"] == "Completed", status
        out = status["output"]
        assert out["total"] == 50.9  # 2 x 8.00 + 34.90, from the quote call_http made
        assert out["tracking"].startswith("TRK") and out["orderId"] == status["instanceId"]
        assert _units(c, "mug") == before - 2
        history = c.get(f"/runtime/webhooks/durabletask/instances/{status['instanceId']}",
                        params={"showHistory": "true"}).json()["historyEvents"]
        assert any(e.get("FunctionName") == "BuiltIn::HttpActivity" for e in history)


def test_an_order_short_of_stock_fails_and_gives_back_what_it_reserved(
        demo: HostProcess) -> None:
    with demo.client() as c:
        mugs = _units(c, "mug")
        status = _order(c, {"items": [{"sku": "mug", "qty": 3}, {"sku": "teapot", "qty": 99}]})
        assert status["runtimeStatus"] == "Failed"
        assert "not enough stock for teapot" in status["output"]
        wait_until(lambda: _units(c, "mug") == mugs, timeout=20,
                   what="the reserved mugs to be given back")


def test_a_restock_is_a_signal_to_the_entity(demo: HostProcess) -> None:
    with demo.client() as c:
        before = _units(c, "teapot")
        assert c.post("/api/stock/teapot", content="6").status_code == 202
        wait_until(lambda: _units(c, "teapot") == before + 6, timeout=20,
                   what="the restock to be applied")
        r = c.get("/runtime/webhooks/durabletask/entities/Stock/teapot")
        assert r.status_code == 200 and r.json() == before + 6
