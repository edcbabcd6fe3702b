"""`func-py`: the command line, mirroring Core Tools' `func` where the two overlap."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator, Sequence

from host import __version__
from host.config import HostConfig, build_config
from host.durable_sdk import import_durable_sdk
from host.errors import FuncPyError
from host.logs import log, setup_logging

_T0 = time.perf_counter()


def _start_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("start", help="run the app in the current folder (like `func start`)")
    p.add_argument("--script-root", "--prefix", dest="script_root", metavar="DIR",
                   help="the app folder (default: the current directory)")
    p.add_argument("-p", "--port", type=int, help="port (default 7071, or Host.LocalHttpPort)")
    p.add_argument("--address", help="address to bind (default 127.0.0.1)")
    p.add_argument("--cors", help="comma-separated allowed origins (or Host.CORS)")
    p.add_argument("--cors-credentials", action="store_true", help="allow credentialed CORS")
    p.add_argument("--functions", nargs="+", metavar="NAME", help="load only these functions")
    p.add_argument("--verbose", action="store_true", help="more host output")
    p.add_argument("--enable-auth", "--enableAuth", dest="enable_auth", action="store_true",
                   help="enforce function keys locally (see README: keys)")
    p.add_argument("--no-reload", dest="reload", action="store_false",
                   help="do not watch the app folder for changes")
    p.add_argument("--production", action="store_true",
                   default=os.environ.get("FUNCPY_PRODUCTION", "").lower() in ("1", "true"),
                   help="production mode: keys enforced, no reload, env-only settings, JSON logs")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="func-py", description="Run Azure Functions Python apps without .NET or Core Tools.")
    parser.add_argument("--version", action="version", version=f"func-py {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _start_parser(sub)
    from host.durable_cli import add_durable_parser
    from host.init_cmd import add_init_parser

    add_durable_parser(sub)
    add_init_parser(sub)
    return parser.parse_args(argv)


def _bind(config: HostConfig) -> socket.socket:
    family = socket.AF_INET6 if ":" in config.address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit this on Linux. uvicorn sets it only on sockets it binds
    # itself; without it a keep-alive response meets Nagle + delayed ACK (about 40 ms each).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((config.address, config.port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise FuncPyError(
                f"Port {config.port} is unavailable. Close the process using that port, or "
                "specify another port using --port [-p].") from None
        raise FuncPyError(f"cannot listen on {config.address}:{config.port}: {exc.strerror}") \
            from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _banner(runtime: object) -> str:
    from host.runtime import Runtime

    assert isinstance(runtime, Runtime)
    index = runtime.index
    lines = ["", "Functions:", ""]
    for name in sorted(index.functions, key=str.lower):
        fn = index.functions[name]
        lines.append(f"\t{name}: {runtime.describe(fn)}")
        if name in index.disabled:
            lines.append(f"\tFunction {name} is disabled.")
        lines.append("")
    for name, why in sorted(index.skipped.items()):
        lines.append(f"\t{name}: skipped ({why})")
        lines.append("")
    for reason in index.errors.values():
        lines.append(f"\t{reason}")
        lines.append("")
    if not index.functions:
        lines.append("\tNo functions loaded.")
        lines.append("")
    return "\n".join(lines)


def start(args: argparse.Namespace) -> int:
    config = build_config(
        app_dir=args.script_root, port=args.port, address=args.address, cors=args.cors,
        cors_credentials=args.cors_credentials, functions=args.functions, verbose=args.verbose,
        enable_auth=args.enable_auth, reload=args.reload, production=args.production,
    )
    setup_logging(config.host_json.log_levels, verbose=config.verbose,
                  json_lines=config.production)
    for key in config.skipped_settings:
        log.warning("Skipping '%s' from local settings as it's already defined in current "
                    "environment variables.", key)
    if config.production:
        _require_keys()
    sock = _bind(config)
    if config.port == 0:  # --port 0: the OS picks a free port (tests use this)
        config.port = sock.getsockname()[1]
        os.environ["WEBSITE_HOSTNAME"] = f"localhost:{config.port}"

    import_durable_sdk()
    from host.runtime import Runtime

    runtime = Runtime(config)
    if not config.production:  # production loads the app once health checks can answer
        runtime.load_initial()
        print(_banner(runtime), flush=True)
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(_serve(runtime, sock))


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed (uvicorn[standard] brings it), as `uvicorn.run` would pick."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _require_keys() -> None:
    """Production enforces keys: with none at all, /admin, the durable API and every
    function-level route would refuse everyone, so refuse to start instead."""
    from host.auth import KeyRing
    from host.secrets import NO_KEYS_MESSAGE

    if KeyRing.from_settings(os.environ).empty:  # also reads (and checks) a secrets file
        raise FuncPyError(NO_KEYS_MESSAGE)


async def _serve(runtime: object, sock: socket.socket) -> int:
    import uvicorn

    from host.reload import ReloadWatcher
    from host.runtime import Runtime
    from host.server import HostApp, build_asgi

    assert isinstance(runtime, Runtime)
    config = runtime.config
    from triggers.durable_client import api_routes

    host_app = HostApp(runtime, extra_routes=api_routes(runtime), load_app=config.production)
    watcher: ReloadWatcher | None = None

    async def started() -> None:
        nonlocal watcher
        if config.reload:
            watcher = ReloadWatcher(config.app_dir, runtime.reload, asyncio.get_running_loop())
            watcher.start()
        if config.production:
            log.info("Functions loaded: %s.", ", ".join(sorted(runtime.index.functions)) or "none")
        log.info("Host started in %dms: %s/ (hot reload %s). Press Ctrl+C to stop.",
                 (time.perf_counter() - _T0) * 1000, config.base_url,
                 "on" if config.reload else "off")

    async def stopping() -> None:
        if watcher is not None:
            watcher.stop()

    host_app.on_startup.append(started)
    host_app.on_shutdown.append(stopping)
    host_app.on_failure.append(lambda reason: setattr(server, "should_exit", True))
    server = _draining_server_class()(uvicorn.Config(
        build_asgi(runtime, host_app), lifespan="on", access_log=False, log_config=None,
        server_header=False, timeout_graceful_shutdown=int(config.drain_seconds),
    ))
    await server.serve(sockets=[sock])
    runtime.invoker.shutdown()
    return 0 if server.started and host_app.failure is None else 1


def _draining_server_class() -> type:
    import uvicorn

    class DrainingServer(uvicorn.Server):
        """uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown, so the process dies of
        the signal (exit -15). A host that drained cleanly exits 0 instead, which is what
        container orchestrators and process managers expect of a stop."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            with super().capture_signals():
                yield
                self._captured_signals.clear()

    return DrainingServer


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.command == "start":
            return start(args)
        if args.command == "init":
            from host.init_cmd import run as init

            return init(args)
        if args.command == "durable":
            from host.durable_cli import run

            return run(args)
    except FuncPyError as exc:
        first, _, rest = str(exc).partition("\n")
        if rest:
            print(rest, file=sys.stderr)
        print(f"func-py: error: {first}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
