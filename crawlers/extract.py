"""Finding media and links in a page's HTML (BeautifulSoup over lxml, tolerant of bad markup).

Images come from ``<img src>``, the largest ``srcset`` candidate, lazy-loading attributes,
``<picture><source>``, ``og:image``/``twitter:image`` and CSS ``url(...)`` in ``style``
attributes and ``<style>`` blocks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urldefrag, urljoin, urlsplit

from bs4 import BeautifulSoup, Tag

LAZY_ATTRIBUTES = ("data-src", "data-lazy-src", "data-original", "data-lazy", "data-url")
LAZY_SRCSET_ATTRIBUTES = ("data-srcset", "data-lazy-srcset")
META_IMAGE_KEYS = ("og:image", "og:image:url", "og:image:secure_url", "twitter:image")
CSS_URL = re.compile(r"""url\(\s*(['"]?)([^'")]+)\1\s*\)""", re.IGNORECASE)


@dataclass(frozen=True)
class PageLinks:
    title: str | None
    images: list[str]
    links: list[str]


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


def _absolute_http(base: str, raw: str | None) -> str | None:
    if not raw:
        return None
    raw = raw.strip()
    if not raw or raw.startswith(("data:", "javascript:", "mailto:", "#")):
        return None
    url = urldefrag(urljoin(base, raw)).url
    return url if urlsplit(url).scheme in ("http", "https") else None


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
    for source in soup.select("picture source"):
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


def extract_page(html: str | bytes, base_url: str) -> PageLinks:
    """Title, image URLs and link URLs of a page, absolute, deduplicated, in document order."""
    soup = BeautifulSoup(html, "lxml")
    images = _absolute_unique(base_url, _image_candidates(soup))
    hrefs = [_attr(tag, "href") for tag in soup.find_all(["a", "area"])]
    hrefs += [_attr(tag, "href") for tag in soup.find_all("link", rel=["next", "prev"])]
    title = soup.title.get_text(strip=True) if soup.title else None
    return PageLinks(title=title or None, images=images, links=_absolute_unique(base_url, hrefs))


def _absolute_unique(base_url: str, raws: list[str | None]) -> list[str]:
    seen: dict[str, None] = {}
    for raw in raws:
        url = _absolute_http(base_url, raw)
        if url:
            seen.setdefault(url, None)
    return list(seen)
