"""Concrete `func.Context` and `func.Out` objects: the worker supplies these, so the host must.

Property names and values follow the Python worker (`bindings/context.py`, `bindings/out.py`).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

import azure.functions as func
from azure.functions import _abc as azf_abc
from funcpy.host.logs import thread_local_storage


@dataclass(frozen=True)
class RpcException:
    source: str = ""
    stack_trace: str = ""
    message: str = ""


class RetryContext(azf_abc.RetryContext):
    def __init__(self, retry_count: int = 0, max_retry_count: int = 0,
                 exception: RpcException | None = None) -> None:
        self._retry_count = retry_count
        self._max_retry_count = max_retry_count
        self._exception = exception or RpcException()

    @property
    def retry_count(self) -> int:
        return self._retry_count

    @property
    def max_retry_count(self) -> int:
        return self._max_retry_count

    @property
    def exception(self) -> RpcException:  # type: ignore[override]
        return self._exception

    @property
    def rpc_exception(self) -> RpcException:
        return self._exception


class TraceContext(azf_abc.TraceContext):
    def __init__(self, trace_parent: str, trace_state: str = "",
                 attributes: dict[str, str] | None = None) -> None:
        self._trace_parent = trace_parent
        self._trace_state = trace_state
        self._attributes = attributes or {}

    @property
    def trace_parent(self) -> str:
        return self._trace_parent

    @property
    def trace_state(self) -> str:
        return self._trace_state

    @property
    def attributes(self) -> dict[str, str]:
        return self._attributes

    # The worker's deprecated aliases, still used by older apps.
    Traceparent = trace_parent
    Tracestate = trace_state
    Attributes = attributes


def new_trace_parent() -> str:
    return f"00-{os.urandom(16).hex()}-{os.urandom(8).hex()}-00"


class Context(func.Context):
    def __init__(self, invocation_id: str, function_name: str, function_directory: str,
                 trace_context: TraceContext | None = None,
                 retry_context: RetryContext | None = None) -> None:
        self._invocation_id = invocation_id
        self._function_name = function_name
        self._function_directory = function_directory
        self._trace_context = trace_context or TraceContext(new_trace_parent())
        self._retry_context = retry_context or RetryContext()

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> threading.local:  # type: ignore[override]
        return thread_local_storage

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def trace_context(self) -> TraceContext:
        return self._trace_context

    @property
    def retry_context(self) -> RetryContext:
        return self._retry_context


class Out(func.Out):
    def __init__(self) -> None:
        self._value: Any = None

    def set(self, val: Any) -> None:
        self._value = val

    def get(self) -> Any:
        return self._value
