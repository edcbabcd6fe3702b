"""The `durableClient` input binding: the JSON the SDK's DurableOrchestrationClient is built
from (durable-protocol §6.1), pointing its RPC calls back at this host.

RPC calls (the SDK's own, from the app in this process) need no key even when keys are
enforced; instead they must come from this machine (a loopback peer, or the host's own address
when it is bound to one) AND present the per-process secret. The secret rides in the
`rpcBaseUrl`'s user-info (`http://funcpy:SECRET@127.0.0.1:PORT/...`), which aiohttp, the SDK's
HTTP client, sends as an `Authorization: Basic` header: it is never part of a request path, so
no route error, status URL or log line can echo it. (The SDK builds every URL by appending to
`rpcBaseUrl` and takes no headers, so user-info is the one place outside the path.) Either
check alone is not enough: a reverse proxy on the same machine makes outside callers loopback
peers, and the secret is only as private as the app's own code.

The management URLs handed to callers carry the durable system key (`code=`) when keys are
enforced, so a client can follow them.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import inspect
import ipaddress
import json
import os
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from funcpy.host.durable_sdk import import_durable_sdk
from funcpy.host.taskhub.client import new_instance_id_problem, shown_id
from funcpy.host.taskhub.http_api import PREFIX, management_urls

if TYPE_CHECKING:
    from funcpy.host.index import Binding, FunctionInfo
    from funcpy.triggers.base import HostServices

SYSTEM_KEY_SETTING = "FUNCPY_SYSTEM_KEY"
RPC_USER = "funcpy"
# Worker processes share one port, so the SDK's call-back may reach a sibling process: their
# supervisor gives them one secret (host/supervisor.py); a single host makes its own.
RPC_SECRET_VAR = "FUNCPY_RPC_SECRET"
RPC_SECRET = os.environ.pop(RPC_SECRET_VAR, "") or secrets.token_urlsafe(32)
RPC_SEGMENT = "_rpc"  # PREFIX/_rpc/... is the SDK's endpoint
_RPC_AUTHORIZATION = b"Basic " + base64.b64encode(f"{RPC_USER}:{RPC_SECRET}".encode())


def durable_key(runtime: HostServices) -> str | None:
    """The key that opens the durable management API (Azure's `durabletask_extension` system
    key): FUNCPY_SYSTEM_KEY or the secrets file's, else derived from the master key so it
    survives restarts."""
    explicit = runtime.keys.system_key or runtime.environ.get(SYSTEM_KEY_SETTING)
    if explicit:
        return explicit
    master = runtime.keys.master
    if not master:
        return None
    return hmac.new(master.encode(), b"durabletask_extension", hashlib.sha256).hexdigest()[:40]


def key_query(runtime: HostServices) -> str:
    key = durable_key(runtime) if runtime.config.enable_auth else None
    return f"code={key}" if key else ""


def rpc_base_url(runtime: HostServices) -> str:
    rpc_port = runtime.rpc_port
    if rpc_port:  # an HTTPS host: its plain-HTTP call-back listener (host/rpc_listener.py)
        return f"http://{RPC_USER}:{RPC_SECRET}@127.0.0.1:{rpc_port}{PREFIX}/{RPC_SEGMENT}/"
    address = runtime.config.address
    if address in ("0.0.0.0", "::", ""):
        address = "127.0.0.1"
    host = f"[{address}]" if ":" in address else address
    return f"http://{RPC_USER}:{RPC_SECRET}@{host}:{runtime.config.port}{PREFIX}/{RPC_SEGMENT}/"


def _from_this_machine(scope: Mapping[str, Any]) -> bool:
    """The peer is loopback, or the address the connection came in on (a host bound to one
    address is called at that address; nobody elsewhere can complete a handshake from it).
    `client` is what uvicorn reports after X-Forwarded-For from a trusted local proxy, so a
    request relayed from outside counts as outside."""
    client, server = scope.get("client"), scope.get("server")
    if not client:
        return False
    try:
        peer = ipaddress.ip_address(client[0])
    except ValueError:
        return False
    mapped = getattr(peer, "ipv4_mapped", None)
    return bool(peer.is_loopback or (mapped is not None and mapped.is_loopback)
                or (server and client[0] == server[0]))


def is_rpc_caller(scope: Mapping[str, Any], authorization: str | None) -> bool:
    """Both checks, always both (no early exit on the cheap one)."""
    presented = (authorization or "").encode("latin-1", "replace")
    secret_ok = hmac.compare_digest(presented, _RPC_AUTHORIZATION)
    return _from_this_machine(scope) & secret_ok


# The SDK pastes instance ids into its URLs unescaped, so some ids silently address another
# instance: 'a#b' is sent as 'a' (the rest is a URL fragment), 'a?b' too, and tabs and line
# breaks are dropped ('a\nb' -> 'ab'). A start would create, and a purge delete, an instance
# the caller did not name. The host never sees the lost part, so the SDK's client methods are
# guarded here: such an id raises ValueError naming it, before anything is sent.
_ID_METHODS = ("start_new", "get_status", "purge_instance_history", "raise_event",
               "terminate", "rewind", "suspend", "resume", "restart")
_URL_UNSAFE = re.compile(r"[/#?\x00-\x1f\x7f-\x9f]")


def _id_problem(instance_id: str, creates: bool) -> str | None:
    if creates:  # the extension's rules for a new id
        return new_instance_id_problem(instance_id)
    if _URL_UNSAFE.search(instance_id):
        return "it contains '/', '#', '?' or a control character"
    return None


def _guarded(method: Callable[..., Awaitable[Any]], creates: bool
             ) -> Callable[..., Awaitable[Any]]:
    signature = inspect.signature(method)

    @functools.wraps(method)
    async def checked(*args: Any, **kwargs: Any) -> Any:
        try:
            iid = signature.bind(*args, **kwargs).arguments.get("instance_id")
        except TypeError:  # wrong arguments: let the SDK's own error speak
            iid = None
        if iid:  # None or "": the extension picks a new id
            problem = _id_problem(str(iid), creates)
            if problem is not None:
                raise ValueError(f"Instance id {shown_id(str(iid))} is invalid: {problem}; "
                                 "the Durable Functions API cannot carry it in a URL.")
        return await method(*args, **kwargs)

    checked.__funcpy_guarded__ = True  # type: ignore[attr-defined]
    return checked


# The SDK puts entity keys into URLs unescaped too: 'a#b' would read entity 'a', '%41' would
# address 'A'. Such a key is refused before anything is sent.
_ENTITY_METHODS = ("signal_entity", "read_entity_state")
_KEY_UNSAFE = re.compile(r"[/#?%\x00-\x1f\x7f-\x9f]")


def _entity_guarded(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    signature = inspect.signature(method)

    @functools.wraps(method)
    async def checked(*args: Any, **kwargs: Any) -> Any:
        try:
            entity = signature.bind(*args, **kwargs).arguments.get("entityId")
        except TypeError:
            entity = None
        key = getattr(entity, "key", None)
        if isinstance(key, str) and _KEY_UNSAFE.search(key):
            raise ValueError(f"Entity key {shown_id(key)} is invalid here: it contains '/', "
                             "'#', '?', '%' or a control character, which the Durable "
                             "Functions SDK puts into a URL unescaped (another entity would "
                             "be addressed).")
        return await method(*args, **kwargs)

    checked.__funcpy_guarded__ = True  # type: ignore[attr-defined]
    return checked


def guard_sdk_instance_ids() -> None:
    """Wrap the SDK client's id-taking methods once per process (see _ID_METHODS)."""
    import_durable_sdk()
    from azure.durable_functions import DurableOrchestrationClient

    for name in _ID_METHODS:
        method = getattr(DurableOrchestrationClient, name, None)
        if method is not None and not getattr(method, "__funcpy_guarded__", False):
            setattr(DurableOrchestrationClient, name, _guarded(method, name == "start_new"))
    for name in _ENTITY_METHODS:
        method = getattr(DurableOrchestrationClient, name, None)
        if method is not None and not getattr(method, "__funcpy_guarded__", False):
            setattr(DurableOrchestrationClient, name, _entity_guarded(method))


