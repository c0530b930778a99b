"""The image index file: the registered images' matching state on disk, memory-mapped.

A directory holds ``manifest.json`` and one folder per segment, ``seg-NNNNNN/``, with one
``.npy`` file per array. A segment is of one of three kinds: ``orb``, stage 2's
:class:`~matching.word_index.Segment` (postings and feature rows), ``phash``, stage 1's
:class:`~matching.hamming.CodeSegment` (the 64-bit codes and their multi-index tables), or
``link``, :class:`~matching.name_index.NameSegment` (every work's link names and their key
hashes); all kinds know the work and variant of each of their entries, so a process holds no
record per registered image or work. Segments never change once a manifest names them; the
manifest says which segments make the index (with their kinds), every file's length and
CRC-32, the high-water mark (the newest fingerprint id the segments cover, of every kind the
format has: :meth:`Manifest.covers`), and the entries removed since (tombstones). A format-2
file (no ``link`` kind; its high-water mark covers ``orb`` and ``phash`` only) still loads;
the next writer adds the names up to its mark and makes it format 3.

Every process opens the files read-only with ``np.load(mmap_mode="r")``, so a node's
workers share one copy in the page cache; the two feature-row files (by far the largest,
read only for the few candidates a query verifies) are read with ``pread`` from files held
open, so they stay in the page cache without counting in any worker's resident memory.
One writer at a time (an exclusive ``flock`` on ``.lock``) extends the index: it writes a
new segment into a temporary folder, fsyncs it, renames it into place, and only then replaces
the manifest atomically (write, fsync, ``os.replace``, fsync the directory). A writer
killed at any point leaves the previous manifest, which names only complete segments; the
next writer deletes what no manifest names. Loading checks every file's length, and the
CRC-32 of all but the two feature-row files, which are large and read only for
verification: each image's rows carry their own CRC-32, checked when they are read
(:meth:`Segment.features`).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from matching.hamming import CodeSegment
from matching.name_index import NameSegment
from matching.word_index import (
    BIT_SEED,
    INDEXED_KEYPOINTS,
    KEY_BITS,
    TABLES,
    RowFiles,
    Segment,
)

FORMAT = 3  # 3: segments of three kinds, ``orb``, ``phash`` and ``link``
OLD_FORMAT = 2  # ``orb`` and ``phash`` only; loaded, and extended to format 3 by a writer
ORB, PHASH, LINK = "orb", "phash", "link"
MANIFEST = "manifest.json"
LOCK = ".lock"
ROW_FILES = ("points", "descriptors")  # checked per image when read, not at load
PARAMS = {"format": FORMAT, "key_bits": KEY_BITS, "tables": TABLES,
          "indexed_keypoints": INDEXED_KEYPOINTS, "bit_seed": BIT_SEED}


class IndexFileError(Exception):
    """An index file that is missing a part, truncated, corrupt or of another format."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"index file {path}: {reason}")
        self.path = path


@dataclass(frozen=True)
class Manifest:
    """What the index is: its segments (name, size, variants, files), the high-water mark
    and tombstones."""

    high_water: int = 0
    segments: tuple[dict[str, Any], ...] = ()
    removed: tuple[int, ...] = ()
    next_segment: int = 1
    params: dict[str, int] = field(default_factory=lambda: dict(PARAMS))

    def images(self) -> int:
        """Entries in the segments of every kind, tombstoned ones included."""
        return sum(int(s["images"]) for s in self.segments)

    def covers(self) -> tuple[str, ...]:
        """The kinds whose fingerprints up to the high-water mark the segments hold."""
        return (ORB, PHASH) if self.params["format"] == OLD_FORMAT else (ORB, PHASH, LINK)


class Loaded(NamedTuple):
    """An index file as one process maps it: its manifest and its segments by kind."""

    manifest: Manifest
    words: list[Segment]
    codes: list[CodeSegment]
    names: list[NameSegment]

    def close(self) -> None:
        """Close the stage-2 segments' row files (their other arrays stay mapped until
        collected)."""
        for segment in self.words:
            segment.close()


