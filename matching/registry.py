"""The registered signal types, by algorithm name and by kind of work."""

from __future__ import annotations

from matching.image import PHashSignal
from matching.signal import SignalType

SIGNAL_TYPES: dict[str, type[SignalType]] = {signal.name: signal for signal in (PHashSignal,)}


def signal_type(name: str) -> type[SignalType]:
    try:
        return SIGNAL_TYPES[name]
    except KeyError:
        known = ", ".join(sorted(SIGNAL_TYPES))
        raise KeyError(f"unknown algorithm {name!r} (known: {known})") from None


def signals_for_kind(kind: str) -> list[type[SignalType]]:
    """Signal types that fingerprint works of ``kind`` (empty if none is built yet)."""
    return [s for s in SIGNAL_TYPES.values() if s.work_kind == kind]


def supported_kinds() -> list[str]:
    return sorted({s.work_kind for s in SIGNAL_TYPES.values()})
