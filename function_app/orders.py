"""The durable patterns of the Durable Functions docs, with their names.

- `OrderWorkflow` (HTTP starter, POST /api/orders) starts `PlaceOrder` and answers with the
  check-status response (202 + statusQueryGetUri ...).
- `PlaceOrder` chains `CheckAndReserveInventory` -> `ProcessPayment` -> `ScheduleShipping` ->
  `EmailCustomer`; a failed step fails the order with the step's reason.
- `StartStockMonitor` (POST /api/monitors/{symbol}) starts `CheckStockPrice`, a monitor that
  polls a simulated price on durable timers until it passes a threshold or runs out of checks.
  Interval and limit come from app settings so the demo finishes in seconds.
"""

import json
import logging
import os
import random
import uuid
from datetime import timedelta

import azure.durable_functions as df
import azure.functions as func

from .catalog import PRODUCTS

bp = df.Blueprint()


@bp.function_name("OrderWorkflow")
@bp.route(route="orders", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def order_workflow(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    """POST /api/orders {"items": [{"sku": "mug", "qty": 2}], "email": "ada@example.com"}"""
    try:
        order = req.get_json()
        items = order["items"]
        if not items or not all(i.get("sku") in PRODUCTS for i in items):
            raise ValueError(f"every item needs a known sku ({', '.join(PRODUCTS)})")
    except (ValueError, KeyError, TypeError) as exc:
        return func.HttpResponse(json.dumps({"error": str(exc)}), status_code=400,
                                 mimetype="application/json")
    instance_id = await client.start_new("PlaceOrder", None, order)
    logging.info("Started order workflow %s", instance_id)
    return client.create_check_status_response(req, instance_id)


@bp.function_name("PlaceOrder")
@bp.orchestration_trigger(context_name="context")
def place_order(context: df.DurableOrchestrationContext):
    order = context.get_input()
    context.set_custom_status({"step": "reserving stock"})
    reservation = yield context.call_activity("CheckAndReserveInventory", order)
    context.set_custom_status({"step": "taking payment"})
    payment = yield context.call_activity("ProcessPayment", {
        "amount": reservation["total"], "email": order.get("email")})
    context.set_custom_status({"step": "booking shipping"})
    tracking = yield context.call_activity("ScheduleShipping", reservation)
    yield context.call_activity("EmailCustomer", {
        "email": order.get("email"), "tracking": tracking})
    context.set_custom_status({"step": "done"})
    return {"orderId": context.instance_id, "reservation": reservation["id"],
            "payment": payment, "tracking": tracking, "total": reservation["total"]}


@bp.function_name("CheckAndReserveInventory")
@bp.activity_trigger(input_name="order")
def check_and_reserve_inventory(order: dict) -> dict:
    lines = [(PRODUCTS[i["sku"]], int(i.get("qty", 1))) for i in order["items"]]
    short = [p["sku"] for p, qty in lines if p["stock"] < qty]
    if short:
        raise ValueError(f"not enough stock for {', '.join(short)}")
    for product, qty in lines:
        product["stock"] -= qty
    total = round(sum(p["price"] * q for p, q in lines), 2)
    return {"id": f"res-{uuid.uuid4().hex[:8]}", "total": total,
            "items": [{"sku": p["sku"], "qty": q} for p, q in lines]}


@bp.function_name("ProcessPayment")
@bp.activity_trigger(input_name="payment")
def process_payment(payment: dict) -> str:
    logging.info("Charged %.2f", payment["amount"])
    return f"pay-{uuid.uuid4().hex[:8]}"


@bp.function_name("ScheduleShipping")
@bp.activity_trigger(input_name="reservation")
def schedule_shipping(reservation: dict) -> str:
    return f"TRK{random.randint(100000, 999999)}"


@bp.function_name("EmailCustomer")
@bp.activity_trigger(input_name="message")
async def email_customer(message: dict) -> None:
    logging.info("Emailed %s: your parcel is %s", message.get("email"), message["tracking"])


@bp.function_name("StartStockMonitor")
@bp.route(route="monitors/{symbol:alpha}", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def start_stock_monitor(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    """POST /api/monitors/CTSO {"threshold": 110}"""
    try:
        body = req.get_json() if req.get_body() else {}
        threshold = float(body.get("threshold", 105))
    except (ValueError, TypeError, AttributeError) as exc:
        return func.HttpResponse(f"bad request: {exc}", status_code=400)
    instance_id = await client.start_new("CheckStockPrice", None, {
        "symbol": req.route_params["symbol"].upper(), "threshold": threshold})
    return client.create_check_status_response(req, instance_id)


@bp.function_name("CheckStockPrice")
@bp.orchestration_trigger(context_name="context")
def check_stock_price(context: df.DurableOrchestrationContext):
    job = context.get_input()
    interval = float(os.environ.get("STOCK_MONITOR_INTERVAL_SECONDS", "1"))
    limit = int(os.environ.get("STOCK_MONITOR_MAX_CHECKS", "10"))
    for check in range(1, limit + 1):
        price = yield context.call_activity("GetStockPrice", job["symbol"])
        context.set_custom_status({"check": check, "price": price})
        if price >= job["threshold"]:
            yield context.call_activity("SendPriceAlert", {**job, "price": price})
            return {"symbol": job["symbol"], "alerted": True, "price": price, "checks": check}
        yield context.create_timer(context.current_utc_datetime + timedelta(seconds=interval))
    return {"symbol": job["symbol"], "alerted": False, "checks": limit}


_prices: dict[str, float] = {}


@bp.function_name("GetStockPrice")
@bp.activity_trigger(input_name="symbol")
def get_stock_price(symbol: str) -> float:
    """A simulated quote: a random walk with an upward drift."""
    price = _prices.get(symbol, 100.0) + random.uniform(-0.5, 2.5)
    _prices[symbol] = round(price, 2)
    return _prices[symbol]


@bp.function_name("SendPriceAlert")
@bp.activity_trigger(input_name="alert")
def send_price_alert(alert: dict) -> None:
    logging.warning("%s reached %.2f (threshold %.2f)", alert["symbol"], alert["price"],
                    alert["threshold"])
