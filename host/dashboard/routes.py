"""Serves the dashboard's static files at /runtime/dashboard/ (Azure reserves /runtime, so no
user route can take the path).

The files are a shell with no data in it, served to anyone, like the home page: a browser
navigating to the page cannot send a header, and a key must never ride in a URL. Every piece of
data comes from the management API and /admin, which enforce keys as they always do (with
--enable-auth or in production: the master key, which the page asks for, keeps in
sessionStorage and sends as `x-functions-key`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

PREFIX = "/runtime/dashboard"
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
# The page renders text from the task hub (inputs, outputs, reasons): the policy keeps any of
# it from ever running as script, and the page from being framed (a framed page could be made
# to click "Terminate"). Styles come from style.css only; the scripts set element styles
# through the CSSOM, which the policy allows.
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
                               "form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    # No hashed file names: the browser revalidates every time (a 304 is cheap), so a new
    # version of the host never runs with an old app.js.
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    etag: str


def load_assets() -> dict[str, Asset]:
    """The package's static files, read once (a few tens of kB)."""
    assets: dict[str, Asset] = {}
    for entry in resources.files(__package__).iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1] if "." in entry.name else ""
        if entry.is_file() and suffix in TYPES:
            body = entry.read_bytes()
            etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
            assets[entry.name] = Asset(body, TYPES[suffix], etag)
    return assets


class Dashboard:
    def __init__(self) -> None:
        self._assets: dict[str, Asset] | None = None

    @property
    def assets(self) -> dict[str, Asset]:
        if self._assets is None:
            self._assets = load_assets()
        return self._assets

    async def redirect(self, request: Request) -> Response:
        # Relative asset URLs need the trailing slash.
        return RedirectResponse(PREFIX + "/", status_code=308)

    async def file(self, request: Request) -> Response:
        name = request.path_params.get("name") or "index.html"
        asset = self.assets.get(name)
        if asset is None:
            return Response("not found", status_code=404, media_type="text/plain",
                            headers={"X-Content-Type-Options": "nosniff"})
        headers = {**HEADERS, "ETag": asset.etag}
        if asset.etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        body = b"" if request.method == "HEAD" else asset.body
        response = Response(body, media_type=asset.media_type, headers=headers)
        if request.method == "HEAD":
            response.headers["content-length"] = str(len(asset.body))
        return response


def dashboard_routes() -> list[Route]:
    dashboard = Dashboard()
    return [
        Route(PREFIX, dashboard.redirect, methods=["GET", "HEAD"]),
        Route(PREFIX + "/", dashboard.file, methods=["GET", "HEAD"]),
        Route(PREFIX + "/{name}", dashboard.file, methods=["GET", "HEAD"]),
    ]
