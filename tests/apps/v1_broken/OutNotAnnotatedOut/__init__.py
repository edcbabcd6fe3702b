import azure.functions as func


def main(req: func.HttpRequest, res: func.HttpResponse) -> None:  # needs func.Out[...]
    return None
