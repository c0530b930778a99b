"""The live checker's evidence: sampled playlists and segments written as WARC records (with
IP and time, fsynced) before the Capture rows pointing at them, and the WARC files sealed.

One :class:`LiveEvidence` per live service, with its own file prefix. Its files are sealed
when they reach their size cap, when :meth:`LiveEvidence.seal` is called (the service does so
every few minutes and when it stops), and by :func:`recover` after a crash; each sealing is
noted on the file's WarcFile row.
"""

from __future__ import annotations

import threading
from hashlib import sha256
from http import HTTPStatus

from sqlalchemy import select
from sqlalchemy.orm import Session

from swordnet.core.models import Capture, WarcFile
from swordnet.core.timeutil import utcnow
from swordnet.evidence.store import EvidenceStore
from swordnet.evidence.warc import (
    DEFAULT_MAX_BYTES,
    SealedWarc,
    WarcRecorder,
    WarcRef,
    recover_open_files,
)
from swordnet.live.sampler import Fetched

PREFIX = "swordnet-live"


def reason_phrase(status: int) -> str:
    """The standard reason phrase of an HTTP status ("" for an unknown one).

    >>> reason_phrase(200), reason_phrase(599)
    ('OK', '')
    """
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def content_type(fetched: Fetched) -> str | None:
    """The response's Content-Type header, if it has one."""
    for name, value in fetched.headers:
        if name.lower() == "content-type":
            return value[:200]
    return None


def note_sealed(session: Session, sealed: list[SealedWarc]) -> None:
    """Record the sha256 under which finished WARC files now sit in the evidence store."""
    now = utcnow()
    for warc in sealed:
        row = session.scalar(select(WarcFile).where(WarcFile.filename == warc.filename))
        if row is None:
            row = WarcFile(filename=warc.filename)
            session.add(row)
        row.sha256, row.size, row.sealed_at = warc.sha256, warc.size, now


def recover(session: Session, store: EvidenceStore) -> None:
    """Seal the WARC files dead writers left open and note them (at the service's start)."""
    sealed = recover_open_files(store)
    note_sealed(session, sealed)
    session.flush()
    store.drop_receipts([warc.filename for warc in sealed])


class LiveEvidence:
    """Writes live checks' exchanges as WARC records; thread-safe."""

    def __init__(self, store: EvidenceStore, *, prefix: str = PREFIX,
                 info: dict[str, str] | None = None,
                 max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.store = store
        self.prefix = prefix
        self.info = {"purpose": "live stream checks", **(info or {})}
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._recorder: WarcRecorder | None = None
        self._sealed: list[SealedWarc] = []
        self._files: set[str] = set()  # files a WarcFile row was added for

    def record(self, fetched: Fetched) -> WarcRef:
        """Write ``fetched`` as a WARC response and request record; returns once they are
        fsynced."""
        with self._lock:
            if self._recorder is None:
                self._recorder = WarcRecorder(self.store, self.prefix, self.info,
                                              self.max_bytes)
            recorder = self._recorder
            ref = recorder.record_exchange(
                url=fetched.url, method="GET", request_headers=fetched.request_headers,
                status=fetched.status, reason=reason_phrase(fetched.status),
                response_headers=fetched.headers, body=fetched.body, ip=fetched.ip,
                fetched_at=fetched.fetched_at)
            self._sealed += recorder.take_sealed()  # a file that reached its cap
        return ref

    def capture(self, session: Session, fetched: Fetched, ref: WarcRef) -> Capture:
        """Add the media Capture of ``fetched``, recorded at ``ref``, to ``session`` (and its
        WARC file's row, the first time)."""
        with self._lock:
            new_file = ref.filename not in self._files
            self._files.add(ref.filename)
        if new_file:  # (should this unit of work fail, sealing the file adds its row)
            session.add(WarcFile(filename=ref.filename))
        capture = Capture(kind="media", url=fetched.url, fetched_at=fetched.fetched_at,
                          http_status=fetched.status, ip=fetched.ip,
                          sha256=sha256(fetched.body).hexdigest(),
                          content_type=content_type(fetched), size=len(fetched.body),
                          warc_file=ref.filename, warc_offset=ref.offset)
        session.add(capture)
        session.flush()
        return capture

    def seal(self, session: Session) -> list[SealedWarc]:
        """Seal the file being written (the next capture starts a new one) and note every
        file sealed since the last call in ``session``."""
        with self._lock:
            if self._recorder is not None:
                self._recorder.close()
                self._sealed += self._recorder.take_sealed()
                self._recorder = None
            sealed, self._sealed = self._sealed, []
        note_sealed(session, sealed)
        session.flush()
        self.store.drop_receipts([warc.filename for warc in sealed])
        return sealed
