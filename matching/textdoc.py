"""Documents to text: plain text in any common encoding, HTML pages and EPUB books.

* Plain text: a byte-order mark decides (UTF-8, UTF-16, UTF-32); otherwise strict UTF-8;
  otherwise charset-normalizer's best guess (GBK, Big5, Shift_JIS, cp1252, ...). Content that
  decodes to mostly control characters is binary, not text, and is refused.
* HTML: the main text only, extracted by trafilatura, so navigation, ads, comments and
  footers never take part in matching.
* EPUB: the spine's XHTML documents in reading order, each a section titled by its first
  heading. The book is read by :mod:`matching.ziparchive` within :data:`MAX_EPUB_TEXT_BYTES`
  (and its directory and ratio caps), so a zip bomb is refused, not inflated.

Plain text is split into sections at chapter headings ("Chapter 12", "第十二章", "# Part
two"), so a match can say which chapter a copy holds.
"""

from __future__ import annotations

import codecs
import posixpath
import re
from dataclasses import dataclass
from functools import cached_property
from typing import cast

import charset_normalizer
import lxml.etree
import lxml.html
import trafilatura

from matching.signal import Content, ContentRejected
from matching.ziparchive import ZipArchive, ZipUnreadable

MAX_EPUB_TEXT_BYTES = 64 * 1024 * 1024  # uncompressed XHTML read from one book, at most
MAX_CONTROL_FRACTION = 0.05
HEADING = re.compile(
    r"^\s{0,8}(?:#{1,3}\s+\S.*|(?:chapter|part|book|prologue|epilogue)\b[\w .:'-]{0,80}"
    r"|第[0-9〇零一二三四五六七八九十百千两]{1,8}[章回节卷部篇集].{0,40})\s*$",
    re.IGNORECASE)
XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))


@dataclass(frozen=True)
class Section:
    heading: str | None
    text: str


@dataclass(frozen=True)
class Document:
    format: str  # "text", "html" or "epub"
    encoding: str | None
    sections: list[Section]

    @property
    def text(self) -> str:
        return "\n".join(s.text for s in self.sections)


def _check_text(text: str, encoding: str) -> str:
    controls = sum(1 for c in text if c < " " and c not in "\t\n\r\f\v")
    if text and controls / len(text) > MAX_CONTROL_FRACTION:
        raise ContentRejected(f"binary content, not text ({controls} control characters in "
                              f"{len(text)} decoded as {encoding})")
    return text


