"""Canary servers: HTTP servers on loopback that count every connection made to them, for
the tests of the outbound-request policy (nothing may reach them)."""

from __future__ import annotations

import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Canary(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(b"<html><body>internal secret</body></html>")

    def log_message(self, *args: Any) -> None:
        pass


class Canary(ThreadingHTTPServer):
    """An HTTP server that counts every connection made to it."""

    daemon_threads = True

    def __init__(self, host: str) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.connections = 0
        super().__init__((host, 0), _Canary)

    def verify_request(self, request: Any, client_address: Any) -> bool:
        self.connections += 1
        return True

    def url(self, host: str | None = None, path: str = "/") -> str:
        return f"http://{host or self.server_address[0]}:{self.server_address[1]}{path}"
