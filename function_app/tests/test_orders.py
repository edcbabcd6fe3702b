"""The order workflow and the stock-price monitor (orders.py), driven through the app's own HTTP
routes as a client would, on the harness's virtual clock (the `funcpy_app` fixture of the pytest
plugin func-py installs): `.venv/bin/python -m pytest function_app/tests`.

This folder has no `__init__.py` on purpose: collecting it then imports neither the
`function_app` package nor anything of it into the test process (the harness imports the app
afresh for each test), and the host's loader never imports these files."""

from __future__ import annotations

import itertools
import time
from datetime import datetime, timedelta
from typing import Any

import pytest

ORDER = {"items": [{"sku": "mug", "qty": 2}, {"sku": "kettle"}], "email": "ada@example.com"}


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _units(app: Any, sku: str) -> int:
    return int(app.http.get(f"/api/stock/{sku}").json()["units"])


def test_an_order_is_priced_reserved_paid_and_shipped(funcpy_app: Any) -> None:
    r = funcpy_app.http.post("/api/orders", json=ORDER)
    assert r.status_code == 202, r.text
    assert r.json()["statusQueryGetUri"].startswith("http://localhost:")
    status = funcpy_app.wait(r.json()["id"])
    assert status["runtimeStatus"] == "Completed", status
    out = status["output"]
    assert out["total"] == 50.9  # priced by call_http to the app's own /api/quote
    assert out["tracking"].startswith("TRK") and out["payment"].startswith("pay-")
    assert status["customStatus"] == {"step": "done"}
    assert _units(funcpy_app, "mug") == 38  # the catalogue's 40, less this order's 2
    history = funcpy_app.history(status["instanceId"])
    assert [e["FunctionName"] for e in history if e["EventType"] == "TaskCompleted"] == [
        "BuiltIn::HttpActivity", "ProcessPayment", "ScheduleShipping", "EmailCustomer"]
    # The check-status URL the starter answered with works too.
    polled = funcpy_app.http.get(r.json()["statusQueryGetUri"]).json()
    assert polled["runtimeStatus"] == "Completed"


def test_an_order_short_of_stock_fails_and_gives_back_what_it_reserved(funcpy_app: Any) -> None:
    r = funcpy_app.http.post("/api/orders", json={
        "items": [{"sku": "mug", "qty": 3}, {"sku": "teapot", "qty": 99}]})
    status = funcpy_app.wait(r.json()["id"])
    assert status["runtimeStatus"] == "Failed"
    assert "not enough stock for teapot: 4 left, 99 wanted" in status["output"]
    funcpy_app.settle()  # the give-back is a signal: let it run
    assert funcpy_app.entity_state("Stock", "mug") == 40


def test_a_bad_order_is_refused_before_anything_starts(funcpy_app: Any) -> None:
    r = funcpy_app.http.post("/api/orders", json={"items": [{"sku": "spoon"}]})
    assert r.status_code == 400
    assert "known sku" in r.json()["error"]


@pytest.mark.funcpy_settings(STOCK_MONITOR_INTERVAL_SECONDS="120",
                             STOCK_MONITOR_MAX_CHECKS="720")
def test_a_day_of_stock_checks_runs_on_virtual_time(funcpy_app: Any,
                                                    record_property: Any) -> None:
    # A threshold the simulated price never reaches: all 720 checks, two minutes apart.
    started = time.perf_counter()
    r = funcpy_app.http.post("/api/monitors/CTSO", json={"threshold": 1e9})
    assert r.status_code == 202, r.text
    status = funcpy_app.wait(r.json()["id"], timeout=120)
    wall = time.perf_counter() - started
    record_property("wall_seconds", round(wall, 3))
    print(f"a day of 720 checks: {wall:.2f}s of wall time")
    assert status["output"] == {"symbol": "CTSO", "alerted": False, "checks": 720}
    assert status["customStatus"]["check"] == 720
    timers = [e for e in funcpy_app.history(status["instanceId"])
              if e["EventType"] == "TimerFired"]
    assert len(timers) == 720
    created = [_at(e["ScheduledTime"]) for e in timers]
    for timer, at in zip(timers, created, strict=True):
        # Each timer is due two minutes after the orchestrator's current_utc_datetime...
        assert abs(_at(timer["FireAt"]) - at - timedelta(minutes=2)) < timedelta(milliseconds=1)
    for before, after in itertools.pairwise(created):
        # ...and the next check's current_utc_datetime is when it fired, plus the real time
        # the check itself took: time passes as it would on a server, without the waiting.
        assert timedelta(minutes=2) <= after - before < timedelta(minutes=2, seconds=1)
    day = _at(timers[-1]["FireAt"]) - _at(timers[0]["ScheduledTime"])
    assert timedelta(days=1) <= day < timedelta(days=1, seconds=wall + 1)
    assert funcpy_app.clock.skipped >= 86_400 - wall
    assert wall < 60  # a real host would take the whole day


@pytest.mark.funcpy_settings(STOCK_MONITOR_INTERVAL_SECONDS="120",
                             STOCK_MONITOR_MAX_CHECKS="720")
def test_the_monitor_alerts_once_the_price_passes_the_threshold(funcpy_app: Any) -> None:
    r = funcpy_app.http.post("/api/monitors/ctso", json={"threshold": 104})
    output = funcpy_app.result(r.json()["id"])
    assert output["alerted"] is True and output["symbol"] == "CTSO"
    assert output["price"] >= 104
    # The simulated quote is module state of the app: the harness's own import of it.
    assert funcpy_app.module("function_app.orders")._prices["CTSO"] == output["price"]


def test_activities_can_be_called_directly(funcpy_app: Any) -> None:
    assert funcpy_app.call_activity("ScheduleShipping", {"items": []}).startswith("TRK")
    assert funcpy_app.call_activity("GetStockPrice", "ABC") > 99
    with pytest.raises(KeyError, match="price"):  # the activity's own exception
        funcpy_app.call_activity("SendPriceAlert", {"symbol": "ABC", "threshold": 1})
