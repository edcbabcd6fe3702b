"""One good function among bad ones: each bad one is reported by name and left out."""

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="good")
def good(req: func.HttpRequest) -> str:
    return "good"


# Azure's binding names allow letters and digits only.
@app.route(route="underscore", trigger_arg_name="my_req")
def underscore_binding(my_req: func.HttpRequest) -> str:
    return "never"


# A parameter that no binding supplies.
@app.route(route="extra")
def extra_param(req: func.HttpRequest, other: str) -> str:
    return "never"


# The host owns /admin and /runtime: any route *starting* with either, after trimming '/' and
# ignoring case, is refused (so "administrators/x" is refused too).
@app.route(route="admin/thing")
def admin_route(req: func.HttpRequest) -> str:
    return "never"


@app.route(route="/Runtime/stats")
def runtime_route(req: func.HttpRequest) -> str:
    return "never"


@app.route(route="administrators")
def admins(req: func.HttpRequest) -> str:
    return "never"


# Same route, overlapping methods: the first *by name* wins (not by declaration order),
# the later is rejected.
@app.route(route="same", methods=["GET", "POST"])
def dup_b(req: func.HttpRequest) -> str:
    return "never"


@app.route(route="same", methods=["GET"])
def dup_a(req: func.HttpRequest) -> str:
    return "dup_a"


# Same route, disjoint methods: both load.
@app.route(route="same", methods=["DELETE"])
def dup_c(req: func.HttpRequest) -> str:
    return "dup_c"


@app.route(route="bad/{id:nosuchconstraint}")
def bad_template(req: func.HttpRequest) -> str:
    return "never"


@app.route(route="%FUNCPY_TEST_MISSING_SETTING%/x")
def missing_setting(req: func.HttpRequest) -> str:
    return "never"


# Decorated, but no trigger: the library's own build step rejects it.
@app.function_name("no_trigger")
@app.queue_output(arg_name="msg", queue_name="q", connection="AzureWebJobsStorage")
def no_trigger(msg: func.Out[str]) -> None:
    msg.set("never")


# A trigger kind func-py does not run: listed as skipped, never a crash.
@app.blob_trigger(arg_name="blob", path="samples/{name}", connection="AzureWebJobsStorage")
def on_blob(blob: func.InputStream) -> None:
    pass
