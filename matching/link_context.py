"""The text around a page's download links: what the link signal looks for work names in.

A download link (magnet, ``.torrent``, cloud-drive share, streaming playlist) is read with
its own text and ``title``, the text of the nearest enclosing block (list item, table
row, paragraph, ...; at most :data:`MAX_BLOCK_CHARS`) and the nearest heading before it.
The page's ``<title>`` and first ``<h1>`` name what a download page is about, so they form
one more context holding all of the page's download links. lxml parses the page: it is
fast and tolerant of bad markup.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urljoin

import lxml.etree
import lxml.html

from matching.media import CLOUD, MAGNET, PLAYLIST, TORRENT, FileKind, file_kind

# Links that hand out copies without being one: what the link signal reads on a page.
LINK_KINDS: tuple[FileKind, ...] = (MAGNET, TORRENT, CLOUD, PLAYLIST)
BLOCKS = {"li", "tr", "p", "dd", "dt", "td", "div", "section", "article", "h1", "h2", "h3",
          "h4", "table", "ul", "ol"}
MAX_BLOCK_CHARS = 400
_LINK_KIND_NAMES = {kind.name for kind in LINK_KINDS}


@dataclass(frozen=True)
class LinkContext:
    """Text around one or more download links of a page, and those links."""

    text: str
    links: list[str]
    kinds: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class LinkQuery:
    contexts: list[LinkContext]


def _text(element: lxml.html.HtmlElement) -> str:
    return " ".join(element.text_content().split())


def _block_text(anchor: lxml.html.HtmlElement) -> str:
    """Text of the nearest enclosing block that says more than the anchor alone."""
    own = _text(anchor)
    for parent in anchor.iterancestors():
        if not isinstance(parent.tag, str) or parent.tag in ("body", "html"):
            break
        if parent.tag in BLOCKS:
            text = _text(parent)
            if len(text) > len(own):
                return text[:MAX_BLOCK_CHARS]
    return own


def _heading_before(anchor: lxml.html.HtmlElement) -> str:
    """Text of the nearest heading before ``anchor`` ("" if there is none)."""
    found = anchor.xpath("preceding::*[self::h1 or self::h2 or self::h3 or self::h4][1]")
    heading = found[0] if isinstance(found, list) and found else None
    return _text(heading) if isinstance(heading, lxml.html.HtmlElement) else ""


def link_query(html: str, base_url: str) -> LinkQuery:
    """Contexts of every download link on the page (none if it has no such link).

    >>> q = link_query('<title>Film X 1080p</title><ul><li>Film X <a href="/x.torrent">'
    ...                'get</a></li></ul><a href="/about">about</a>', "http://s.test/p/1")
    >>> [(c.text, c.links) for c in q.contexts]
    [('Film X get', ['http://s.test/x.torrent']), ('Film X 1080p', ['http://s.test/x.torrent'])]
    >>> q = link_query('<h2>Film Y</h2><ul><li><a href="magnet:?xt=1">magnet</a></li></ul>', "")
    >>> q.contexts[0].text
    'Film Y magnet'
    """
    try:
        root = lxml.html.document_fromstring(html)
    except (lxml.etree.LxmlError, ValueError):
        return LinkQuery([])
    contexts: list[LinkContext] = []
    links: list[str] = []
    kinds: list[str] = []
    for anchor in root.iter("a"):
        href = (anchor.get("href") or "").strip()
        url = href if href.lower().startswith("magnet:") else urljoin(base_url, href)
        kind = file_kind(url) if href else None
        if kind not in _LINK_KIND_NAMES:
            continue
        parts = (_heading_before(anchor), _block_text(anchor),
                 anchor.get("title") or "")
        text = " ".join(t for t in parts if t)
        contexts.append(LinkContext(text, [url], [kind]))
        if url not in links:
            links.append(url)
            kinds.append(kind)
    if links:
        title = root.find(".//title")
        heading = root.find(".//h1")
        page_text = " ".join(_text(e) for e in (title, heading) if e is not None)
        if page_text:
            contexts.append(LinkContext(page_text, links, kinds))
    return LinkQuery(contexts)
