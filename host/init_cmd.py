"""`func-py init`: a new Python V2 app (the files are in host/app_template.py), and with
`--docker-only` the container files for an existing app, as Core Tools'
`func init --docker-only` writes them — but for an image that runs func-py, not the .NET host.

func-py is not on the package index, so `--docker-only` also puts a wheel of the running func-py
in wheels/ (host/own_wheel.py), and the files build as they are. The Dockerfile has two stages:
the first installs the app's requirements.txt and that wheel into /opt/venv from the slim
official Python image (version as a build argument) and copies the app in without wheels/; the
second takes the venv and the app and runs `func-py start --production` as a non-root user, with
a health check on the readiness endpoint. The app folder is read-only to that user, as Azure's
run-from-package is; `read_only_notice` says so at start-up. Nothing here builds an image.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

from funcpy.host import __version__
from funcpy.host.app_template import write_app
from funcpy.host.errors import FuncPyError
from funcpy.host.own_wheel import PROJECT, WheelError, write_wheel
from funcpy.host.start_flags import LANGUAGE_FLAGS

DEFAULT_PYTHON = "3.11"
CONTAINER_PORT = 8080  # a non-root process may not bind 80 under podman or Kubernetes
APP_ROOT = "/home/site/wwwroot"  # Azure's AzureWebJobsScriptRoot in its images
DATA_DIR = f"{APP_ROOT}/.func-py"  # the SQLite task hub: mount a volume here

DOCKERFILE = """\
# Written by `func-py init --docker-only` (func-py {version}); edit freely.
# Build, then run with a key and a volume for the durable state:
#   docker build -t {tag} .
#   docker run -p 8080:{port} -e FUNCPY_MASTER_KEY=<a long random string> \\
#       -v {tag}-data:{data_dir} {tag}
# With podman, add `--format docker` to the build to keep the HEALTHCHECK.
# Settings come from the environment (-e NAME=value); local.settings.json is not copied in.
ARG PYTHON_VERSION={python}

# Build stage: the venv, from requirements.txt and wheels/ (func-py's wheel, which
# `func-py init --docker-only` wrote there, and any wheels the requirements need), and the
# app without wheels/. Only the venv and the app reach the final image, so no layer of it
# holds the wheels.
FROM python:${{PYTHON_VERSION}}-slim AS build
ENV PIP_NO_CACHE_DIR=1 \\
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY requirements.txt wheels* /tmp/build/
RUN set -- /tmp/build/func_py-*.whl; \\
    if [ ! -e "$1" ]; then \\
      echo "{no_wheel}" >&2; exit 1; fi; \\
    if [ "$#" -gt 1 ]; then \\
      echo "error: wheels/ holds $# func-py wheels ($*): keep the one to install" >&2; \\
      exit 1; fi; \\
    python -m venv /opt/venv \\
 && /opt/venv/bin/pip install --find-links /tmp/build -r /tmp/build/requirements.txt \\
    "$1[postgres]"
COPY . /app
RUN rm -rf /app/wheels

FROM python:${{PYTHON_VERSION}}-slim
ENV PYTHONUNBUFFERED=1 \\
    PYTHONDONTWRITEBYTECODE=1 \\
    PATH=/opt/venv/bin:$PATH
RUN groupadd --gid 1000 app \\
 && useradd --uid 1000 --gid app --no-create-home --home-dir /home/site \\
    --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
WORKDIR {app_root}
COPY --from=build /app ./
# The app folder stays read-only to the app (as Azure runs apps from a read-only package);
# the only folder the app user may write is this one: the embedded task hub, timer status,
# and any file the app writes. Mount a volume here.
RUN mkdir -p {data_dir} && chown app:app {data_dir}

ENV AzureWebJobsScriptRoot={app_root} \\
    PORT={port}
USER 1000:1000
EXPOSE {port}
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \\
    CMD {health_cmd}
