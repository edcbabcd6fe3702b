import json

import azure.functions as func

from ..naming import display_name  # relative import up one package level

bp = func.Blueprint()


@bp.route(route="users/{name}", methods=["GET"])
def get_user(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return func.HttpResponse(json.dumps({
        "user": display_name(req.route_params["name"]),
        "function_name": context.function_name,
        "function_directory": context.function_directory,
    }), mimetype="application/json")
