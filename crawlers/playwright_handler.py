"""scrapy-playwright with Chromium behind the outbound policy's proxy
(:class:`~crawlers.browser_proxy.PolicyProxy`): the download handler
:class:`~crawlers.browser_proxy.JsRendering` installs for a crawl that renders JavaScript."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.http import Response
from scrapy_playwright.handler import ScrapyPlaywrightDownloadHandler

from crawlers.browser_proxy import PolicyProxy
from crawlers.outbound import RefusedRequest, policy_of, request_refusal


class PolicyPlaywrightHandler(ScrapyPlaywrightDownloadHandler):
    """scrapy-playwright with Chromium behind :class:`PolicyProxy`."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self.proxy = PolicyProxy(policy_of(crawler))
        options: dict[str, Any] = self.config.launch_options
        options["args"] = [*options.get("args", []),
                           f"--proxy-server=http://127.0.0.1:{self.proxy.port}",
                           "--proxy-bypass-list=<-loopback>",
                           # nothing around the proxy: no QUIC, no WebRTC over plain UDP
                           "--disable-quic",
                           "--force-webrtc-ip-handling-policy=disable_non_proxied_udp"]

    async def _launch(self) -> None:
        await self.proxy.start()
        await super()._launch()

    async def _download_request(self, request: Request, spider: Any = None) -> Response:
        reason = request_refusal(request.url, self.proxy.policy)
        if reason is None:
            host = urlsplit(request.url).hostname or ""
            _, reason = await self.proxy.address_for(host, 80)
        if reason:
            raise RefusedRequest(reason)
        response = await super()._download_request(request, spider)
        landed = (urlsplit(response.url).hostname or "").lower()
        if landed in self.proxy.refused:  # a redirect the proxy refused
            raise RefusedRequest(self.proxy.refused[landed])
        return response

    async def _close(self) -> None:
        await super()._close()
        await self.proxy.close()
