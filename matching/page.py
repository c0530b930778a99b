"""A crawled page, read once for every signal that reads pages."""

from __future__ import annotations

from functools import cached_property

from matching.link_context import LinkQuery, link_query
from matching.textdoc import TextContent


class PageContent(TextContent):
    """A page's HTML (UTF-8) and its URL: its main text (:attr:`document`, from
    :class:`~matching.textdoc.TextContent`) and the contexts of its download links."""

    def __init__(self, raw: bytes, url: str = "") -> None:
        super().__init__(raw)
        self.url = url

    @cached_property
    def link_query(self) -> LinkQuery:
        """The text around each of the page's download links (relative links resolved
        against :attr:`url`)."""
        return link_query(self.raw.decode("utf-8", errors="replace"), self.url)
