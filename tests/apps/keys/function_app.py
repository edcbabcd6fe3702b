"""One function per authorization level, a second function-level one for per-function keys,
and `off`, which tests disable with AzureWebJobs.off.Disabled."""

import azure.functions as func

app = func.FunctionApp()  # the library default: function level


@app.route(route="anon", auth_level=func.AuthLevel.ANONYMOUS)
def anon(req: func.HttpRequest) -> str:
    return "anon ok"


@app.route(route="func")
def func_level(req: func.HttpRequest) -> str:
    return "function ok"


@app.route(route="other")
def other(req: func.HttpRequest) -> str:
    return "other ok"


@app.route(route="adm", auth_level=func.AuthLevel.ADMIN)
def admin_level(req: func.HttpRequest) -> str:
    return "admin ok"


@app.route(route="off")
def off(req: func.HttpRequest) -> str:
    return "off ok"
