"""Link names searched memory-mapped: the index file's ``link`` segments.

:class:`~matching.link.LinkIndex` keeps every work's names and an Aho-Corasick automaton in
one process's heap. A :class:`NameSegment` holds the same names in flat arrays that an index
file (:mod:`matching.index_file`) maps, so a node's crawl workers share one copy and hold
nothing per registered work: the names back to back in a UTF-8 ``blob``, each name's entry,
and a sorted ``uint64`` array of the hashes of each name's *key*, its first token or two.

Text is queried as :func:`matching.textnorm.phrase` leaves it: letters and digits, single
spaces. A token is a run of Latin (non-CJK) letters and digits, or two characters from a
CJK one. A name that starts with a CJK character is keyed by its first two characters; one
that starts with a Latin run by that run plus the token after it (after one space, or a
CJK character straight after the run) if the name holds all of that token, else by the run
alone. A name found in text on word boundaries (the rule of :func:`matching.link.boundary_ok`)
starts where such a key starts in the text and has the same key there: a Latin run ends where
the name's does because the boundary rule forbids a letter after the name. So a query hashes,
at every CJK character and every Latin run preceded by a space or the start, the one or two
keys starting there (polynomial hashes of all of them in a few numpy operations), finds the
names with those keys by binary search, keeps those whose stored length and full hash match
the text there (numpy again), and confirms each of those by comparing the name with the text
and checking the boundaries. A hash collision costs a comparison, never a wrong result.

:class:`SharedNameIndex` searches such segments plus an in-RAM :class:`LinkIndex` of the
names registered since, with exactly :class:`LinkIndex`'s results (entries, scores, details).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from matching.link import MAX_LINKS_KEPT, LinkIndex, boundary_ok
from matching.link_context import LinkQuery
from matching.signal import SharedSignalIndex
from matching.textnorm import CJK_WEIGHT, char_weights, phrase

_BASE = np.uint64(0x9E37_79B9_7F4A_7C15)  # odd, so invertible modulo 2**64
_BASE_INVERSE = np.uint64(pow(int(_BASE), -1, 1 << 64))
_SPACE, _NEWLINE = 32, 10
_EMPTY = np.zeros(0, np.int64)


def _powers(base: np.uint64, n: int) -> np.ndarray:
    """``base**i`` modulo 2**64 for ``i < n``."""
    steps = np.full(n, base, np.uint64)
    if n:
        steps[0] = 1
    return np.cumprod(steps, dtype=np.uint64)


class _Keys:
    """Where keys start in a text and the hashes of its substrings (see the module
    docstring). Texts are joined with newlines, which no name holds."""

    def __init__(self, text: str) -> None:
        self.text = text
        codes = np.frombuffer(text.encode("utf-32-le"), np.uint32).astype(np.uint64)
        n = self.n = len(codes)
        self.cjk = char_weights(text) == CJK_WEIGHT
        self.space = codes == _SPACE
        self.word = ~(self.space | (codes == _NEWLINE)) if n else np.zeros(0, bool)
        self.latin = self.word & ~self.cjk
        self._breaks = np.append(np.flatnonzero(~self.latin), n)  # where Latin runs end
        self._prefix = np.concatenate([np.zeros(1, np.uint64),
                                       np.cumsum((codes + 1) * _powers(_BASE, n),
                                                 dtype=np.uint64)])
        self._inverse = _powers(_BASE_INVERSE, n)

    def hashes(self, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """The hash of each ``text[start:end]`` (the same wherever the substring is)."""
        return (self._prefix[ends] - self._prefix[starts]) * self._inverse[starts]

    def _run_ends(self, starts: np.ndarray) -> np.ndarray:
        return self._breaks[np.searchsorted(self._breaks, starts)]

    def ends(self, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For key starts: where the first key ends, and where the two-token key ends (-1
        if there is none: a CJK start, no token after the run, or a text too short)."""
        n = self.n
        latin = self.latin[starts]
        first = np.where(latin, self._run_ends(starts), starts + 2)
        first = np.where(first <= n, first, -1)
        second = np.full(len(starts), -1, np.int64)
        run_end = first[latin]
        at = np.minimum(run_end, n - 1) if n else run_end
        inside = run_end < n
        cjk_next = inside & self.cjk[at]
        spaced = inside & self.space[at] & (run_end + 1 < n)
        spaced &= self.word[np.minimum(run_end + 1, n - 1)] if n else spaced
        follow = np.where(cjk_next, run_end, run_end + 1)
        has = cjk_next | spaced
        follow_at = np.minimum(follow, n - 1) if n else follow
        token_end = np.where(self.cjk[follow_at], follow + 2, self._run_ends(follow_at))
        second[latin] = np.where(has & (token_end <= n), token_end, -1)
        return first, second

    def starts(self) -> np.ndarray:
        """Every position a name found on word boundaries can start at."""
        before = np.concatenate([[False], self.word[:-1]]) if self.n else self.word
        return np.flatnonzero(self.cjk | (self.latin & ~before))