def decode_text(content: bytes) -> tuple[str, str]:
    """``(text, encoding)`` of a plain-text or HTML file; raises ``ContentRejected``."""
    if not content.strip():
        raise ContentRejected("empty document")
    for bom, encoding in _BOMS:
        if content.startswith(bom):
            try:
                return _check_text(content.decode(encoding), encoding), encoding
            except UnicodeDecodeError as exc:
                raise ContentRejected(f"bad {encoding} text after its byte-order mark: "
                                      f"{exc.reason} at byte {exc.start}") from None
    try:
        return _check_text(content.decode("utf-8"), "utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    if b"\x00" in content[:4096]:
        raise ContentRejected("binary content, not text (NUL bytes and no UTF-16 byte-order "
                              "mark)")
    best = charset_normalizer.from_bytes(content[:1024 * 1024]).best()
    if best is None or best.encoding is None:
        raise ContentRejected("binary content, not text (no text encoding fits it)")
    return _check_text(content.decode(best.encoding, errors="replace"), best.encoding), \
        best.encoding


def looks_like_html(text: str) -> bool:
    """Markup from its first character on (plain text that mentions a tag is still text).

    >>> looks_like_html("<p>Chapter one</p>"), looks_like_html("Use <p> for paragraphs.")
    (True, False)
    """
    head = text[:2048].lstrip().lower()
    return head.startswith(("<!doctype html", "<html", "<?xml")) or (
        head.startswith("<") and bool(re.search(r"<(head|body|p|div|article|br)[\s/>]", head)))


def html_main_text(html: str) -> str:
    """The main text of a page (no navigation, ads, comments or footer); "" if none."""
    try:
        return trafilatura.extract(html, fast=True, include_comments=False,
                                   include_tables=True) or ""
    except (ValueError, lxml.etree.LxmlError):  # markup lxml cannot build a tree from
        return ""


def sections_of(text: str) -> list[Section]:
    """Plain text split at chapter headings (one untitled section if it has none).

    >>> [s.heading for s in sections_of("Preface\\nChapter 1\\nIt was.\\nCHAPTER 2: Rain\\nOk")]
    [None, 'Chapter 1', 'CHAPTER 2: Rain']
    """
    sections: list[Section] = []
    heading: str | None = None
    lines: list[str] = []
    for line in text.splitlines():
        if HEADING.match(line):
            if heading is not None or any(s.strip() for s in lines):
                sections.append(Section(heading, "\n".join(lines)))
            heading, lines = line.strip().lstrip("#").strip(), []
        else:
            lines.append(line)
    sections.append(Section(heading, "\n".join(lines)))
    return sections


def _xpath_strings(node: lxml.etree._Element, path: str) -> list[str]:
    """The string results (attribute values, text) of XPath ``path`` from ``node``."""
    found = node.xpath(path)
    return [str(value) for value in found if isinstance(value, str)] \
        if isinstance(found, list) else []


def _xpath_elements(node: lxml.etree._Element, path: str) -> list[lxml.etree._Element]:
    """The elements that XPath ``path`` selects from ``node``."""
    found = node.xpath(path)
    return [value for value in found if isinstance(value, lxml.etree._Element)] \
        if isinstance(found, list) else []


def epub_document(content: bytes) -> Document:
    """The sections of an EPUB book in spine order; raises ``ContentRejected``."""
    try:
        book = ZipArchive.open(content, member_bytes=MAX_EPUB_TEXT_BYTES,
                               total_bytes=MAX_EPUB_TEXT_BYTES)
        if book is None:
            raise ZipUnreadable("not a zip archive")
        container = lxml.etree.fromstring(book.read("META-INF/container.xml"))
        opf_path = _xpath_strings(container, "//*[local-name()='rootfile']/@full-path")[0]
        opf = lxml.etree.fromstring(book.read(opf_path))
        items = {item.get("id"): item.get("href")
                 for item in _xpath_elements(opf, "//*[local-name()='item']")}
        spine = [href for ref in _xpath_strings(opf, "//*[local-name()='itemref']/@idref")
                 if (href := items.get(ref)) is not None]
        sections = []
        for href in spine:
            name = posixpath.normpath(posixpath.join(posixpath.dirname(opf_path), href))
            xhtml, _ = decode_text(book.read(name))
            # lxml-stubs type fromstring as returning _Element; lxml.html's parser makes
            # HtmlElement nodes.
            page = cast(lxml.html.HtmlElement,
                        lxml.html.fromstring(XML_DECLARATION.sub("", xhtml, count=1)))
            heading = next((h.text_content().strip() for h in page.iter("h1", "h2", "h3")
                            if isinstance(h, lxml.html.HtmlElement) and h.text_content().strip()),
                           None)
            for junk in _xpath_elements(page, "//script|//style"):
                if isinstance(junk, lxml.html.HtmlElement):
                    junk.drop_tree()
            sections.append(Section(heading, page.text_content()))
    except ContentRejected:
        raise
    except ZipUnreadable as exc:
        raise ContentRejected(f"EPUB refused: {exc}") from None
    except (KeyError, IndexError, lxml.etree.LxmlError, ValueError) as exc:
        raise ContentRejected(f"unreadable EPUB: {type(exc).__name__}: {exc}") from None
    if not sections:
        raise ContentRejected("EPUB with no readable chapters")
    return Document("epub", None, sections)


def _is_epub(content: bytes) -> bool:
    return content.startswith(b"PK\x03\x04") and b"application/epub+zip" in content[:200]


def read_document(content: bytes) -> Document:
    """A registered or crawled document as sections of text; raises ``ContentRejected``."""
    if _is_epub(content):
        return epub_document(content)
    text, encoding = decode_text(content)
    if looks_like_html(text):
        return Document("html", encoding, [Section(None, html_main_text(text))])
    return Document("text", encoding, sections_of(text))


def _whole_characters(head: bytes) -> bytes:
    """The start of a file without a UTF-8 character its cut left incomplete."""
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason == "unexpected end of data":
            return head[: exc.start]
    return head


class TextContent(Content):
    """A text file (plain text, HTML, EPUB), read once for every text signal."""

    @cached_property
    def document(self) -> Document:
        """Its sections of text; raises ``ContentRejected`` (each time it is asked)."""
        return read_document(self.raw)

    @classmethod
    def recognise(cls, head: bytes) -> int:
        """2 for an EPUB book, 1 for anything else that decodes as text (but PDF and
        PostScript, which start like text), else 0.

        >>> TextContent.recognise("第一章 雨".encode()[:-1]), TextContent.recognise(b"\\0\\1")
        (1, 0)
        """
        if _is_epub(head):
            return 2
        if head.startswith((b"%PDF-", b"%!PS")):
            return 0
        if head.startswith(tuple(bom for bom, _ in _BOMS)):
            return 1
        try:
            decode_text(_whole_characters(head))
        except ContentRejected:
            return 0
        return 1
