"""The `Stock` entities and the catalogue (stock.py, catalog.py)."""

from __future__ import annotations

from typing import Any


def test_a_restock_is_a_signal_to_the_entity(funcpy_app: Any) -> None:
    r = funcpy_app.http.post("/api/stock/teapot", content="6")
    assert r.status_code == 202
    funcpy_app.settle()
    assert funcpy_app.http.get("/api/stock/teapot").json() == {"sku": "teapot", "units": 10}
    assert funcpy_app.entity_state("Stock", "teapot") == 10


def test_entity_operations_from_the_test(funcpy_app: Any) -> None:
    funcpy_app.signal_entity("Stock", "kettle", "reserve", 5)
    assert funcpy_app.entity_state("Stock", "kettle") == 7
    funcpy_app.signal_entity("Stock", "kettle", "reserve", 50)  # fails: the state stays
    assert funcpy_app.entity_state("Stock", "kettle") == 7
    assert funcpy_app.entity_state("Stock", "mug") is None  # no operation yet: no entity


def test_each_test_starts_from_a_fresh_app_and_hub(funcpy_app: Any) -> None:
    # The restock above is gone: a new task hub, and the app imported afresh.
    assert funcpy_app.http.get("/api/stock/teapot").json()["units"] == 4
    assert funcpy_app.module("function_app.orders")._prices == {}


def test_the_catalogue(funcpy_app: Any) -> None:
    products = funcpy_app.http.get("/api/products", params={"in_stock": "true"}).json()
    assert {p["sku"] for p in products} == {"kettle", "teapot", "mug"}
    r = funcpy_app.http.post("/api/quote", json={"items": [{"sku": "mug", "qty": 3}]})
    assert r.status_code == 200 and r.json()["total"] == 24.0
