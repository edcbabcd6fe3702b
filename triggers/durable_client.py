"""The `durableClient` input binding: the JSON the SDK's DurableOrchestrationClient is built
from (durable-protocol §6.1), pointing its RPC calls back at this host.

RPC calls go to a per-process secret path on the loopback address, so they need no key even
when keys are enforced; the management URLs handed to callers carry the durable system key
(`code=`) when keys are enforced, so a client can follow them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from typing import TYPE_CHECKING, Any

from host.taskhub.http_api import PREFIX, management_urls

if TYPE_CHECKING:
    from host.index import Binding, FunctionInfo
    from host.runtime import Runtime

SYSTEM_KEY_SETTING = "FUNCPY_SYSTEM_KEY"
RPC_SECRET = secrets.token_urlsafe(24)


def durable_key(runtime: Runtime) -> str | None:
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


def key_query(runtime: Runtime) -> str:
    key = durable_key(runtime) if runtime.config.enable_auth else None
    return f"code={key}" if key else ""


def rpc_base_url(runtime: Runtime) -> str:
    address = runtime.config.address
    if address in ("0.0.0.0", "::", ""):
        address = "127.0.0.1"
    host = f"[{address}]" if ":" in address else address
    return f"http://{host}:{runtime.config.port}{PREFIX}/_rpc/{RPC_SECRET}/"


class DurableClientProvider:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

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


def api_routes(runtime: Runtime) -> list[Any]:
    """The management API, guarded: RPC calls prove themselves with the per-process secret
    path; other callers need the admin or durable system key when keys are enforced."""
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from host.auth import key_from
    from host.taskhub.http_api import RPC_SCOPE_KEY, DurableApi

    def service() -> Any:
        durable = getattr(runtime, "durable", None)
        if durable is None:
            raise RuntimeError("the durable service is not registered")
        return durable

    api = DurableApi(lambda: service().client(), lambda: runtime.taskhub_settings().hub,
                     lambda: key_query(runtime), lambda: service().inline_db())

    async def guarded(request: Request) -> Response:
        rest = request.path_params["rest"]
        rpc = f"_rpc/{RPC_SECRET}/"
        if rest.startswith("_rpc/"):
            if not rest.startswith(rpc):
                return Response(status_code=404)
            request.scope["path_params"] = {"rest": rest[len(rpc):]}
            # The SDK double-encodes bodies (a JSON string holding JSON text); raw callers don't.
            request.scope[RPC_SCOPE_KEY] = True
        elif runtime.config.enable_auth:
            key = key_from(request.headers, request.query_params)
            system = durable_key(runtime)
            if not (key and ((system and hmac.compare_digest(key, system))
                             or runtime.keys.level_of(key, None) == "admin")):
                return JSONResponse({"Message": "the durable management API needs the master "
                                     "key or the durable system key (code= or "
                                     "x-functions-key)"}, status_code=401)
        return await api.dispatch(request)

    return [Route(PREFIX + "/{rest:path}", guarded, methods=["GET", "POST", "DELETE"])]
