"""Keys from a mounted secrets file, for containers: a Docker/Kubernetes secret is a file, and a
file keeps keys out of `docker inspect` and the process environment of every child.

Two layouts are read (environment variables still win; see host/auth.py):

- `FUNCPY_SECRETS_FILE=/run/secrets/funcpy-keys.json`, one JSON file::

      {"masterKey": "...",
       "functionKeys": {"default": "...", "partner": "..."},
       "systemKeys": {"durabletask_extension": "..."},
       "functions": {"OrderWorkflow": {"default": "..."}}}

- Azure's own `files` secret storage (`AzureWebJobsSecretStorageType=files`): the folder named by
  `FUNCTIONS_SECRETS_PATH` holds `host.json` (same keys as above) and `<FunctionName>.json` with
  `{"keys": [...]}`, so a Secrets folder made for the Azure Functions image works unchanged.

Every key value may be a string or Azure's `{"name": ..., "value": ..., "encrypted": false}`;
a set of keys may be an object (name -> value) or Azure's list of those. Encrypted values are
refused: they are encrypted with a machine key only the Azure host has.

This module only reads; it must not write or generate keys (Azure creates missing keys on first
start, which would hide a mis-mounted secret here).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from funcpy.host.errors import SettingsError

SECRETS_FILE_SETTING = "FUNCPY_SECRETS_FILE"
STORAGE_TYPE_SETTING = "AzureWebJobsSecretStorageType"
SECRETS_PATH_SETTING = "FUNCTIONS_SECRETS_PATH"
DURABLE_SYSTEM_KEY = "durabletask_extension"


class SecretsError(SettingsError):
    """The secrets file or folder is missing, unreadable or malformed."""


@dataclass(frozen=True)
class Secrets:
    source: str  # the file or folder, for messages
    master: str | None = None
    host_keys: tuple[str, ...] = ()
    function_keys: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # NAME -> keys
    system_keys: Mapping[str, str] = field(default_factory=dict)

    @property
    def durable_key(self) -> str | None:
        return self.system_keys.get(DURABLE_SYSTEM_KEY)


def setting_name(function_name: str) -> str:
    """A function's name as keys are filed under it: upper-cased, since Azure compares function
    names case-insensitively, and otherwise as written. '-' and '_' stay apart: `my-func` and
    `my_func` are two functions, and one key setting must not open both (host/auth.py)."""
    return function_name.upper()


def load_secrets(environ: Mapping[str, str]) -> Secrets | None:
    """The keys of the configured secrets file or folder; None when neither is configured."""
    file = environ.get(SECRETS_FILE_SETTING)
    if file:
        data = _read_json(Path(file), f"{SECRETS_FILE_SETTING}={file}")
        secrets = _host_secrets(data, file)
        functions = _object(data.get("functions", {}), file, "functions")
        per_function = {setting_name(name): _keys(keys, file, f"functions.{name}")
                        for name, keys in functions.items()}
        return Secrets(file, secrets.master, secrets.host_keys, per_function,
                       secrets.system_keys)
    if environ.get(STORAGE_TYPE_SETTING, "").lower() == "files":
        folder = environ.get(SECRETS_PATH_SETTING)
        if not folder:
            raise SecretsError(
                f"{STORAGE_TYPE_SETTING}=files needs {SECRETS_PATH_SETTING}: the folder that "
                "holds host.json and <FunctionName>.json secrets")
        return _load_folder(Path(folder))
    return None


def _load_folder(folder: Path) -> Secrets:
    where = f"{SECRETS_PATH_SETTING}={folder}"
    if not folder.is_dir():
        raise SecretsError(f"{where} is not a folder: mount the secrets folder there")
    host_file = folder / "host.json"
    secrets = (_host_secrets(_read_json(host_file, where), str(host_file))
               if host_file.exists() else Secrets(str(folder)))
    per_function: dict[str, tuple[str, ...]] = {}
    for path in sorted(folder.glob("*.json")):
        if path.name.lower() == "host.json":
            continue
        data = _read_json(path, where)
        per_function[setting_name(path.stem)] = _keys(data.get("keys", []), str(path), "keys")
    return Secrets(str(folder), secrets.master, secrets.host_keys, per_function,
                   secrets.system_keys)


def _host_secrets(data: dict[str, Any], where: str) -> Secrets:
    master = data.get("masterKey")
    return Secrets(
        where,
        master=_value(master, where, "masterKey") if master is not None else None,
        host_keys=tuple(_keys(data.get("functionKeys", {}), where, "functionKeys")),
        system_keys=_named(data.get("systemKeys", {}), where, "systemKeys"),
    )


def _read_json(path: Path, origin: str) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise SecretsError(f"{origin}: {path} does not exist (is the secret mounted?)") from None
    except OSError as exc:
        raise SecretsError(f"{origin}: cannot read {path}: {exc.strerror} (the host runs as "
                           "a non-root user: the file must be readable by it)") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SecretsError(f"{path} is not valid JSON: {exc.msg} at line {exc.lineno} "
                           f"column {exc.colno}") from None
    if not isinstance(data, dict):
        raise SecretsError(f"{path} must hold a JSON object such as "
                           '{"masterKey": "...", "functionKeys": {"default": "..."}}')
    return data


def _object(raw: Any, where: str, what: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise SecretsError(f"{where}: \"{what}\" must be an object (name -> keys)")
    return raw


def _value(raw: Any, where: str, what: str) -> str:
    if isinstance(raw, dict):
        if raw.get("encrypted"):
            raise SecretsError(
                f"{where}: {what} is encrypted; func-py cannot decrypt Azure's machine-key "
                "encryption: store the plain value (protect the file, not the value)")
        raw = raw.get("value")
    if not isinstance(raw, str) or not raw:
        raise SecretsError(f"{where}: {what} must be a non-empty string (or "
                           '{"name": ..., "value": "..."})')
    return raw


def _named(raw: Any, where: str, what: str) -> dict[str, str]:
    """An object name -> value, or Azure's list of {"name", "value"}: as name -> value."""
    if isinstance(raw, dict):
        return {str(name): _value(value, where, f"{what}.{name}") for name, value in raw.items()}
    if isinstance(raw, list):
        out = {}
        for i, item in enumerate(raw):
            name = item.get("name", str(i)) if isinstance(item, dict) else str(i)
            out[str(name)] = _value(item, where, f"{what}[{i}]")
        return out
    raise SecretsError(f"{where}: \"{what}\" must be an object (name -> key) or a list of "
                       '{"name": ..., "value": ...}')


def _keys(raw: Any, where: str, what: str) -> tuple[str, ...]:
    if isinstance(raw, str):  # a single key is accepted as is
        return (_value(raw, where, what),)
    return tuple(_named(raw, where, what).values())


NO_KEYS_MESSAGE = (
    "production mode enforces keys and none is set: set FUNCPY_MASTER_KEY (admin: every "
    "function, /admin, the durable API; optionally FUNCPY_FUNCTION_KEYS), or point "
    f"{SECRETS_FILE_SETTING} at a mounted secrets file (see README: Deployment)"
)
