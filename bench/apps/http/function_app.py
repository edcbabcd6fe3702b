"""The smallest HTTP functions, for bench/http_throughput.py."""

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="ping", methods=["GET"])
async def ping(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("ok")


@app.route(route="ping-sync", methods=["GET"])
def ping_sync(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("ok")
