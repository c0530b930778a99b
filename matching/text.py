"""The text signal: winnowed character shingles, matched by containment.

A document (see :mod:`matching.textdoc`) is normalised (:mod:`matching.textnorm`: width,
case, traditional -> simplified, punctuation and whitespace removed), so no word
segmentation is needed and Chinese, Japanese and Korean work like English. Every position
starts a shingle of :data:`GRAM_WEIGHT` character weight (8 CJK characters or 24 Latin
letters and digits); shingles are hashed (a polynomial hash computed for all positions at
once in numpy, then mixed) and winnowed: of every :data:`WINDOW` consecutive hashes the
smallest is kept. Any passage two texts share that is a little longer than a shingle plus
a window leaves at least one common fingerprint, whatever surrounds it.

A crawled page matches a work by *containment*: the fraction of the page's fingerprints
found in one stretch of the work (about as long as the page). A chapter of a long novel is
therefore a hit on the novel, with the chapter and offsets it came from, even when a fifth
of its sentences were swapped for ads and its paragraphs reordered; common phrases
scattered over a work do not add up to a match. Fingerprints that occur in many places of
the index (stock phrases, licence boilerplate) are not counted at all.

The index keeps sorted numpy arrays in segments: a new work is one more small segment
(searchable at once); small segments are merged when there are too many of them.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from matching.signal import Content, ContentRejected, ContentSkipped, SignalIndex, SignalType
from matching.textdoc import Document, TextContent
from matching.textnorm import char_weights, shingle_text

FORMAT_VERSION = 1
GRAM_WEIGHT = 24          # shingle length in character weight (CJK characters weigh 3)
WINDOW = 12               # winnowing window, in shingles
MIN_FINGERPRINTS = 12     # fewer than this and a text is too short to match on
MIN_MATCHED = 10          # a match needs at least this many fingerprints in common
STOP_POSTINGS = 24        # a fingerprint in more places than this is a stock phrase: ignored
MAX_SEGMENTS = 16
_BASE = np.uint64(0x100000001B3)                       # odd, so it has an inverse mod 2**64
_BASE_INVERSE = np.uint64(pow(0x100000001B3, -1, 2**64))


@dataclass(frozen=True)
class Shingles:
    """Winnowed fingerprints of one text: hashes and their offsets in the normalised text."""

    hashes: np.ndarray   # uint64
    offsets: np.ndarray  # uint32, ascending
    length: int          # normalised characters

    def __len__(self) -> int:
        return len(self.hashes)


def _mix(x: np.ndarray) -> np.ndarray:
    """A 64-bit finaliser (splitmix64) so every bit of a shingle hash depends on every char."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def shingles(norm: str) -> Shingles:
    """Winnowed shingle hashes of an already normalised text (see :func:`shingle_text`)."""
    codes = np.frombuffer(norm.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    n = len(codes)
    empty = Shingles(np.zeros(0, np.uint64), np.zeros(0, np.uint32), n)
    if n == 0:
        return empty
    weight = np.concatenate(([0], np.cumsum(char_weights(norm))))
    starts = np.arange(n)
    ends = np.searchsorted(weight, weight[:n] + GRAM_WEIGHT, side="left")
    starts, ends = starts[ends <= n], ends[ends <= n]
    if len(starts) < WINDOW:
        return empty
    with np.errstate(over="ignore"):
        # h(i, e) = sum_{t=i}^{e-1} c_t B^(e-1-t) = B^(e-1) * (S[e] - S[i]),
        # S[j] = sum_{t<j} c_t B^-t: every shingle hash from two prefix arrays, mod 2**64.
        one = np.ones(1, dtype=np.uint64)
        powers = np.concatenate((one, np.cumprod(np.full(n - 1, _BASE))))           # B^t
        inverse = np.concatenate((one, np.cumprod(np.full(n - 1, _BASE_INVERSE))))  # B^-t
        prefix = np.concatenate(([np.uint64(0)], np.cumsum((codes + np.uint64(1)) * inverse)))
        hashes = _mix(powers[ends - 1] * (prefix[ends] - prefix[starts]))
    windows = np.lib.stride_tricks.sliding_window_view(hashes, WINDOW)
    picked = np.unique(np.arange(len(windows)) + windows.argmin(axis=1))
    return Shingles(hashes[picked], starts[picked].astype(np.uint32), n)


@dataclass(frozen=True)
class TextFingerprint:
    """A registered text: its shingles and where its chapters start (normalised offsets)."""

    shingles: Shingles
    chapters: list[tuple[int, str]]

    def encode(self) -> str:
        return json.dumps({
            "v": FORMAT_VERSION, "gram": GRAM_WEIGHT, "window": WINDOW,
            "length": self.shingles.length,
            "hashes": base64.b64encode(self.shingles.hashes.astype("<u8").tobytes()).decode(),
            "offsets": base64.b64encode(self.shingles.offsets.astype("<u4").tobytes()).decode(),
            "chapters": [[offset, title] for offset, title in self.chapters],
        }, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def decode(cls, value: str) -> TextFingerprint:
        """Parse and check a fingerprint value; raises ``ValueError`` saying what is wrong."""
        try:
            data = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"text fingerprint is not JSON: {exc.msg}") from None
        if not isinstance(data, dict) or data.get("v") != FORMAT_VERSION:
            raise ValueError(f"text fingerprint must be a JSON object with \"v\": "
                             f"{FORMAT_VERSION}")
        if data.get("gram") != GRAM_WEIGHT or data.get("window") != WINDOW:
            raise ValueError(f"text fingerprint made with gram {data.get('gram')} and window "
                             f"{data.get('window')}; this version uses {GRAM_WEIGHT} and "
                             f"{WINDOW} (recompute it with `swordnet fingerprint`)")
        length = data.get("length")
        if not isinstance(length, int) or length < 0:
            raise ValueError("text fingerprint \"length\" must be a non-negative integer")
        try:
            hashes = np.frombuffer(base64.b64decode(data.get("hashes", ""), validate=True),
                                   dtype="<u8").astype(np.uint64)
            offsets = np.frombuffer(base64.b64decode(data.get("offsets", ""), validate=True),
                                    dtype="<u4").astype(np.uint32)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"text fingerprint hashes/offsets are not base64 arrays: "
                             f"{exc}") from None
        if len(hashes) != len(offsets):
            raise ValueError(f"text fingerprint has {len(hashes)} hashes but {len(offsets)} "
                             f"offsets")
        if len(hashes) < MIN_FINGERPRINTS:
            raise ValueError(f"text fingerprint has {len(hashes)} hashes; at least "
                             f"{MIN_FINGERPRINTS} are needed")
        if np.any(np.diff(offsets.astype(np.int64)) <= 0) or int(offsets[-1]) >= max(length, 1):
            raise ValueError("text fingerprint offsets must be increasing and below its length")
        chapters = data.get("chapters", [])
        if not isinstance(chapters, list) or not all(
                isinstance(c, list) and len(c) == 2 and isinstance(c[0], int)
                and isinstance(c[1], str) for c in chapters):
            raise ValueError("text fingerprint \"chapters\" must be [[offset, title], ...]")
        extra = set(data) - {"v", "gram", "window", "length", "hashes", "offsets", "chapters"}
        if extra:
            raise ValueError(f"text fingerprint has unknown keys: {', '.join(sorted(extra))}")
        return cls(Shingles(hashes, offsets, length), [(o, t) for o, t in chapters])


