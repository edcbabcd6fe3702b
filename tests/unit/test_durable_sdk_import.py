"""host/durable_sdk.py: the SDK imports without aiohttp, and its client still calls out.

Each case runs in a fresh interpreter: this test process has long imported the SDK whole.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_sdk_imports_without_aiohttp_and_its_client_loads_it_at_the_first_call() -> None:
    out = _run("""
        import asyncio, json, sys, threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from funcpy.host.durable_sdk import HTTP_UTILS, import_durable_sdk

        import_durable_sdk()
        print("aiohttp" in sys.modules)
        client_module = sys.modules["azure.durable_functions.models.DurableOrchestrationClient"]

        class Answer(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                self.send_response(202)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(json.dumps({"got": json.loads(body)}).encode())
            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_port}/x"
        status, body = asyncio.run(client_module.post_async_request(url, {"n": 1}))
        print(status, body)
        print("aiohttp" in sys.modules, type(sys.modules[HTTP_UTILS]).__name__)
        asyncio.run(sys.modules[HTTP_UTILS]._close_session())
        server.shutdown()
    """)
    assert out.splitlines() == ["False", "202 {'got': {'n': 1}}", "True module"]


def test_a_name_the_stand_in_lacks_loads_the_real_module() -> None:
    out = _run("""
        import sys
        from funcpy.host.durable_sdk import HTTP_UTILS, import_durable_sdk

        import_durable_sdk()
        stand_in = sys.modules[HTTP_UTILS]
        print(stand_in._client_session, "aiohttp" in sys.modules)
        print(callable(stand_in._get_session), "aiohttp" in sys.modules)
    """)
    assert out.splitlines() == ["None False", "True True"]


def test_warm_up_loads_it_in_the_background() -> None:
    out = _run("""
        import sys, threading
        from funcpy.host.durable_sdk import HTTP_UTILS, import_durable_sdk, warm_up

        import_durable_sdk()
        warm_up()
        for t in threading.enumerate():
            if t.name == "funcpy-sdk-warm-up":
                t.join(30)
        print("aiohttp" in sys.modules, type(sys.modules[HTTP_UTILS]).__name__)
    """)
    assert out == "True module"
