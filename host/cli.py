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
from types import FrameType
from typing import TYPE_CHECKING

from host import __version__
from host.config import HostConfig, build_config
from host.durable_sdk import import_durable_sdk
from host.errors import FuncPyError
from host.logs import log, setup_logging

if TYPE_CHECKING:
    from host.http_limits import HeadLimits

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
    function-level route would refuse everyone, so refuse to start instead; and a short or
    blank key (a placeholder) would open the app to anyone, so refuse that too."""
    from host.auth import KeyRing, require_strong_keys
    from host.secrets import NO_KEYS_MESSAGE

    if KeyRing.from_settings(os.environ).empty:  # also reads (and checks) a secrets file
        raise FuncPyError(NO_KEYS_MESSAGE)
    require_strong_keys(os.environ)


async def _serve(runtime: object, sock: socket.socket) -> int:
    import uvicorn

    from host.http_limits import HeadLimits
    from host.reload import ReloadWatcher
    from host.runtime import Runtime
    from host.server import HostApp, build_asgi
    from host.stopping import Stopping, exit_now

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

    async def stop_watching() -> None:
        if watcher is not None:
            watcher.stop()

    host_app.on_startup.append(started)
    host_app.on_shutdown.append(stop_watching)
    host_app.on_failure.append(lambda reason: setattr(server, "should_exit", True))
    limits = HeadLimits.from_env()
    stopping = Stopping(config.drain_seconds, runtime.invoker)
    server = _draining_server_class()(uvicorn.Config(
        build_asgi(runtime, host_app), lifespan="on", access_log=False, log_config=None,
        server_header=False, http=_http_protocol(limits),
        h11_max_incomplete_event_size=limits.max_bytes,
    ), host_app, stopping, limits)
    await server.serve(sockets=[sock])
    runtime.invoker.shutdown()
    code = 0 if server.started and host_app.failure is None else 1
    if stopping.exit_code:
        code = stopping.exit_code
    if runtime.invoker.running():
        # A sync function still in its thread: the interpreter would join it at exit, for as
        # long as it takes. The drain has already said what it cuts off.
        exit_now(code)
    return code


def _http_protocol(limits: HeadLimits) -> type[asyncio.Protocol] | str:
    """httptools with the head limits; without httptools, h11 (which enforces only the size,
    through h11_max_incomplete_event_size, answering 400)."""
    from host.http_limits import protocol_class

    try:
        import httptools  # noqa: F401
    except ImportError:
        return "h11"
    return protocol_class(limits)


def _draining_server_class() -> type:
    import uvicorn

    from host.http_limits import sweep_slow_heads
    from host.server import HostApp
    from host.stopping import Stopping

    class DrainingServer(uvicorn.Server):
        """uvicorn's server with func-py's stop (host/stopping.py): one time budget for the
        whole drain, starting at the first signal, with the triggers stopping while requests
        finish; a second signal exits at once. And the sweep that enforces the head timeout."""

        def __init__(self, config: uvicorn.Config, host_app: HostApp, stopping: Stopping,
                     limits: HeadLimits) -> None:
            super().__init__(config)
            self.host_app = host_app
            self.stopping = stopping
            self.limits = limits
            self._sweeper: asyncio.Task[None] | None = None

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            # uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown, so the process
            # dies of the signal (exit -15). A host that drained exits with its own code
            # instead (0 when clean), which is what orchestrators and process managers expect.
            with super().capture_signals():
                yield
                self._captured_signals.clear()

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            if self.stopping.begun:
                self.stopping.force(sig)  # does not return
            self.stopping.begin()  # the clock starts at the signal, not when uvicorn gets to it
            super().handle_exit(sig, frame)

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started and self.limits.timeout > 0:
                self._sweeper = asyncio.ensure_future(sweep_slow_heads(
                    self.server_state.connections, self.limits.timeout))

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            """uvicorn's shutdown, with the time left instead of a fixed timeout, the triggers
            stopping meanwhile, and requests cut off at the limit recorded for the report."""
            stopping = self.stopping
            self.host_app.begin_drain(stopping)
            if self._sweeper is not None:
                self._sweeper.cancel()
            for server in self.servers:
                server.close()
            for sock in sockets or []:
                sock.close()
            for connection in list(self.server_state.connections):
                connection.shutdown()  # idle ones close now, busy ones after their response
            try:
                await asyncio.wait_for(self._wait_tasks_to_complete(), stopping.remaining())
            except TimeoutError:
                tasks = self.server_state.tasks
                stopping.cut_http(len(tasks))
                for t in list(tasks):
                    t.cancel(msg="the drain limit was reached")
            await self.lifespan.shutdown()

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
