"""Finding media and links in a page's HTML (BeautifulSoup over lxml, tolerant of bad markup).

Images come from ``<img src>``, the largest ``srcset`` candidate, lazy-loading attributes,
``<picture><source>``, ``og:image``/``twitter:image`` and CSS ``url(...)`` in ``style``
attributes and ``<style>`` blocks. File links (video, archives, installers, ``.torrent``,
``magnet:``, cloud-drive shares, streaming playlists) come from ``<a>``, ``<video>``,
``<source>`` and ``<embed>``/``<object>``, classified by :func:`file_kind`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

from bs4 import BeautifulSoup, Tag

LAZY_ATTRIBUTES = ("data-src", "data-lazy-src", "data-original", "data-lazy", "data-url")
LAZY_SRCSET_ATTRIBUTES = ("data-srcset", "data-lazy-srcset")
META_IMAGE_KEYS = ("og:image", "og:image:url", "og:image:secure_url", "twitter:image")
CSS_URL = re.compile(r"""url\(\s*(['"]?)([^'")]+)\1\s*\)""", re.IGNORECASE)
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".avif"}
FILE_EXTENSIONS = {
    "video": {".mp4", ".mkv", ".avi", ".mov", ".wmv", ".flv", ".webm", ".m4v", ".ts", ".rmvb"},
    "playlist": {".m3u8", ".m3u", ".mpd"},
    "archive": {".zip", ".rar", ".7z", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".iso"},
    "software": {".exe", ".msi", ".dmg", ".pkg", ".apk", ".ipa", ".deb", ".rpm", ".appimage"},
    "torrent": {".torrent"},
}
CLOUD_DRIVE_HOSTS = (
    "pan.baidu.com", "drive.google.com", "docs.google.com", "mega.nz", "mega.co.nz",
    "mediafire.com", "1drv.ms", "onedrive.live.com", "dropbox.com", "aliyundrive.com",
    "alipan.com", "pan.quark.cn", "lanzou.com", "lanzoui.com", "lanzoux.com", "115.com",
    "weiyun.com", "cloud.189.cn", "pan.xunlei.com", "terabox.com", "disk.yandex.ru",
)


@dataclass(frozen=True)
class FileLink:
    url: str
    kind: str  # one of FILE_EXTENSIONS' keys, "magnet" or "cloud"


@dataclass(frozen=True)
class PageLinks:
    title: str | None
    images: list[str]
    links: list[str]
    files: list[FileLink]


def _suffix(url: str) -> str:
    return PurePosixPath(unquote(urlsplit(url).path)).suffix.lower()


def file_kind(url: str) -> str | None:
    """What a link points to, if it is a file a pirate page offers rather than a page.

    >>> file_kind("magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a")
    'magnet'
    >>> file_kind("https://cdn.example/Film.2026.1080p.MKV?token=1")
    'video'
    >>> file_kind("https://pan.baidu.com/s/1AbCdEf")
    'cloud'
    >>> file_kind("https://site.example/films/7.html") is None
    True
    """
    if url.lower().startswith("magnet:"):
        return "magnet"
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if any(host == h or host.endswith("." + h) for h in CLOUD_DRIVE_HOSTS):
        return "cloud"
    suffix = _suffix(url)
    for kind, suffixes in FILE_EXTENSIONS.items():
        if suffix in suffixes:
            return kind
    return None


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


def _file_links(base_url: str, soup: BeautifulSoup, links: list[str]) -> list[FileLink]:
    found: dict[str, str] = {}
    media = [_attr(t, "src") for t in soup.find_all(["video", "embed"])]
    media += [_attr(t, "src") for t in soup.select("video source")]
    media += [_attr(t, "data") for t in soup.find_all("object")]
    for url in _absolute_unique(base_url, media):  # a player's source is a video, whatever
        found.setdefault(url, file_kind(url) or "video")  # its name says
    for tag in soup.find_all(["a", "area"]):
        href = (_attr(tag, "href") or "").strip()
        if href.lower().startswith("magnet:"):
            found.setdefault(href, "magnet")
    for url in links:
        kind = file_kind(url)
        if kind:
            found.setdefault(url, kind)
    return [FileLink(url, kind) for url, kind in found.items()]


def extract_page(html: str | bytes, base_url: str) -> PageLinks:
    """Title, image URLs, page link URLs and file links of a page: absolute, deduplicated, in
    document order. Links to files are not listed among the page links."""
    soup = BeautifulSoup(html, "lxml")
    images = _absolute_unique(base_url, _image_candidates(soup))
    hrefs = [_attr(tag, "href") for tag in soup.find_all(["a", "area"])]
    hrefs += [_attr(tag, "href") for tag in soup.find_all("link", rel=["next", "prev"])]
    links = _absolute_unique(base_url, hrefs)
    linked_images = [u for u in links if _suffix(u) in IMAGE_EXTENSIONS]  # a full-size view
    images += [u for u in linked_images if u not in images]
    files = _file_links(base_url, soup, links)
    not_pages = {f.url for f in files} | set(linked_images)
    title = soup.title.get_text(strip=True) if soup.title else None
    return PageLinks(title=title or None, images=images,
                     links=[u for u in links if u not in not_pages], files=files)


def _absolute_unique(base_url: str, raws: list[str | None]) -> list[str]:
    seen: dict[str, None] = {}
    for raw in raws:
        url = _absolute_http(base_url, raw)
        if url:
            seen.setdefault(url, None)
    return list(seen)
