"""What reviewers see of a software hit: the matched files side by side, sizes and digests.

At registration a software work's parts (the whole file and each zip member the software
signals fingerprint) are listed with their sizes, SHA-256 and TLSH digests in a small JSON
object in the evidence store (the work's preview, type ``members``). For a hit,
:func:`software_comparison` takes the work's matched part from that list (for works
registered before it existed, from the fingerprint lines, which hold digests but no sizes)
and the copy's from its evidence capture, read again with the signals' own caps, and puts
the TLSH distance between them beside the threshold that applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import tlsh

from matching.registry import signal_type
from matching.software_scan import MAX_TOTAL_BYTES, Part, read_content
from matching.software_values import (
    member_path,
    parse_value,
    path_label,
    sha256_digest,
    tlsh_digest,
)
from matching.ziparchive import ZipArchive, ZipUnreadable
from swordnet.core.models import Work
from swordnet.evidence.store import EvidenceStore
from swordnet.works.previews import store_json_preview, stored_json_preview

PREVIEW_TYPE = "members"
MANIFEST_VERSION = 1
SOFTWARE_ALGORITHMS = ("sha256", "tlsh")


@dataclass(frozen=True)
class FileSide:
    """One side of the comparison: a whole file (``path`` None) or an archive member."""

    path: str | None
    size: int | None  # None: not recorded (a work registered before sizes were kept)
    sha256: str | None
    tlsh: str | None
    overlay_ignored: int = 0  # bytes appended to an executable, left out of its digests


@dataclass(frozen=True)
class SoftwareComparison:
    """A software hit's matched files, their TLSH distance and the threshold it is held to."""

    work: FileSide
    copy: FileSide | None
    distance: float | None  # TLSH distance between the two sides (None: not computable)
    threshold: float  # the work's TLSH threshold
    work_note: str | None = None
    copy_note: str | None = None

    @property
    def identical(self) -> bool:
        return (self.copy is not None and self.work.sha256 is not None
                and self.work.sha256 == self.copy.sha256)


def _sized_parts(content: bytes) -> list[tuple[Part, int]]:
    """The parts the software signals read of ``content``, each with its size in bytes."""
    scan = read_content(content)
    if scan.rejected:
        raise ZipUnreadable(scan.rejected)
    archive = ZipArchive.open(content, member_bytes=len(content) or 1,
                              total_bytes=MAX_TOTAL_BYTES)
    members = archive.members if archive is not None else []
    sized = []
    for part in scan.parts:
        whole = len(content) if part.index < 0 else members[part.index].file_size
        sized.append((part, whole - part.overlay))
    return sized


def store_software_preview(store: EvidenceStore, work: Work, content: bytes) -> None:
    """Keep a software work's parts, sizes and digests as its preview (other kinds: none)."""
    if work.kind != "software":
        return
    try:
        parts = _sized_parts(content)
    except ZipUnreadable:
        return
    listed = [{"path": None if part.label is None else member_path(part.label), "size": size,
               "sha256": part.sha256, "tlsh": part.tlsh}
              for part, size in parts if not part.overlay]
    manifest = {"v": MANIFEST_VERSION, "parts": listed}
    store_json_preview(store, work, PREVIEW_TYPE, manifest)


def _stored_parts(store: EvidenceStore, work: Work) -> list[FileSide] | None:
    data = stored_json_preview(store, work, PREVIEW_TYPE)
    if data is None:
        return None
    return [FileSide(p["path"], p["size"], p["sha256"], p["tlsh"]) for p in data["parts"]]


def _from_fingerprints(work: Work, path: str | None) -> FileSide:
    """The work's part ``path`` as its fingerprint lines describe it (no size)."""
    label = None if path is None else path_label(path)
    digests: dict[str, str | None] = {"sha256": work.sha256 if path is None else None,
                                      "tlsh": None}
    for fp in work.fingerprints:
        if fp.algorithm not in SOFTWARE_ALGORITHMS:
            continue
        check = sha256_digest if fp.algorithm == "sha256" else tlsh_digest
        try:
            lines = parse_value(fp.value, check, allow_empty=True)
        except ValueError:
            continue
        for digest, line_label in lines:
            if line_label == label:
                digests[fp.algorithm] = digest
    return FileSide(path, None, digests["sha256"], digests["tlsh"])


def _copy_side(content: bytes, path: str | None, overlay: int) -> FileSide | None:
    label = None if path is None else path_label(path)
    for part, size in _sized_parts(content):
        if part.label == label and (part.overlay > 0) == (overlay > 0):
            return FileSide(path, size, part.sha256, part.tlsh, part.overlay)
    return None


def software_comparison(store: EvidenceStore, work: Work, detail: dict[str, Any],
                        copy: bytes | None, copy_problem: str | None = None) -> SoftwareComparison:
    """The hit's matched parts of work and copy (``detail`` names members as the software
    signals record them); ``copy`` None with ``copy_problem`` saying why it is unreadable."""
    work_path = detail.get("work_member")
    work_path = work_path if isinstance(work_path, str) else None
    copy_path = detail.get("copy_member")
    copy_path = copy_path if isinstance(copy_path, str) else None
    overlay = detail.get("copy_overlay_ignored")
    overlay = overlay if isinstance(overlay, int) else 0
    threshold = float(work.thresholds.get("tlsh", signal_type("tlsh").default_threshold))
    stored = _stored_parts(store, work)
    work_note = None
    side = next((p for p in stored if p.path == work_path), None) if stored else None
    if side is None:
        side = _from_fingerprints(work, work_path)
        work_note = ("Sizes were not recorded when this work was registered; the digests are "
                     "its fingerprints'.")
    copy_side, copy_note = None, None
    if copy is None:
        copy_note = f"The copy cannot be read: {copy_problem}."
    else:
        try:
            copy_side = _copy_side(copy, copy_path, overlay)
        except ZipUnreadable as exc:
            copy_note = f"The copy cannot be read: {exc}."
        else:
            if copy_side is None:
                copy_note = f"The copy no longer holds {copy_path or 'the matched file'}."
    distance = None
    if side.tlsh and copy_side is not None and copy_side.tlsh:
        distance = float(tlsh.diff(side.tlsh, copy_side.tlsh))
    return SoftwareComparison(side, copy_side, distance, threshold, work_note, copy_note)