def fingerprint_document(document: Document) -> TextFingerprint:
    """Fingerprint a registered text file's document (plain text, HTML or EPUB); raises
    ``ContentRejected``."""
    parts: list[str] = []
    chapters: list[tuple[int, str]] = []
    offset = 0
    for section in document.sections:
        if section.heading:
            chapters.append((offset, section.heading))
        norm = shingle_text(section.text)
        parts.append(norm)
        offset += len(norm)
    found = shingles("".join(parts))
    if len(found) < MIN_FINGERPRINTS:
        raise ContentRejected(f"too little text to fingerprint ({found.length} letters and "
                              f"digits)")
    return TextFingerprint(found, chapters)


def page_shingles(document: Document) -> Shingles:
    """Shingles of a crawled page's main text; ``ContentSkipped`` if it has too little."""
    found = shingles(shingle_text(document.text))
    if len(found) < MIN_FINGERPRINTS:
        raise ContentSkipped(f"too little text to match ({found.length} letters and digits)")
    return found


@dataclass
class _Segment:
    hashes: np.ndarray   # sorted uint64
    entries: np.ndarray  # int64 entry ids, in hash order
    offsets: np.ndarray  # uint32

    @classmethod
    def build(cls, hashes: np.ndarray, entries: np.ndarray, offsets: np.ndarray) -> _Segment:
        order = np.argsort(hashes, kind="stable")
        return cls(hashes[order], entries[order], offsets[order])


