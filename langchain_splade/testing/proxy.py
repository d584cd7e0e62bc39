"""A fault-injecting HTTP proxy, to test how a client survives an unhealthy cluster.

Put it in front of a real node and tell it which requests to reject or stall: every
other request still reaches the engine, so retries, timeouts and partial writes are
tested against real answers. Backend-neutral (OpenSearch, Elasticsearch, ...).

Example::

    proxy = FaultProxy(node.url)
    proxy.policy = lambda method, path: (429, 0.0) if "_bulk" in path else None
    index = OpenSearchSparseIndex("docs", url=proxy.url)
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import threading
import time
import urllib.parse
from collections.abc import Callable
from types import TracebackType
from typing import Any

Policy = Callable[[str, str], "tuple[int, float] | None"]


class FaultProxy:
    """Forwards HTTP to ``upstream``; ``policy(method, path)`` may return
    ``(status, delay_s)``: wait ``delay_s`` then answer ``status`` without forwarding
    (status 0: forward after the delay). Counts requests per path kind."""

    def __init__(self, upstream: str) -> None:
        self.upstream = urllib.parse.urlsplit(upstream)
        self.policy: Policy = lambda method, path: None
        self.seen: list[tuple[str, str, int]] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                action = proxy.policy(self.command, self.path)
                status, delay = action if action is not None else (0, 0.0)
                proxy.seen.append((self.command, self.path, status))  # counted on arrival
                time.sleep(delay)
                if status:
                    payload = b'{"error":{"type":"injected","reason":"fault proxy"},"status":%d}'
                    data = payload % status
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                up = http.client.HTTPConnection(
                    proxy.upstream.hostname or "127.0.0.1", proxy.upstream.port, timeout=60
                )
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                up.request(self.command, self.path, body=body, headers=headers)
                response = up.getresponse()
                data = response.read()
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                up.close()

            def _handle_quietly(self) -> None:
                # The client gave up on a stalled request: expected here.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self._handle()

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle_quietly

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def bulk_calls(self) -> int:
        return sum(1 for _, path, _ in self.seen if "_bulk" in path)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
