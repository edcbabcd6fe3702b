"""Stock levels as Durable Entities: one `Stock` entity per product, keyed by its sku.

The order workflow reserves stock with `call_entity(..., "reserve", qty)`, which answers the
units left or fails when there are not enough (the orchestration sees the exception); a
cancelled reservation is given back with `signal_entity(..., "add", qty)`. Operations of one
entity run one at a time, so two orders never sell the same last teapot.

- `GET /api/stock/{sku}` reads an entity's state through the durable client.
- `POST /api/stock/{sku}` with a number signals `add` (a restock).
"""

import json

import azure.durable_functions as df
import azure.functions as func

from .catalog import PRODUCTS

bp = df.Blueprint()


@bp.function_name("Stock")
@bp.entity_trigger(context_name="context", entity_name="Stock")
def stock(context: df.DurableEntityContext) -> None:
    # A product's first operation starts from the catalogue's stock figure.
    units = context.get_state(lambda: PRODUCTS[context.entity_key]["stock"])
    op = context.operation_name
    if op == "reserve":
        wanted = int(context.get_input())
        if wanted > units:
            raise ValueError(f"not enough stock for {context.entity_key}: {units} left, "
                             f"{wanted} wanted")
        units -= wanted
    elif op == "add":
        units += int(context.get_input())
    elif op != "get":
        raise ValueError(f"unknown operation '{op}' (use get, reserve, add)")
    context.set_state(units)
    context.set_result(units)


def _json(body: object, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/json")


@bp.function_name("StockLevel")
@bp.route(route="stock/{sku:alpha}", methods=["GET", "POST"])
@bp.durable_client_input(client_name="client")
async def stock_level(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    """GET /api/stock/mug -> {"sku": "mug", "units": 40}; POST /api/stock/mug -d 5 restocks."""
    sku = req.route_params["sku"].lower()
    if sku not in PRODUCTS:
        return _json({"error": f"no product '{sku}'"}, 404)
    entity = df.EntityId("Stock", sku)
    if req.method == "POST":
        try:
            units = int(req.get_body() or b"0")
        except ValueError:
            return _json({"error": "the body must be a whole number of units"}, 400)
        await client.signal_entity(entity, "add", units)
        return _json({"sku": sku, "restocking": units}, 202)
    state = await client.read_entity_state(entity)
    units = state.entity_state if state.entity_exists else PRODUCTS[sku]["stock"]
    return _json({"sku": sku, "units": units})