def _crc32(path: Path) -> int:
    crc = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            crc = zlib.crc32(chunk, crc)
    return crc


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_manifest(directory: Path) -> Manifest | None:
    """The manifest, or ``None`` if there is no index yet; raises :class:`IndexFileError`."""
    path = directory / MANIFEST
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise IndexFileError(path, f"unreadable manifest ({exc})") from None
    try:
        manifest = Manifest(int(data["high_water"]), tuple(data["segments"]),
                            tuple(int(i) for i in data["removed"]), int(data["next_segment"]),
                            {k: int(v) for k, v in data["params"].items()})
    except (KeyError, TypeError, ValueError) as exc:
        raise IndexFileError(path, f"malformed manifest ({exc!r})") from None
    if ({**manifest.params, "format": FORMAT} != PARAMS
            or manifest.params["format"] not in (OLD_FORMAT, FORMAT)):
        raise IndexFileError(path, f"made with other parameters {manifest.params}")
    return manifest


def _open_arrays(folder: Path, meta: dict[str, Any]) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    for stem, expected in dict(meta["files"]).items():
        path = folder / f"{stem}.npy"
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise IndexFileError(path, f"missing ({exc.strerror})") from None
        if size != int(expected["bytes"]):
            raise IndexFileError(path, f"truncated or overwritten: {size} bytes, the manifest "
                                 f"says {expected['bytes']}")
        if stem not in ROW_FILES and _crc32(path) != int(expected["crc32"]):
            raise IndexFileError(path, "corrupt: its CRC-32 differs from the manifest's")
        try:
            arrays[stem] = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise IndexFileError(path, f"not a numpy array file ({exc})") from None
    return arrays


