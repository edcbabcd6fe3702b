"""Errors a user can cause, each naming the file, setting or function at fault and how to fix it.

The CLI prints these as one line and exits non-zero; everything else is a bug and keeps its
traceback.
"""

from __future__ import annotations


class FuncPyError(Exception):
    """Base of every error a user can cause."""


class SettingsError(FuncPyError):
    """local.settings.json, host.json or an app setting is unusable."""


class AppLoadError(FuncPyError):
    """The app could not be imported or indexed at all (no function loads)."""


class FunctionError(FuncPyError):
    """One function is in error; the others still load."""

    def __init__(self, function_name: str, reason: str) -> None:
        super().__init__(f"The '{function_name}' function is in error: {reason}")
        self.function_name = function_name
        self.reason = reason
