"""A product catalogue with prices and stock, and a quote endpoint that prices a basket."""

import json
import logging

import azure.functions as func

bp = func.Blueprint()

PRODUCTS: dict[str, dict] = {
    "kettle": {"sku": "kettle", "name": "Electric kettle", "price": 34.90, "stock": 12},
    "teapot": {"sku": "teapot", "name": "Porcelain teapot", "price": 24.50, "stock": 4},
    "mug": {"sku": "mug", "name": "Stoneware mug", "price": 8.00, "stock": 40},
}


def _json(body: object, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/json")


@bp.route(route="products", methods=["GET"])
def list_products(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/products[?in_stock=true]"""
    items = list(PRODUCTS.values())
    if req.params.get("in_stock", "").lower() == "true":
        items = [p for p in items if p["stock"] > 0]
    return _json(items)


@bp.route(route="products/{sku:alpha}", methods=["GET"])
def get_product(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/products/kettle"""
    product = PRODUCTS.get(req.route_params["sku"].lower())
    if product is None:
        return _json({"error": f"no product '{req.route_params['sku']}'"}, 404)
    return _json(product)


@bp.route(route="quote", methods=["POST"])
def quote(req: func.HttpRequest) -> func.HttpResponse:
    """POST /api/quote {"items": [{"sku": "mug", "qty": 2}]} -> priced lines and a total."""
    try:
        items = req.get_json()["items"]
        lines = [(PRODUCTS[i["sku"]], int(i.get("qty", 1))) for i in items]
    except (ValueError, KeyError, TypeError) as exc:
        return _json({"error": f"expected {{'items': [{{'sku': ..., 'qty': ...}}]}}: {exc}"}, 400)
    priced = [{"sku": p["sku"], "qty": q, "amount": round(p["price"] * q, 2),
               "available": p["stock"] >= q} for p, q in lines]
    total = round(sum(line["amount"] for line in priced), 2)
    logging.info("Quoted %d line(s), total %.2f", len(priced), total)
    return _json({"lines": priced, "total": total})
