"""`scriptFile` + `entryPoint`: imported as __app__.CustomEntry.handler; `shared` imported
absolutely (the app folder is on sys.path), a different module object from __app__.shared."""

import azure.functions as func
from shared import greeting


async def run(request: func.HttpRequest) -> str:
    return f"{greeting('entry')} from {__name__} via {greeting.__module__}"


def main(request: func.HttpRequest) -> str:  # not the entry point: never called
    return "wrong entry point"
