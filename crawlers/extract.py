"""Finding media and links in a page's HTML (BeautifulSoup over lxml, tolerant of bad markup).

Images come from ``<img src>``, the largest ``srcset`` candidate, lazy-loading attributes,
``<picture><source>``, ``og:image``/``twitter:image`` and CSS ``url(...)`` in ``style``
attributes and ``<style>`` blocks. File links (video, archives, installers, ``.torrent``,
``magnet:``, cloud-drive shares, streaming playlists, audio) come from ``<a>``, ``<video>``,
``<audio>``, their ``<source>`` s and ``<embed>``/``<object>``, classified by
:func:`matching.media.file_kind` from the URL, else by the ``type`` attribute's media type.
A player's source is what it plays (video, audio); an embed or object saying neither is an
``embed`` (counted, not fetched).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urldefrag, urljoin, urlsplit

from bs4 import BeautifulSoup, Tag

from matching.media import IMAGE, file_kind, kind_of_content_type, url_suffix

LAZY_ATTRIBUTES = ("data-src", "data-lazy-src", "data-original", "data-lazy", "data-url")
LAZY_SRCSET_ATTRIBUTES = ("data-srcset", "data-lazy-srcset")
META_IMAGE_KEYS = ("og:image", "og:image:url", "og:image:secure_url", "twitter:image")
CSS_URL = re.compile(r"""url\(\s*(['"]?)([^'")]+)\1\s*\)""", re.IGNORECASE)
# (element, the element a <source> is in (None: the element itself), attribute naming the
# URL, what the element plays), in the order their URLs are listed. Found with find_all, not
# CSS selectors: soupsieve's matching cost a third of a page's extraction.
PLAYERS = (("video", None, "src", "video"), ("source", "video", "src", "video"),
           ("audio", None, "src", "audio"), ("source", "audio", "src", "audio"),
           ("embed", None, "src", "embed"), ("object", None, "data", "embed"))


@dataclass(frozen=True)
class FileLink:
    url: str
    kind: str  # a file kind of matching.media, or "embed" (an embed saying nothing more)


@dataclass(frozen=True)
class PageLinks:
    title: str | None
    images: list[str]
    links: list[str]
    files: list[FileLink]


def largest_srcset_candidate(srcset: str) -> str | None:
    """The URL with the largest width (``w``) or density (``x``) descriptor.

    >>> largest_srcset_candidate("a.jpg 320w, b.jpg 1024w, c.jpg 640w")
    'b.jpg'
    >>> largest_srcset_candidate("a.jpg, b.jpg 2x")
    'b.jpg'
    """
    best: tuple[float, str] | None = None
    for candidate in srcset.split(","):
        parts = candidate.strip().split()
        if not parts:
            continue
        size = 1.0
        if len(parts) > 1 and parts[1][:-1].replace(".", "", 1).isdigit():
            size = float(parts[1][:-1])
        if best is None or size > best[0]:
            best = (size, parts[0])
    return best[1] if best else None


def absolute_http(base: str, raw: str | None) -> str | None:
    """``raw`` resolved against ``base``, without its fragment, if it is an http(s) URL a
    request can be made to; else None."""
    if not raw:
        return None
    raw = raw.strip()
    if not raw or raw.startswith(("data:", "javascript:", "mailto:", "#")):
        return None
    try:
        url = urldefrag(urljoin(base, raw)).url
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port that is not 0-65535)
    except ValueError:  # e.g. "http://host:{port}/", "http://[::1/": no request can be made
        return None
    return url if parts.scheme in ("http", "https") and parts.hostname else None


def _attr(tag: Tag, name: str) -> str | None:
    value = tag.get(name)
    return value if isinstance(value, str) else None


def _image_candidates(soup: BeautifulSoup) -> list[str | None]:
    found: list[str | None] = []
    for img in soup.find_all("img"):
        lazy = [_attr(img, a) for a in LAZY_ATTRIBUTES if _attr(img, a)]
        lazy += [largest_srcset_candidate(_attr(img, a) or "") for a in LAZY_SRCSET_ATTRIBUTES]
        srcset = _attr(img, "srcset")
        if srcset:
            found.append(largest_srcset_candidate(srcset))
        elif not any(lazy):
            found.append(_attr(img, "src"))
        found.extend(lazy)
    for source in _sources_in(soup, "picture"):
        found.append(largest_srcset_candidate(_attr(source, "srcset") or ""))
    for meta in soup.find_all("meta"):
        key = _attr(meta, "property") or _attr(meta, "name")
        if key and key.lower() in META_IMAGE_KEYS:
            found.append(_attr(meta, "content"))
    for tag in soup.find_all(style=True):
        found.extend(m.group(2) for m in CSS_URL.finditer(_attr(tag, "style") or ""))
    for style in soup.find_all("style"):
        found.extend(m.group(2) for m in CSS_URL.finditer(style.get_text()))
    return found


def _sources_in(soup: BeautifulSoup, container: str) -> list[Tag]:
    """The ``<source>`` elements inside a ``container`` element (CSS ``container source``),
    in document order."""
    return [source for source in soup.find_all("source") if source.find_parent(container)]


def _embedded(soup: BeautifulSoup) -> list[tuple[str | None, str]]:
    """``(url, kind)`` of every player source and embed, kind from the URL, else the
    ``type`` attribute, else what the element plays."""
    by_name: dict[str, list[Tag]] = {name: [] for name, _, _, _ in PLAYERS}
    for element in soup.find_all(list(by_name)):
        by_name[element.name].append(element)
    found: list[tuple[str | None, str]] = []
    for name, container, attribute, plays in PLAYERS:
        elements = by_name[name]
        if container:
            elements = [e for e in elements if e.find_parent(container)]
        for element in elements:
            raw = _attr(element, attribute)
            declared = kind_of_content_type(_attr(element, "type") or "")
            found.append((raw, (file_kind(raw) if raw else None) or declared or plays))
    return found


def _file_links(base_url: str, soup: BeautifulSoup, links: list[str]) -> list[FileLink]:
    found: dict[str, str] = {}
    for raw, kind in _embedded(soup):
        source = absolute_http(base_url, raw)
        if source:
            found.setdefault(source, kind)
    for tag in soup.find_all(["a", "area"]):
        href = (_attr(tag, "href") or "").strip()
        if href.lower().startswith("magnet:"):
            found.setdefault(href, "magnet")
    for url in links:
        linked = file_kind(url)
        if linked and linked != IMAGE.name:  # a linked image is one of the page's images
            found.setdefault(url, linked)
    return [FileLink(url, kind) for url, kind in found.items()]


def extract_page(html: str | bytes, base_url: str) -> PageLinks:
    """Title, image URLs, page link URLs and file links of a page: absolute, deduplicated, in
    document order. Links to files are not listed among the page links."""
    soup = BeautifulSoup(html, "lxml")
    images = _absolute_unique(base_url, _image_candidates(soup))
    hrefs = [_attr(tag, "href") for tag in soup.find_all(["a", "area"])]
    hrefs += [_attr(tag, "href") for tag in soup.find_all("link", rel=["next", "prev"])]
    links = _absolute_unique(base_url, hrefs)
    linked_images = [u for u in links if url_suffix(u) in IMAGE.extensions]  # a full-size view
    images += [u for u in linked_images if u not in images]
    files = _file_links(base_url, soup, links)
    not_pages = {f.url for f in files} | set(linked_images)
    title = soup.title.get_text(strip=True) if soup.title else None
    return PageLinks(title=title or None, images=images,
                     links=[u for u in links if u not in not_pages], files=files)


def _absolute_unique(base_url: str, raws: list[str | None]) -> list[str]:
    seen: dict[str, None] = {}
    for raw in raws:
        url = absolute_http(base_url, raw)
        if url:
            seen.setdefault(url, None)
    return list(seen)