@dataclass(frozen=True)
class NameSegment:
    """Link names as an index file stores them: entry ``ids[i]`` (ascending) is of work
    ``work_ids[i]``, variant ``variants[variant_codes[i]]``; name ``j`` is
    ``blob[name_starts[j]:name_starts[j + 1]]`` (UTF-8) of entry number ``name_entries[j]``,
    ``name_lengths[j]`` characters long with the hash ``name_hashes[j]``; ``keys``
    (ascending) are the key hashes of names ``key_names``."""

    ids: np.ndarray
    work_ids: np.ndarray
    variant_codes: np.ndarray
    variants: tuple[str, ...]
    blob: np.ndarray
    name_starts: np.ndarray
    name_entries: np.ndarray
    name_lengths: np.ndarray
    name_hashes: np.ndarray
    keys: np.ndarray
    key_names: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    def arrays(self) -> dict[str, np.ndarray]:
        """Every array by its file name stem."""
        return {"ids": self.ids, "work_ids": self.work_ids, "variant_codes": self.variant_codes,
                "blob": self.blob, "name_starts": self.name_starts,
                "name_entries": self.name_entries, "name_lengths": self.name_lengths,
                "name_hashes": self.name_hashes, "keys": self.keys,
                "key_names": self.key_names}

    def name(self, number: int) -> str:
        """Name ``number``, decoded."""
        start, end = int(self.name_starts[number]), int(self.name_starts[number + 1])
        return bytes(self.blob[start:end]).decode("utf-8")

    def values(self, skip: np.ndarray = _EMPTY) -> list[tuple[int, int, str, str]]:
        """``(id, work id, variant, value)`` of its entries less the ``skip`` ids (sorted),
        each value its names one per line, as registered."""
        names: list[list[str]] = [[] for _ in range(len(self))]
        for number, entry in enumerate(self.name_entries.tolist()):
            names[entry].append(self.name(number))
        return [(int(self.ids[i]), int(self.work_ids[i]),
                 self.variants[int(self.variant_codes[i])], "\n".join(names[i]))
                for i in range(len(self)) if not _contains(skip, int(self.ids[i]))]


def _contains(sorted_ids: np.ndarray, entry_id: int) -> bool:
    at = int(np.searchsorted(sorted_ids, entry_id))
    return at < len(sorted_ids) and int(sorted_ids[at]) == entry_id


