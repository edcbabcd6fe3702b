"""The function listing `func-py start` prints once the app is loaded (Core Tools' format,
§3.6 of the reference), with what func-py adds: skipped and failed functions, each function's
retry policy, and why nothing loaded."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from host.runtime import Runtime


def banner(runtime: Runtime) -> str:
    index = runtime.index
    lines = ["", "Functions:", ""]
    for name in sorted(index.functions, key=str.lower):
        fn = index.functions[name]
        lines.append(f"\t{name}: {runtime.describe(fn)}")
        if name in index.disabled:
            lines.append(f"\tFunction {name} is disabled.")
        policy = runtime.retry_policy(fn)
        if policy is not None:
            lines.append(f"\t\t{policy.describe()}")
        lines.append("")
    for name, why in sorted(index.skipped.items()):
        lines.append(f"\t{name}: skipped ({why})")
        lines.append("")
    for reason in index.errors.values():
        lines.append(f"\t{reason}")
        lines.append("")
    if not index.functions:
        lines.append("\tNo functions loaded.")
        if runtime.load_error is not None:
            fix = " Saving a fix loads it." if runtime.config.reload else ""
            lines.append(f"\tThe app failed to load (the error is above).{fix}")
        lines.append("")
    return "\n".join(lines)
