"""The signal-type interface every fingerprint algorithm implements.

A signal type turns content into a fingerprint value (a string), scores two values against
each other, carries a default threshold, and makes the index that searches its values.
Scores are distances (lower is closer: Hamming bits) or similarities (higher is closer:
verified keypoint matches), as the signal declares. Signals run in stages: stage 1 is
cheap and settles most content; a later stage runs only on what earlier stages did not match.

A signal also declares what the rest of Swordnet needs to know without asking for it by
name: the file kinds it reads from crawls (:mod:`matching.media`) or whether it reads pages
instead, its size cap, its kind's content object (decoded once, shared by the kind's
signals), how reviewers see its content, and how a match is described to them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from matching.media import FileKind
from swordnet.core.errors import BadInput

if TYPE_CHECKING:
    import numpy as np

_C = TypeVar("_C", bound="Content")


class ContentRejected(BadInput):
    """Content that cannot be fingerprinted (corrupt, unsupported, too large, too small)."""


class ContentSkipped(ContentRejected):
    """Content deliberately not fingerprinted (a spacer pixel, an icon): counted, not an error."""


class Content:
    """One file's (or page's) bytes and what was decoded from them, shared by every signal of
    its kind so content is decoded once: each kind's subclass caches its decodings.

    Signals accept bytes or their kind's content object; :meth:`of` gives the latter.
    """

    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    @classmethod
    def of(cls: type[_C], content: bytes | Content) -> _C:
        """``content`` as this class's object: bytes are wrapped, one of ours is shared."""
        if isinstance(content, cls):
            return content
        return cls(content.raw if isinstance(content, Content) else content)

    @property
    def note(self) -> str | None:
        """What decoding noted for the crawl log (an animation's first frame was used)."""
        return None

    def regions(self) -> list[Region]:
        """Parts worth matching on their own when the whole matched nothing (a collage's
        cells, a picture pasted on a page), at most a few; none unless the kind finds any."""
        return []

    @classmethod
    def recognise(cls, head: bytes) -> int:
        """How surely ``head`` (the start of a file) is content of this kind: 0 not, 1 as a
        fallback (it decodes as text, it is some archive), 2 by a format's own signature."""
        return 0


@dataclass(frozen=True)
class Region:
    """A part of some content, as content of its own, and where it lies in the whole (for a
    match's detail: an image's ``left``, ``top``, ``width``, ``height`` in pixels)."""

    content: Content
    where: dict[str, int]


@dataclass(frozen=True)
class ReviewContext:
    """What a reviewer is shown beside a match besides the copy: a heading, a quote from the
    page, links."""

    heading: str
    quote: str = ""
    links: tuple[str, ...] = ()


class SignalIndex(ABC):
    """Finds registered values close to a query value (``limit`` is in the signal's units)."""

    @abstractmethod
    def add(self, entry_id: int, value: str) -> None:
        """Make ``value`` findable under ``entry_id`` at once, without a rebuild."""

    def extend(self, entries: list[tuple[int, str]]) -> None:
        """Add many ``(entry_id, value)`` pairs; indexes override this for bulk loading."""
        for entry_id, value in entries:
            self.add(entry_id, value)

    @abstractmethod
    def remove(self, entry_id: int) -> None:
        """Forget ``entry_id``; unknown ids are ignored."""

    @abstractmethod
    def query(self, value: Any, limit: float) -> list[tuple[int, float]]:
        """``(entry_id, score)`` for every entry within ``limit``, closest first."""

    def query_detailed(self, value: Any, limit: float) -> list[tuple[int, float, dict[str, Any]]]:
        """Like :meth:`query`, with what the index knows of why each entry matched."""
        return [(entry_id, score, {}) for entry_id, score in self.query(value, limit)]

    @abstractmethod
    def __len__(self) -> int: ...


