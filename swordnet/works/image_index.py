"""The image index file of a Swordnet home, kept in step with the database.

It holds every registered image's matching state (:mod:`matching.index_file`): stage 1's
pHash codes and stage 2's ORB postings and feature rows, with the work and variant of each,
and every work's link names. :func:`update_index_file` appends the fingerprints of the three
registered since the file's high-water mark as new segments (and, into a format-2 file, the
names up to its mark), tombstones those of deleted works, merges segments when there are
too many, and rebuilds the whole file from the database when it cannot be read (logging the
error with the file's name). :class:`LiveMatchIndex` is what one crawl worker matches with:
pHash, ORB and link names from the file, memory-mapped (shared by the node's workers), every
other signal and every fingerprint newer than the file from the database, refreshed with
registrations and deletions by :meth:`LiveMatchIndex.refresh`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
from sqlalchemy import String, cast, func, select
from sqlalchemy.orm import Session

from matching import index_file
from matching.hamming import CodeSegment, SharedHammingIndex, build_code_segment, hex_to_u64
from matching.image import OrbSignal, PHashSignal
from matching.link import LinkSignal
from matching.local_features import LocalFeatures
from matching.match_index import MatchIndex
from matching.name_index import NameSegment, SharedNameIndex, build_name_segment
from matching.word_index import (
    MAX_SEGMENT_IMAGES,
    Segment,
    WordIndex,
    build_segment,
    segment_entries,
)
from swordnet.core.models import Fingerprint, Work
from swordnet.works.registry import extend_match_index, fingerprints_since

log = logging.getLogger(__name__)

ORB, PHASH, LINK = OrbSignal.name, PHashSignal.name, LinkSignal.name
STORED = (PHASH, ORB, LINK)  # the algorithms whose fingerprints the index file holds
SEGMENT_IMAGES = 20_000  # at most this many ORB sets per segment written (bounds the RAM used)
SEGMENT_ROWS = 200_000   # and at most this many rows of every algorithm
MERGED_NAMES = 1 << 20   # names of at most this many works per merged link segment
MAX_SEGMENTS = 8         # more part-full segments of a kind, or a quarter tombstoned: merge

_Row = tuple[int, int, str, str, str]  # id, work id, algorithm, variant, value


def index_directory(home: Path) -> Path:
    """Where the image index file of the Swordnet home ``home`` lives."""
    return home / "index" / "images"


def _stored_ids(session: Session, upto: int) -> np.ndarray:
    return np.fromiter(session.scalars(select(Fingerprint.id).where(
        Fingerprint.algorithm.in_(STORED), Fingerprint.id <= upto)), np.int64)


def _new_rows(session: Session, after: int, algorithms: tuple[str, ...] = STORED,
              upto: int | None = None) -> Iterator[list[_Row]]:
    """Fingerprints of ``algorithms`` after ``after`` (and up to ``upto``), oldest first, in
    batches of at most :data:`SEGMENT_IMAGES` ORB sets and :data:`SEGMENT_ROWS` rows."""
    batch: list[_Row] = []
    sets = 0
    query = select(Fingerprint.id, Fingerprint.work_id, Fingerprint.algorithm,
                   Fingerprint.variant, Fingerprint.value).where(
        Fingerprint.algorithm.in_(algorithms), Fingerprint.id > after)
    if upto is not None:
        query = query.where(Fingerprint.id <= upto)
    rows = session.execute(query.order_by(Fingerprint.id).execution_options(yield_per=1000))
    for fp_id, work_id, algorithm, variant, value in rows:
        batch.append((fp_id, work_id, algorithm, variant, value))
        sets += algorithm == ORB
        if sets >= SEGMENT_IMAGES or len(batch) >= SEGMENT_ROWS:
            yield batch
            batch, sets = [], 0
    if batch:
        yield batch


def _segments(batch: list[_Row]) -> list[Segment | CodeSegment | NameSegment]:
    """The segments of a batch of rows: one of each kind it has rows of."""
    orb = [(i, w, v, LocalFeatures.decode(value)) for i, w, a, v, value in batch if a == ORB]
    codes = [(i, w, v, value) for i, w, a, v, value in batch if a == PHASH]
    names = [(i, w, v, value) for i, w, a, v, value in batch if a == LINK]
    found: list[Segment | CodeSegment | NameSegment] = []
    if codes:
        ids, works, variants, values = zip(*codes, strict=True)
        found.append(build_code_segment(
            np.array(ids, np.int64), np.array(works, np.int64), list(variants),
            np.array([hex_to_u64(value) for value in values], np.uint64)))
    if orb:
        found.append(build_segment(orb))
    if names:
        found.append(build_name_segment(names))
    return found


def _load_or_rebuild(directory: Path) -> index_file.Loaded:
    try:
        loaded = index_file.load(directory)
    except index_file.IndexFileError as exc:
        log.error("%s; rebuilding the image index from the database", exc)
        index_file.clear(directory)
        loaded = None
    return loaded or index_file.Loaded(index_file.Manifest(), [], [], [])


def update_index_file(session: Session, directory: Path) -> index_file.Manifest:
    """Bring the index file in ``directory`` up to date with the database (see the module
    docstring); returns its manifest. Safe to run from several processes at once."""
    with index_file.writer_lock(directory):
        loaded = _load_or_rebuild(directory)
        loaded.close()  # only the entry ids are read here
        manifest = loaded.manifest
        if LINK not in manifest.covers():  # a format-2 file: add the names it lacks
            for batch in _new_rows(session, 0, (LINK,), manifest.high_water):
                for segment in _segments(batch):
                    manifest = index_file.write_segment(directory, manifest, segment)
            manifest = replace(manifest, params=dict(index_file.PARAMS))
        indexed = np.concatenate([s.entry_ids for s in loaded.words]
                                 + [s.ids for s in loaded.codes + loaded.names]
                                 + [np.zeros(0, np.int64)])
        gone = np.setdiff1d(indexed, _stored_ids(session, manifest.high_water))
        manifest = replace(manifest, removed=tuple(sorted(set(manifest.removed)
                                                          | set(gone.tolist()))))
        for batch in _new_rows(session, manifest.high_water):
            for segment in _segments(batch):
                manifest = index_file.write_segment(directory, manifest, segment)
            manifest = replace(manifest, high_water=batch[-1][0])
            index_file.commit(directory, manifest)  # each batch survives a later kill
        partial = sum(s["kind"] == index_file.ORB and int(s["images"]) < MAX_SEGMENT_IMAGES
                      for s in manifest.segments)
        codes = sum(s["kind"] == index_file.PHASH for s in manifest.segments)
        names = sum(s["kind"] == index_file.LINK for s in manifest.segments)
        if (max(partial, codes, names) > MAX_SEGMENTS
                or len(manifest.removed) * 4 > max(manifest.images(), 1)):
            manifest = _merge(directory, manifest)
        index_file.commit(directory, manifest)
        index_file.remove_unlisted(directory, manifest)
        return manifest


def _merge(directory: Path, manifest: index_file.Manifest) -> index_file.Manifest:
    """Rewrite every segment into as few as fit, without the tombstoned entries: the ORB
    sets in segments of at most :data:`MAX_SEGMENT_IMAGES` (one new segment's sets in RAM
    at a time), the pHash codes in one segment, the names in segments of at most
    :data:`MERGED_NAMES` works."""
    loaded = index_file.load(directory)
    merged = replace(manifest, segments=(), removed=())
    if loaded is None:
        return merged
    try:
        parts = [segment.entries(manifest.removed) for segment in loaded.codes]
        if parts and sum(len(p[0]) for p in parts):
            ids, works, variants, codes = (np.concatenate(c) for c in zip(*parts, strict=True))
            merged = index_file.write_segment(directory, merged, build_code_segment(
                ids, works, variants.tolist(), codes))
        chunk: list[tuple[int, int, str, LocalFeatures]] = []
        for segment in loaded.words:
            for entry in segment_entries(segment, manifest.removed):
                chunk.append(entry)
                if len(chunk) == MAX_SEGMENT_IMAGES:
                    merged = index_file.write_segment(directory, merged, build_segment(chunk))
                    chunk = []
        if chunk:
            merged = index_file.write_segment(directory, merged, build_segment(chunk))
        removed = np.unique(np.array(manifest.removed, np.int64))
        names: list[tuple[int, int, str, str]] = []
        for names_segment in loaded.names:
            for row in names_segment.values(removed):
                names.append(row)
                if len(names) == MERGED_NAMES:
                    merged = index_file.write_segment(directory, merged,
                                                      build_name_segment(names))
                    names = []
        if names:
            merged = index_file.write_segment(directory, merged, build_name_segment(names))
    finally:
        loaded.close()
    return merged


def work_thresholds(session: Session, algorithm: str) -> dict[int, float]:
    """Per-work threshold overrides of ``algorithm`` (few works have any)."""
    rows = session.execute(select(Work.id, Work.thresholds).where(
        cast(Work.thresholds, String).like(f'%"{algorithm}"%')))
    return {work_id: float(thresholds[algorithm]) for work_id, thresholds in rows
            if algorithm in thresholds}


class LiveMatchIndex:
    """One process's match index: pHash and ORB memory-mapped from the index file in
    ``directory`` (or, if it cannot be read, from the database like the rest), everything
    else and everything newer than the file from the database."""

    def __init__(self, session: Session, directory: Path) -> None:
        self.index = MatchIndex()
        try:
            loaded = index_file.load(directory)
        except index_file.IndexFileError as exc:
            log.error("%s; this process reads image fingerprints from the database", exc)
            loaded = None
        self.file_high_water = 0
        if loaded is not None:
            words, codes = WordIndex(loaded.words), SharedHammingIndex(loaded.codes)
            names = SharedNameIndex(loaded.names, loaded.manifest.removed)
            for entry_id in loaded.manifest.removed:
                words.remove(entry_id)
                codes.remove(entry_id)
            self.index.attach(PHASH, codes, work_thresholds(session, PHASH))
            self.index.attach(ORB, words, work_thresholds(session, ORB))
            if LINK in loaded.manifest.covers():
                self.index.attach(LINK, names, work_thresholds(session, LINK))
            self.file_high_water = loaded.manifest.high_water
        covers = loaded.manifest.covers() if loaded is not None else ()
        _, newest = extend_match_index(self.index, fingerprints_since(
            session, covered=(covers, self.file_high_water)))
        self.newest_id = max(self.file_high_water, newest)
        self.known = len(self.index.fingerprint_ids())
        self._forget_deleted(session)

    def refresh(self, session: Session) -> None:
        """Add fingerprints registered since the last call, forget deleted ones."""
        added, newest = extend_match_index(self.index, fingerprints_since(session,
                                                                          self.newest_id))
        self.newest_id = max(self.newest_id, newest)
        self.known += added
        self._forget_deleted(session)

    def _forget_deleted(self, session: Session) -> None:
        """A count first (cheap); only when fingerprints went missing, which ones."""
        count = session.scalar(select(func.count()).where(Fingerprint.id <= self.newest_id))
        if count == self.known:
            return
        live = np.fromiter(session.scalars(select(Fingerprint.id).where(
            Fingerprint.id <= self.newest_id)), np.int64)
        indexed = self.index.fingerprint_ids()
        self.index.remove_fingerprints(np.setdiff1d(indexed, live).tolist())
        self.known = len(live)
