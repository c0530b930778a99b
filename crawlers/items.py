"""What a spider hands to the pipelines: fetched exchanges, the pages they were found on, media."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from hashlib import sha256
from http import HTTPStatus

from matching.match_index import Match


def reason_phrase(status: int) -> str:
    """The standard reason phrase of an HTTP status (Scrapy does not keep the server's).

    >>> reason_phrase(404), reason_phrase(599)
    ('Not Found', '')
    """
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


@dataclass
class Exchange:
    """One request and the response to it, as the crawler saw them: what a WARC record holds.

    ``body`` is the decoded body (after Content-Encoding was removed by Scrapy).
    ``rendered`` marks a page whose body is the DOM after a browser ran its scripts.
    """

    url: str
    method: str
    request_headers: list[tuple[str, str]] = field(repr=False)
    status: int
    response_headers: list[tuple[str, str]] = field(repr=False)
    body: bytes = field(repr=False)
    ip: str | None
    fetched_at: datetime
    rendered: bool = False

    @property
    def content_type(self) -> str | None:
        for name, value in self.response_headers:
            if name.lower() == "content-type":
                return value
        return None

    @cached_property
    def sha256(self) -> str:
        return sha256(self.body).hexdigest()


@dataclass
class PageInfo:
    """The page a media file was found on (captured as evidence when one of its media matches)."""

    exchange: Exchange = field(repr=False)
    title: str | None
    screenshot: bytes | None = field(default=None, repr=False)  # full-page PNG, if wanted

    @property
    def url(self) -> str:
        return self.exchange.url

    @property
    def sha256(self) -> str:
        return self.exchange.sha256


@dataclass
class MediaItem:
    """A fetched media file, or a page to match by its text and links (kind ``page``),
    filled in as it moves through the pipelines."""

    exchange: Exchange = field(repr=False)
    page: PageInfo = field(repr=False)
    kind: str = "image"
    text: str | None = field(default=None, repr=False)  # a page's decoded HTML
    # a page's kinds of file links (magnet, torrent, ...), as the spider found them; None:
    # not known. Page signals that read links of other kinds only are not asked.
    link_kinds: frozenset[str] | None = None
    note: str | None = None  # how the content was read, e.g. first frame of an animation
    matches: list[Match] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.exchange.url

    @property
    def body(self) -> bytes:
        return self.exchange.body

    @property
    def is_page(self) -> bool:
        """Whether the copy is the page itself (its text or links matched, not a file)."""
        return self.kind == "page"

    @property
    def analysed(self) -> bytes:
        """What the matcher reads: a page as UTF-8 HTML, a file as fetched."""
        return self.text.encode("utf-8") if self.text is not None else self.exchange.body


@dataclass
class RecheckItem:
    """The response (or the lack of one) to a recheck of a URL under notice."""

    notice_url_id: int
    work_id: int
    kind: str
    url: str
    exchange: Exchange | None = field(default=None, repr=False)  # None: no response at all
    failure: str | None = None
    # Whether the content still matches the work; None when the matcher could not tell.
    still_matches: bool | None = False
    text: str | None = field(default=None, repr=False)  # a page's decoded HTML
    # The thresholds in force when the hit was confirmed (None: judge by today's).
    thresholds: dict[str, float] | None = None

    @property
    def analysed(self) -> bytes:
        """What the matcher reads: a page as UTF-8 HTML, a file as fetched."""
        assert self.exchange is not None
        return self.text.encode("utf-8") if self.text is not None else self.exchange.body