class DurableClientProvider:
    def __init__(self, runtime: HostServices) -> None:
        self.runtime = runtime
        guard_sdk_instance_ids()

    def value(self, fn: FunctionInfo, binding: Binding, invocation_id: str) -> Any:
        rt = self.runtime
        hub = rt.taskhub_settings().hub
        base = f"{rt.config.base_url}{PREFIX}"
        query = key_query(rt)
        suffix = f"?{query}" if query else ""
        create = f"{base}/orchestrators/{{functionName}}[/{{instanceId}}]"
        payload = {
            "taskHubName": hub,
            "creationUrls": {
                "createNewInstancePostUri": create + suffix,
                "createAndWaitOnNewInstancePostUri": (
                    f"{create}?timeout={{timeoutInSeconds}}&pollingInterval="
                    f"{{intervalInSeconds}}" + (f"&{query}" if query else "")),
            },
            "managementUrls": management_urls(base, hub, "INSTANCEID", query),
            "baseUrl": base,
            "requiredQueryStringParameters": query,
            "rpcBaseUrl": rpc_base_url(rt),
        }
        return json.dumps(payload)


def api_routes(runtime: HostServices) -> list[Any]:
    """The management API, guarded: RPC calls prove themselves as `is_rpc_caller` says; other
    callers need the admin or durable system key when keys are enforced."""
    from funcpy.host.auth import key_from, keys_equal
    from funcpy.host.taskhub.api_requests import ROUTE, RPC_SCOPE_KEY
    from funcpy.host.taskhub.http_api import ALL_METHODS, DurableApi
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    def service() -> Any:
        durable = getattr(runtime, "durable", None)
        if durable is None:
            raise RuntimeError("the durable service is not registered")
        return durable

    api = DurableApi(lambda: service().client(), lambda: runtime.taskhub_settings().hub,
                     lambda: key_query(runtime), lambda: service().inline_db(),
                     lambda: runtime.config.max_body_bytes)

    async def guarded(request: Request) -> Response:
        rest = request.path_params["rest"]
        if rest == RPC_SEGMENT or rest.startswith(f"{RPC_SEGMENT}/"):
            if not is_rpc_caller(request.scope, request.headers.get("authorization")):
                return Response(status_code=404)  # says nothing about what would be needed
            request.scope["path_params"] = {"rest": rest[len(RPC_SEGMENT) + 1:]}
            # The SDK double-encodes bodies (a JSON string holding JSON text); raw callers don't.
            request.scope[RPC_SCOPE_KEY] = True
        elif runtime.config.enable_auth:
            key = key_from(request.headers, request.query_params)
            system = durable_key(runtime)
            if not (key and ((system and keys_equal(key, system))
                             or runtime.keys.level_of(key, None) == "admin")):
                return JSONResponse({"Message": "the durable management API needs the master "
                                     "key or the durable system key (code= or "
                                     "x-functions-key)"}, status_code=401)
        return await api.dispatch(request)

    # Every method: a wrong one gets 405 (with Allow) from the API, not the home page's 404.
    return [Route(ROUTE, guarded, methods=ALL_METHODS)]
