"""Importing the Durable Functions SDK safely, and without aiohttp until it is needed.

At import time `azure.durable_functions` re-reads `./host.json` (relative to the current
directory) with strict `json.loads`, only to warn about extension bundles V1. The Functions host
reads host.json with comments and trailing commas allowed (so does func-py, see host.settings):
such a file would crash the import with a raw JSONDecodeError. Importing the SDK once from an
empty folder, before the app or the task hub needs it, avoids that; later imports are no-ops.

The SDK's durable client calls the host back with aiohttp, imported with the SDK: about 160 ms of
a ~0.7 s start, before any client call can happen (many apps make none). Its module
`...models.utils.http_utils` is put in place as a stand-in first: the client binds the three
request functions by name at import, and each one loads the real module when first called;
any other name (a later SDK's) loads it at once. `warm_up()` loads it on a background thread
once the host serves, so the first client call does not pay for it either.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import tempfile
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

HTTP_UTILS = "azure.durable_functions.models.utils.http_utils"
_REQUESTS = ("get_async_request", "post_async_request", "delete_async_request")
_load_lock = threading.Lock()


def import_durable_sdk() -> None:
    if "azure.durable_functions" in sys.modules:
        return
    _defer_http_utils()
    with tempfile.TemporaryDirectory() as empty, contextlib.chdir(empty):
        import azure.durable_functions  # noqa: F401


def warm_up() -> None:
    """Load the SDK's HTTP module (and aiohttp) on a daemon thread, if it is deferred."""
    module = sys.modules.get(HTTP_UTILS)
    if isinstance(module, _Deferred) and module.real is None:
        threading.Thread(target=module.load, name="funcpy-sdk-warm-up", daemon=True).start()


class _Deferred(ModuleType):
    def __init__(self, path: Path) -> None:
        super().__init__(HTTP_UTILS)
        self.path = path
        self.real: ModuleType | None = None
        self._client_session = None  # read by host/stopping.py: no session before a call
        for name in _REQUESTS:
            setattr(self, name, self._request(name))

    def load(self) -> ModuleType:
        with _load_lock:
            if self.real is None:
                spec = importlib.util.spec_from_file_location(HTTP_UTILS, self.path)
                assert spec is not None and spec.loader is not None
                real = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(real)
                sys.modules[HTTP_UTILS] = real  # from now on, the module itself
                self.real = real
        return self.real

    def _request(self, name: str) -> Any:
        async def request(*args: Any, **kwargs: Any) -> Any:
            return await getattr(self.load(), name)(*args, **kwargs)
        request.__name__ = request.__qualname__ = name
        return request

    def __getattr__(self, name: str) -> Any:  # a name the stand-in does not have
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.load(), name)


def _defer_http_utils() -> None:
    if HTTP_UTILS in sys.modules:
        return
    # The package's folder without importing it (its __init__ imports the client).
    spec = importlib.util.find_spec("azure.durable_functions")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in locations:
        path = Path(folder) / "models" / "utils" / "http_utils.py"
        if path.is_file():
            sys.modules[HTTP_UTILS] = _Deferred(path)
            return
