"""The registered signal types, by algorithm name and by kind of work."""

from __future__ import annotations

from typing import Any

from matching.image import OrbSignal, PHashSignal
from matching.link import LinkSignal
from matching.signal import SignalType
from matching.software import Sha256Signal, TlshSignal
from matching.text import TextSignal
from matching.video import VideoSignal

SIGNAL_TYPES: dict[str, type[SignalType]] = {
    signal.name: signal for signal in (PHashSignal, OrbSignal, TextSignal, LinkSignal, VideoSignal,
                                       Sha256Signal, TlshSignal)
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


def describe_match(algorithm: str, variant: str, score: float,
                   detail: dict[str, Any] | None = None) -> str:
    """How a hit was found, for reviewers: method, score and where (chapter, segment, member).

    >>> describe_match("phash", "mirrored", 3.0)
    'phash mirrored 3 bits'
    >>> describe_match("orb", "original", 42.0)
    'orb 42 inliers'
    >>> describe_match("text", "original", 0.8527, {"chapters": ["Chapter 3"]})
    'text 85% of the page, Chapter 3'
    >>> describe_match("video", "original", 14, {"work_range": [10.0, 40.5],
    ...                                          "copy_range": [0.0, 30.5]})
    'video 14 frames, work 0:10-0:40 at copy 0:00-0:30'
    >>> describe_match("tlsh", "member:2", 13, {"copy_member": "bin/app.exe"})
    'tlsh member:2 13 distance, bin/app.exe'
    """
    signal = signal_type(algorithm)
    shown = "" if variant in ("original", "names") else f" {variant}"
    value = f"{score:.0%}" if signal.score_unit.startswith("of ") else f"{score:g}"
    where = _where(detail or {})
    return f"{algorithm}{shown} {value} {signal.score_unit}" + (f", {where}" if where else "")


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


def _where(detail: dict[str, Any]) -> str:
    """The part of the work a match found, from the detail a signal's index recorded."""
    if detail.get("chapters"):
        return ", ".join(detail["chapters"])
    if "work_range" in detail and "copy_range" in detail:
        work, copy = detail["work_range"], detail["copy_range"]
        return (f"work {_clock(work[0])}-{_clock(work[1])} at copy "
                f"{_clock(copy[0])}-{_clock(copy[1])}")
    if detail.get("name"):
        return f"named '{detail['name']}'"
    return str(detail.get("copy_member") or detail.get("work_member") or "")
