"""The HTTP response set through a `func.Out[func.HttpResponse]` output binding."""

import azure.functions as func


def main(req: func.HttpRequest, res: func.Out[func.HttpResponse]) -> None:
    res.set(func.HttpResponse(f"out:{req.get_body().decode()}", status_code=201,
                              headers={"x-binding": "res"}))
