"""Which task hub the app uses and how: host.json `extensions.durableTask` plus app settings.

Without a `storageProvider` (or with `AzureWebJobsStorage=UseDevelopmentStorage=true`, or unset)
the hub is an embedded SQLite file under the app's data folder. `{"type": "postgres",
"connectionStringName": "NAME"}` puts it in the PostgreSQL database whose libpq URL is the app
setting NAME, so several hosts can share it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from host.config import HostConfig
from host.errors import SettingsError

DEFAULT_HUB = "TestHubName"
_HUB_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{2,44}$")
SQLITE_FILE = "taskhub.sqlite"


@dataclass(frozen=True)
class TaskHubSettings:
    hub: str
    provider: str  # "sqlite" or "postgres"
    sqlite_path: Path
    conninfo: str | None
    connection_setting: str | None
    partition_count: int
    max_activities: int
    max_orchestrations: int
    lease_seconds: float


def _int(conf: Mapping[str, Any], key: str, default: int, lo: int, hi: int, where: str) -> int:
    raw = conf.get(key.lower(), default)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise SettingsError(f"host.json {where}.{key} must be a whole number, got {raw!r}") \
            from None
    if not lo <= value <= hi:
        raise SettingsError(f"host.json {where}.{key} must be between {lo} and {hi}, got {value}")
    return value


def taskhub_settings(config: HostConfig, environ: Mapping[str, str]) -> TaskHubSettings:
    conf = config.host_json.durable_task  # keys are lower-cased by the host.json reader
    where = "extensions.durableTask"
    hub = str(conf.get("hubname") or environ.get("FUNCPY_TASKHUB_NAME") or DEFAULT_HUB)
    if not _HUB_NAME.match(hub):
        raise SettingsError(
            f"host.json {where}.hubName '{hub}' is not a valid task hub name: 3 to 45 letters "
            "and digits, starting with a letter")
    cpus = os.cpu_count() or 1
    provider_conf = conf.get("storageprovider") or {}
    if not isinstance(provider_conf, dict):
        raise SettingsError(f"host.json {where}.storageProvider must be an object")
    kind = str(provider_conf.get("type") or "sqlite").lower()
    conninfo = setting_name = None
    if kind in ("postgres", "postgresql"):
        kind = "postgres"
        setting_name = str(provider_conf.get("connectionstringname")
                           or provider_conf.get("connectionname") or "")
        if not setting_name:
            raise SettingsError(
                f"host.json {where}.storageProvider needs \"connectionStringName\": the name of "
                "the app setting that holds the PostgreSQL URL")
        conninfo = environ.get(setting_name) or environ.get(f"ConnectionStrings:{setting_name}")
        if not conninfo:
            raise SettingsError(
                f"The app setting '{setting_name}' (named by host.json {where}.storageProvider."
                "connectionStringName) is not set: give it a PostgreSQL URL such as "
                "postgresql://user@host:5432/dbname")
    elif kind in ("sqlite", "azurestorage", "azure_storage"):
        # Azure Storage cannot be reached from here; the embedded hub stands in for it locally.
        kind = "sqlite"
    else:
        raise SettingsError(
            f"host.json {where}.storageProvider.type '{provider_conf.get('type')}' is not "
            "supported: use \"postgres\", or leave it out for the embedded SQLite hub")
    path = Path(environ.get("FUNCPY_TASKHUB_PATH") or config.data_dir / SQLITE_FILE)
    lease = float(provider_conf.get("leaseseconds") or environ.get("FUNCPY_LEASE_SECONDS") or 30)
    return TaskHubSettings(
        hub=hub, provider=kind, sqlite_path=path, conninfo=conninfo,
        connection_setting=setting_name,
        partition_count=_int(provider_conf, "partitionCount", 4, 1, 16,
                             f"{where}.storageProvider"),
        max_activities=_int(conf, "maxConcurrentActivityFunctions", 10 * cpus, 1, 10_000, where),
        max_orchestrations=_int(conf, "maxConcurrentOrchestratorFunctions", 10 * cpus, 1,
                                10_000, where),
        lease_seconds=lease,
    )


def open_store(settings: TaskHubSettings, clock: Callable[[], float] | None = None) -> Any:
    """Open (and create or upgrade) the hub's store; errors name the setting at fault."""
    from host.taskhub.store import StoreError

    kwargs = {"clock": clock} if clock is not None else {}
    try:
        if settings.provider == "postgres":
            from host.taskhub.postgres import PostgresStore

            assert settings.conninfo is not None
            store: Any = PostgresStore(settings.conninfo, settings.hub, **kwargs)
        else:
            from host.taskhub.sqlite import SqliteStore

            store = SqliteStore(settings.sqlite_path, settings.hub, **kwargs)
        store.create()
    except StoreError as exc:
        origin = (f"the PostgreSQL task hub (app setting '{settings.connection_setting}')"
                  if settings.provider == "postgres" else
                  f"the SQLite task hub at {settings.sqlite_path}")
        raise SettingsError(f"Cannot open {origin}: {exc}") from None
    return store
