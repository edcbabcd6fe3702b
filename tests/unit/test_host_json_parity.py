"""host.json parity with the Functions host: app-setting references where Azure resolves them
(the Durable extension's hubName and its storage provider's connection names), and Azure's
storage providers standing in on the embedded SQLite hub."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from funcpy.host.config import HostConfig
from funcpy.host.errors import SettingsError
from funcpy.host.settings import HostJson
from funcpy.host.taskhub.settings import TaskHubSettings, taskhub_settings


def settings(tmp_path: Path, durable: dict[str, Any], **env: str) -> TaskHubSettings:
    # Keys as the host.json reader leaves them: lower case.
    def lower(obj: Any) -> Any:
        return {k.lower(): lower(v) for k, v in obj.items()} if isinstance(obj, dict) else obj

    config = HostConfig(app_dir=tmp_path, host_json=HostJson(durable_task=lower(durable)))
    return taskhub_settings(config, env)


def test_hub_name_from_an_app_setting(tmp_path: Path) -> None:
    s = settings(tmp_path, {"hubName": "%TASKHUB_NAME%"}, TASKHUB_NAME="SampleHub")
    assert s.hub == "SampleHub"
    s = settings(tmp_path, {"hubName": "%ENV%Hub%N%"}, ENV="Dev", N="2")
    assert s.hub == "DevHub2"  # every token, as the name resolver replaces them


def test_an_unknown_setting_names_the_key_and_the_setting(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as exc:
        settings(tmp_path, {"hubName": "%TASKHUB_NAME%"})
    assert str(exc.value).startswith(
        "host.json extensions.durableTask.hubName '%TASKHUB_NAME%': '%TASKHUB_NAME%' does not "
        "resolve to a value. Set that app setting")


def test_a_resolved_hub_name_is_validated_showing_both(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"hubName '%HUB%' \(resolved to 'my-hub'\) is not a "
                                            r"valid task hub name"):
        settings(tmp_path, {"hubName": "%HUB%"}, HUB="my-hub")


def test_storage_provider_connection_names_resolve_too(tmp_path: Path) -> None:
    s = settings(tmp_path, {"storageProvider": {
        "type": "postgres", "connectionStringName": "%DB_SETTING%"}},
        DB_SETTING="HubDb", HubDb="postgresql://u@db/hub")
    assert (s.provider, s.connection_setting, s.conninfo) == (
        "postgres", "HubDb", "postgresql://u@db/hub")
    with pytest.raises(SettingsError, match=r"storageProvider\.connectionstringname "
                                            r"'%MISSING%': '%MISSING%' does not resolve"):
        settings(tmp_path, {"storageProvider": {"type": "mssql",
                                                "connectionStringName": "%MISSING%"}})


@pytest.mark.parametrize(("provider", "named"), [
    ({"type": "azureManaged", "connectionStringName": "DTS_CONNECTION"},
     "storageProvider.type 'azureManaged' names the Durable Task Scheduler"),
    ({"type": "mssql", "connectionStringName": "SQLDB_Connection"},
     "storageProvider.type 'mssql' names Microsoft SQL Server"),
    ({"type": "netherite", "StorageConnectionName": "AzureWebJobsStorage"},
     "storageProvider.type 'netherite' names Netherite"),
    ({"type": "AzureStorage"}, "storageProvider.type 'AzureStorage' names Azure Storage"),
    ({"connectionStringName": "MyStorage"},
     "storageProvider.connectionName 'MyStorage' (Azure Storage) names Azure Storage"),
])
def test_azure_providers_run_on_the_embedded_hub_and_say_so(
        tmp_path: Path, provider: dict[str, str], named: str) -> None:
    s = settings(tmp_path, {"hubName": "Hub1", "storageProvider": provider})
    assert s.provider == "sqlite"
    assert s.notice is not None
    assert s.notice.startswith(f"Task hub 'Hub1': {named}, which func-py does not reach, so "
                               f"the hub runs on the embedded SQLite store at {s.sqlite_path}")
    assert '"type": "postgres"' in s.notice  # and how to choose PostgreSQL


def test_azure_web_jobs_storage_alone_is_azure_storage_too(tmp_path: Path) -> None:
    s = settings(tmp_path, {}, AzureWebJobsStorage="UseDevelopmentStorage=true")
    assert s.provider == "sqlite" and s.notice is not None
    assert "AzureWebJobsStorage (Azure Storage)" in s.notice


def test_the_plain_embedded_hub_needs_no_word(tmp_path: Path) -> None:
    assert settings(tmp_path, {}).notice is None
    assert settings(tmp_path, {"storageProvider": {"type": "sqlite"}},
                    AzureWebJobsStorage="x").notice is None


def test_postgres_keeps_its_rules_and_unknown_types_are_refused(tmp_path: Path) -> None:
    s = settings(tmp_path, {"storageProvider": {"type": "postgres",
                                                "connectionStringName": "Db"}},
                 Db="postgresql://u@db/x")
    assert (s.provider, s.notice) == ("postgres", None)
    with pytest.raises(SettingsError, match="The app setting 'Db'"):
        settings(tmp_path, {"storageProvider": {"type": "postgres",
                                                "connectionStringName": "Db"}})
    with pytest.raises(SettingsError, match=r"storageProvider\.type 'redis' is not supported"):
        settings(tmp_path, {"storageProvider": {"type": "redis"}})


def test_other_host_json_values_are_left_as_written(tmp_path: Path) -> None:
    # Azure resolves no %...% outside the extensions that do it themselves: a literal '%' in
    # a value (here a partition count the int parser then rejects) is not an app setting.
    with pytest.raises(SettingsError, match="partitionCount must be a whole number, got '%P%'"):
        settings(tmp_path, {"storageProvider": {"partitionCount": "%P%"}}, P="4")