def build_name_segment(rows: Sequence[tuple[int, int, str, str]]) -> NameSegment:
    """A :class:`NameSegment` of ``(id, work id, variant, value)`` rows with distinct ids,
    each value a work's names one per line (empty names are skipped, as
    :class:`LinkIndex` skips them). Raises ``ValueError`` for a one-character name that
    starts with a CJK character, which :func:`matching.link.link_name` never makes."""
    rows = sorted(rows)
    variants = tuple(sorted({r[2] for r in rows}))
    position = {v: i for i, v in enumerate(variants)}
    names: list[str] = []
    entries: list[int] = []
    for number, (_, _, _, value) in enumerate(rows):
        for name in value.split("\n"):
            if name:
                names.append(name)
                entries.append(number)
    encoded = [name.encode("utf-8") for name in names]
    lengths = np.array([len(name) for name in names], np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths + 1)[:-1]]).astype(np.int64)
    text = _Keys("\n".join(names) + "\n")
    keys, key_names = _name_keys(names, text, starts, lengths)
    order = np.argsort(keys, kind="stable")
    return NameSegment(
        ids=np.array([r[0] for r in rows], np.int64),
        work_ids=np.array([r[1] for r in rows], np.int64),
        variant_codes=np.array([position[r[2]] for r in rows], np.uint8),
        variants=variants,
        blob=np.frombuffer(b"".join(encoded), np.uint8).copy(),
        name_starts=np.concatenate([[0], np.cumsum([len(e) for e in encoded])]).astype(
            np.int64),
        name_entries=np.array(entries, np.int64), name_lengths=lengths,
        name_hashes=text.hashes(starts, starts + lengths), keys=keys[order],
        key_names=key_names[order])


