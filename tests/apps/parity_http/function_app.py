"""An HTTP app for Core Tools' `func start` flags: `log` writes one user log line at each level,
so `--user-log-level` and the JSON output can be checked."""

from __future__ import annotations

import logging

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="hello")
def hello(req: func.HttpRequest) -> str:
    return "hello"


@app.route(route="log")
def log(req: func.HttpRequest) -> str:
    tag = req.params.get("tag", "")
    logging.debug("user debug %s", tag)
    logging.info("user info %s", tag)
    logging.warning("user warning %s", tag)
    return "logged"
