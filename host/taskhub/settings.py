"""Which task hub the app uses and how: host.json `extensions.durableTask` plus app settings.

Without a `storageProvider` the hub is an embedded SQLite file under the app's data folder.
`{"type": "postgres", "connectionStringName": "NAME"}` puts it in the PostgreSQL database whose
libpq URL is the app setting NAME, so several hosts can share it. Azure's own providers (Azure
Storage, the Durable Task Scheduler `azureManaged`, `mssql`, `netherite`) cannot be reached
from here: the embedded hub stands in for them, and the host says so once.

`hubName` may name app settings (`"%TASKHUB_NAME%"`), as the Durable extension resolves it
(`DurableTaskOptions.ResolveAppSettingOptions`); so may the storage provider's connection names,
which the extension's scale package resolves. Nothing else in host.json is resolved on Azure
(the other extensions bind their options as written), so nothing else is here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from funcpy.host.config import HostConfig
from funcpy.host.errors import SettingsError
from funcpy.host.settings import SettingReferenceError, resolve_setting_refs

DEFAULT_HUB = "TestHubName"
_HUB_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{2,44}$")
SQLITE_FILE = "taskhub.sqlite"
# Azure's storage providers, by host.json type (lower case): the embedded hub stands in locally.
AZURE_PROVIDERS = {
    "azurestorage": "Azure Storage", "azure_storage": "Azure Storage",
    "azuremanaged": "the Durable Task Scheduler", "mssql": "Microsoft SQL Server",
    "netherite": "Netherite",
}


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
    notice: str | None = None  # said once when the store opens (a provider standing in)
    # host.json defaultVersion: the Version of new instances and sub-orchestrations that are
    # started without one (the SDK's start_new and call_sub_orchestrator say so).
    default_version: str | None = None


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


def _resolved(value: Any, key: str, environ: Mapping[str, str]) -> Any:
    """`%NAME%` tokens in a host.json string replaced from app settings; the error names the
    host.json key and the setting."""
    if not isinstance(value, str) or "%" not in value:
        return value
    try:
        return resolve_setting_refs(value, environ)
    except SettingReferenceError as exc:
        raise SettingsError(
            f"host.json {key} '{value}': {exc} Set that app setting (local.settings.json "
            "Values or the environment) or write the value itself.") from None


def taskhub_settings(config: HostConfig, environ: Mapping[str, str]) -> TaskHubSettings:
    conf = config.host_json.durable_task  # keys are lower-cased by the host.json reader
    where = "extensions.durableTask"
    raw_hub = conf.get("hubname")
    hub = str(_resolved(raw_hub, f"{where}.hubName", environ)
              or environ.get("FUNCPY_TASKHUB_NAME") or DEFAULT_HUB)
    if not _HUB_NAME.match(hub):
        shown = f"'{hub}'" if hub == raw_hub or raw_hub is None else \
            f"'{raw_hub}' (resolved to '{hub}')"
        raise SettingsError(
            f"host.json {where}.hubName {shown} is not a valid task hub name: 3 to 45 letters "
            "and digits, starting with a letter")
    cpus = os.cpu_count() or 1
    provider_conf = conf.get("storageprovider") or {}
    if not isinstance(provider_conf, dict):
        raise SettingsError(f"host.json {where}.storageProvider must be an object")
    # Connection names only (connectionName, connectionStringName, Netherite's
    # storageConnectionName...): the setting references Azure resolves there.
    provider_conf = {k: _resolved(v, f"{where}.storageProvider.{k}", environ)
                     if k.endswith(("connectionname", "connectionstringname")) else v
                     for k, v in provider_conf.items()}
    raw_kind = provider_conf.get("type")
    kind = str(raw_kind or "sqlite").lower()
    conninfo = setting_name = notice = None
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
    elif kind == "sqlite" or kind in AZURE_PROVIDERS:
        kind = "sqlite"
    else:
        raise SettingsError(
            f"host.json {where}.storageProvider.type '{raw_kind}' is not supported: use "
            "\"postgres\", one of Azure's (AzureStorage, azureManaged, mssql, netherite: the "
            "embedded SQLite hub stands in for them here), or leave it out")
    path = Path(environ.get("FUNCPY_TASKHUB_PATH") or config.data_dir / SQLITE_FILE)
    # No type is Azure Storage on Azure, in the account its connection names
    # (AzureWebJobsStorage by default): the same stand-in, said when a connection is configured.
    connection = provider_conf.get("connectionstringname") or \
        provider_conf.get("connectionname")
    if raw_kind:
        why: str | None = f"storageProvider.type '{raw_kind}'"
    elif connection:
        why = f"storageProvider.connectionName '{connection}' (Azure Storage)"
    elif environ.get("AzureWebJobsStorage"):
        why = "AzureWebJobsStorage (Azure Storage)"
    else:
        why = None
    azure = AZURE_PROVIDERS.get(str(raw_kind or "").lower()) or "Azure Storage"
    if kind == "sqlite" and why and str(raw_kind or "").lower() != "sqlite":
        notice = (f"Task hub '{hub}': {why} names {azure}, which func-py does not reach, so the "
                  f"hub runs on the embedded SQLite store at {path} (one host). For a hub that "
                  "several hosts share, set host.json extensions.durableTask.storageProvider to "
                  "{\"type\": \"postgres\", \"connectionStringName\": \"<setting>\"}.")
    lease = float(provider_conf.get("leaseseconds") or environ.get("FUNCPY_LEASE_SECONDS") or 30)
    return TaskHubSettings(
        hub=hub, provider=kind, sqlite_path=path, conninfo=conninfo,
        connection_setting=setting_name,
        partition_count=_int(provider_conf, "partitionCount", 4, 1, 16,
                             f"{where}.storageProvider"),
        max_activities=_int(conf, "maxConcurrentActivityFunctions", 10 * cpus, 1, 10_000, where),
        max_orchestrations=_int(conf, "maxConcurrentOrchestratorFunctions", 10 * cpus, 1,
                                10_000, where),
        lease_seconds=lease, notice=notice,
        default_version=str(conf["defaultversion"]) if conf.get("defaultversion") else None,
    )


def open_store(settings: TaskHubSettings, clock: Callable[[], float] | None = None) -> Any:
    """Open (and create or upgrade) the hub's store; errors name the setting at fault."""
    from funcpy.host.taskhub.store import StoreError

    kwargs = {"clock": clock} if clock is not None else {}
    try:
        if settings.provider == "postgres":
            from funcpy.host.taskhub.postgres import PostgresStore

            assert settings.conninfo is not None
            store: Any = PostgresStore(settings.conninfo, settings.hub, **kwargs)
        else:
            from funcpy.host.taskhub.sqlite import SqliteStore

            store = SqliteStore(settings.sqlite_path, settings.hub, **kwargs)
        store.create()
    except StoreError as exc:
        origin = (f"the PostgreSQL task hub (app setting '{settings.connection_setting}')"
                  if settings.provider == "postgres" else
                  f"the SQLite task hub at {settings.sqlite_path}")
        raise SettingsError(f"Cannot open {origin}: {exc}") from None
    return store