def _name_keys(names: list[str], keys: _Keys, starts: np.ndarray,
               lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each name's key hash, and the names' numbers; names that cannot be found on word
    boundaries (a leading space) have none. ``keys`` is of the names joined by newlines,
    ``starts`` and ``lengths`` where each is in it."""
    found = keys.word[starts] if len(starts) else np.zeros(0, bool)
    numbers = np.flatnonzero(found)
    starts, name_ends = starts[numbers], starts[numbers] + lengths[numbers]
    first, second = keys.ends(starts)
    if np.any((first < 0) | (first > name_ends)):
        bad = names[int(numbers[np.flatnonzero((first < 0) | (first > name_ends))[0]])]
        raise ValueError(f"link name {bad!r} is one CJK character: too short to index")
    ends = np.where((second >= 0) & (second <= name_ends), second, first)
    return keys.hashes(starts, ends), numbers


class SharedNameIndex(SharedSignalIndex):
    """:class:`LinkIndex`'s search over :class:`NameSegment` objects (an index file's,
    memory-mapped) plus a :class:`LinkIndex` of the names added since; the tombstones are
    this process's own."""

    def __init__(self, stored: Sequence[NameSegment] = (), removed: Iterable[int] = ()) -> None:
        """``removed``: the index file's tombstones."""
        self._stored = tuple(stored)
        self._removed = np.unique(np.fromiter(removed, np.int64))
        self._stored_live = sum(len(s) for s in self._stored) - sum(
            int(np.isin(s.ids, self._removed).sum()) for s in self._stored)
        self._delta = LinkIndex()

    def __len__(self) -> int:
        return self._stored_live + len(self._delta)

    def _kill(self, entry_id: int) -> None:
        """Tombstone a live entry of the segments (others need none)."""
        if self.owner(entry_id) is not None:
            self._stored_live -= 1
            self._removed = np.insert(self._removed, int(np.searchsorted(self._removed,
                                                                        entry_id)), entry_id)

    def add(self, entry_id: int, value: str) -> None:
        self._kill(entry_id)
        self._delta.add(entry_id, value)

    def remove(self, entry_id: int) -> None:
        self._kill(entry_id)
        self._delta.remove(entry_id)

    def owner(self, entry_id: int) -> tuple[int, str] | None:
        if _contains(self._removed, entry_id):
            return None
        for segment in self._stored:
            if _contains(segment.ids, entry_id):
                at = int(np.searchsorted(segment.ids, entry_id))
                return int(segment.work_ids[at]), segment.variants[int(segment.variant_codes[at])]
        return None

    def entries(self) -> tuple[np.ndarray, np.ndarray]:
        """Ids and work ids of the live entries of its segments (not of later additions)."""
        live = [~np.isin(s.ids, self._removed) for s in self._stored]
        return (np.concatenate([s.ids[k] for s, k in zip(self._stored, live, strict=True)]
                               + [_EMPTY]),
                np.concatenate([s.work_ids[k] for s, k in zip(self._stored, live, strict=True)]
                               + [_EMPTY]))

    def query(self, value: Any, limit: float) -> list[tuple[int, float]]:
        return [(e, s) for e, s, _ in self.query_detailed(value, limit)]

    def query_detailed(self, value: Any, limit: float) -> list[tuple[int, float, dict[str, Any]]]:
        query: LinkQuery = value
        results = self._delta.query_detailed(query, limit)
        texts = [phrase(context.text) for context in query.contexts]
        if not self._stored or not texts:
            return results
        keys = _Keys("\n".join(texts))
        offsets = np.cumsum([0] + [len(t) + 1 for t in texts])
        starts = keys.starts()
        first, second = keys.ends(starts)
        at = np.concatenate([starts[first >= 0], starts[second >= 0]])
        hashes = np.concatenate([keys.hashes(starts[first >= 0], first[first >= 0]),
                                 keys.hashes(starts[second >= 0], second[second >= 0])])
        # entry id -> ((context, end, -length) of its first hit, its name), its contexts
        hits: dict[int, tuple[tuple[int, int, int], str, set[int]]] = {}
        for segment in self._stored:
            low = np.searchsorted(segment.keys, hashes, "left")
            high = np.searchsorted(segment.keys, hashes, "right")
            counts = high - low
            pairs = np.repeat(np.arange(len(hashes)), counts)  # (key start, name) candidates
            numbers = segment.key_names[np.arange(counts.sum()) - np.repeat(
                np.cumsum(counts) - counts - low, counts)]
            begins = at[pairs]
            ends = begins + segment.name_lengths[numbers]
            fits = ends <= keys.n
            begins, ends, numbers = begins[fits], ends[fits], numbers[fits]
            same = keys.hashes(begins, ends) == segment.name_hashes[numbers]
            begins, ends, numbers = begins[same], ends[same], numbers[same]
            entry_ids = segment.ids[segment.name_entries[numbers]]
            live = ~np.isin(entry_ids, self._removed)
            contexts = np.searchsorted(offsets, begins, "right") - 1
            for start, end, number, entry_id, context in zip(
                    begins[live].tolist(), ends[live].tolist(), numbers[live].tolist(),
                    entry_ids[live].tolist(), contexts[live].tolist(), strict=True):
                name = segment.name(number)
                if not keys.text.startswith(name, start) or not boundary_ok(
                        keys.text, start, end):
                    continue
                rank = (context, end, -len(name))
                found = hits.get(entry_id)
                if found is None:
                    hits[entry_id] = (rank, name, {context})
                else:
                    found[2].add(context)
                    if rank < found[0]:
                        hits[entry_id] = (rank, name, found[2])
        for entry_id, (rank, name, contexts) in hits.items():
            detail = _detail(query, name, rank[0], sorted(contexts))
            if len(detail["links"]) >= limit:
                results.append((entry_id, float(len(detail["links"])), detail))
        return sorted(results, key=lambda r: (-r[1], r[0]))


def _detail(query: LinkQuery, name: str, first: int, contexts: list[int]) -> dict[str, Any]:
    """What :class:`LinkIndex` reports for an entry found as ``name`` first in context
    ``first`` and in ``contexts`` in all."""
    detail: dict[str, Any] = {"name": name,
                              "matched_text": query.contexts[first].text.strip()[:300],
                              "links": [], "link_kinds": []}
    for number in contexts:
        context = query.contexts[number]
        for link, kind in zip(context.links, context.kinds or [""] * len(context.links),
                              strict=True):
            if link not in detail["links"] and len(detail["links"]) < MAX_LINKS_KEPT:
                detail["links"].append(link)
                if kind and kind not in detail["link_kinds"]:
                    detail["link_kinds"].append(kind)
    return detail
