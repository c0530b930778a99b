"""Sitemaps (sitemaps.org XML, gzip-compressed or not) and the robots.txt lines naming them,
read with Scrapy's sitemap utilities (pure: no requests, no database).

The ``site`` spider reads the sitemaps a start host's robots.txt names (else its
``/sitemap.xml``) to find pages no link leads to; the ``feed`` spider reads a sitemap as the
list of entries it watches. Both refuse what does not fit a crawl's caps: a body larger than
the page cap once decompressed, sitemap indexes nested deeper than :data:`MAX_NESTING`, more
than :data:`MAX_SITEMAPS` sitemap files, sitemaps on other sites.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from scrapy.utils._compression import _DecompressionMaxSizeExceeded
from scrapy.utils.gz import gunzip
from scrapy.utils.sitemap import Sitemap, sitemap_urls_from_robots

from swordnet.watch.targets import site_key

MAX_NESTING = 3     # sitemap index -> sitemap index -> ... -> sitemap
MAX_SITEMAPS = 100  # sitemap files read per crawl (each lists up to 50,000 URLs)
ROBOTS_MAX_BYTES = 512 * 1024  # Google reads the first 500 KiB of a robots.txt
GZIP_MAGIC = b"\x1f\x8b"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def robots_url(url: str) -> str:
    """The robots.txt of ``url``'s host.

    >>> robots_url("https://pirate.example:8080/films/1.html?x=1")
    'https://pirate.example:8080/robots.txt'
    """
    return _origin(url) + "/robots.txt"


def default_sitemap_url(url: str) -> str:
    """Where a host's sitemap is when its robots.txt names none.

    >>> default_sitemap_url("http://pirate.example/robots.txt")
    'http://pirate.example/sitemap.xml'
    """
    return _origin(url) + "/sitemap.xml"


def named_sitemaps(robots: bytes, robots_url: str) -> list[str]:
    """The http(s) sitemap URLs a robots.txt names (``Sitemap:`` lines), absolute, once each.

    >>> named_sitemaps(b"User-agent: *\\nSitemap: /s.xml\\nsitemap: ftp://x/y\\n",
    ...                "http://pirate.example/robots.txt")
    ['http://pirate.example/s.xml']
    """
    urls = dict.fromkeys(sitemap_urls_from_robots(robots, base_url=robots_url))
    return [u for u in urls if u.startswith(("http://", "https://"))]


def sitemap_refusal(url: str, hosts: set[str], nesting: int, read: int) -> str | None:
    """Why the sitemap at ``url`` is not read, or None: not on one of the crawl's ``hosts``,
    nested too deep (``nesting`` indexes above it), or ``read`` sitemaps already.

    >>> hosts = {"pirate.example"}
    >>> sitemap_refusal("http://pirate.example/s.xml", hosts, 0, 0) is None
    True
    >>> sitemap_refusal("http://cdn.example/s.xml", hosts, 0, 0)
    'off_site'
    >>> sitemap_refusal("http://pirate.example/s.xml", hosts, MAX_NESTING + 1, 0)
    'nested_too_deep'
    >>> sitemap_refusal("http://pirate.example/s.xml", hosts, 0, MAX_SITEMAPS)
    'too_many_sitemaps'
    """
    try:
        on_site = site_key(url) in hosts
    except ValueError:  # a URL no check accepts (a bad host or port)
        on_site = False
    if not on_site:
        return "off_site"
    if nesting > MAX_NESTING:
        return "nested_too_deep"
    if read >= MAX_SITEMAPS:
        return "too_many_sitemaps"
    return None


def sitemap_body(body: bytes, max_size: int) -> bytes:
    """The XML of a sitemap response: gunzipped if it is a gzip file (``.xml.gz``; a body
    sent with ``Content-Encoding: gzip`` was decoded by Scrapy already). Raises ValueError
    when it cannot be decompressed or grows past ``max_size`` bytes.

    >>> import gzip
    >>> sitemap_body(gzip.compress(b"<urlset/>"), 1024)
    b'<urlset/>'
    >>> sitemap_body(gzip.compress(bytes(2048)), 1024)
    Traceback (most recent call last):
    ...
    ValueError: cannot gunzip: larger than 1024 bytes decompressed
    """
    if body[:2] != GZIP_MAGIC:
        return body
    try:
        return gunzip(body, max_size=max_size)
    except _DecompressionMaxSizeExceeded:
        raise ValueError(f"cannot gunzip: larger than {max_size} bytes decompressed") from None
    except Exception as exc:  # noqa: BLE001 (a bad archive is the site's problem)
        raise ValueError(f"cannot gunzip: {exc}") from None


def is_sitemap(body: bytes) -> bool:
    """Whether ``body`` (decompressed) looks like a sitemap or a sitemap index.

    >>> is_sitemap(b'<?xml version="1.0"?><urlset xmlns="..."/>'), is_sitemap(b"<rss/>")
    (True, False)
    """
    head = body[:4096].lower()
    return b"<urlset" in head or b"<sitemapindex" in head


def read_sitemap(body: bytes) -> tuple[bool, list[tuple[str, str]]]:
    """Whether ``body`` (decompressed) is a sitemap index, and its entries as
    ``(URL, lastmod)``. Raises ValueError for anything that is not a readable sitemap.

    >>> read_sitemap(b'<sitemapindex><sitemap><loc> http://a.example/s.xml </loc>'
    ...              b'</sitemap></sitemapindex>')
    (True, [('http://a.example/s.xml', '')])
    >>> read_sitemap(b"<html><body>Not found</body></html>")
    Traceback (most recent call last):
    ...
    ValueError: not a sitemap (no <urlset> or <sitemapindex>)
    """
    if not is_sitemap(body):
        raise ValueError("not a sitemap (no <urlset> or <sitemapindex>)")
    try:
        sitemap = Sitemap(body)
        entries = [(e["loc"], e.get("lastmod", "")) for e in sitemap if e.get("loc")]
    except Exception as exc:  # noqa: BLE001 (hostile XML must never end a crawl)
        raise ValueError(f"unreadable sitemap: {type(exc).__name__}: {exc}") from None
    return sitemap.type == "sitemapindex", entries
