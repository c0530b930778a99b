"""The registered signal types, by algorithm name and by kind of work."""

from __future__ import annotations

from matching.image import OrbSignal, PHashSignal
from matching.link import LinkSignal
from matching.signal import SignalType
from matching.text import TextSignal

SIGNAL_TYPES: dict[str, type[SignalType]] = {
    signal.name: signal for signal in (PHashSignal, OrbSignal, TextSignal, LinkSignal)
}


def signal_type(name: str) -> type[SignalType]:
    try:
        return SIGNAL_TYPES[name]
    except KeyError:
        known = ", ".join(sorted(SIGNAL_TYPES))
        raise KeyError(f"unknown algorithm {name!r} (known: {known})") from None


def signals_for_kind(kind: str, stage: int | None = None) -> list[type[SignalType]]:
    """Signal types for works of ``kind`` (only ``stage``'s if given), in stage order."""
    return sorted((s for s in SIGNAL_TYPES.values()
                   if s.work_kind == kind and (stage is None or s.stage == stage)),
                  key=lambda s: s.stage)


def max_content_bytes(kind: str) -> int:
    """Largest file any signal of ``kind`` fingerprints (registration refuses bigger ones)."""
    return max((s.max_content_bytes for s in signals_for_kind(kind)), default=0)


def supported_kinds() -> list[str]:
    """Kinds of work some signal fingerprints by content (the link signal goes by names)."""
    return sorted({s.work_kind for s in SIGNAL_TYPES.values() if s.work_kind != "*"})


def describe_match(algorithm: str, variant: str, score: float) -> str:
    """How a hit was found, for reviewers.

    >>> describe_match("phash", "mirrored", 3.0)
    'phash mirrored 3 bits'
    >>> describe_match("orb", "original", 42.0)
    'orb 42 inliers'
    """
    shown = "" if variant == "original" else f" {variant}"
    return f"{algorithm}{shown} {score:g} {signal_type(algorithm).score_unit}"