@dataclass(frozen=True)
class _Work:
    length: int
    fingerprints: int
    chapters: list[tuple[int, str]]


class TextIndex(SignalIndex):
    """Sorted hash arrays in segments, searched with ``np.searchsorted``; see the module."""

    def __init__(self) -> None:
        self._segments: list[_Segment] = []
        self._works: dict[int, _Work] = {}
        self._removed: set[int] = set()

    def __len__(self) -> int:
        return len(self._works)

    def add(self, entry_id: int, value: str) -> None:
        self.extend([(entry_id, value)])

    def extend(self, entries: list[tuple[int, str]]) -> None:
        parts = []
        for entry_id, value in entries:
            fp = TextFingerprint.decode(value)
            self._works[entry_id] = _Work(fp.shingles.length, len(fp.shingles), fp.chapters)
            self._removed.discard(entry_id)
            parts.append((fp.shingles.hashes, np.full(len(fp.shingles), entry_id, np.int64),
                          fp.shingles.offsets))
        if parts:
            self._segments.append(_Segment.build(*(np.concatenate(p) for p in zip(*parts,
                                                                                  strict=True))))
        if len(self._segments) > MAX_SEGMENTS:
            self._merge()

    def _merge(self) -> None:
        live = [(s.hashes, s.entries, s.offsets) for s in self._segments]
        merged = _Segment.build(*(np.concatenate(p) for p in zip(*live, strict=True)))
        if self._removed:
            keep = ~np.isin(merged.entries, list(self._removed))
            merged = _Segment(merged.hashes[keep], merged.entries[keep], merged.offsets[keep])
            self._removed.clear()
        self._segments = [merged]

    def remove(self, entry_id: int) -> None:
        if self._works.pop(entry_id, None) is not None:
            self._removed.add(entry_id)

    def query(self, value: Any, limit: float) -> list[tuple[int, float]]:
        return [(e, s) for e, s, _ in self.query_detailed(value, limit)]

    def _pairs(self, query: Shingles) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(query fingerprint number, entry, work offset) of every common fingerprint, and
        the mask of query fingerprints that are stock phrases."""
        ranges = []
        postings = np.zeros(len(query), dtype=np.int64)
        for segment in self._segments:
            lo = np.searchsorted(segment.hashes, query.hashes, side="left")
            hi = np.searchsorted(segment.hashes, query.hashes, side="right")
            postings += hi - lo
            ranges.append((lo, hi))
        stock = postings > STOP_POSTINGS
        q_parts, e_parts, o_parts = [], [], []
        for segment, (lo, hi) in zip(self._segments, ranges, strict=True):
            counts = np.where(stock, 0, hi - lo)
            total = int(counts.sum())
            if not total:
                continue
            rows = np.repeat(lo - np.cumsum(counts) + counts, counts) + np.arange(total)
            q_parts.append(np.repeat(np.arange(len(query)), counts))
            e_parts.append(segment.entries[rows])
            o_parts.append(segment.offsets[rows].astype(np.int64))
        if not q_parts:
            nothing = np.zeros(0, np.int64)
            return nothing, nothing, nothing, stock
        return np.concatenate(q_parts), np.concatenate(e_parts), np.concatenate(o_parts), stock

    def query_detailed(self, value: Any, limit: float) -> list[tuple[int, float, dict[str, Any]]]:
        query: Shingles = TextFingerprint.decode(value).shingles if isinstance(value, str) \
            else value
        if not len(query) or not self._segments:
            return []
        q, entries, offsets, stock = self._pairs(query)
        counted = int((~stock).sum())
        if not len(q) or counted < MIN_FINGERPRINTS:
            return []
        alive = ~np.isin(entries, list(self._removed)) if self._removed else slice(None)
        q, entries, offsets = q[alive], entries[alive], offsets[alive]
        span = int(query.length * 1.5) + 500  # how far apart a page's passages may lie
        order = np.lexsort((offsets, entries))
        q, entries, offsets = q[order], entries[order], offsets[order]
        bounds = np.flatnonzero(np.diff(entries)) + 1
        found = []
        for group in np.split(np.arange(len(entries)), bounds):
            if len(group) < MIN_MATCHED:
                continue
            work_offsets = offsets[group]
            reach = np.searchsorted(work_offsets, work_offsets + span, side="right")
            best = int(np.argmax(reach - np.arange(len(group))))
            window = group[best:reach[best]]
            matched = len(np.unique(q[window]))
            containment = matched / counted
            if matched < MIN_MATCHED or containment < limit:
                continue
            entry_id = int(entries[group[0]])
            work = self._works[entry_id]
            first, last = int(offsets[window[0]]), int(offsets[window[-1]])
            found.append((entry_id, round(containment, 4), {
                "work_range": [first, min(last + GRAM_WEIGHT, work.length)],
                "work_length": work.length,
                "chapters": [title for start, title in _chapters_in(work.chapters, first, last)],
                "matched": matched, "page_fingerprints": counted,
                "page_fraction": round(containment, 4),
                "work_fraction": round(matched / max(work.fingerprints, 1), 4)}))
        return sorted(found, key=lambda f: -f[1])


def _chapters_in(chapters: list[tuple[int, str]], first: int,
                 last: int) -> list[tuple[int, str]]:
    """The chapters a normalised offset range overlaps (chapters are in offset order).

    >>> _chapters_in([(0, "One"), (100, "Two"), (250, "Three")], 120, 240)
    [(100, 'Two')]
    >>> _chapters_in([(0, "One"), (100, "Two")], 50, 150)
    [(0, 'One'), (100, 'Two')]
    """
    inside = []
    for number, (start, title) in enumerate(chapters):
        end = chapters[number + 1][0] if number + 1 < len(chapters) else float("inf")
        if start <= last and end > first:
            inside.append((start, title))
    return inside


class TextSignal(SignalType):
    """Winnowed character shingles; a copy's score is the share of its text from the work."""

    name: ClassVar[str] = "text"
    work_kind: ClassVar[str] = "text"
    higher_is_closer: ClassVar[bool] = True
    matches_pages: ClassVar[bool] = True
    score_unit: ClassVar[str] = "of the page"
    # Fraction of a page's fingerprints that must come from one stretch of the work.
    # bench/text.py: chapters with a fifth of their sentences swapped for ads keep 0.26 or
    # more; 10,000 unrelated pages reached 0.08 at most.
    default_threshold: ClassVar[float] = 0.2
    max_content_bytes: ClassVar[int] = 64 * 1024 * 1024
    content_type: ClassVar[type[Content]] = TextContent
    preview: ClassVar[str | None] = "text"

    @classmethod
    def fingerprint(cls, content: bytes | Content) -> str:
        return fingerprint_document(TextContent.of(content).document).encode()

    @classmethod
    def query_value(cls, content: bytes | Content) -> Shingles:
        return page_shingles(TextContent.of(content).document)

    @classmethod
    def describe(cls, detail: dict[str, Any]) -> str:
        """The chapters of the work the page's text came from.

        >>> TextSignal.describe({"chapters": ["Chapter 3", "Chapter 4"]})
        'Chapter 3, Chapter 4'
        """
        return ", ".join(detail.get("chapters") or [])

    @classmethod
    def landmark(cls, detail: dict[str, Any]) -> str:
        chapters = detail.get("chapters") or []
        return str(chapters[0]) if chapters else ""

    @classmethod
    def score(cls, a: str, b: str) -> float:
        index = TextIndex()
        index.add(0, a)
        matches = index.query(TextFingerprint.decode(b).shingles, 0.0)
        return matches[0][1] if matches else 0.0

    @classmethod
    def validate(cls, value: str) -> str:
        return TextFingerprint.decode(value.strip()).encode()

    @classmethod
    def new_index(cls) -> SignalIndex:
        return TextIndex()
