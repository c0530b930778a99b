"""The crawl frontier: the best depth seen per page, and when a page must be expanded again
(pure: no Scrapy, no database).

A site crawled to depth *D* should cover exactly the pages a breadth-first crawl reaches
within *D* links of a start page, whatever order the responses arrive in. Scrapy's
responses arrive as fast as each page is served, so a page can first be reached by a long
path (through fast pages) and only later by a shorter one (through a slow page). The
frontier remembers the shortest depth seen per URL. A page whose request is still pending
is simply read at its best depth when it arrives; a page already read at a greater depth
must be fetched again and its links followed from the new depth (its evidence was already
captured, so only its links matter). That is Scrapy's depth semantics (``depth`` in
``request.meta``: the start pages are 0, a link is one more than its page), kept per URL.

>>> frontier = Frontier()
>>> frontier.reach("/x", 3)          # first seen at the depth limit: fetch it
True
>>> frontier.expand("/x")            # read: its links would be at depth 4
3
>>> frontier.reach("/x", 2)          # reached again by a shorter path: fetch it again
True
>>> frontier.reach("/x", 2), frontier.reach("/x", 1)  # already due for a fetch
(False, False)
>>> frontier.expand("/x")            # the new fetch is read from the best depth seen
1
"""

from __future__ import annotations


class Frontier:
    """Page URLs seen in one crawl, each with the smallest depth it was reached at.

    A URL is *due* from the moment :meth:`reach` asks for a request until the response is
    read (:meth:`expand`) or given up (:meth:`drop`). Pass canonical URLs.
    """

    def __init__(self) -> None:
        self._best: dict[str, int] = {}
        self._due: set[str] = set()
        self._dropped: set[str] = set()

    def __len__(self) -> int:
        """Distinct pages seen (each counts once toward a page cap, however often fetched)."""
        return len(self._best)

    def __contains__(self, url: object) -> bool:
        return url in self._best

    def depth(self, url: str) -> int:
        """The smallest depth ``url`` was reached at."""
        return self._best[url]

    def reach(self, url: str, depth: int) -> bool:
        """Note that a link leads to ``url`` at ``depth``; whether a request must be made.

        True for a new URL, and for a page already read at a greater depth (its links must
        be followed again from ``depth``). False when nothing changes: the URL was reached
        before at ``depth`` or less, its request is still due (it will be read at the best
        depth), or it was dropped.
        """
        if depth < 0:
            raise ValueError(f"depth must not be negative, not {depth}")
        best = self._best.get(url)
        if best is None:
            self._best[url] = depth
            self._due.add(url)
            return True
        if depth >= best:
            return False
        self._best[url] = depth
        if url in self._due or url in self._dropped:
            return False
        self._due.add(url)
        return True

    def expand(self, url: str) -> int:
        """``url`` was fetched and read: the depth to follow its links from (its best)."""
        self._due.discard(url)
        return self._best[url]

    def drop(self, url: str) -> None:
        """``url`` could not be read (an error, not a page): never fetch it again."""
        self._due.discard(url)
        self._dropped.add(url)
