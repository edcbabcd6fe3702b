"""Function keys: which key grants which authorization level.

Keys come from app settings (environment variables, so local.settings.json Values work too):
- `FUNCPY_MASTER_KEY`: the master key, admin level (satisfies every level);
- `FUNCPY_FUNCTION_KEYS`: host-wide function keys, comma-separated, valid for every function;
- `FUNCPY_FUNCTION_KEY_<NAME>`: a key for the one function whose name is NAME, compared
  case-insensitively as Azure compares function names, every other character as written: a
  hyphen stays a hyphen (`FUNCPY_FUNCTION_KEY_MY-FUNC` for `my-func`, `..._MY_FUNC` for
  `my_func`): mapping '-' to '_' made one setting open both. bash's `export` cannot set a
  name with '-', but `env 'NAME=value'`, Docker `-e`, Kubernetes and compose can; or use the
  secrets file, which names functions as they are;
- `FUNCPY_SYSTEM_KEY`: the durable management API's system key.
A mounted secrets file (host/secrets.py) adds its keys; a master or system key set as a
variable wins over the file's.
A caller presents a key in the `x-functions-key` header (wins) or the `code` query parameter.
Keys are compared as UTF-8 bytes in constant time (a str comparison refuses non-ASCII text).
In production every key must be at least MIN_KEY_LENGTH characters (`require_strong_keys`).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from funcpy.host.errors import SettingsError
from funcpy.host.secrets import SECRETS_FILE_SETTING, SecretsError, load_secrets, setting_name

MASTER_KEY_SETTING = "FUNCPY_MASTER_KEY"
HOST_KEYS_SETTING = "FUNCPY_FUNCTION_KEYS"
FUNCTION_KEY_PREFIX = "FUNCPY_FUNCTION_KEY_"
SYSTEM_KEY_SETTING = "FUNCPY_SYSTEM_KEY"

ANONYMOUS, FUNCTION, ADMIN = "anonymous", "function", "admin"
_RANK = {ANONYMOUS: 0, FUNCTION: 1, ADMIN: 2}


# 16 characters of a random key (base64url: 96 bits) are out of reach of online guessing;
# Azure's generated keys are longer still. A short or blank key is almost always a placeholder
# left in a deployment ("a", "changeme", " "), which would open the app to anyone.
MIN_KEY_LENGTH = 16


def function_key_setting(function_name: str) -> str:
    return FUNCTION_KEY_PREFIX + setting_name(function_name)


def stray_key_settings(environ: Mapping[str, str], function_names: list[str]) -> list[str]:
    """Warnings for FUNCPY_FUNCTION_KEY_<NAME> settings that open no loaded function: such a
    key silently opens nothing (401), which looks like a wrong key. The usual cause is a
    function whose name has '-' with the setting written with '_' (shells and some tools
    cannot write '-' in a variable name: use FUNCPY_FUNCTION_KEYS or a secrets file then)."""
    names = {setting_name(n): n for n in function_names}
    lines = []
    for setting in sorted(environ):
        if not setting.startswith(FUNCTION_KEY_PREFIX) or not environ[setting]:
            continue
        named = setting_name(setting[len(FUNCTION_KEY_PREFIX):])
        if named in names:
            continue
        near = [n for key, n in names.items() if key.replace("-", "_") == named]
        hint = (f" Did you mean {function_key_setting(near[0])} for function '{near[0]}'? "
                "('-' and '_' are different characters in function names.)" if near else "")
        lines.append(f"The setting {setting} names no loaded function, so its key opens "
                     f"nothing.{hint}")
    return lines


def normalise_level(level: object) -> str:
    text = str(level or FUNCTION).lower()
    if text.startswith("authlevel."):
        text = text[len("authlevel."):]
    if text not in _RANK:
        raise ValueError(f"authLevel '{level}' is not one of anonymous, function, admin")
    return text


def keys_equal(a: str, b: str) -> bool:
    """Constant-time equality of two keys as UTF-8 bytes (any text, never a TypeError)."""
    return hmac.compare_digest(a.encode("utf-8", "surrogatepass"),
                               b.encode("utf-8", "surrogatepass"))


@dataclass(frozen=True)
class KeyRing:
    master: str | None
    host_keys: tuple[str, ...]
    function_keys: Mapping[str, str]  # upper-cased function name -> key
    # From a secrets file, where a function may have several keys: NAME -> keys.
    file_function_keys: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    system_key: str | None = None  # the durable extension's system key, if set explicitly

    @classmethod
    def from_settings(cls, environ: Mapping[str, str]) -> KeyRing:
        """Keys from the settings, plus a mounted secrets file's (raises SecretsError when the
        configured file is missing or malformed)."""
        host_keys = tuple(k.strip() for k in environ.get(HOST_KEYS_SETTING, "").split(",")
                          if k.strip())
        fkeys = {setting_name(k[len(FUNCTION_KEY_PREFIX):]): v for k, v in environ.items()
                 if k.startswith(FUNCTION_KEY_PREFIX) and v}
        master = environ.get(MASTER_KEY_SETTING) or None
        system = environ.get(SYSTEM_KEY_SETTING) or None
        file = load_secrets(environ)
        if file is None:
            return cls(master, host_keys, fkeys, system_key=system)
        return cls(master or file.master,
                   host_keys + tuple(k for k in file.host_keys if k not in host_keys),
                   fkeys, file_function_keys=file.function_keys,
                   system_key=system or file.durable_key)

    @property
    def empty(self) -> bool:
        return not (self.master or self.host_keys or self.function_keys
                    or any(self.file_function_keys.values()) or self.system_key)

    def level_of(self, key: str | None, function_name: str | None) -> str:
        if not key:
            return ANONYMOUS
        if self.master and keys_equal(key, self.master):
            return ADMIN
        if any(keys_equal(key, k) for k in self.host_keys):
            return FUNCTION
        if function_name is not None:
            name = setting_name(function_name)
            own = self.function_keys.get(name)
            if own and keys_equal(key, own):
                return FUNCTION
            if any(keys_equal(key, k) for k in self.file_function_keys.get(name, ())):
                return FUNCTION
        return ANONYMOUS

    def check(self, required: str, key: str | None, function_name: str | None) -> str | None:
        """None when `key` satisfies `required`, else the reason for a 401."""
        if _RANK[required] == 0:
            return None
        if _RANK[self.level_of(key, function_name)] >= _RANK[required]:
            return None
        if self.empty:
            return (f"this endpoint requires the {required} key level, and no keys are "
                    f"configured: set {MASTER_KEY_SETTING} (and optionally {HOST_KEYS_SETTING})")
        if not key:
            return (f"this endpoint requires a{'n' if required == ADMIN else ''} {required} key: "
                    "send it in the x-functions-key header or the code query parameter")
        return f"the key presented does not grant the {required} level for this endpoint"


def key_from(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    header = headers.get("x-functions-key")
    if header:
        # Header values arrive as latin-1 text; a key is UTF-8 text like the query's `code`.
        return header.encode("latin-1", "replace").decode("utf-8", "replace")
    return query.get("code") or None


def _configured_keys(environ: Mapping[str, str]) -> Iterator[tuple[str, str]]:
    """(where, key) for every key the settings and the secrets file configure."""
    for name in (MASTER_KEY_SETTING, SYSTEM_KEY_SETTING):
        if environ.get(name):
            yield name, environ[name]
    hosts = [k.strip() for k in environ.get(HOST_KEYS_SETTING, "").split(",") if k.strip()]
    for i, key in enumerate(hosts, 1):
        yield f"{HOST_KEYS_SETTING} (key {i} of {len(hosts)})", key
    for name, key in sorted(environ.items()):
        if name.startswith(FUNCTION_KEY_PREFIX) and key:
            yield name, key
    try:
        file = load_secrets(environ)
    except SecretsError:
        return  # reported by KeyRing.from_settings with its own message
    if file is None:
        return
    where = f"{SECRETS_FILE_SETTING}={file.source}" if environ.get(SECRETS_FILE_SETTING) \
        else file.source
    if file.master:
        yield f"{where}: masterKey", file.master
    for i, key in enumerate(file.host_keys, 1):
        yield f"{where}: functionKeys (key {i})", key
    for name, keys in sorted(file.function_keys.items()):
        for i, key in enumerate(keys, 1):
            yield f"{where}: keys of function {name} (key {i})", key
    for name, key in sorted(file.system_keys.items()):
        yield f"{where}: systemKeys.{name}", key


def require_strong_keys(environ: Mapping[str, str]) -> None:
    """Production refuses to start with a key shorter than MIN_KEY_LENGTH or holding
    whitespace: the error names each setting, never the key."""
    weak = [where for where, key in _configured_keys(environ)
            if len(key) < MIN_KEY_LENGTH or any(c.isspace() for c in key)]
    if weak:
        raise SettingsError(
            f"production mode refuses weak keys (under {MIN_KEY_LENGTH} characters, or with "
            f"whitespace): {'; '.join(weak)}. Use long random keys, e.g. the output of "
            "`python -c \"import secrets; print(secrets.token_urlsafe(32))\"`")
