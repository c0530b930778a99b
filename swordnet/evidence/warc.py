"""WARC/1.1 evidence for one crawl run: what was fetched, as it was received, durably.

:class:`WarcRecorder` writes gzip-per-record WARC files (serialised by warcio) into the
evidence store's ``open/`` directory, fsyncs after every record, and seals each finished file
into the store under its SHA-256, leaving a receipt (name -> object) until the sealing is
recorded. A writer holds an exclusive ``flock`` on its open file, so
:func:`recover_open_files` can tell the files of dead writers (which it truncates to their
last complete record and seals) from those still being written.

Digests: ``WARC-Block-Digest`` and ``WARC-Payload-Digest`` are SHA-256 (``sha256:`` + base32,
warcio's encoding) rather than warcio's default SHA-1. warcio writes and verifies any hashlib
algorithm named in the label, so ``warcio check`` verifies them, and the payload digest of a
response is the same SHA-256 as the capture's hex ``sha256`` (the decoded body), so the two can
be cross-checked. SHA-1 is broken for collisions, which matters for evidence.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import io
import logging
import os
import re
import secrets
import tempfile
import threading
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from urllib.parse import urlsplit

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed
from warcio.recordloader import ArcWarcRecord
from warcio.statusandheaders import StatusAndHeaders, StatusAndHeadersParser
from warcio.utils import Digester
from warcio.warcwriter import WARCWriter

from swordnet.evidence.store import EvidenceStore, fsync_dir

log = logging.getLogger(__name__)

SUFFIX = ".warc.gz"
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
WARC_FORMAT = "WARC File Format 1.1"
# Headers that describe the body as it was on the wire; the recorded body is decoded.
_REWRITTEN = {name.lower(): name for name in
              ("Content-Encoding", "Transfer-Encoding", "Content-Length")}
_ORIGINAL_PREFIX = "X-Swordnet-Original-"
_PREFIX_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_TOKEN_RE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_BAD_VALUE_RE = re.compile(r"[\r\n\x00]")
_URL_UNSAFE_RE = re.compile(r"[\x00-\x20\x7f]")


@dataclass(frozen=True)
class WarcRef:
    """Where a recorded capture is: WARC file name, offset of its first record, and the
    compressed length of the records written for it."""

    filename: str
    offset: int
    length: int


@dataclass(frozen=True)
class SealedWarc:
    """A finished WARC file, now a store object: its original name, SHA-256 (hex) and size."""

    filename: str
    sha256: str
    size: int


@dataclass(frozen=True)
class WarcRecordView:
    """One record read back: WARC headers, HTTP status and headers (if any), payload bytes."""

    headers: dict[str, str]
    http_status: int | None
    http_headers: list[tuple[str, str]]
    payload: bytes


def payload_digest(body: bytes) -> str:
    """A WARC-Payload-Digest as this recorder writes it: ``sha256:`` and base32.

    >>> payload_digest(b"")
    'sha256:4OYMIQUY7QOBJGX36TEJS35ZEQT24QPEMSNZGTFESWMRW6CSXBKQ===='
    """
    return "sha256:" + base64.b32encode(hashlib.sha256(body).digest()).decode("ascii")


def software() -> str:
    """``Swordnet <version>``, as written in every warcinfo record."""
    try:
        return f"Swordnet {version('swordnet')}"
    except PackageNotFoundError:
        return "Swordnet unknown"


def warc_date(at: datetime) -> str:
    """A WARC-Date with microseconds (WARC/1.1 allows a fraction); naive means UTC.

    >>> warc_date(datetime(2025, 3, 1, 12, 0, 5, 42, tzinfo=UTC))
    '2025-03-01T12:00:05.000042Z'
    """
    if at.tzinfo is not None:
        at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _HttpHeaders(StatusAndHeaders):
    """HTTP headers serialised as received.

    warcio percent-encodes any non-ASCII header value, which alters the evidence. Here header
    text is encoded as Latin-1, which gives back the original bytes of headers decoded the
    same way (how Scrapy's header bytes decode losslessly); text beyond Latin-1 is UTF-8.
    """

    def compute_headers_buffer(self, header_filter: Any = None) -> None:
        text = self.to_str(header_filter)
        try:
            buff = text.encode("latin-1")
        except UnicodeEncodeError:
            buff = text.encode("utf-8")
        self.headers_buff = buff + b"\r\n"


class _Sha256Writer(WARCWriter):
    """warcio's writer with SHA-256 block and payload digests instead of SHA-1."""

    @staticmethod
    def _create_digester() -> Digester:
        return Digester("sha256")


def _check_headers(headers: list[tuple[str, str]]) -> None:
    for name, value in headers:
        if not _TOKEN_RE.fullmatch(name) or _BAD_VALUE_RE.search(value):
            raise ValueError(f"invalid HTTP header: {name!r}: {value!r}")


def _response_headers(headers: list[tuple[str, str]], body_length: int) -> list[tuple[str, str]]:
    """Renames wire-encoding headers to ``X-Swordnet-Original-*`` and sets Content-Length."""
    out: list[tuple[str, str]] = []
    for name, value in headers:
        canonical = _REWRITTEN.get(name.lower())
        out.append((_ORIGINAL_PREFIX + canonical, value) if canonical else (name, value))
    out.append(("Content-Length", str(body_length)))
    return out


def _target_uri(url: str) -> str:
    """The URL with whitespace and control characters percent-encoded (never CR/LF in a
    WARC header)."""
    return _URL_UNSAFE_RE.sub(lambda m: f"%{ord(m.group()):02X}", url)


def _request_target(url: str) -> str:
    parts = urlsplit(url)
    target = parts.path or "/"
    return f"{target}?{parts.query}" if parts.query else target


class WriteAt(Protocol):
    """Writes bytes at an offset of a file descriptor, returning how many it wrote
    (:func:`os.pwrite`'s signature; an injected one lets tests fail a chosen write)."""

    def __call__(self, fd: int, data: bytes | memoryview, offset: int, /) -> int: ...


@dataclass
class _OpenWarc:
    fd: int
    path: Path
    name: str
    size: int  # the end of the last committed (written and fsynced) record
    warcinfo_id: str


class WarcRecorder:
    """Writes one crawl run's captures as WARC/1.1 files; thread-safe.

    Every ``record_*`` call returns only after its records are fsynced, so a database row
    pointing at the returned :class:`WarcRef` never points at data that could be lost. A file
    that reaches ``max_bytes`` is sealed and the next record starts a new file, each with its own
    warcinfo record (``info`` adds fields to it, e.g. crawl settings; warcio drops empty values).
    Sealed files are collected for :meth:`take_sealed`.

    Records are written at explicit offsets (``write_at``, :func:`os.pwrite` by default), never
    at the descriptor's position. A write or fsync that fails is cut off again, back to the
    end of the last committed record, so a failed call leaves the file as it was and the next
    record starts exactly there. If even that cut fails, the file is abandoned: closed and left
    in ``open/``, where :func:`recover_open_files` cuts the partial record and seals it; the
    next record starts a new file. Either way no committed record moves or is cut.
    """

    def __init__(self, store: EvidenceStore, prefix: str, info: dict[str, str],
                 max_bytes: int = DEFAULT_MAX_BYTES, write_at: WriteAt = os.pwrite) -> None:
        if not _PREFIX_RE.fullmatch(prefix):
            raise ValueError(f"invalid WARC file prefix: {prefix!r}")
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        self.store = store
        self.prefix = prefix
        self.max_bytes = max_bytes
        self._write_at = write_at
        self.info = {"software": software(), "format": WARC_FORMAT}
        for key, value in info.items():
            if key in self.info or not _TOKEN_RE.fullmatch(key) or _BAD_VALUE_RE.search(value):
                raise ValueError(f"invalid warcinfo field: {key!r}: {value!r}")
            self.info[key] = value
        self._builder = _Sha256Writer(io.BytesIO(), gzip=True, warc_version="1.1")
        self._lock = threading.Lock()
        self._current: _OpenWarc | None = None
        self._serial = 0
        self._sealed: list[SealedWarc] = []
        self._closed = False

    def __enter__(self) -> WarcRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def record_exchange(self, *, url: str, method: str, request_headers: list[tuple[str, str]],
                        status: int, reason: str, response_headers: list[tuple[str, str]],
                        body: bytes, ip: str | None, fetched_at: datetime) -> WarcRef:
        """Records a response and then its request (WARC-Concurrent-To the response).

        ``body`` is the decoded body; Content-Encoding, Transfer-Encoding and Content-Length
        are kept as ``X-Swordnet-Original-*`` and Content-Length is set to ``len(body)``.
        Request headers are kept as given; the request body is not recorded. The ref's offset
        is the response record's, its length covers both records.
        """
        return self._record_exchange(url, method, request_headers, status, reason,
                                     response_headers, body, ip, fetched_at, None)

    def record_revisit(self, *, url: str, method: str, request_headers: list[tuple[str, str]],
                       status: int, reason: str, response_headers: list[tuple[str, str]],
                       body: bytes, ip: str | None, fetched_at: datetime,
                       refers_to_uri: str, refers_to_date: datetime) -> WarcRef:
        """Records a response whose body is the same as an earlier record's as a ``revisit``
        record (profile identical-payload-digest: HTTP headers, no payload; the payload
        digest and WARC-Refers-To-Target-URI/Date name the earlier record), then its request.

        ``body`` is only hashed, never written: the caller has checked that the record at
        ``refers_to_uri``/``refers_to_date`` holds the same bytes.
        """
        return self._record_exchange(url, method, request_headers, status, reason,
                                     response_headers, body, ip, fetched_at,
                                     (refers_to_uri, refers_to_date))

    def _record_exchange(self, url: str, method: str, request_headers: list[tuple[str, str]],
                         status: int, reason: str, response_headers: list[tuple[str, str]],
                         body: bytes, ip: str | None, fetched_at: datetime,
                         refers_to: tuple[str, datetime] | None) -> WarcRef:
        if not _TOKEN_RE.fullmatch(method) or not 100 <= status <= 999:
            raise ValueError(f"invalid method or status: {method!r} {status!r}")
        if _BAD_VALUE_RE.search(reason):
            raise ValueError(f"invalid reason phrase: {reason!r}")
        _check_headers(request_headers)
        _check_headers(response_headers)
        uri = _target_uri(url)
        date = warc_date(fetched_at)
        with self._lock:
            current = self._open()
            response_id = StatusAndHeadersParser.make_warc_id()
            common = {"WARC-Date": date, "WARC-Target-URI": uri}
            if ip:
                common["WARC-IP-Address"] = ip
            common["WARC-Warcinfo-ID"] = current.warcinfo_id
            http = _HttpHeaders(f"{status} {reason}",
                                _response_headers(response_headers, len(body)),
                                protocol="HTTP/1.1")
            if refers_to is None:
                response = self._builder.create_warc_record(
                    uri, "response", payload=io.BytesIO(body), length=len(body),
                    warc_headers_dict={"WARC-Type": "response", "WARC-Record-ID": response_id,
                                       **common}, http_headers=http)
            else:
                response = self._builder.create_revisit_record(
                    uri, payload_digest(body), _target_uri(refers_to[0]),
                    warc_date(refers_to[1]), http_headers=http,
                    warc_headers_dict={"WARC-Record-ID": response_id, **common})
            request = self._builder.create_warc_record(
                uri, "request",
                warc_headers_dict={"WARC-Type": "request",
                                   "WARC-Record-ID": StatusAndHeadersParser.make_warc_id(),
                                   **common, "WARC-Concurrent-To": response_id},
                http_headers=_HttpHeaders(f"{_request_target(uri)} HTTP/1.1",
                                          list(request_headers), protocol=method))
            return self._write(current, response, request)

    def record_resource(self, *, url: str, content_type: str, body: bytes,
                        fetched_at: datetime) -> WarcRef:
        """Records a ``resource`` record, e.g. a full-page screenshot of the page at ``url``."""
        if _BAD_VALUE_RE.search(content_type):
            raise ValueError(f"invalid content type: {content_type!r}")
        uri = _target_uri(url)
        with self._lock:
            current = self._open()
            record = self._builder.create_warc_record(
                uri, "resource", payload=io.BytesIO(body), length=len(body),
                warc_content_type=content_type,
                warc_headers_dict={"WARC-Type": "resource",
                                   "WARC-Record-ID": StatusAndHeadersParser.make_warc_id(),
                                   "WARC-Date": warc_date(fetched_at), "WARC-Target-URI": uri,
                                   "WARC-Warcinfo-ID": current.warcinfo_id})
            return self._write(current, record)

    def take_sealed(self) -> list[SealedWarc]:
        """The files sealed since the last call (by rollover or :meth:`close`), oldest first."""
        with self._lock:
            sealed, self._sealed = self._sealed, []
            return sealed

    def close(self) -> None:
        """Seals the current file; idempotent. Collect the result with :meth:`take_sealed`."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._current is not None:
                self._seal()

    def _serialise(self, *records: ArcWarcRecord) -> bytes:
        buff = io.BytesIO()
        self._builder.out = buff
        try:
            for record in records:
                self._builder.write_record(record)  # one gzip member per record
        finally:
            self._builder.out = io.BytesIO()
        return buff.getvalue()

    def _open(self) -> _OpenWarc:
        """The current file, creating a new one (with its warcinfo record) if there is none."""
        if self._closed:
            raise RuntimeError("WarcRecorder is closed")
        if self._current is not None:
            return self._current
        stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        name = f"{self.prefix}-{stamp}-{self._serial:05d}-{secrets.token_hex(4)}{SUFFIX}"
        self._serial += 1
        # Created and locked under tmp/, then renamed: a file in open/ is never unlocked while
        # its writer lives, so recover_open_files cannot mistake a brand-new file for a dead one.
        fd, tmp = tempfile.mkstemp(dir=self.store.tmp_dir, prefix="warc-")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            warcinfo = self._builder.create_warcinfo_record(name, self.info)
            data = self._serialise(warcinfo)
            self._write_all(fd, data, 0)
            path = self.store.open_dir / name
            os.rename(tmp, path)
            fsync_dir(self.store.open_dir)
            fsync_dir(self.store.tmp_dir)
        except BaseException as exc:
            os.close(fd)  # a file left in open/ holds only a warcinfo: recovery deletes it
            Path(tmp).unlink(missing_ok=True)
            if isinstance(exc, OSError) and exc.filename is None:
                raise OSError(exc.errno, exc.strerror, tmp) from exc
            raise
        warcinfo_id = warcinfo.rec_headers.get_header("WARC-Record-ID")
        self._current = _OpenWarc(fd, path, name, len(data), warcinfo_id)
        return self._current

    def _write(self, current: _OpenWarc, *records: ArcWarcRecord) -> WarcRef:
        """Appends the records at the committed end, fsyncs, and seals the file if it has
        reached max_bytes. On failure the file is rolled back (or abandoned) and the error
        raised: nothing of the records is committed and no ref is returned."""
        data = self._serialise(*records)
        start = current.size
        try:
            self._write_all(current.fd, data, start)
            os.fsync(current.fd)
        except OSError as exc:
            self._undo_write(current, start)
            if exc.filename is None:  # say which file (and so which store) refused it
                raise OSError(exc.errno, exc.strerror, str(current.path)) from exc
            raise
        except BaseException:
            self._undo_write(current, start)
            raise
        current.size += len(data)
        if current.size >= self.max_bytes:
            try:
                self._seal()
            except OSError:  # the records are durable; the file stays in open/ for recovery
                log.exception("cannot seal %s; leaving it for recovery", current.path)
        return WarcRef(current.name, start, len(data))

    def _write_all(self, fd: int, data: bytes, offset: int) -> None:
        view = memoryview(data)
        while view:
            written = self._write_at(fd, view, offset)
            if written <= 0:
                raise OSError(f"no progress writing at byte {offset}")
            view, offset = view[written:], offset + written

    def _undo_write(self, current: _OpenWarc, start: int) -> None:
        """Cuts a failed write off at ``start`` (the committed end); if that fails, abandons
        the file to recovery, so the next record starts a new one."""
        try:
            os.ftruncate(current.fd, start)
            os.fsync(current.fd)
            if os.fstat(current.fd).st_size != start:
                raise OSError(f"still {os.fstat(current.fd).st_size} bytes after cutting to "
                              f"{start}")
        except OSError:
            log.exception("cannot undo a failed write to %s; leaving it for recovery and "
                          "starting a new file", current.path)
            self._current = None
            try:
                os.close(current.fd)
            except OSError:
                log.exception("cannot close %s", current.path)

    def _seal(self) -> None:
        current = self._current
        assert current is not None
        self._current = None
        try:
            stored = self.store.put_file(current.path, SUFFIX,  # still holding the lock
                                         receipt=current.name)
        finally:
            os.close(current.fd)
        self._sealed.append(SealedWarc(current.name, stored.sha256, stored.size))


# --- recovery ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Member:
    start: int
    end: int
    rec_type: str | None


def _record_type(head: bytes) -> str | None:
    """The WARC-Type in the start of a decompressed record, or None if not seen."""
    for line in head.split(b"\r\n")[1:]:
        if not line:
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"warc-type":
            return value.strip().decode("ascii", "replace")
    return None


def _members(f: BinaryIO, start: int = 0, limit: int | None = None) -> tuple[list[_Member], int]:
    """The complete gzip members holding a WARC record from ``start`` on, and the offset where
    they stop (end of file, a partial member, or damage). ``limit`` stops after that many.
    """
    out_max = 1 << 16
    members: list[_Member] = []
    f.seek(start)
    pos = member_start = start  # pos: file offset of data[0]
    decomp = zlib.decompressobj(zlib.MAX_WBITS | 16)
    head = b""
    data = b""
    capped = False  # output was cut at out_max: zlib may hold more without needing input
    while True:
        if not data and not capped:
            data = f.read(1 << 20)
            if not data:
                return members, member_start
        try:
            out = decomp.decompress(data, out_max)
        except zlib.error:
            return members, member_start
        capped = len(out) == out_max
        if len(head) < 8192:
            head += out[:8192 - len(head)]
        if not decomp.eof:
            pos += len(data) - len(decomp.unconsumed_tail)
            data = decomp.unconsumed_tail
            continue
        end = pos + len(data) - len(decomp.unused_data)
        if not head.startswith(b"WARC/"):
            return members, member_start
        members.append(_Member(member_start, end, _record_type(head)))
        if limit is not None and len(members) >= limit:
            return members, end
        data, pos, member_start = decomp.unused_data, end, end
        decomp = zlib.decompressobj(zlib.MAX_WBITS | 16)
        head = b""
        capped = False


def _complete_member_after(f: BinaryIO, start: int) -> int | None:
    """Offset of the first complete WARC gzip member starting after ``start``, if any."""
    f.seek(start)
    tail = f.read()
    at = tail.find(b"\x1f\x8b\x08", 1)
    while at != -1:
        found, _ = _members(f, start + at, limit=1)
        if found:
            return start + at
        at = tail.find(b"\x1f\x8b\x08", at + 1)
    return None


def _same_file(path: Path, fd: int) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    fst = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (fst.st_dev, fst.st_ino)


def recover_open_files(store: EvidenceStore) -> list[SealedWarc]:
    """Seals the WARC files in ``open/`` left by dead writers; returns what it sealed, and
    the files sealed earlier whose receipt was not dropped yet (their writer may have died
    between sealing and recording it: :meth:`EvidenceStore.drop_receipts` once recorded).

    A file is taken only if its flock can be taken without waiting (a live writer holds it).
    It is truncated to the end of its last complete record (a killed writer leaves a partial
    one), then sealed. A file with no complete record other than its warcinfo is deleted. A
    file damaged *before* a complete record is left alone and logged: nothing complete is
    ever cut off. Idempotent, and safe to run from several processes at once.
    """
    sealed: list[SealedWarc] = []
    for path in sorted(store.open_dir.iterdir()):
        if not path.name.endswith(SUFFIX) or path.name.startswith("."):
            continue
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        with open(fd, "rb") as f:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live writer
            if not _same_file(path, f.fileno()):
                continue  # sealed or deleted by someone else since we listed it
            size = os.fstat(f.fileno()).st_size
            members, end = _members(f)
            if end < size:
                later = _complete_member_after(f, end)
                if later is not None:
                    log.error("%s: damaged at byte %d but a complete record follows at %d; "
                              "left in place", path, end, later)
                    continue
            if not any(m.rec_type != "warcinfo" for m in members):
                path.unlink()
                fsync_dir(store.open_dir)
                log.info("%s: no complete record; deleted", path)
                continue
            if end < size:
                log.warning("%s: cutting a partial record (%d bytes) at byte %d", path,
                            size - end, end)
                os.chmod(path, 0o600)
                with open(path, "r+b") as w:
                    w.truncate(end)
                    os.fsync(w.fileno())
            stored = store.put_file(path, SUFFIX, receipt=path.name)
            sealed.append(SealedWarc(path.name, stored.sha256, stored.size))
    taken = {warc.filename for warc in sealed}
    for name, stored in store.receipts().items():  # sealed by a writer killed before its
        if name not in taken and not (store.open_dir / name).exists():  # owner recorded it
            sealed.append(SealedWarc(name, stored.sha256, stored.size))
    return sealed


# --- reading ----------------------------------------------------------------------------------


def read_record(path: Path, offset: int) -> WarcRecordView:
    """Reads the record at ``offset``, verifying its digests (ValueError if they fail).

    ``payload`` is the record's payload as stored: the body after any HTTP headers.
    """
    with open(path, "rb") as f:
        f.seek(offset)
        iterator = ArchiveIterator(f, check_digests=True)
        try:
            record = next(iterator)
            payload = record.raw_stream.read()
        except (ArchiveLoadFailed, StopIteration, EOFError, zlib.error) as exc:
            # warcio reports a damaged gzip member as an unknown format, quoting raw bytes
            reason = (str(exc).splitlines() or [type(exc).__name__])[0][:80]
            raise ValueError(f"{path}: no readable WARC record at offset {offset}: "
                             f"{reason}") from exc
        if record.format != "warc" or not record.rec_headers.get_header("WARC-Type"):
            # warcio falls back to reading old ARC records from whatever bytes it is given
            raise ValueError(f"{path}: no readable WARC record at offset {offset}: "
                             "not the start of a record")
        if record.digest_checker.passed is False:
            problems = "; ".join(record.digest_checker.problems)
            raise ValueError(f"{path}: record at offset {offset}: {problems}")
        http = record.http_headers
        status = None
        if http is not None and record.rec_type in ("response", "revisit"):
            status = int(http.get_statuscode())
        return WarcRecordView(headers=dict(record.rec_headers.headers), http_status=status,
                              http_headers=list(http.headers) if http is not None else [],
                              payload=payload)
