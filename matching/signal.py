"""The signal-type interface every fingerprint algorithm implements.

A signal type turns content into a fingerprint value (a string), scores two values against
each other, carries a default threshold, and makes the index that searches its values.
Scores are distances (lower is closer: Hamming bits) or similarities (higher is closer:
verified keypoint matches), as the signal declares. Signals run in stages: stage 1 is
cheap and settles most content; a later stage runs only on what earlier stages did not match.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from swordnet.core.errors import BadInput


class ContentRejected(BadInput):
    """Content that cannot be fingerprinted (corrupt, unsupported, too large, too small)."""


class ContentSkipped(ContentRejected):
    """Content deliberately not fingerprinted (a spacer pixel, an icon): counted, not an error."""


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

    @classmethod
    @abstractmethod
    def fingerprint(cls, content: bytes) -> str:
        """The fingerprint of ``content``; raises :class:`ContentRejected`."""

    @classmethod
    def query_value(cls, content: bytes) -> Any:
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
    def registration_variants(cls, content: bytes) -> dict[str, str]:
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
