"""func-py's demo app: a small shop, written with the official azure.functions and
azure.durable_functions packages — `func-py start` in the repository root serves it, and it
would run unchanged under Core Tools.

- catalog.py: HTTP functions (a blueprint): products, a quote for a basket.
- orders.py: the durable patterns (a durable blueprint): an order workflow behind the async
  HTTP API (call_http to price, entities to reserve stock, then a chain of activities), and a
  stock-price monitor that loops on durable timers.
- stock.py: a `Stock` entity per product, and an endpoint that reads and restocks it.
"""

import azure.durable_functions as df
import azure.functions as func

from .catalog import bp as catalog
from .orders import bp as orders
from .stock import bp as stock

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
app.register_functions(catalog)
app.register_functions(orders)
app.register_functions(stock)


@app.route(route="hello/{name?}", methods=["GET"])
def hello(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/hello/Ada or /api/hello?name=Ada"""
    name = req.route_params.get("name") or req.params.get("name") or "world"
    return func.HttpResponse(f"Hello, {name}!")
