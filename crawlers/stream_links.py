"""Stream URLs on a fetched page: where a live event's candidate restreams are found.

Pure (no Scrapy, no database): one page's HTML in, the HLS/DASH playlist URLs it holds and
the pages it embeds out. Players keep their source in many places; this reads

- ``<video src>`` and ``<source src>``: a playlist by its URL (``.m3u8``, ``.mpd``) or by the
  ``type`` attribute (application/x-mpegURL, application/vnd.apple.mpegurl,
  application/dash+xml);
- every URL-valued attribute (``href``, ``src``, ``data-*``, ``<param value>``, ``<meta
  content>``) that is a playlist URL or carries one as a query parameter
  (``embed.php?src=https://cdn/live.m3u8``); a ``data-*`` attribute named for a stream
  (``data-hls``, ``data-stream-url``) whatever the URL's ending; one holding a player's config
  JSON is read as a script;
- scripts (player setups, config JSON, JSON-LD): every string literal that is a playlist URL,
  the URL given to a stream key (``"hls": ...``, ``hlsUrl = ...``), and the URL given to a
  generic key (``"file"``, ``"source"``, ``src``, ``url``) in an object whose ``type`` says
  HLS or DASH; JSON and JavaScript escapes (``\\/``, ``\\u002F``) are undone;
- ``<iframe>``/``<frame>`` sources as embeds: the pages a player usually sits in, which the
  caller fetches and reads the same way.

URLs are resolved against the page URL (or its ``<base href>``), their fragment dropped:
http(s) only, at most :data:`~swordnet.live.streams.MAX_URL_LENGTH` characters, each once in
document order, at most ``limit`` streams and :data:`MAX_EMBEDS_PER_PAGE` embeds a page.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from bs4 import BeautifulSoup, Tag

from crawlers.extract import absolute_http
from matching.media import PLAYLIST
from swordnet.live.streams import MAX_URL_LENGTH, is_stream_url

STREAM_TYPES = frozenset(PLAYLIST.content_types)
MAX_STREAMS_PER_PAGE = 20
MAX_EMBEDS_PER_PAGE = 5
# Keys (lower-case, letters and digits only) whose URL is a stream whatever its ending...
STREAM_KEYS = frozenset({
    "hls", "hlsurl", "hlssrc", "hlssource", "hlsfile", "dash", "dashurl", "dashsrc", "mpd",
    "mpdurl", "m3u8", "m3u8url", "manifest", "manifesturl", "stream", "streamurl", "streamsrc",
    "livestream", "liveurl", "livesrc", "videourl",
})
# ... and keys whose URL is one when its object's type says HLS or DASH.
GENERIC_KEYS = frozenset({"file", "source", "src", "url"})
# What a script holding a stream mentions (every stream key and type hint holds one of them):
# a quick way past scripts without.
STREAM_WORDS = ("m3u8", "mpd", "mpegurl", "hls", "dash", "manifest", "stream", "live", "video")
EMBED_ATTRIBUTES = ("src", "data-src", "data-lazy-src")
# Attributes that hold URLs (besides ``data-*`` and ones named like a stream or generic key).
URL_ATTRIBUTES = frozenset({"src", "href", "data", "value", "content"})

# A string literal of a script: "double", 'single' or `template` quoted, on one line.
_STRING = re.compile(r'"((?:[^"\\\n]|\\.)*)"|\'((?:[^\'\\\n]|\\.)*)\'|`((?:[^`\\]|\\.)*)`')
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|.)", re.DOTALL)
_KEY_BEFORE = re.compile(r"""["']?([A-Za-z_$][\w$-]*)["']?\s*[:=]\s*$""")
_TYPE_HINT = re.compile(
    r"""mpegurl|dash\+xml|["']?type["']?\s*[:=]\s*["'](?:hls|dash|m3u8|mpd)["']""",
    re.IGNORECASE)
_NOT_IN_URL = re.compile(r"""[\s"'<>]""")
# What a literal naming a playlist holds: a quick way past literals without.
_NAMES_PLAYLIST = re.compile(r"m3u8|mpd", re.IGNORECASE)
KEY_LOOKBACK = 64     # characters before a literal searched for its key
OBJECT_REACH = 300    # characters either side of a literal searched for its object's braces


@dataclass(frozen=True)
class PageStreams:
    """What a page holds: stream (playlist) URLs, and pages it embeds that may hold more."""

    streams: list[str]
    embeds: list[str]


def unescape_js(text: str) -> str:
    r"""A script string literal's value: ``\/``, ``\uXXXX``, ``\xXX`` and the rest undone.

    >>> unescape_js(r"https:\/\/cdn.example\u002Flive.m3u8")
    'https://cdn.example/live.m3u8'
    """
    def one(match: re.Match[str]) -> str:
        code = match.group(1)
        if len(code) > 1:
            return chr(int(code[1:], 16))
        return {"n": "\n", "t": "\t", "r": "\r"}.get(code, code)

    return _ESCAPE.sub(one, text) if "\\" in text else text


def _key(name: str) -> str:
    """A key or attribute name as the key sets hold it: ``data-hls-url`` -> ``hlsurl``."""
    name = name.lower().removeprefix("data-")
    return "".join(c for c in name if c.isalnum())


def _looks_like_url(value: str) -> bool:
    """An absolute, protocol-relative or root-relative URL (what a keyed value must be)."""
    return (value.startswith(("http://", "https://", "//", "/"))
            and len(value) <= MAX_URL_LENGTH and not _NOT_IN_URL.search(value))


def _typed_object(text: str, start: int, end: int) -> bool:
    """Whether the object literal around ``text[start:end]`` says its source is HLS/DASH."""
    opening = text.rfind("{", max(0, start - OBJECT_REACH), start)
    closing = text.find("}", end, end + OBJECT_REACH)
    if opening < 0 or closing < 0:
        return False
    return _TYPE_HINT.search(text, opening, closing) is not None


def script_streams(text: str) -> Iterator[str]:
    """Stream URLs (unresolved) in a script or JSON text, in order; see the module docstring.

    >>> list(script_streams('setup({"file": "https:\\\\/\\\\/cdn.example\\\\/a.m3u8"});'))
    ['https://cdn.example/a.m3u8']
    >>> list(script_streams("var cfg = {hlsUrl: '//cdn.example/live/ch1', poster: '/p.jpg'};"))
    ['//cdn.example/live/ch1']
    >>> list(script_streams('{"src": "/live/x", "type": "application/x-mpegURL"}'))
    ['/live/x']
    >>> list(script_streams('{"src": "/movie/x", "type": "video/mp4"}'))
    []
    """
    lowered = text.lower()
    if not any(word in lowered for word in STREAM_WORDS):  # no playlist, stream key or type
        return
    for match in _STRING.finditer(text):
        raw = match.group(1) or match.group(2) or match.group(3) or ""
        # a URL to take starts like one (escaped or not) or names a playlist; \uXXXX escapes
        # at most make it six times as long
        if not raw or len(raw) > 6 * MAX_URL_LENGTH \
                or not (raw[0] in "h/\\" or _NAMES_PLAYLIST.search(raw)):
            continue
        value = unescape_js(raw).strip()
        if is_stream_url(value):
            yield value
            continue
        if not _looks_like_url(value):
            continue
        key = _KEY_BEFORE.search(text, max(0, match.start() - KEY_LOOKBACK), match.start())
        name = _key(key.group(1)) if key else ""
        if name in STREAM_KEYS or (name in GENERIC_KEYS
                                   and _typed_object(text, match.start(), match.end())):
            yield value


def _carried(url: str) -> list[str]:
    """Playlist URLs a URL carries in its query (``player.html?src=https://.../a.m3u8``)."""
    try:
        query = urlsplit(url).query
    except ValueError:
        return []
    return [value for _name, value in parse_qsl(query)
            if value.startswith(("http://", "https://", "//")) and is_stream_url(value)]


def _attribute_streams(tag: Tag) -> Iterator[str]:
    """Stream URLs (unresolved) in a tag's attributes."""
    name = tag.name
    declared = str(tag.get("type") or "").split(";")[0].strip().lower()
    for attribute, value in tag.attrs.items():
        if not isinstance(value, str) or not value.strip() or not (
                attribute in URL_ATTRIBUTES or attribute.startswith("data-")
                or _key(attribute) in STREAM_KEYS | GENERIC_KEYS):
            continue
        value = value.strip()
        typed = name in ("video", "source") and attribute == "src" and declared in STREAM_TYPES
        keyed = _key(attribute) in STREAM_KEYS and _looks_like_url(value)
        if typed or keyed or is_stream_url(value):
            yield value
        elif value[0] in "{[":  # a player's config as JSON
            yield from script_streams(value)
        else:
            yield from _carried(value)


def _embed_urls(tag: Tag) -> Iterator[str]:
    for attribute in EMBED_ATTRIBUTES:
        value = tag.get(attribute)
        if isinstance(value, str) and value.strip():
            yield value.strip()


def _base_url(soup: BeautifulSoup, page_url: str) -> str:
    """The URL relative links resolve against: the page's ``<base href>``, else its own."""
    base = soup.find("base", href=True)
    href = base.get("href") if isinstance(base, Tag) else None
    resolved = absolute_http(page_url, href) if isinstance(href, str) else None
    return resolved or page_url


def find_streams(html: str | bytes, page_url: str, *,
                 limit: int = MAX_STREAMS_PER_PAGE) -> PageStreams:
    """The stream URLs and embedded pages of a page, absolute and deduplicated, in document
    order, at most ``limit`` streams and :data:`MAX_EMBEDS_PER_PAGE` embeds.

    >>> found = find_streams('<video src="live/ch1.m3u8"></video>'
    ...                      '<iframe src="//player.example/e/7"></iframe>',
    ...                      "https://pirate.example/watch/final")
    >>> found.streams, found.embeds
    (['https://pirate.example/watch/live/ch1.m3u8'], ['https://player.example/e/7'])
    """
    soup = BeautifulSoup(html, "lxml")
    base = _base_url(soup, page_url)
    streams: dict[str, None] = {}
    embeds: dict[str, None] = {}

    def add(raw: str) -> None:
        url = absolute_http(base, raw)
        if url is not None and len(url) <= MAX_URL_LENGTH:
            streams.setdefault(url, None)

    for tag in soup.find_all(True):
        if len(streams) >= limit:
            break
        if tag.name == "script":
            for raw in script_streams(tag.get_text()):
                add(raw)
        for raw in _attribute_streams(tag):
            add(raw)
        if tag.name in ("iframe", "frame"):
            for raw in _embed_urls(tag):
                url = absolute_http(base, raw)
                if url is not None and len(url) <= MAX_URL_LENGTH and not is_stream_url(url) \
                        and not _carried(url):
                    embeds.setdefault(url, None)
    return PageStreams(streams=list(streams)[:limit],
                       embeds=[u for u in embeds if u not in streams][:MAX_EMBEDS_PER_PAGE])
