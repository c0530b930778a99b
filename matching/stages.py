"""Staged matching of one piece of crawled content against the match index.

Stage 1 signals (global hashes) are computed for every piece of content and looked up first.
Content goes on to the later, costlier stages (one at a time, only signals that have
registered fingerprints) when stage 1 matched nothing, or when a stage-1 match is only
marginal (beyond its signal's ``confirm_beyond``) or of content too plain for its signal to
trust (:meth:`SignalType.telling`). A marginal match stands only if a later stage confirms the
same work, unless that work has no later-stage fingerprint to ask; a close match of plain
content stands unless a later stage finds the content to be other works and not this one.

Content is decoded once for all stages and signals: pass the kind's content object
(:func:`matching.registry.content_for`) rather than bytes to share it between calls.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from matching.match_index import Match, MatchIndex
from matching.registry import content_for, signal_type, signals_for_kind
from matching.signal import Content, ContentRejected, ContentSkipped


def _shared(kind: str, content: bytes | Content) -> Content:
    return content_for(kind, content) if isinstance(content, bytes) else content


def registration_fingerprints(kind: str, content: bytes | Content) -> list[tuple[str, str, str]]:
    """``(algorithm, variant, value)`` of every signal a work of ``kind`` is registered with.

    Raises ``ContentRejected`` (for instance a blank image) before anything is stored.
    """
    shared = _shared(kind, content)
    return [(signal.name, variant, value) for signal in signals_for_kind(kind)
            for variant, value in signal.registration_variants(shared).items()]


def first_stage_queries(kind: str, content: bytes | Content) -> dict[str, Any]:
    """What stage 1 asks the index for ``content``, by algorithm (each signal's
    ``query_value``: the fingerprint itself for most); raises ``ContentRejected``."""
    shared = _shared(kind, content)
    return {signal.name: signal.query_value(shared) for signal in signals_for_kind(kind, 1)}


def first_stage_matches(index: MatchIndex, queries: dict[str, Any]) -> list[Match]:
    """Stage-1 matches, one per work: that of the first signal finding it, in registry order
    (an exact SHA-256 match before a TLSH one). Matches of a query its signal does not find
    telling (:meth:`SignalType.telling`) say so in their detail (``low_detail``)."""
    found: dict[int, Match] = {}
    for algorithm, value in queries.items():
        telling = signal_type(algorithm).telling(value)
        for match in index.match(algorithm, value):
            if not telling:
                match = replace(match, detail={**match.detail, "low_detail": True})
            found.setdefault(match.work_id, match)
    return list(found.values())


def later_stage_matches(index: MatchIndex, kind: str, content: bytes | Content) -> list[Match]:
    """Matches from the first later stage that finds any; CPU-bound, run it off the reactor."""
    content = _shared(kind, content)
    for signal in signals_for_kind(kind):
        if signal.stage > 1 and index.has(signal.name):
            try:
                query = signal.query_value(content)
            except ContentSkipped:  # a borderline quality-gate call at this stage's decode
                continue            # size: nothing for this stage to match, not an error
            matches = index.match(signal.name, query)
            if matches:
                return matches
    return []


def is_sure(match: Match) -> bool:
    """Whether a stage-1 match stands without a later stage: close enough, and of a query
    telling enough to trust its closeness."""
    return signal_type(match.algorithm).is_sure(match.score) and not match.detail.get("low_detail")


def needs_later_stages(first: list[Match]) -> bool:
    """Whether stage 1 left anything to do: no match, or one that is not sure."""
    return not first or not all(is_sure(m) for m in first)


def settle(index: MatchIndex, kind: str, content: bytes | Content,
           first: list[Match]) -> list[Match]:
    """Final matches once later stages have confirmed or refuted stage 1's marginal ones;
    if the whole matched nothing, those found in its regions (:func:`region_matches`).

    CPU-bound when later stages run: call it off the reactor.
    """
    if not needs_later_stages(first):
        return first
    content = _shared(kind, content)
    return settle_whole(index, kind, content, first) or region_matches(index, kind, content)


def region_matches(index: MatchIndex, kind: str, content: bytes | Content) -> list[Match]:
    """Matches in the regions of ``content`` (:meth:`Content.regions`), one per work, each
    region matched as content of its own (stage 1, later stages only if it needs them);
    a match's detail says where its region lies (``region``)."""
    found: dict[int, Match] = {}
    for region in _shared(kind, content).regions():
        try:
            first = first_stage_matches(index, first_stage_queries(kind, region.content))
            matches = settle_whole(index, kind, region.content, first)
        except ContentRejected:  # a blank or featureless region: nothing in it to match
            continue
        for match in matches:
            found.setdefault(match.work_id, replace(
                match, detail={**match.detail, "region": region.where}))
    return list(found.values())


def settle_whole(index: MatchIndex, kind: str, content: bytes | Content,
                 first: list[Match]) -> list[Match]:
    """:func:`settle` without the regions: the later stages on the whole content only."""
    if not needs_later_stages(first):
        return first
    later = {m.work_id: m for m in later_stage_matches(index, kind, content)}
    kept = []
    for match in first:
        # a close match of a plain copy stands unless a later stage found the copy to be
        # other works: too small or plain for stage 2 to place any, it has nothing against it
        if is_sure(match) or (not later and signal_type(match.algorithm).is_sure(match.score)):
            kept.append(match)
        elif match.work_id in later:
            confirmation = later[match.work_id]
            kept.append(replace(match, detail={**match.detail, "confirmed_by": {
                "algorithm": confirmation.algorithm, "score": confirmation.score,
                **confirmation.detail}}))
        elif not any(index.has_work(s.name, match.work_id)
                     for s in signals_for_kind(kind) if s.stage > 1):
            kept.append(replace(match, detail={**match.detail, "unconfirmed": True}))
    found = {m.work_id for m in kept}
    return kept + [m for m in later.values() if m.work_id not in found]


def match_content(index: MatchIndex, kind: str, content: bytes | Content) -> list[Match]:
    """Every stage ``content`` needs, in order; raises ``ContentRejected``."""
    shared = _shared(kind, content)
    return settle(index, kind, shared,
                  first_stage_matches(index, first_stage_queries(kind, shared)))
