"""The link signal: a registered work named next to links that hand out copies.

Many pirate pages host nothing: they name the work and link out (magnet links, ``.torrent``
files, cloud-drive shares, streaming playlists). Every work's title and aliases are
registered as ``link`` fingerprints (folded by :func:`matching.textnorm.phrase`: width,
case, punctuation, traditional/simplified). A page is queried with the text around each of
its download links (see :mod:`matching.link_context`); a name found
in that text, on word boundaries for Latin script, is a ``link`` hit carrying the matched
text and the links as evidence.

A work's names are one fingerprint value, one name per line, so a hit gathers every link
next to any of them. Names too short to be telling (under :data:`MIN_NAME_WEIGHT`: "Up",
"Heat"; a single CJK character) are not registered for link matching. :class:`LinkIndex` is
one Aho-Corasick automaton over all names (pyahocorasick), rebuilt lazily after names are
added or removed, which costs milliseconds per thousand names. A crawl worker finds the
names of an index file with :class:`matching.name_index.SharedNameIndex` instead (the same
results, memory-mapped and shared by a node's workers) and keeps only later ones here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import ahocorasick

from matching.link_context import LINK_KINDS, LinkQuery
from matching.media import FileKind
from matching.page import PageContent
from matching.signal import Content, ContentRejected, ReviewContext, SignalIndex, SignalType
from matching.textnorm import is_cjk, phrase, text_weight

MIN_NAME_WEIGHT = 6  # "Avatar", "英雄" (two CJK characters), "1917 film"
MAX_LINKS_KEPT = 20


def boundary_ok(text: str, start: int, end: int) -> bool:
    """Latin names must not run into neighbouring letters or digits ("heat" in "theater")."""
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    first, last = text[start], text[end - 1]
    return ((is_cjk(first) or not before.isalnum())
            and (is_cjk(last) or not after.isalnum()))


class LinkIndex(SignalIndex):
    """Names of works in one Aho-Corasick automaton; see the module docstring."""

    def __init__(self) -> None:
        self._names: dict[int, str] = {}  # a work's names as registered, one per line
        self._automaton: ahocorasick.Automaton | None = None

    def __len__(self) -> int:
        return len(self._names)

    def add(self, entry_id: int, value: str) -> None:
        self._names[entry_id] = value  # split when the automaton is built: a list and a
        self._automaton = None          # string per name would cost ~100 bytes more a work

    def remove(self, entry_id: int) -> None:
        if self._names.pop(entry_id, None) is not None:
            self._automaton = None

    def _built(self) -> ahocorasick.Automaton:
        if self._automaton is None:
            by_name: dict[str, list[int]] = {}
            for entry_id, names in self._names.items():
                for name in names.split("\n"):
                    by_name.setdefault(name, []).append(entry_id)
            automaton = ahocorasick.Automaton()
            for name, entries in by_name.items():
                automaton.add_word(name, (name, entries))
            if by_name:
                automaton.make_automaton()
            self._automaton = automaton
        return self._automaton

    def query(self, value: Any, limit: float) -> list[tuple[int, float]]:
        return [(e, s) for e, s, _ in self.query_detailed(value, limit)]

    def query_detailed(self, value: Any, limit: float) -> list[tuple[int, float, dict[str, Any]]]:
        query: LinkQuery = value
        automaton = self._built()
        if not self._names:
            return []
        found: dict[int, dict[str, Any]] = {}
        for context in query.contexts:
            text = phrase(context.text)
            for end, (name, entries) in automaton.iter(text):
                start = end - len(name) + 1
                if not boundary_ok(text, start, end + 1):
                    continue
                for entry_id in entries:
                    detail = found.setdefault(entry_id, {
                        "name": name, "matched_text": context.text.strip()[:300],
                        "links": [], "link_kinds": []})
                    for link, kind in zip(context.links, context.kinds or
                                          [""] * len(context.links), strict=True):
                        if link not in detail["links"] and len(detail["links"]) < MAX_LINKS_KEPT:
                            detail["links"].append(link)
                            if kind and kind not in detail["link_kinds"]:
                                detail["link_kinds"].append(kind)
        results = [(entry_id, float(len(d["links"])), d) for entry_id, d in found.items()
                   if len(d["links"]) >= limit]
        return sorted(results, key=lambda r: (-r[1], r[0]))


def link_names(names: list[str]) -> str:
    """A work's telling names, folded, as one fingerprint value (one per line); "" if none.

    >>> link_names(["The Salt Road", "Up", "盐之路", "THE SALT ROAD"])
    'the salt road\\n盐之路'
    """
    found: list[str] = []
    for name in names:
        try:
            folded = link_name(name)
        except ContentRejected:
            continue
        if folded not in found:
            found.append(folded)
    return "\n".join(found)


def link_name(title: str) -> str:
    """A title or alias as a link fingerprint; raises ``ContentRejected`` if too short.

    >>> link_name("  The Matrix (1999) ")
    'the matrix 1999'
    >>> link_name("Up")
    Traceback (most recent call last):
    ...
    matching.signal.ContentRejected: name 'Up' is too short to find next to download links
    """
    name = phrase(title)
    if text_weight(name) < MIN_NAME_WEIGHT:
        raise ContentRejected(f"name {title.strip()!r} is too short to find next to download "
                              f"links")
    return name


class LinkSignal(SignalType):
    """A work's title or alias next to download links; the score is how many links."""

    name: ClassVar[str] = "link"
    work_kind: ClassVar[str] = "*"  # every work, by its names rather than its content
    higher_is_closer: ClassVar[bool] = True
    matches_pages: ClassVar[bool] = True
    score_unit: ClassVar[str] = "links"
    default_threshold: ClassVar[float] = 1
    max_content_bytes: ClassVar[int] = 2000
    file_kinds: ClassVar[tuple[FileKind, ...]] = LINK_KINDS
    content_type: ClassVar[type[Content]] = PageContent

    @classmethod
    def fingerprint(cls, content: bytes | Content) -> str:
        """``content`` is a work's names, one per line, UTF-8 encoded."""
        raw = content.raw if isinstance(content, Content) else content
        try:
            names = raw.decode("utf-8").splitlines()
        except UnicodeDecodeError as exc:
            raise ContentRejected(f"names must be UTF-8 text: {exc.reason} at byte "
                                  f"{exc.start}") from None
        value = link_names(names)
        if not value:
            raise ContentRejected("no name long enough to find next to download links")
        return value

    @classmethod
    def name_variants(cls, names: Sequence[str]) -> dict[str, str]:
        """The work's telling names as one ``names`` value (none if no name is telling)."""
        value = link_names(list(names))
        return {"names": value} if value else {}

    @classmethod
    def query_value(cls, content: bytes | Content) -> LinkQuery:
        """The contexts of a page's download links (a page read as :class:`PageContent`)."""
        return PageContent.of(content).link_query

    @classmethod
    def describe(cls, detail: dict[str, Any]) -> str:
        """The name found next to the links.

        >>> LinkSignal.describe({"name": "the salt road"})
        "named 'the salt road'"
        """
        return f"named '{detail['name']}'" if detail.get("name") else ""

    @classmethod
    def review_context(cls, detail: dict[str, Any]) -> ReviewContext | None:
        """The name, the text it was found in and the links next to it."""
        if not detail.get("name"):
            return None
        return ReviewContext(f"Named next to download links: “{detail['name']}”",
                             detail.get("matched_text") or "", tuple(detail.get("links") or ()))

    @classmethod
    def score(cls, a: str, b: str) -> float:
        return float(len(set(a.split("\n")) & set(b.split("\n"))))

    @classmethod
    def validate(cls, value: str) -> str:
        names = value.split("\n")
        try:
            folded = [link_name(name) for name in names]
        except ContentRejected as exc:
            raise ValueError(str(exc)) from None
        return "\n".join(dict.fromkeys(folded))

    @classmethod
    def new_index(cls) -> SignalIndex:
        return LinkIndex()