# SIGTERM drains: no new requests or durable work, in-flight work finishes, claims released.
STOPSIGNAL SIGTERM
CMD ["func-py", "start", "--production"]
"""
# What the build says when wheels/ has no func-py wheel (func-py is not on the package index).
NO_WHEEL = ("error: no func-py wheel in wheels/ (func-py is not on the package index, so the "
            "image installs it from its wheel). In the app folder run 'func-py init "
            "--docker-only --force' (it writes wheels/func_py-<version>-py3-none-any.whl), or "
            "'pip wheel --no-deps -w wheels /path/to/func-py/checkout', then build again.")
WHEELS_DIR = "wheels"

DOCKERIGNORE = """\
# Written by `func-py init --docker-only`: what stays out of the image.
local.settings.json
.func-py
.venv
venv
env
.python_packages
.git
.gitignore
.vscode
.idea
Dockerfile
.dockerignore
**/__pycache__
**/*.py[cod]
.pytest_cache
.ruff_cache
.mypy_cache
__blobstorage__
__queuestorage__
__tablestorage__
__azurite_db*__.json
"""

# The slim image has no curl; Python is there anyway.
HEALTH_CMD = ('["python", "-c", "import os, urllib.request; urllib.request.urlopen('
              "'http://127.0.0.1:%s/runtime/health/ready' % os.environ.get('PORT', '8080'), "
              'timeout=2)"]')
_PYTHON = re.compile(r"^3\.(\d+)$")


def add_init_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("init", help="create a Python V2 app (like `func init`), or with "
                                    "--docker-only the container files of an existing one")
    p.add_argument("folder", nargs="?", default=".",
                   help="the app folder, created if missing (default: here)")
    p.add_argument("--worker-runtime", dest="worker_runtime", metavar="python",
                   help="the language (func-py runs Python apps only)")
    p.add_argument("-m", "--model", metavar="V2",
                   help="the programming model (func-py init writes V2 apps)")
    for language in LANGUAGE_FLAGS:  # Core Tools' shortcuts for --worker-runtime
        p.add_argument(language, dest="languages", action="append_const", const=language,
                       help=argparse.SUPPRESS)
    p.add_argument("--docker-only", dest="docker_only", action="store_true",
                   help="write only the container files (Dockerfile, .dockerignore) of the "
                        "app in the folder")
    p.add_argument("--docker", action="store_true",
                   help="create the app and its container files")
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    p.add_argument("--no-bundle", dest="bundle", action="store_false",
                   help="leave the extension bundle out of host.json")
    p.add_argument("--no-docs", action="store_true", help=argparse.SUPPRESS)  # V1 only
    p.add_argument("--python-version", dest="python_version", default=DEFAULT_PYTHON,
                   metavar="3.X", help=f"the base image's Python (default {DEFAULT_PYTHON})")


def render_dockerfile(python_version: str = DEFAULT_PYTHON, tag: str = "myapp") -> str:
    return DOCKERFILE.format(version=__version__, python=python_version, tag=tag,
                             port=CONTAINER_PORT, app_root=APP_ROOT, data_dir=DATA_DIR,
                             health_cmd=HEALTH_CMD, no_wheel=NO_WHEEL)


def _image_tag(folder: Path) -> str:
    tag = re.sub(r"[^a-z0-9]+", "-", folder.name.lower()).strip("-")
    return tag or "myapp"


def check_python_version(python_version: str) -> None:
    m = _PYTHON.match(python_version)
    if m is None or int(m.group(1)) < 11:
        raise FuncPyError(f"--python-version {python_version} is not supported: func-py needs "
                          "Python 3.11 or newer (give it as 3.X, e.g. 3.12)")


def write_container_files(folder: Path, *, python_version: str = DEFAULT_PYTHON,
                          force: bool = False) -> list[str]:
    """Write Dockerfile and .dockerignore into `folder`; returns what was done, line by line."""
    check_python_version(python_version)
    if not folder.is_dir():
        raise FuncPyError(f"{folder} is not a folder")
    if not (folder / "host.json").is_file():
        raise FuncPyError(f"{folder} has no host.json: run `func-py init --docker-only` in the "
                          "app folder (the one with function_app.py and host.json)")
    if not (folder / "requirements.txt").is_file():
        raise FuncPyError(f"{folder} has no requirements.txt: the image installs the app's "
                          "packages from it, as Azure does; create one (it may list just "
                          "azure-functions)")
    dockerfile, ignore = folder / "Dockerfile", folder / ".dockerignore"
    if dockerfile.exists() and not force:
        raise FuncPyError(f"{dockerfile} already exists: use --force to overwrite it")
    done = []
    dockerfile.write_text(render_dockerfile(python_version, _image_tag(folder.resolve())))
    done.append(f"Wrote {dockerfile.name} (python:{python_version}-slim, port "
                f"{CONTAINER_PORT}, func-py start --production)")
    if ignore.exists() and not force:
        done.append(f"Kept the existing {ignore.name} (--force replaces it); make sure it "
                    "leaves out local.settings.json and .func-py")
    else:
        ignore.write_text(DOCKERIGNORE)
        done.append(f"Wrote {ignore.name}")
    return done


def _check_runtime(args: argparse.Namespace) -> None:
    """Refuse what func-py cannot create, before anything is written."""
    runtimes = [args.worker_runtime] if args.worker_runtime else []
    runtimes += [flag[2:] for flag in args.languages or ()]
    for runtime in runtimes:
        if runtime.lower() != "python":
            raise FuncPyError(f"--worker-runtime {runtime} is not supported: func-py runs "
                              "Python apps only (use --worker-runtime python, or leave it out)")
    if args.model is not None and args.model.lower() != "v2":
        if args.model.lower() == "v1":
            raise FuncPyError("--model V1: func-py runs V1 (function.json) apps, but `func-py "
                              "init` writes V2 apps only (leave out --model, or create a V1 "
                              "app with Core Tools' `func init -m V1`)")
        raise FuncPyError(f"--model {args.model} is not a programming model: use V2")


def write_funcpy_wheel(folder: Path) -> list[str]:
    """Put a wheel of the running func-py in `folder`/wheels, in place of any other func-py
    wheel there (the image installs the one it finds); returns what was done."""
    wheels = folder / WHEELS_DIR
    try:
        wheel = write_wheel(wheels)
    except (WheelError, OSError) as exc:
        raise FuncPyError(f"The Dockerfile is written, but func-py's wheel is not: {exc}. The "
                          "image installs func-py from wheels/ (it is not on the package "
                          "index): put one there with `pip wheel --no-deps -w "
                          f"{wheels} /path/to/func-py/checkout`, or fix the cause and run "
                          "`func-py init --docker-only --force` again") from None
    done = [f"Wrote {WHEELS_DIR}/{wheel.name} (the image installs func-py from it; it stays "
            "out of the final image)"]
    for old in sorted(wheels.glob(f"{PROJECT}-*.whl")):
        if old != wheel:
            old.unlink()
            done.append(f"Removed {WHEELS_DIR}/{old.name}")
    return done


def read_only_notice(app_dir: Path, data_dir: Path) -> str | None:
    """What production's start-up says when the app folder is not writable (as in the image,
    and in Azure's run-from-package), or None when it is."""
    if os.access(app_dir, os.W_OK):
        return None
    notice = (f"The app folder {app_dir} is read-only (as on Azure, which runs apps from a "
              "read-only package): a function that writes a file next to its code fails with "
              "PermissionError. ")
    if data_dir.is_dir() and os.access(data_dir, os.W_OK):
        return notice + (f"Write to {data_dir} instead, the writable data folder (the task "
                         "hub's; keep a volume on it), or to a temporary folder (tempfile).")
    who = f"uid {os.getuid()}" if hasattr(os, "getuid") else "this process"
    return notice + (f"The data folder {data_dir} is not writable either: mount a volume "
                     f"writable by {who} there, or write to a temporary folder (tempfile).")


def _docker(folder: Path, args: argparse.Namespace) -> None:
    for line in write_container_files(folder, python_version=args.python_version,
                                      force=args.force):
        print(line)
    for line in write_funcpy_wheel(folder):
        print(line)
    tag = _image_tag(folder.resolve())
    print(f"Next: docker build -t {tag} . && docker run -p 8080:{CONTAINER_PORT} "
          f"-e FUNCPY_MASTER_KEY=<key> -v {tag}-data:{DATA_DIR} {tag}")


def run(args: argparse.Namespace) -> int:
    _check_runtime(args)
    folder = Path(args.folder)
    if args.docker_only:
        _docker(folder, args)
        return 0
    if args.docker:  # checked first, so that nothing is written when these would fail
        check_python_version(args.python_version)
        if (folder / "Dockerfile").exists() and not args.force:
            raise FuncPyError(f"{folder / 'Dockerfile'} already exists: nothing was written "
                              "(--force overwrites it)")
    for line in write_app(folder, force=args.force, bundle=args.bundle):
        print(line)
    if args.docker:
        _docker(folder, args)
        return 0
    where = "" if folder.resolve() == Path.cwd().resolve() else f"cd {folder} && "
    print(f"Next: {where}python -m venv .venv && .venv/bin/pip install -r requirements.txt "
          "func-py && .venv/bin/func-py start (or press F5 in VS Code)")
    return 0
