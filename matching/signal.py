"""The signal-type interface every fingerprint algorithm implements.

A signal type turns content into a fingerprint value (a string), measures the distance
between two values, carries a default threshold, and makes the index that searches its
values. Exact signals (distance 0 or 1) and distance-based ones share this interface.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar


class ContentRejected(ValueError):
    """Content that cannot be fingerprinted (corrupt, unsupported, too large, too small)."""


class ContentSkipped(ContentRejected):
    """Content deliberately not fingerprinted (a spacer pixel, an icon): counted, not an error."""


class SignalIndex(ABC):
    """Finds registered values within a distance of a query value."""

    @abstractmethod
    def add(self, entry_id: int, value: str) -> None:
        """Make ``value`` findable under ``entry_id`` at once, without a rebuild."""

    @abstractmethod
    def remove(self, entry_id: int) -> None:
        """Forget ``entry_id``; unknown ids are ignored."""

    @abstractmethod
    def query(self, value: str, max_distance: float) -> list[tuple[int, float]]:
        """``(entry_id, distance)`` for every entry within ``max_distance``, nearest first."""

    @abstractmethod
    def __len__(self) -> int: ...


class SignalType(ABC):
    """One fingerprint algorithm for one kind of work."""

    name: ClassVar[str]
    work_kind: ClassVar[str]
    default_threshold: ClassVar[float]

    @classmethod
    @abstractmethod
    def fingerprint(cls, content: bytes) -> str:
        """The fingerprint of ``content``; raises :class:`ContentRejected`."""

    @classmethod
    def registration_variants(cls, content: bytes) -> dict[str, str]:
        """Fingerprints stored when a work is registered, by variant name.

        Signals that know a cheap transformation pirates apply (mirroring, say) register it
        alongside the original so copies made that way match too.
        """
        return {"original": cls.fingerprint(content)}

    @classmethod
    @abstractmethod
    def distance(cls, a: str, b: str) -> float: ...

    @classmethod
    @abstractmethod
    def validate(cls, value: str) -> str:
        """Normalise a precomputed fingerprint value; raises ``ValueError`` if malformed."""

    @classmethod
    @abstractmethod
    def new_index(cls) -> SignalIndex: ...
