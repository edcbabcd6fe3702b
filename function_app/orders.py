"""The durable patterns of the Durable Functions docs, with their names.

- `OrderWorkflow` (HTTP starter, POST /api/orders) starts `PlaceOrder` and answers with the
  check-status response (202 + statusQueryGetUri ...).
- `PlaceOrder` prices the basket with `call_http` (the app's own `POST /api/quote`, as it would
  call a pricing service), reserves each line on its `Stock` entity (stock.py) with
  `call_entity`, then chains `ProcessPayment` -> `ScheduleShipping` -> `EmailCustomer`. A line
  that cannot be reserved gives the earlier lines back (`signal_entity`) and fails the order
  with the entity's reason.
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
    # Where the pricing service is: this app's own quote endpoint (WEBSITE_HOSTNAME is set by
    # Azure and by func-py). Read here, not in the orchestrator, whose code must not read
    # the environment (it would not replay deterministically).
    scheme = "https" if req.url.startswith("https:") else "http"
    order["quoteUrl"] = f"{scheme}://{os.environ['WEBSITE_HOSTNAME']}/api/quote"
    instance_id = await client.start_new("PlaceOrder", None, order)
    logging.info("Started order workflow %s", instance_id)
    return client.create_check_status_response(req, instance_id)


@bp.function_name("PlaceOrder")
@bp.orchestration_trigger(context_name="context")
def place_order(context: df.DurableOrchestrationContext):
    order = context.get_input()
    items = [{"sku": i["sku"], "qty": int(i.get("qty", 1))} for i in order["items"]]
    context.set_custom_status({"step": "pricing"})
    quote = yield context.call_http("POST", order["quoteUrl"], {"items": items})
    if quote["statusCode"] != 200:
        raise ValueError(f"the quote failed with {quote['statusCode']}: {quote['content']}")
    total = json.loads(quote["content"])["total"]
    context.set_custom_status({"step": "reserving stock"})
    reserved: list[dict] = []
    for item in items:
        try:
            yield context.call_entity(df.EntityId("Stock", item["sku"]), "reserve", item["qty"])
        except Exception:
            for done in reserved:  # give back what this order took, then fail it
                context.signal_entity(df.EntityId("Stock", done["sku"]), "add", done["qty"])
            raise
        reserved.append(item)
    context.set_custom_status({"step": "taking payment"})
    payment = yield context.call_activity("ProcessPayment", {
        "amount": total, "email": order.get("email")})
    context.set_custom_status({"step": "booking shipping"})
    tracking = yield context.call_activity("ScheduleShipping", {"items": items})
    yield context.call_activity("EmailCustomer", {
        "email": order.get("email"), "tracking": tracking})
    context.set_custom_status({"step": "done"})
    return {"orderId": context.instance_id, "items": items, "payment": payment,
            "tracking": tracking, "total": total}


@bp.function_name("ProcessPayment")
@bp.activity_trigger(input_name="payment")
def process_payment(payment: dict) -> str:
    logging.info("Charged %.2f", payment["amount"])
    return f"pay-{uuid.uuid4().hex[:8]}"


@bp.function_name("ScheduleShipping")
@bp.activity_trigger(input_name="shipment")
def schedule_shipping(shipment: dict) -> str:
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
