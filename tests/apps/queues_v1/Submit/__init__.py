"""v1: an HTTP function with a named queue output (func.Out[str])."""

import azure.functions as func


def main(req: func.HttpRequest, msg: func.Out[str]) -> func.HttpResponse:
    msg.set(req.get_body().decode())
    return func.HttpResponse("submitted", status_code=202)
