"""The registered signal types, and what the rest of Swordnet asks about them.

Crawls, registration, the CLI and the console never name a signal: they ask here which
signals a kind of work has, which linked files to fetch and how large, which signals read
pages, what content object a kind decodes into, what kind a file is, how a kind is previewed
and how a match is described. A new signal is one module and one line below.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from matching.audio import ChromaprintSignal
from matching.image import OrbSignal, PHashSignal
from matching.link import LinkSignal
from matching.live_signal import LiveSignal
from matching.media import kind_of_file_name
from matching.signal import Content, SignalType
from matching.software import Sha256Signal, TlshSignal
from matching.text import TextSignal
from matching.video import VideoSignal

SIGNAL_TYPES: dict[str, type[SignalType]] = {
    signal.name: signal for signal in (PHashSignal, OrbSignal, TextSignal, LinkSignal, VideoSignal,
                                       Sha256Signal, TlshSignal, ChromaprintSignal)
}


# Signals whose hits are made elsewhere than by crawls against registered works (the live
# service's): found by name for their hits, never used to fingerprint a kind of work.
HIT_ONLY_SIGNALS: dict[str, type[SignalType]] = {LiveSignal.name: LiveSignal}


def signal_type(name: str) -> type[SignalType]:
    try:
        return SIGNAL_TYPES.get(name) or HIT_ONLY_SIGNALS[name]
    except KeyError:
        known = ", ".join(sorted(SIGNAL_TYPES))
        raise KeyError(f"unknown algorithm {name!r} (known: {known})") from None


def signals_for_kind(kind: str, stage: int | None = None) -> list[type[SignalType]]:
    """Signal types for works of ``kind`` (only ``stage``'s if given), in stage order, the
    kind's own before those that also read it (a video's soundtrack signal after its frames').

    >>> [s.name for s in signals_for_kind("video")]
    ['video', 'chromaprint']
    """
    return sorted((s for s in SIGNAL_TYPES.values()
                   if (s.work_kind == kind or kind in s.also_work_kinds)
                   and (stage is None or s.stage == stage)),
                  key=lambda s: (s.stage, s.work_kind != kind))


def signals_of_work(kind: str) -> list[type[SignalType]]:
    """Every signal a work of ``kind`` may have: its kind's, and those of every kind (the
    link signal, registered from the work's names)."""
    return signals_for_kind(kind) + [s for s in SIGNAL_TYPES.values() if s.work_kind == "*"]


def name_signals() -> list[type[SignalType]]:
    """Signals registered from a work's title and aliases rather than its content."""
    return [s for s in SIGNAL_TYPES.values() if s.work_kind == "*"]


def page_signals() -> list[type[SignalType]]:
    """Signals that read pages (their text, their links) rather than files, in registry
    order: a work found by an earlier one is not reported again by a later one."""
    return [s for s in SIGNAL_TYPES.values() if s.matches_pages]


def content_for(kind: str, raw: bytes) -> Content:
    """``raw`` as ``kind``'s content object, decoded at most once for all its signals."""
    signals = signals_for_kind(kind)
    return (signals[0].content_type if signals else Content)(raw)


def detect_kind(head: bytes, name: str = "") -> str | None:
    """The kind of work a file is, from its first bytes (64 KiB is plenty), or None.

    Each kind's content object recognises its formats' signatures (and text recognises
    anything that decodes as text); the surest wins, so an EPUB book is text although it is
    a zip archive too. Content no kind recognises is taken for what its file ``name``'s
    extension says, so that kind's signals can say what is wrong with it.

    >>> detect_kind(b"\\x89PNG\\r\\n\\x1a\\n" + bytes(8)), detect_kind("第一章".encode())
    ('image', 'text')
    >>> detect_kind(b"\\x7fELF\\x02\\x01\\x01" + bytes(9)), detect_kind(bytes(16)) is None
    ('software', True)
    """
    best, found = 0, None
    for kind in supported_kinds():
        sureness = signals_for_kind(kind)[0].content_type.recognise(head)
        if sureness > best:
            best, found = sureness, kind
    if found is None and name:
        named = kind_of_file_name(name)
        found = work_kind_of_file(named) if named else None
    return found


def detect_fetched_kind(head: bytes) -> str | None:
    """The kind of work a downloaded response is a file of, from its first bytes, if crawls
    fetch files of that kind (see :func:`fetched_file_kinds`); None for anything else, such
    as a page.

    As :func:`detect_kind` judges, but cheap for the pages a crawl mostly reads: the text
    kind's decoding check runs only when a fetched kind recognises ``head`` as a fallback
    (a zip archive may be an EPUB book).

    >>> detect_fetched_kind(b"\\xff\\xd8\\xff\\xe0" + bytes(8))
    'image'
    >>> detect_fetched_kind(b"<!doctype html><title>x</title>") is None
    True
    """
    fetched = _fetched_content_types()
    best, found = 0, None
    for kind, content_type in fetched:
        sureness = content_type.recognise(head)
        if sureness > best:
            best, found = sureness, kind
    if best == 1:  # only a fallback: the surest of every kind decides
        found = detect_kind(head)
    return found if found in dict(fetched) else None


@cache
def _fetched_content_types() -> tuple[tuple[str, type[Content]], ...]:
    """Kinds of work crawls fetch files of, with their content objects (the registry is
    fixed once imported)."""
    kinds = sorted({kind for k in fetched_file_kinds()
                    if (kind := work_kind_of_file(k)) is not None})
    return tuple((kind, signals_for_kind(kind)[0].content_type) for kind in kinds)


def _file_readers(file_kind: str) -> list[type[SignalType]]:
    return [s for s in SIGNAL_TYPES.values() if not s.matches_pages
            and any(k.name == file_kind for k in s.file_kinds)]


def work_kind_of_file(file_kind: str) -> str | None:
    """The kind of work a linked file of ``file_kind`` is matched as (archives hold
    software), or None if no signal reads such files: then crawls do not fetch them."""
    readers = _file_readers(file_kind)
    return readers[0].work_kind if readers else None


def download_cap(file_kind: str) -> int:
    """Largest download of a linked file of ``file_kind``: its kind's cap, and no more than
    the signals reading it fingerprint (0 if none reads it)."""
    readers = _file_readers(file_kind)
    if not readers:
        return 0
    kind = next(k for k in readers[0].file_kinds if k.name == file_kind)
    return min(kind.max_download_bytes, *(s.max_content_bytes for s in readers))


def fetched_file_kinds() -> list[str]:
    """Names of the file kinds crawls fetch: those some signal reads files of."""
    return list(dict.fromkeys(k.name for s in SIGNAL_TYPES.values() if not s.matches_pages
                              for k in s.file_kinds))


def preview_of(kind: str) -> str | None:
    """How reviewers see a work of ``kind``: "image", "text", "audio" or None, as the kind's
    own signal says (:attr:`SignalType.preview`; a video's soundtrack signal does not make
    its works sound previews)."""
    return next((s.preview for s in signals_for_kind(kind) if s.preview and s.work_kind == kind),
                None)


def keeps_soundtrack(kind: str) -> bool:
    """Whether works of ``kind`` are also matched through their sound though previewed
    otherwise (a video's soundtrack), so they keep their sound beside their preview.

    >>> keeps_soundtrack("video"), keeps_soundtrack("audio"), keeps_soundtrack("image")
    (True, False, False)
    """
    return preview_of(kind) != "audio" and any(s.preview == "audio"
                                               for s in signals_for_kind(kind))


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
    where = signal.describe(detail or {})
    return f"{algorithm}{shown} {value} {signal.score_unit}" + (f", {where}" if where else "")
