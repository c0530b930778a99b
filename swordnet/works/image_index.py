"""The stage-2 (ORB) index file of a Swordnet home, kept in step with the database.

:func:`update_index_file` appends the ORB fingerprints registered since the file's
high-water mark as a new segment, tombstones those of deleted works, merges segments when
there are too many, and rebuilds the whole file from the database when it cannot be read
(logging the error with the file's name). :class:`LiveMatchIndex` is what one crawl worker
matches with: stage 2 from the file, memory-mapped (shared by the node's workers), every
other signal and every fingerprint newer than the file from the database, refreshed with
registrations and deletions by :meth:`LiveMatchIndex.refresh`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from sqlalchemy import String, cast, func, select
from sqlalchemy.orm import Session

from matching import index_file
from matching.image import OrbSignal
from matching.local_features import LocalFeatures
from matching.match_index import MatchIndex
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

ORB = OrbSignal.name
SEGMENT_IMAGES = 20_000  # at most this many images per segment written (bounds the RAM used)
MAX_SEGMENTS = 8         # more part-full segments, or a quarter tombstoned: merge them


def index_directory(home: Path) -> Path:
    """Where the stage-2 index file of the Swordnet home ``home`` lives."""
    return home / "index" / ORB


def _orb_ids(session: Session, upto: int) -> np.ndarray:
    return np.fromiter(session.scalars(select(Fingerprint.id).where(
        Fingerprint.algorithm == ORB, Fingerprint.id <= upto)), np.int64)


def _new_orb_rows(session: Session, after: int) -> Iterator[list[tuple[int, int, str,
                                                                        LocalFeatures]]]:
    """ORB fingerprints after ``after``, decoded, oldest first, in batches."""
    batch: list[tuple[int, int, str, LocalFeatures]] = []
    rows = session.execute(
        select(Fingerprint.id, Fingerprint.work_id, Fingerprint.variant, Fingerprint.value)
        .where(Fingerprint.algorithm == ORB, Fingerprint.id > after)
        .order_by(Fingerprint.id).execution_options(yield_per=1000))
    for fp_id, work_id, variant, value in rows:
        batch.append((fp_id, work_id, variant, LocalFeatures.decode(value)))
        if len(batch) >= SEGMENT_IMAGES:
            yield batch
            batch = []
    if batch:
        yield batch


def _load_or_rebuild(directory: Path) -> tuple[index_file.Manifest, list[Segment]]:
    try:
        loaded = index_file.load(directory)
    except index_file.IndexFileError as exc:
        log.error("%s; rebuilding the stage-2 index from the database", exc)
        index_file.clear(directory)
        loaded = None
    return loaded or (index_file.Manifest(), [])


def update_index_file(session: Session, directory: Path) -> index_file.Manifest:
    """Bring the index file in ``directory`` up to date with the database (see the module
    docstring); returns its manifest. Safe to run from several processes at once."""
    with index_file.writer_lock(directory):
        manifest, segments = _load_or_rebuild(directory)
        indexed = np.concatenate([s.entry_ids for s in segments] + [np.zeros(0, np.int64)])
        gone = np.setdiff1d(indexed, _orb_ids(session, manifest.high_water))
        manifest = index_file.Manifest(manifest.high_water, manifest.segments,
                                       tuple(sorted(set(manifest.removed) | set(gone.tolist()))),
                                       manifest.next_segment)
        for batch in _new_orb_rows(session, manifest.high_water):
            manifest = index_file.write_segment(directory, manifest, build_segment(batch))
            manifest = index_file.Manifest(batch[-1][0], manifest.segments, manifest.removed,
                                           manifest.next_segment)
            index_file.commit(directory, manifest)  # each batch survives a later kill
        partial = sum(int(s["images"]) < MAX_SEGMENT_IMAGES for s in manifest.segments)
        if partial > MAX_SEGMENTS or len(manifest.removed) * 4 > max(manifest.images(), 1):
            manifest = _merge(directory, manifest)
        index_file.commit(directory, manifest)
        index_file.remove_unlisted(directory, manifest)
        return manifest


def _merge(directory: Path, manifest: index_file.Manifest) -> index_file.Manifest:
    """Rewrite every segment into as few as fit, without the tombstoned entries (one new
    segment's entries in RAM at a time)."""
    loaded = index_file.load(directory)
    segments = loaded[1] if loaded else []
    merged = index_file.Manifest(manifest.high_water, (), (), manifest.next_segment)
    chunk: list[tuple[int, int, str, LocalFeatures]] = []
    for segment in segments:
        for entry in segment_entries(segment, manifest.removed):
            chunk.append(entry)
            if len(chunk) == MAX_SEGMENT_IMAGES:
                merged = index_file.write_segment(directory, merged, build_segment(chunk))
                chunk = []
    if chunk:
        merged = index_file.write_segment(directory, merged, build_segment(chunk))
    return merged


def orb_thresholds(session: Session) -> dict[int, float]:
    """Per-work ORB threshold overrides (few works have any)."""
    rows = session.execute(select(Work.id, Work.thresholds).where(
        cast(Work.thresholds, String).like(f'%"{ORB}"%')))
    return {work_id: float(thresholds[ORB]) for work_id, thresholds in rows
            if ORB in thresholds}


class LiveMatchIndex:
    """One process's match index: stage 2 memory-mapped from the index file in
    ``directory`` (or, if it cannot be read, from the database like the rest), everything
    else and everything newer than the file from the database."""

    def __init__(self, session: Session, directory: Path) -> None:
        self.index = MatchIndex()
        high_water = 0
        try:
            loaded = index_file.load(directory)
        except index_file.IndexFileError as exc:
            log.error("%s; this process reads stage-2 fingerprints from the database", exc)
            loaded = None
        self.file_high_water = 0
        if loaded is not None:
            manifest, segments = loaded
            words = WordIndex(segments)
            for entry_id in manifest.removed:
                words.remove(entry_id)
            self.index.attach(ORB, words, orb_thresholds(session))
            high_water = self.file_high_water = manifest.high_water
        rows = fingerprints_since(session, covered=(ORB, high_water))
        extend_match_index(self.index, rows)
        self.newest_id = max([high_water, *(fp.id for fp in rows)])
        self.known = len(self.index.fingerprint_ids())
        self._forget_deleted(session)

    def refresh(self, session: Session) -> None:
        """Add fingerprints registered since the last call, forget deleted ones."""
        new = fingerprints_since(session, self.newest_id)
        extend_match_index(self.index, new)
        if new:
            self.newest_id = max(self.newest_id, new[-1].id)
            self.known += len(new)
        self._forget_deleted(session)

    def _forget_deleted(self, session: Session) -> None:
        """A count first (cheap); only when fingerprints went missing, which ones."""
        count = session.scalar(select(func.count()).where(Fingerprint.id <= self.newest_id))
        if count == self.known:
            return
        live = set(session.scalars(select(Fingerprint.id).where(
            Fingerprint.id <= self.newest_id)))
        indexed = self.index.fingerprint_ids()
        self.index.remove_fingerprints(indexed - live)
        self.known = len(live)
