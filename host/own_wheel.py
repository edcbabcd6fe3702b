"""A wheel of the func-py that is running, for the image `func-py init --docker-only` describes
(func-py is not on the package index, so the image installs it from this wheel).

Two cases. Run from a source checkout (an editable install, or the tree on the path), the wheel
is built by pip from a copy of the files a build needs, so the build leaves nothing in the
checkout. From a regular install, the wheel is put together from the installed files that the
distribution's RECORD lists, with a fresh WHEEL and RECORD (sha256 of each file); bytecode,
scripts and the installer's own files are left out, since an install regenerates them.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import funcpy.host

DISTRIBUTION = "func-py"
PROJECT = "func_py"  # the name as wheel files and dist-info folders spell it
SOURCE_FILES = ("pyproject.toml", "README.md")
SOURCE_PACKAGES = ("host", "triggers")
# Written by the installer for this one install, or regenerated here: never copied.
INSTALLER_FILES = frozenset({"INSTALLER", "REQUESTED", "RECORD", "WHEEL", "direct_url.json"})
WHEEL_FILE = ("Wheel-Version: 1.0\nGenerator: func-py (host/own_wheel.py)\n"
              "Root-Is-Purelib: true\nTag: py3-none-any\n")
BUILD_SECONDS = 300


class WheelError(Exception):
    """The wheel could not be written; the message says why."""


def source_tree() -> Path | None:
    """The checkout func-py runs from, or None for a regular install: the folder whose host/
    is the running `funcpy.host` and that has pyproject.toml and triggers/ beside it."""
    package = Path(funcpy.host.__file__).resolve().parent
    root = package.parent
    if package.name == "host" and (root / "pyproject.toml").is_file() \
            and (root / "triggers").is_dir():
        return root
    return None


def write_wheel(dest: Path) -> Path:
    """Write a wheel of the running func-py into the folder `dest`; returns its path."""
    dest.mkdir(parents=True, exist_ok=True)
    root = source_tree()
    if root is not None:
        return build_from_source(root, dest)
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise WheelError("func-py runs neither from a source checkout nor from an installed "
                         "distribution, so there is nothing to make a wheel of") from None
    return wheel_from_distribution(dist, dest)


def build_from_source(root: Path, dest: Path) -> Path:
    """`pip wheel --no-deps` of a temporary copy of the checkout's build files."""
    with tempfile.TemporaryDirectory(prefix="func-py-wheel-") as tmp:
        src, out = Path(tmp) / "src", Path(tmp) / "out"
        src.mkdir()
        for name in SOURCE_FILES:
            shutil.copy2(root / name, src / name)
        for package in SOURCE_PACKAGES:
            shutil.copytree(root / package, src / package,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                   "--wheel-dir", str(out), str(src)]
        try:
            done = subprocess.run(command, capture_output=True, text=True,
                                  timeout=BUILD_SECONDS, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise WheelError(f"`pip wheel` of {root} took over {BUILD_SECONDS}s") from None
        built = sorted(out.glob(f"{PROJECT}-*.whl"))
        if done.returncode != 0 or len(built) != 1:
            why = (done.stderr or done.stdout).strip()[-1500:]
            raise WheelError(f"`pip wheel --no-deps {root}` failed (exit {done.returncode}): "
                             f"{why}")
        target = dest / built[0].name
        shutil.move(built[0], target)
        return target


def _digest(data: bytes) -> str:
    raw = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def wheel_from_distribution(dist: importlib.metadata.Distribution, dest: Path) -> Path:
    """Put an installed func-py back into a wheel: its package files and its metadata."""
    files = dist.files
    if not files:
        raise WheelError("the installed func-py has no RECORD (its installer did not say what "
                         "it installed), so no wheel can be made of it: reinstall it with pip")
    version = dist.version
    info = f"{PROJECT}-{version}.dist-info"
    entries: list[tuple[str, bytes]] = []
    metadata: list[tuple[str, bytes]] = []
    for file in files:
        parts = file.parts
        if ".." in parts or "__pycache__" in parts or file.suffix == ".pyc":
            continue  # scripts (outside site-packages) and bytecode: the installer's
        path = Path(str(dist.locate_file(file)))
        if parts[0].endswith(".dist-info"):
            if len(parts) > 1 and parts[1] not in INSTALLER_FILES:
                metadata.append(("/".join((info, *parts[1:])), path.read_bytes()))
            continue
        try:
            entries.append((file.as_posix(), path.read_bytes()))
        except OSError as exc:
            raise WheelError(f"cannot read the installed file {path}: {exc}") from None
    if not any(name.endswith("/METADATA") for name, _ in metadata):
        raise WheelError(f"the installed func-py {version} has no METADATA")
    metadata.append((f"{info}/WHEEL", WHEEL_FILE.encode()))
    target = dest / f"{PROJECT}-{version}-py3-none-any.whl"
    record = [f"{name},{_digest(data)},{len(data)}" for name, data in entries + metadata]
    record.append(f"{info}/RECORD,,")
    partial = target.with_suffix(".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as wheel:
        for name, data in sorted(entries) + sorted(metadata):  # dist-info last, as is usual
            wheel.writestr(name, data)
        wheel.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    partial.replace(target)  # never a half-written wheel under the final name
    return target
