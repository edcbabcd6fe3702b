"""Function keys: which key grants which authorization level.

Keys come from app settings (environment variables, so local.settings.json Values work too):
- `FUNCPY_MASTER_KEY`: the master key, admin level (satisfies every level);
- `FUNCPY_FUNCTION_KEYS`: host-wide function keys, comma-separated, valid for every function;
- `FUNCPY_FUNCTION_KEY_<NAME>`: a key for one function (NAME upper-cased, '-' as '_');
- `FUNCPY_SYSTEM_KEY`: the durable management API's system key.
A mounted secrets file (host/secrets.py) adds its keys; a master or system key set as a
variable wins over the file's.
A caller presents a key in the `x-functions-key` header (wins) or the `code` query parameter.
Keys are compared in constant time.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field

from host.secrets import load_secrets

MASTER_KEY_SETTING = "FUNCPY_MASTER_KEY"
HOST_KEYS_SETTING = "FUNCPY_FUNCTION_KEYS"
FUNCTION_KEY_PREFIX = "FUNCPY_FUNCTION_KEY_"
SYSTEM_KEY_SETTING = "FUNCPY_SYSTEM_KEY"

ANONYMOUS, FUNCTION, ADMIN = "anonymous", "function", "admin"
_RANK = {ANONYMOUS: 0, FUNCTION: 1, ADMIN: 2}


def function_key_setting(function_name: str) -> str:
    return FUNCTION_KEY_PREFIX + function_name.upper().replace("-", "_")


def normalise_level(level: object) -> str:
    text = str(level or FUNCTION).lower()
    if text.startswith("authlevel."):
        text = text[len("authlevel."):]
    if text not in _RANK:
        raise ValueError(f"authLevel '{level}' is not one of anonymous, function, admin")
    return text


def _eq(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


@dataclass(frozen=True)
class KeyRing:
    master: str | None
    host_keys: tuple[str, ...]
    function_keys: Mapping[str, str]  # setting-style upper-case name -> key
    # From a secrets file, where a function may have several keys: NAME -> keys.
    file_function_keys: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    system_key: str | None = None  # the durable extension's system key, if set explicitly

    @classmethod
    def from_settings(cls, environ: Mapping[str, str]) -> KeyRing:
        """Keys from the settings, plus a mounted secrets file's (raises SecretsError when the
        configured file is missing or malformed)."""
        host_keys = tuple(k.strip() for k in environ.get(HOST_KEYS_SETTING, "").split(",")
                          if k.strip())
        fkeys = {k[len(FUNCTION_KEY_PREFIX):]: v for k, v in environ.items()
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
        if self.master and _eq(key, self.master):
            return ADMIN
        if any(_eq(key, k) for k in self.host_keys):
            return FUNCTION
        if function_name is not None:
            name = function_name.upper().replace("-", "_")
            own = self.function_keys.get(name)
            if own and _eq(key, own):
                return FUNCTION
            if any(_eq(key, k) for k in self.file_function_keys.get(name, ())):
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
    return headers.get("x-functions-key") or query.get("code") or None