class SignalType(ABC):
    """One fingerprint algorithm for one kind of work."""

    name: ClassVar[str]
    work_kind: ClassVar[str]
    # Other kinds of work whose files it fingerprints too (the soundtrack of a video): such
    # content comes as that kind's own content object, and the kind's own signals come first.
    also_work_kinds: ClassVar[tuple[str, ...]] = ()
    default_threshold: ClassVar[float]
    stage: ClassVar[int] = 1
    higher_is_closer: ClassVar[bool] = False
    score_unit: ClassVar[str] = "bits"
    # A match scoring beyond this (in the signal's direction) is only a candidate until a
    # later stage confirms it; ``None``: the signal's matches stand on their own.
    confirm_beyond: ClassVar[float | None] = None
    # Largest content this signal fingerprints: registration refuses bigger files before
    # reading them, crawls do not download more.
    max_content_bytes: ClassVar[int] = 64 * 1024 * 1024
    # Whether this signal finds works in pages (their text, their links) rather than in
    # files fetched from them: the page is then the copy, and rechecks read it as a page.
    matches_pages: ClassVar[bool] = False
    # Kinds of linked files it reads: fetched by crawls for a signal that reads files; for a
    # page signal, the links it reads on a page (never fetched).
    file_kinds: ClassVar[tuple[FileKind, ...]] = ()
    # The content object its kind's content is decoded into (one per kind, shared).
    content_type: ClassVar[type[Content]] = Content
    # How reviewers see content of its kind: "image" (a re-encoded thumbnail), "text" (the
    # main text), "audio" (its sound, drawn and played as excerpts) or None (not shown; a copy
    # found in a file is shown by its page's text).
    preview: ClassVar[str | None] = None

    @classmethod
    def describe(cls, detail: dict[str, Any]) -> str:
        """Where a match lies, for reviewers, from the detail its index recorded ("" if it
        says nothing more than the score)."""
        return ""

    @classmethod
    def landmark(cls, detail: dict[str, Any]) -> str:
        """Text of the registered work near where a match lies (a chapter heading), to show
        that part of its stored text; "" if none."""
        return ""

    @classmethod
    def review_context(cls, detail: dict[str, Any]) -> ReviewContext | None:
        """What a reviewer is shown beside the copy, if anything."""
        return None

    @classmethod
    def name_variants(cls, names: Sequence[str]) -> dict[str, str]:
        """Fingerprints registered from a work's title and aliases, by variant name (only a
        signal of every kind of work, ``work_kind`` "*", registers any)."""
        return {}

    @classmethod
    @abstractmethod
    def fingerprint(cls, content: bytes | Content) -> str:
        """The fingerprint of ``content``; raises :class:`ContentRejected`."""

    @classmethod
    def query_value(cls, content: bytes | Content) -> Any:
        """What the index is queried with for crawled ``content`` (by default its fingerprint)."""
        return cls.fingerprint(content)

    @classmethod
    def accepts(cls, score: float, threshold: float) -> bool:
        """Whether ``score`` is a match under ``threshold``."""
        return score >= threshold if cls.higher_is_closer else score <= threshold

    @classmethod
    def is_sure(cls, score: float) -> bool:
        """Whether a match at ``score`` stands without a later stage's confirmation."""
        return cls.confirm_beyond is None or cls.accepts(score, cls.confirm_beyond)

    @classmethod
    def telling(cls, query: Any) -> bool:
        """Whether ``query`` (a :meth:`query_value`) carries enough of its content for a match
        within ``confirm_beyond`` to stand alone; when not (content too plain for its
        fingerprint to tell works apart), its matches wait for a later stage like marginal ones."""
        return True

    @classmethod
    def registration_variants(cls, content: bytes | Content) -> dict[str, str]:
        """Fingerprints stored when a work is registered, by variant name.

        Signals that know a cheap transformation pirates apply (mirroring, say) register it
        alongside the original so copies made that way match too.
        """
        return {"original": cls.fingerprint(content)}

    @classmethod
    @abstractmethod
    def score(cls, a: str, b: str) -> float:
        """How close two fingerprint values are, in this signal's units."""

    @classmethod
    @abstractmethod
    def validate(cls, value: str) -> str:
        """Normalise a precomputed fingerprint value; raises ``ValueError`` if malformed."""

    @classmethod
    @abstractmethod
    def new_index(cls) -> SignalIndex: ...


class SharedSignalIndex(SignalIndex):
    """An index that knows which work (and variant) each of its entries belongs to, so a
    :class:`~matching.match_index.MatchIndex` need not hold a record per entry: what an
    index file shared by processes (:mod:`matching.index_file`) provides."""

    @abstractmethod
    def owner(self, entry_id: int) -> tuple[int, str] | None:
        """``(work_id, variant)`` of a live entry, ``None`` for an unknown or removed one."""

    @abstractmethod
    def entries(self) -> tuple[np.ndarray, np.ndarray]:
        """Ids and work ids (``int64`` arrays) of the live entries whose work it knows."""
