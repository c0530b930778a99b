"""The base of every Swordnet spider: pages in, media items out, with caps, traps and health.

A subclass decides where a crawl starts (:meth:`start`) and whether page links are
followed (:attr:`follows_links`). Everything else is shared: which pages may be followed
(the target's hosts and mirrors, allow/deny patterns, depth and page caps, crawler traps),
how a page is read (malformed markup, NUL bytes and wrong content types are counted, never
fatal), which media are fetched (kinds some signal reads, within its kind's size cap),
and the statistics the run's health is judged on.

What the crawl is asked to do (:class:`CrawlConfig`) is known at once for ``-a url=...``; a
watch target's is read from the crawl's database by :meth:`WatchSpider.prepare`, off the
event loop, before the run is opened and the first request is made.
"""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any, Self

from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.http import Response, TextResponse
from scrapy_playwright.page import PageMethod
from twisted.python.failure import Failure

from crawlers.config import RENDER_JS
from crawlers.database import CrawlDatabase
from crawlers.extract import PageLinks, extract_page
from crawlers.failures import failure_reason
from crawlers.frontier import Frontier
from crawlers.items import Exchange, MediaItem, PageInfo
from crawlers.runstats import count, note_error, note_start, note_start_page, note_trap
from crawlers.served import media_cap, served_kind
from crawlers.target_config import CrawlConfig, load_target_config
from crawlers.traps import CAP_EXHAUSTED, TrapGuard, canonical_url, had_session_id
from matching.page_template import template_hash
from matching.registry import download_cap, fetched_file_kinds, work_kind_of_file
from swordnet.core.timeutil import utcnow
from swordnet.watch.targets import site_key

MB = 1024 * 1024
# Largest body fetched per kind of content: pages, and each kind of linked file some signal
# reads, as the registry says (compressed responses are capped after decoding).
SIZE_CAPS = {"page": 8 * MB, **{kind: download_cap(kind) for kind in fetched_file_kinds()}}
# Pages that linked media files, kept (the most recent) for more media files they link.
LINKING_PAGES_KEPT = 32


def _headers(headers: Any) -> list[tuple[str, str]]:
    return [(name.decode("latin-1"), value.decode("latin-1"))
            for name, values in headers.items() for value in values]


def exchange_of(response: Response) -> Exchange:
    """The request and response as a WARC record will hold them."""
    request = response.request
    assert request is not None
    return Exchange(url=response.url, method=request.method,
                    request_headers=_headers(request.headers), status=response.status,
                    response_headers=_headers(response.headers), body=response.body,
                    ip=str(response.ip_address) if response.ip_address else None,
                    fetched_at=utcnow(), rendered=bool(request.meta.get("playwright")))


def _served_kind(response: Response) -> str | None:
    """The kind of work a response is a file of, if a signal reads such files (see
    :mod:`crawlers.served`); None for a page."""
    if response.status >= 400:
        return None
    content_type = (response.headers.get(b"Content-Type", b"") or b"").decode("latin-1")
    return served_kind(content_type, response.body)


