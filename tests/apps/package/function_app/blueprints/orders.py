import json

import azure.functions as func
from shared_code.pricing import total  # a top-level module beside the package

from function_app.naming import display_name  # absolute import of a sibling module

bp = func.Blueprint()


@bp.function_name("create_order")
@bp.route(route="orders", methods=["POST"])
def create(req: func.HttpRequest) -> func.HttpResponse:
    order = req.get_json()
    body = {"customer": display_name(order["customer"]), "total": total(order["lines"])}
    return func.HttpResponse(json.dumps(body), status_code=201, mimetype="application/json")
