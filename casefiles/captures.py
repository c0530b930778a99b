"""Finding and checking the stored evidence behind captures.

A Capture names its WARC file by its stable file name and the offset of its record. While
a crawl runs, the file is open in the evidence store's ``open/`` directory; once sealed it
lives under the sha256 of the whole file, recorded on its WarcFile row.
"""

from __future__ import annotations

from dataclasses import replace
from hashlib import sha256
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from swordnet.core.errors import NotFound
from swordnet.core.models import Capture, Hit, WarcFile
from swordnet.evidence.store import EvidenceStore
from swordnet.evidence.warc import SUFFIX, WarcRecordView, payload_digest, read_record


def _warc_row(session: Session, filename: str) -> WarcFile | None:
    return session.scalar(select(WarcFile).where(WarcFile.filename == filename))


def _locate(session: Session, store: EvidenceStore,
            filename: str) -> tuple[Path, WarcFile | None]:
    row = _warc_row(session, filename)
    if row is not None and row.sha256:
        return store.path_for(row.sha256, SUFFIX), row
    return store.open_dir / Path(filename).name, row


def warc_path(session: Session, store: EvidenceStore, filename: str) -> Path:
    """Where the WARC file named ``filename`` is now (sealed, or still open)."""
    return _locate(session, store, filename)[0]


def hit_captures(session: Session, hit: Hit) -> list[Capture]:
    """The page and media captures of a hit, and screenshots of its page from the same run."""
    captures = [c for c in (hit.page_capture, hit.media_capture) if c is not None]
    if hit.page_capture is not None:
        captures += session.scalars(select(Capture).where(
            Capture.kind == "screenshot", Capture.run_id == hit.page_capture.run_id,
            Capture.url == hit.page_capture.url).order_by(Capture.id)).all()
    return captures


def capture_row(session: Session, store: EvidenceStore, capture: Capture) -> dict[str, Any]:
    """What lists show of a capture: its response, and where its WARC record is."""
    path = warc_path(session, store, capture.warc_file) if capture.warc_file else None
    return {"id": capture.id, "kind": capture.kind, "url": capture.url,
            "fetched_at": capture.fetched_at.isoformat(timespec="microseconds"),
            "http_status": capture.http_status, "ip": capture.ip, "sha256": capture.sha256,
            "content_type": capture.content_type, "size": capture.size,
            "warc_file": capture.warc_file, "warc_offset": capture.warc_offset,
            "warc_path": str(path) if path else None}


class RecordUnreadable(NotFound):
    """A capture whose WARC record is missing, changed or cannot be read back."""


def capture_record(session: Session, store: EvidenceStore, capture: Capture, *,
                   check_file: bool = True) -> WarcRecordView:
    """The capture's WARC record, digests verified, and (``check_file``) the whole sealed file
    re-hashed first, since record digests do not cover WARC headers. RecordUnreadable names
    what is wrong."""
    if capture.warc_file is None or capture.warc_offset is None:
        raise RecordUnreadable(f"capture {capture.id} has no WARC record (captured before WARC "
                               "recording existed)")
    path, row = _locate(session, store, capture.warc_file)
    if not path.exists():
        raise RecordUnreadable(f"capture {capture.id}: WARC file {capture.warc_file} is missing "
                               f"({path})")
    if check_file and row is not None and row.sha256:
        problem = store.check(row.sha256, SUFFIX, row.size)
        if problem:
            raise RecordUnreadable(f"capture {capture.id}: WARC file {capture.warc_file}: "
                                   f"{problem}")
    try:
        view = read_record(path, capture.warc_offset)
    except ValueError as exc:  # the record's own problem, naming the file and offset
        raise RecordUnreadable(str(exc)) from None
    if capture.revisit_of is None:
        return view
    return _with_revisited_payload(session, store, capture, view, check_file)


def _with_revisited_payload(session: Session, store: EvidenceStore, capture: Capture,
                            view: WarcRecordView, check_file: bool) -> WarcRecordView:
    """A revisit record's view with the payload of the record it refers to, once that
    record is found to hold the very body the revisit's payload digest names."""
    original = session.get(Capture, capture.revisit_of)
    if original is None or original.revisit_of is not None:
        raise RecordUnreadable(f"capture {capture.id}: the capture its revisit record refers "
                               f"to ({capture.revisit_of}) is missing")
    payload = capture_record(session, store, original, check_file=check_file).payload
    if payload_digest(payload) != view.headers.get("WARC-Payload-Digest"):
        raise RecordUnreadable(f"capture {capture.id}: its revisit record's payload digest "
                               f"does not match capture {original.id}'s payload")
    return replace(view, payload=payload)


def recorded_captures(session: Session) -> int:
    """How many captures have a WARC record (what :func:`evidence_problems` reads back)."""
    return session.scalar(select(func.count()).select_from(Capture)
                          .where(Capture.warc_file.is_not(None))) or 0


def evidence_problems(session: Session, store: EvidenceStore) -> list[str]:
    """Everything wrong with the stored evidence, one line each (empty when all is well).

    Every object in the store must still hash to its name; every sealed WARC file must be
    present and unchanged; every capture's record must read back with valid digests.
    """
    problems = [f"{path}: {problem}" for path, problem in store.check_all()]
    for row in session.scalars(select(WarcFile).where(WarcFile.sha256.is_not(None))):
        assert row.sha256 is not None
        if not store.path_for(row.sha256, SUFFIX).exists():  # changed files: check_all above
            problems.append(f"WARC file {row.filename}: missing from the evidence store")
    for capture in session.scalars(select(Capture).where(Capture.warc_file.is_not(None))):
        try:
            view = capture_record(session, store, capture, check_file=False)  # files: above
        except RecordUnreadable as exc:
            problems.append(str(exc))
            continue
        if sha256(view.payload).hexdigest() != capture.sha256:
            problems.append(f"capture {capture.id}: WARC payload differs from the sha256 "
                            "recorded at capture time")
    return problems
