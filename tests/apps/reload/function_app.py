"""Copied to a temporary folder by tests/e2e/test_reload.py, which edits it while it serves."""

import os
import time

import azure.functions as func
from helper import VERSION

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="version")
def version(req: func.HttpRequest) -> str:
    return VERSION


@app.route(route="slow")
def slow(req: func.HttpRequest) -> str:
    # Holds the request open until the test creates the release file (bounded).
    deadline = time.monotonic() + 20
    while not os.path.exists("release") and time.monotonic() < deadline:
        time.sleep(0.01)
    return VERSION
