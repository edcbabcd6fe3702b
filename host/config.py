"""One `HostConfig` built from flags, the environment, local.settings.json and host.json.

Each field maps to one flag or setting (uvicorn's `Config` is the model): the rest of the host
reads configuration only from here, so precedence lives in one place.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path

from funcpy.host.errors import SettingsError
from funcpy.host.settings import (
    HostJson,
    LocalSettings,
    apply_local_settings,
    load_host_json,
    load_local_settings,
)

DEFAULT_PORT = 7071
DEFAULT_ADDRESS = "127.0.0.1"
DEFAULT_MAX_BODY = 104_857_600  # Kestrel's request body limit, 100 MB
DATA_DIR_NAME = ".func-py"  # the host's own data under the app folder; hot reload ignores it
WORKERS_SETTING = "FUNCTIONS_WORKER_PROCESS_COUNT"
MAX_WORKERS = 10  # Azure's limit for the setting


@dataclass
class HostConfig:
    app_dir: Path
    port: int = DEFAULT_PORT
    address: str = DEFAULT_ADDRESS
    cors: tuple[str, ...] = ()
    cors_credentials: bool = False
    functions: tuple[str, ...] | None = None  # --functions / host.json "functions"
    verbose: bool = False
    enable_auth: bool = False
    reload: bool = True
    production: bool = False
    use_https: bool = False  # --useHttps (the certificate itself never lives here)
    user_log_level: str | None = None  # --user-log-level / FUNCTIONS_USER_LOG_LEVEL
    json_output: bool = False  # --enable-json-output (always on in production)
    json_output_file: Path | None = None  # --json-output-file
    max_body_bytes: int = DEFAULT_MAX_BODY
    # SIGTERM or Ctrl+C: the whole stop (requests and work in flight, then claims released)
    # fits in this many seconds from the first signal (host/stopping.py).
    drain_seconds: float = 30.0
    # --workers / FUNCTIONS_WORKER_PROCESS_COUNT: processes serving the one socket (host/workers.py)
    workers: int = 1
    host_json: HostJson = field(default_factory=HostJson)
    local_settings: LocalSettings = field(default_factory=LocalSettings)
    skipped_settings: list[str] = field(default_factory=list)

    @property
    def data_dir(self) -> Path:
        return self.app_dir / DATA_DIR_NAME

    @property
    def base_url(self) -> str:
        # Core Tools always prints localhost, whatever address it binds.
        local = ("127.0.0.1", "0.0.0.0", "::", "::1")
        host = "localhost" if self.address in local else self.address
        return f"{'https' if self.use_https else 'http'}://{host}:{self.port}"

    @property
    def route_prefix(self) -> str:
        return self.host_json.route_prefix


def build_config(
    *,
    app_dir: str | os.PathLike[str] | None = None,
    port: int | None = None,
    address: str | None = None,
    cors: str | None = None,
    cors_credentials: bool | None = None,
    functions: list[str] | None = None,
    verbose: bool = False,
    enable_auth: bool = False,
    reload: bool = True,
    production: bool = False,
    use_https: bool = False,
    user_log_level: str | None = None,
    json_output: bool = False,
    json_output_file: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    environ: MutableMapping[str, str] | None = None,
) -> HostConfig:
    """Read both settings files and apply local Values to the environment (a set variable wins).

    In production mode local.settings.json is a development file and is ignored entirely.
    """
    env = os.environ if environ is None else environ
    root = Path(app_dir or os.getcwd()).resolve()
    local = LocalSettings() if production else load_local_settings(root)
    skipped = apply_local_settings(local, env)
    host_json = load_host_json(root, env)
    max_body = int(env.get("FUNCPY_MAX_REQUEST_BODY_BYTES") or DEFAULT_MAX_BODY)
    if production:
        default_port = int(env.get("PORT") or 80)
        default_address = "0.0.0.0"
    else:
        default_port = local.port or DEFAULT_PORT
        default_address = local.address or DEFAULT_ADDRESS
    cors_list = tuple(o.strip() for o in cors.split(",") if o.strip()) if cors else local.cors
    config = HostConfig(
        app_dir=root,
        port=port if port is not None else default_port,
        address=address or default_address,
        cors=cors_list,
        cors_credentials=cors_credentials if cors_credentials else local.cors_credentials,
        functions=tuple(functions) if functions else host_json.functions,
        verbose=verbose,
        enable_auth=enable_auth or production,
        reload=reload and not production,
        production=production,
        use_https=use_https,
        user_log_level=user_log_level,
        json_output=json_output or production or json_output_file is not None,
        json_output_file=Path(json_output_file).resolve() if json_output_file else None,
        max_body_bytes=max_body,
        drain_seconds=float(env.get("FUNCPY_DRAIN_SECONDS") or 30),
        workers=worker_processes(workers, env),
        host_json=host_json,
        local_settings=local,
        skipped_settings=skipped,
    )
    env.setdefault("AzureWebJobsScriptRoot", str(root))
    env["WEBSITE_HOSTNAME"] = f"localhost:{config.port}"
    if not production:
        env.setdefault("AZURE_FUNCTIONS_ENVIRONMENT", "Development")
    return config


def worker_processes(flag: int | None, environ: Mapping[str, str]) -> int:
    """`--workers N`, else FUNCTIONS_WORKER_PROCESS_COUNT (environment or local.settings.json
    Values, already applied to `environ`), else 1. Azure accepts 1 to 10."""
    if flag is not None:
        given, source = str(flag), "--workers"
    else:
        raw = environ.get(WORKERS_SETTING, "").strip()
        if not raw:
            return 1
        given, source = raw, WORKERS_SETTING
    try:
        count = int(given)
    except ValueError:
        count = 0
    if not 1 <= count <= MAX_WORKERS:
        raise SettingsError(f"{source} is {given!r}: it must be a whole number of worker "
                            f"processes from 1 to {MAX_WORKERS}.")
    return count
