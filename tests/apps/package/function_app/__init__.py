"""A `function_app/` package: the app object here, its functions in two blueprints."""

import azure.functions as func

# Absolute import of a package module, and a relative one: both styles must work.
from function_app.blueprints.orders import bp as orders_bp

from .blueprints import users

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

app.register_functions(users.bp)
app.register_blueprint(orders_bp)


@app.route(route="root")
def root(req: func.HttpRequest) -> str:
    return f"root module={__name__}"
