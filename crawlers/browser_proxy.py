"""The outbound-request policy for JavaScript rendering: Chromium goes through a proxy that
applies it.

Chromium resolves and connects by itself, so neither the crawl's resolver nor its downloader
middleware sees the requests a rendered page makes (scripts, images, redirects, frames).
Every one of them is sent to :class:`PolicyProxy`, an HTTP proxy on 127.0.0.1 inside the
crawl process (``--proxy-server``; ``<-loopback>`` so that loopback addresses go through it
too): it resolves the host, refuses it unless an allowed address comes back, and connects to
that address only. :class:`~crawlers.playwright_handler.PolicyPlaywrightHandler` starts it
with the browser and turns a navigation the policy refused into
:class:`~crawlers.outbound.RefusedRequest`.
:class:`JsRendering`, a Scrapy add-on, installs that handler for a crawl started with
``SWORDNET_RENDER_JS`` (a watch target that renders JavaScript) and stays off otherwise;
the handler lives in :mod:`crawlers.playwright_handler`, so that a crawl without rendering
does not import scrapy-playwright and Playwright.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any
from urllib.parse import urlsplit

from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

from crawlers.config import RENDER_JS
from swordnet.core.outbound import AddressPolicy, host_address

CHROMIUM_PATH = "/usr/bin/chromium"
HANDLER = "crawlers.playwright_handler.PolicyPlaywrightHandler"  # loaded only when rendering
MAX_HEAD = 64 * 1024
_REFUSED = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
_BAD = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
_HOP_HEADERS = (b"proxy-connection", b"connection", b"keep-alive", b"proxy-authorization")


def _split_host_port(target: str, default_port: int) -> tuple[str, int]:
    """``host`` and port of ``host:port`` or ``[v6]:port`` (a CONNECT target)."""
    parts = urlsplit(f"//{target}")
    return parts.hostname or "", parts.port or default_port


class PolicyProxy:
    """An HTTP/HTTPS (CONNECT) forward proxy that connects only where the policy allows.

    ``refused`` maps each host it refused to the reason.
    """

    def __init__(self, policy: AddressPolicy) -> None:
        self.policy = policy
        self.refused: dict[str, str] = {}
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(128)
        self.port: int = self._socket.getsockname()[1]
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._serve, sock=self._socket,
                                                      limit=MAX_HEAD)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    async def address_for(self, host: str, port: int) -> tuple[str | None, str | None]:
        """``(address to connect to, None)`` or ``(None, reason)``."""
        literal = host_address(host)
        if literal is not None:
            candidates = [str(literal)]
        else:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    host, port, type=socket.SOCK_STREAM)
            except (OSError, UnicodeError):
                return None, None
            candidates = [str(info[4][0]) for info in infos]
        reasons = [self.policy.refusal(address) for address in candidates]
        for address, reason in zip(candidates, reasons, strict=True):
            if reason is None:
                return address, None
        reason = reasons[0] if reasons else None
        if reason:
            self.refused[host.lower()] = reason
        return None, reason

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream: asyncio.StreamWriter | None = None
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            line, _, header_block = head.partition(b"\r\n")
            method, target, version = line.decode("latin-1").split(" ", 2)
            if method.upper() == "CONNECT":
                host, port = _split_host_port(target, 443)
                request = None
            else:
                parts = urlsplit(target)
                if parts.scheme != "http" or not parts.hostname:
                    writer.write(_BAD)
                    return
                host, port = parts.hostname, parts.port or 80
                path = parts.path or "/"
                path += f"?{parts.query}" if parts.query else ""
                headers = [h for h in header_block.split(b"\r\n")
                           if h and h.split(b":", 1)[0].strip().lower() not in _HOP_HEADERS]
                request = b"\r\n".join([f"{method} {path} {version}".encode("latin-1"),
                                        *headers, b"Connection: close", b"", b""])
            address, reason = await self.address_for(host, port)
            if address is None:
                writer.write(_REFUSED if reason else _BAD)
                return
            up_reader, upstream = await asyncio.open_connection(address, port)
            if request is None:
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                upstream.write(request)
            await _pipe_both(reader, writer, up_reader, upstream)
        except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            with contextlib.suppress(OSError):
                writer.write(_BAD)
        finally:
            for stream in (upstream, writer):
                if stream is not None:
                    stream.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while data := await reader.read(64 * 1024):
            writer.write(data)
            await writer.drain()


async def _pipe_both(client_reader: asyncio.StreamReader, client: asyncio.StreamWriter,
                     upstream_reader: asyncio.StreamReader,
                     upstream: asyncio.StreamWriter) -> None:
    """Copy both ways until either side closes."""
    tasks = [asyncio.ensure_future(_pipe(client_reader, upstream)),
             asyncio.ensure_future(_pipe(upstream_reader, client))]
    _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()


class JsRendering:
    """Scrapy add-on: pages through Chromium (scrapy-playwright,
    :class:`~crawlers.playwright_handler.PolicyPlaywrightHandler`)
    when ``SWORDNET_RENDER_JS`` is set; raises NotConfigured otherwise. Media still go
    through Scrapy's own handler: only requests with ``playwright=True`` are rendered."""

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> JsRendering:
        if not crawler.settings.getbool(RENDER_JS):
            raise NotConfigured
        return cls()

    def update_settings(self, settings: Any) -> None:
        # above the project's DOWNLOAD_HANDLERS (crawlers/settings.py), which it extends
        settings.set("DOWNLOAD_HANDLERS", {**settings.getdict("DOWNLOAD_HANDLERS"),
                                           "http": HANDLER, "https": HANDLER},
                     priority="spider")
        settings.set("PLAYWRIGHT_BROWSER_TYPE", "chromium", priority="addon")
        settings.set("PLAYWRIGHT_LAUNCH_OPTIONS",
                     {"executable_path": CHROMIUM_PATH, "headless": True,
                      "args": ["--no-sandbox"]}, priority="addon")
        settings.set("PLAYWRIGHT_MAX_CONTEXTS", 1, priority="addon")
        settings.set("PLAYWRIGHT_MAX_PAGES_PER_CONTEXT", 4, priority="addon")
