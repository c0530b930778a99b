"""Staged matching of one piece of crawled content against the match index.

Stage 1 signals (global hashes) are computed for every piece of content and looked up first.
Only content that no stage-1 signal matched goes on to the later, costlier stages, one
stage at a time, and only to signals that have registered fingerprints to compare with.
"""

from __future__ import annotations

from matching.match_index import Match, MatchIndex
from matching.registry import signals_for_kind


def registration_fingerprints(kind: str, content: bytes) -> list[tuple[str, str, str]]:
    """``(algorithm, variant, value)`` of every signal a work of ``kind`` is registered with.

    Raises ``ContentRejected`` (for instance a blank image) before anything is stored.
    """
    return [(signal.name, variant, value) for signal in signals_for_kind(kind)
            for variant, value in signal.registration_variants(content).items()]


def first_stage_fingerprints(kind: str, content: bytes) -> dict[str, str]:
    """Stage-1 fingerprints of ``content`` by algorithm; raises ``ContentRejected``."""
    return {signal.name: signal.fingerprint(content) for signal in signals_for_kind(kind, 1)}


def first_stage_matches(index: MatchIndex, fingerprints: dict[str, str]) -> list[Match]:
    return [m for algorithm, value in fingerprints.items() for m in index.match(algorithm, value)]


def later_stage_matches(index: MatchIndex, kind: str, content: bytes) -> list[Match]:
    """Matches from the first later stage that finds any; CPU-bound, run it off the reactor."""
    for signal in signals_for_kind(kind):
        if signal.stage > 1 and index.has(signal.name):
            matches = index.match(signal.name, signal.query_value(content))
            if matches:
                return matches
    return []


def match_content(index: MatchIndex, kind: str, content: bytes) -> list[Match]:
    """All stages in order, stopping at the first that matches; raises ``ContentRejected``."""
    return (first_stage_matches(index, first_stage_fingerprints(kind, content))
            or later_stage_matches(index, kind, content))