def _open_words(folder: Path, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Segment:
    try:
        segment = Segment(
            entry_ids=arrays["entry_ids"], work_ids=arrays["work_ids"],
            variant_codes=arrays["variant_codes"], variants=tuple(meta["variants"]),
            sizes=arrays["sizes"], offsets=arrays["offsets"], checksums=arrays["checksums"],
            points=arrays["points"], descriptors=arrays["descriptors"],
            keys=tuple(arrays[f"keys{t}"] for t in range(TABLES)),
            starts=tuple(arrays[f"starts{t}"] for t in range(TABLES)),
            images=tuple(arrays[f"images{t}"] for t in range(TABLES)), source=str(folder),
            row_files=RowFiles(arrays["points"], arrays["descriptors"]))
    except KeyError as exc:
        raise IndexFileError(folder, f"lacks the array {exc}") from None
    except (OSError, ValueError) as exc:
        raise IndexFileError(folder, f"unreadable feature rows ({exc})") from None
    n = len(segment)
    if (n != int(meta["images"]) or len(segment.offsets) != n + 1
            or int(segment.offsets[-1]) != len(segment.points)
            or len(segment.points) != len(segment.descriptors)):
        segment.close()
        raise IndexFileError(folder, "its arrays do not agree in length")
    return segment


def _open_codes(folder: Path, meta: dict[str, Any],
                arrays: dict[str, np.ndarray]) -> CodeSegment:
    try:
        segment = CodeSegment(
            ids=arrays["ids"], work_ids=arrays["work_ids"], variant_codes=arrays["variant_codes"],
            variants=tuple(meta["variants"]), codes=arrays["codes"], pos=arrays["pos"],
            offsets=arrays["offsets"], widths=arrays["widths"])
    except KeyError as exc:
        raise IndexFileError(folder, f"lacks the array {exc}") from None
    n, widths = len(segment), [int(w) for w in segment.widths]
    tables = len(widths) * n if widths else n
    if (n != int(meta["images"]) or len(segment.work_ids) != n
            or len(segment.variant_codes) != n or len(segment.codes) != tables
            or len(segment.pos) != (tables if widths else 0)
            or len(segment.offsets) != sum(1 << w for w in widths) + 1
            or int(segment.offsets[-1]) != (tables if widths else 0)):
        raise IndexFileError(folder, "its arrays do not agree in length")
    return segment


def _open_names(folder: Path, meta: dict[str, Any],
                arrays: dict[str, np.ndarray]) -> NameSegment:
    try:
        segment = NameSegment(
            ids=arrays["ids"], work_ids=arrays["work_ids"], variant_codes=arrays["variant_codes"],
            variants=tuple(meta["variants"]), blob=arrays["blob"],
            name_starts=arrays["name_starts"], name_entries=arrays["name_entries"],
            name_lengths=arrays["name_lengths"], name_hashes=arrays["name_hashes"],
            keys=arrays["keys"], key_names=arrays["key_names"])
    except KeyError as exc:
        raise IndexFileError(folder, f"lacks the array {exc}") from None
    n, names = len(segment), len(segment.name_entries)
    if (n != int(meta["images"]) or len(segment.work_ids) != n
            or len(segment.variant_codes) != n or len(segment.name_starts) != names + 1
            or len(segment.name_lengths) != names or len(segment.name_hashes) != names
            or int(segment.name_starts[-1]) != len(segment.blob)
            or len(segment.keys) != len(segment.key_names) or len(segment.keys) > names):
        raise IndexFileError(folder, "its arrays do not agree in length")
    return segment


_OPENERS: dict[str, Callable[[Path, dict[str, Any], dict[str, np.ndarray]],
                             Segment | CodeSegment | NameSegment]] = {
    ORB: _open_words, PHASH: _open_codes, LINK: _open_names}


def _open_segment(directory: Path, meta: dict[str, Any]) -> Segment | CodeSegment | NameSegment:
    folder = directory / str(meta["name"])
    kind = meta.get("kind")
    if kind not in _OPENERS:
        raise IndexFileError(folder, f"of an unknown kind {kind!r}")
    return _OPENERS[kind](folder, meta, _open_arrays(folder, meta))


def load(directory: Path) -> Loaded | None:
    """The manifest and its segments, memory-mapped read-only; ``None`` if there is no index
    yet. Raises :class:`IndexFileError` naming the first bad file."""
    for _ in range(3):  # a writer may merge segments away between the two reads: read again
        manifest = read_manifest(directory)
        if manifest is None:
            return None
        loaded = Loaded(manifest, [], [], [])
        try:
            for meta in manifest.segments:
                segment = _open_segment(directory, meta)
                if isinstance(segment, Segment):
                    loaded.words.append(segment)
                elif isinstance(segment, CodeSegment):
                    loaded.codes.append(segment)
                else:
                    loaded.names.append(segment)
            return loaded
        except IndexFileError:
            loaded.close()
            if read_manifest(directory) == manifest:
                raise
    raise IndexFileError(directory / MANIFEST, "kept changing while being read")


def write_segment(directory: Path, manifest: Manifest,
                  segment: Segment | CodeSegment | NameSegment) -> Manifest:
    """Write ``segment`` durably as the manifest's next segment and return the manifest that
    names it (not yet committed: see :func:`commit`)."""
    name = f"seg-{manifest.next_segment:06d}"
    staging = directory / f"{name}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    files = {}
    for stem, array in segment.arrays().items():
        path = staging / f"{stem}.npy"
        with path.open("wb") as f:
            np.save(f, np.ascontiguousarray(array), allow_pickle=False)
            f.flush()
            os.fsync(f.fileno())
        files[stem] = {"bytes": path.stat().st_size, "crc32": _crc32(path)}
    _fsync_dir(staging)
    shutil.rmtree(directory / name, ignore_errors=True)  # a killed writer's, never listed
    os.replace(staging, directory / name)
    _fsync_dir(directory)
    kind = ORB if isinstance(segment, Segment) else PHASH if isinstance(
        segment, CodeSegment) else LINK
    meta = {"name": name, "kind": kind,
            "images": len(segment), "variants": list(segment.variants), "files": files}
    return replace(manifest, segments=(*manifest.segments, meta),
                   next_segment=manifest.next_segment + 1)


def commit(directory: Path, manifest: Manifest) -> None:
    """Make ``manifest`` the index, atomically."""
    data = {"high_water": manifest.high_water, "segments": list(manifest.segments),
            "removed": sorted(manifest.removed), "next_segment": manifest.next_segment,
            "params": manifest.params}
    staging = directory / f"{MANIFEST}.tmp"
    with staging.open("w", encoding="utf-8") as f:
        json.dump(data, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(staging, directory / MANIFEST)
    _fsync_dir(directory)


def remove_unlisted(directory: Path, manifest: Manifest) -> None:
    """Delete segment folders the manifest does not name (left by a killed writer, or
    merged away; processes that still map them keep their pages)."""
    listed = {str(s["name"]) for s in manifest.segments}
    for path in directory.glob("seg-*"):
        if path.name not in listed:
            shutil.rmtree(path, ignore_errors=True)


def clear(directory: Path) -> None:
    """Delete the whole index (before a rebuild), keeping the lock file."""
    (directory / MANIFEST).unlink(missing_ok=True)
    remove_unlisted(directory, Manifest())


@contextmanager
def writer_lock(directory: Path) -> Iterator[None]:
    """Hold the index's writer lock (blocking until another writer is done)."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / LOCK).open("a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