class WatchSpider(Spider):
    """Shared crawling rules; see the module docstring. Not a spider on its own (no name)."""

    follows_links = True

    config: CrawlConfig  # set by __init__ for a URL, by prepare() for a watch target

    def __init__(self, url: str | None = None, depth: Any = None, max_pages: Any = None,
                 run_id: Any = None, target_id: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.run_id = int(run_id) if run_id else None
        self.target_id = int(target_id) if target_id is not None else None
        self.frontier = Frontier()
        self._cap_reached = False
        self._media: set[str] = set()
        # media found at followed links, waiting for the page that linked them (by its URL)
        self._awaiting_page: dict[str, list[tuple[Exchange, str]]] = {}
        self._linking_pages: OrderedDict[str, PageInfo] = OrderedDict()
        self._prepared: asyncio.Future[None] | None = None
        if self.target_id is None:
            self._use(CrawlConfig.from_url(url, depth, max_pages))

    def _use(self, config: CrawlConfig) -> None:
        self.config = config
        self.start_url = config.start_urls[0]
        self.max_depth = config.depth
        self.max_pages = config.max_pages
        self._allow = [re.compile(p) for p in config.allow_patterns]
        self._deny = [re.compile(p) for p in config.deny_patterns]
        # numbered pages are content: only the page cap limits them; calendars stop at 50
        self.traps = TrapGuard(max_per_pattern=max(5000, self.max_pages))

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider.request_dropped, signal=signals.request_dropped)
        return spider

    async def prepare(self) -> None:
        """Read what the crawl is asked to do, once (the store pipeline calls this before it
        opens the run; :meth:`start` before its first request)."""
        if self._prepared is None:
            self._prepared = asyncio.ensure_future(self._load())
        await self._prepared

    async def _load(self) -> None:
        if self.target_id is not None:
            config = await CrawlDatabase.of(self.crawler).run(load_target_config,
                                                              self.target_id)
            self._use(config)
            missing = config.missing_settings(self.crawler.settings)
            if missing:
                self.logger.warning(
                    "watch target %d asks for settings this crawl was not started with: %s "
                    "(pass them with -s, or run `swordnet crawl --target %d`)",
                    self.target_id, " ".join(missing), self.target_id)
        await self.loaded()

    async def loaded(self) -> None:
        """Hook for subclasses: :attr:`config` is known (check it, read more)."""

    # --- pages -----------------------------------------------------------------------------

    def _refusal(self, url: str, start: bool) -> str | None:
        """Why ``url`` is not crawled as a page, or None."""
        if not start:
            try:
                on_site = site_key(url) in self.config.hosts
            except ValueError:  # a link no check would accept (a bad host or port)
                on_site = False
            if not on_site:
                return "off_site"
            if self._allow and not any(p.search(url) for p in self._allow):
                return "not_allowed"
            if any(p.search(url) for p in self._deny):
                return "denied"
        trap = self.traps.check(url)
        if trap:
            note_trap(self.crawler.stats, trap, url)
            return "trap"
        return None

    def page_request(self, url: str, depth: int, *, start: bool = False,
                     meta: dict[str, Any] | None = None) -> Request | None:
        """A request for a page at ``depth`` links from a start page, or None when the caps,
        rules or trap guard refuse it or the page is already due at that depth or less.

        A page already read at a greater depth is fetched again (see
        :mod:`crawlers.frontier`): only its links are followed from the shorter depth.
        """
        stats = self.crawler.stats
        if had_session_id(url):
            count(stats, "session_ids_stripped")
        url = canonical_url(url)
        if url in self.frontier:
            if not self.frontier.reach(url, depth):
                return None
            count(stats, "pages_refetched")
            return self._page_fetch(url, self.expand_page, meta, start=False, again=True)
        if len(self.frontier) >= self.max_pages:
            if not self._cap_reached:
                self._cap_reached = True
                self._note_cap_exhausted()
            count(stats, "pages_capped")
            return None
        refusal = self._refusal(url, start)
        if refusal:
            count(stats, f"links_{refusal}")
            return None
        self.frontier.reach(url, depth)
        return self._page_fetch(url, self.parse_page, meta, start=start, again=False)

    def _note_cap_exhausted(self) -> None:
        """The page cap just ran out: report a link space that holds most of the pages
        (an endless ``/page/1 -> /page/2 -> ...``) as a crawler trap."""
        for pattern, pages in self.traps.crowded_patterns():
            note_trap(self.crawler.stats, CAP_EXHAUSTED, pattern,
                      f"page cap of {self.max_pages} used up: {pages} pages were {pattern}")

    def _page_fetch(self, url: str, callback: Any, meta: dict[str, Any] | None, *,
                    start: bool, again: bool) -> Request:
        meta = {**(meta or {}), "start": start, "download_maxsize": SIZE_CAPS["page"]}
        if self.crawler.settings.getbool(RENDER_JS):
            methods = [PageMethod("wait_for_load_state", "networkidle")]
            if self.config.screenshot and not again:
                methods.append(PageMethod("screenshot", full_page=True, type="png"))
            meta.update(playwright=True, playwright_page_methods=methods)
        # a second fetch of one URL must pass Scrapy's duplicate filter
        return Request(url, callback=callback, errback=self.on_error, dont_filter=again,
                       cb_kwargs={"page_url": url}, meta=meta)

    def read_page(self, response: Response) -> PageLinks | None:
        """The links of an HTML page; None (counted) for anything that is not one."""
        stats = self.crawler.stats
        count(stats, "pages")
        if response.status >= 400:
            note_error(stats, f"http_{response.status}", response.url, f"HTTP {response.status}")
            return None
        if not isinstance(response, TextResponse):
            count(stats, "pages_not_html")
            return None
        text = response.text
        if "\x00" in text:
            count(stats, "pages_with_nul_bytes")
            text = text.replace("\x00", "")
        try:
            found = extract_page(text, response.url)
        except Exception as exc:  # noqa: BLE001 (hostile markup must never end a crawl)
            note_error(stats, "bad_html", response.url, f"{type(exc).__name__}: {exc}")
            return None
        count(stats, "pages_ok")
        count(stats, "links_found", len(found.links))
        return found

    def parse_page(self, response: Response, page_url: str) -> Iterator[Request | MediaItem]:
        start = bool(response.meta.get("start"))
        if start:
            note_start(self.crawler.stats, response.status < 500)
        kind = _served_kind(response)
        if kind is not None:
            self.frontier.drop(page_url)  # not a page: it neither counts toward the cap nor links
            self._media.update((page_url, response.url))
            if start:  # a start URL that is itself a copy (a tip pointing at an image file)
                count(self.crawler.stats, "pages_ok")
            yield from self._linked_media(response, kind)
            return
        found = self.read_page(response)
        if found is None:
            self.frontier.drop(page_url)
            return
        depth = self.frontier.expand(page_url)  # read now: a shorter path from here on refetches
        if response.meta.get("start"):
            self._note_start_page(response)
        self.page_crawled(response)
        methods = response.meta.get("playwright_page_methods") or []
        screenshot = next((m.result for m in methods if m.method == "screenshot"), None)
        page = PageInfo(exchange=exchange_of(response), title=found.title, screenshot=screenshot)
        assert isinstance(response, TextResponse)  # read_page returns None for anything else
        yield MediaItem(exchange=page.exchange, page=page, kind="page", text=response.text,
                        link_kinds=frozenset(link.kind for link in found.files))
        yield from self.media_requests(found, page)
        yield from self._follow(response, depth, found)

    def _note_start_page(self, response: Response) -> None:
        """The start page's template, and the site it redirected to if not its own."""
        assert isinstance(response, TextResponse)
        chain = response.meta.get("redirect_urls") or []
        try:
            landed = site_key(response.url)
            moved = landed if chain and site_key(chain[0]) != landed else None
        except ValueError:  # not a URL sites are kept under: nothing to compare
            moved = None
        note_start_page(self.crawler.stats, template_hash(response.text), moved)

    def expand_page(self, response: Response, page_url: str) -> Iterator[Request]:
        """A page read before, fetched again because a shorter path reached it: follow its
        links from the new depth (its page and media were captured the first time)."""
        if response.status >= 400 or not isinstance(response, TextResponse):
            self.frontier.drop(page_url)
            return
        try:
            found = extract_page(response.text.replace("\x00", ""), response.url)
        except Exception:  # noqa: BLE001 (read once already; its links are a bonus)
            self.frontier.drop(page_url)
            return
        yield from self._follow(response, self.frontier.expand(page_url), found)

    def _follow(self, response: Response, depth: int, found: PageLinks) -> Iterator[Request]:
        """Requests for the links of a page read at ``depth`` (its best so far)."""
        # Scrapy's DepthMiddleware gives each request the depth of its response plus one
        # (and its priority from that); the response's depth is the page's best
        response.meta["depth"] = depth
        if self.follows_links and depth < self.max_depth:
            linked_from = {"linked_from": response.url}
            for link in found.links:
                if link in self._media:
                    continue  # fetched as media already (an <img> of it, or an earlier link)
                request = self.page_request(link, depth + 1, meta=linked_from)
                if request is not None:
                    yield request

    def page_crawled(self, response: Response) -> None:
        """Hook for subclasses: a page was fetched and read."""

    # --- media -----------------------------------------------------------------------------

    def media_requests(self, found: PageLinks, page: PageInfo) -> Iterator[Request]:
        """Fetch the page's media of every kind a signal reads; count the rest."""
        stats = self.crawler.stats
        wanted = [(url, "image") for url in found.images]
        for link in found.files:
            count(stats, f"files_{link.kind}")
            wanted.append((link.url, link.kind))
        for url, file_kind in wanted:
            if url in self._media or not url.startswith(("http://", "https://")):
                continue
            kind = work_kind_of_file(file_kind)
            if kind is None:
                continue  # no signal reads this kind of file (yet): counted above, not fetched
            self._media.add(url)
            yield Request(url, callback=self.parse_media, errback=self.on_error,
                          cb_kwargs={"page": page, "kind": kind}, priority=1,
                          meta={"download_maxsize": SIZE_CAPS[file_kind]})

    def _linked_media(self, response: Response, kind: str) -> Iterator[Request | MediaItem]:
        """A followed link (or a start URL) whose response is a file some signal reads
        (a forum's ``attachment.php?aid=N``): matched as media, with the page that linked it
        as its page. That page is fetched again for the evidence (once for all the media it
        links; see :meth:`parse_linking_page`); a start URL is its own page."""
        stats = self.crawler.stats
        exchange = exchange_of(response)
        if len(exchange.body) > media_cap(kind):
            note_error(stats, "too_large", response.url,
                       f"body larger than {media_cap(kind)} bytes")
            return
        linking = response.meta.get("linked_from")
        if linking is None:
            yield MediaItem(exchange=exchange, page=PageInfo(exchange=exchange, title=None),
                            kind=kind)
            return
        count(stats, "links_to_media")
        page = self._linking_pages.get(linking)
        if page is not None:
            yield MediaItem(exchange=exchange, page=page, kind=kind)
            return
        waiting = self._awaiting_page.setdefault(linking, [])
        waiting.append((exchange, kind))
        if len(waiting) == 1:
            yield Request(linking, callback=self.parse_linking_page,
                          errback=self.linking_page_failed, dont_filter=True, priority=1,
                          cb_kwargs={"linking_url": linking},
                          meta={"download_maxsize": SIZE_CAPS["page"]})

    def parse_linking_page(self, response: Response, linking_url: str) -> Iterator[MediaItem]:
        """The page that linked media, fetched again: the media's page evidence (a page
        that is gone by now leaves each media file its own page)."""
        exchange = exchange_of(response)
        if response.status >= 400 or not isinstance(response, TextResponse):
            for media, kind in self._awaiting_page.pop(linking_url, []):
                yield MediaItem(exchange=media, page=PageInfo(exchange=media, title=None),
                                kind=kind)
            return
        try:
            title = extract_page(response.text.replace("\x00", ""), response.url).title
        except Exception:  # noqa: BLE001 (read once already; the title is a bonus)
            title = None
        page = PageInfo(exchange=exchange, title=title)
        self._linking_pages[linking_url] = page
        while len(self._linking_pages) > LINKING_PAGES_KEPT:
            self._linking_pages.popitem(last=False)
        for exchange, kind in self._awaiting_page.pop(linking_url, []):
            yield MediaItem(exchange=exchange, page=page, kind=kind)

    def linking_page_failed(self, failure: Failure) -> Iterator[MediaItem]:
        """The linking page could not be fetched again: each media file is its own page."""
        self.on_error(failure)
        linking_url = failure.request.cb_kwargs["linking_url"]  # type: ignore[attr-defined]
        for exchange, kind in self._awaiting_page.pop(linking_url, []):
            yield MediaItem(exchange=exchange, page=PageInfo(exchange=exchange, title=None),
                            kind=kind)

    def parse_media(self, response: Response, page: PageInfo, kind: str) -> Iterator[MediaItem]:
        if response.status >= 400:
            note_error(self.crawler.stats, f"http_{response.status}", response.url,
                       f"HTTP {response.status}")
            return
        yield MediaItem(exchange=exchange_of(response), page=page, kind=kind)

    def on_error(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]  # Scrapy sets it on errbacks
        if "page_url" in request.cb_kwargs:
            self.frontier.drop(request.cb_kwargs["page_url"])
        if request.meta.get("start"):
            note_start(self.crawler.stats, False)
        size_cap = request.meta.get("download_maxsize") \
            or self.crawler.settings.getint("DOWNLOAD_MAXSIZE")
        kind, reason = failure_reason(failure, size_cap)
        note_error(self.crawler.stats, kind, request.url, reason)

    def request_dropped(self, request: Request) -> None:
        """Scrapy drops a redirect to a URL it already requested without telling the
        request's errback: a redirect back into its own chain is recorded as a loop."""
        chain = request.meta.get("redirect_urls") or []
        if request.url not in chain:
            return  # e.g. a redirect to a page crawled already: nothing is lost
        if "page_url" in request.cb_kwargs:
            self.frontier.drop(request.cb_kwargs["page_url"])
        note_error(self.crawler.stats, "redirect_loop", chain[0],
                   "redirect loop: " + " -> ".join([*chain, request.url]))
