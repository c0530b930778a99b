"""The software signal types: SHA-256 (exact copies) and TLSH (repacked copies), both stage 1.

A binary or archive is fingerprinted as a whole file and, when it is a zip archive (.zip,
.jar, .apk, .whl, a self-extracting installer with a zip appended), also member by member:

* :class:`Sha256Signal` finds exact copies: a dict lookup, score 0, threshold 0.
* :class:`TlshSignal` finds repacked ones (bytes patched, version strings changed, an overlay
  appended): the score is the TLSH distance (``tlsh.diff``, length term included; lower is
  closer). The threshold was calibrated by ``bench/software.py``.

Values. Both signals store text lines, one per file: ``<digest>`` for a whole file and
``<digest> <path>`` for a zip member. ``<path>`` is the member's name percent-encoded as UTF-8
(spaces, ``%``, control and non-ASCII characters escaped; at most 1024 characters, a longer
name is cut and ends in ``...``): :func:`member_path` gives reviewers the name back. A SHA-256
digest is 64 lowercase hex digits; a TLSH digest is ``T1`` and 70 uppercase hex digits
(py-tlsh's format; the bare 70 digits of TLSH < 4 are accepted and given the prefix).
Registration stores the variants ``original`` (the whole file) and ``member:N`` (the archive's
N-th directory entry), one line each. Crawled content is queried with all its parts at once,
as :class:`QueryLine` s (the whole file, every member): a registered member is found inside a
different archive, a registered binary inside an archive, a registered member served alone.
Match details name the members involved: ``copy_member`` and/or ``work_member`` (and
``copy_overlay_ignored``, in bytes, when the copy matched without its overlay).

Content TLSH cannot hash (under 50 bytes, or too uniform) has no TLSH line: TLSH registers no
variant for it and a crawl queries TLSH with an empty value, while SHA-256 still registers and
matches it (``TlshSignal.fingerprint``, the whole file's line alone, raises
``ContentSkipped``). Members under :data:`MIN_MEMBER_BYTES` are not fingerprinted: empty and
boilerplate files are in every archive and would tie unrelated works together. For the same
reason TLSH leaves out text members (readmes, licences, NFOs, configs: texts of one template
come within TLSH distance 30 of each other); SHA-256 still matches them exactly.

An executable with data appended (an ELF or PE file longer than its headers, segments and
sections: an installer's payload, a signature, a repacker's overlay) is also queried without
it, so a binary that was only appended to matches exactly. Registration stores the whole file
only: without its overlay an installer may be nothing but a generic stub.

Zip archives are read with hard caps whatever their headers claim (zipfile only parses the
central directory, whose size is checked first; members are decompressed here, in bounded
chunks): :data:`MAX_DIRECTORY_BYTES`, :data:`MAX_MEMBERS`, :data:`MAX_MEMBER_BYTES`,
:data:`MAX_TOTAL_BYTES` and a member may not expand beyond :data:`MAX_RATIO` times the
compressed bytes consumed so far (after :data:`RATIO_SLACK_BYTES`). Only stored, deflate and
bzip2 members are read. Nested archives are hashed as members, never opened.

* Registration is strict: an archive with any member that could not be read completely and
  safely (zip bomb, over a cap, encrypted, corrupt, unsupported method) is refused with a
  :class:`~matching.signal.ContentRejected` naming the first problem.
* A crawled archive is matched on what could be read safely (the whole file and every member
  within the caps), so adding a bomb member to a pirated archive does not hide the rest.
* Content that starts like a zip but whose directory cannot be read (truncated, corrupt) is
  refused either way. Other content with a stray end-of-directory signature is a plain file.

Other archive formats (7z, RAR, tar.gz, MSI) are matched as whole files only. One scan of an
archive serves both signals (a small cache keyed by the content's SHA-256).
"""

from __future__ import annotations

import bz2
import hashlib
import io
import math
import re
import struct
import threading
import zipfile
import zlib
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote, unquote

import numpy as np
import tlsh

from matching.signal import ContentRejected, ContentSkipped, SignalIndex, SignalType

MiB = 1024 * 1024
MAX_CONTENT_BYTES = 512 * MiB
MIN_MEMBER_BYTES = 1024  # smaller members are not fingerprinted (see the module docstring)
MAX_DIRECTORY_BYTES = 4 * MiB  # central directory: bounds zipfile's parse (about 90k entries)
MAX_MEMBERS = 10_000
MAX_MEMBER_BYTES = MAX_CONTENT_BYTES  # a member is fingerprinted only if a file could be
MAX_TOTAL_BYTES = 1024 * MiB  # decompressed bytes read from one archive, all members together
MAX_RATIO = 200  # deflate peaks near 1032x; binaries compress 2-4x, text about 10x
RATIO_SLACK_BYTES = MiB  # any member may expand to this much, whatever its ratio
MAX_IMAGE_BYTES = 64 * MiB  # executable members up to this size are also hashed sans overlay
MAX_PATH_CHARS = 1024
_OUT_CHUNK = MiB  # decompressed bytes per step
_IN_CHUNK = 64 * 1024  # compressed bytes fed per step
_READ_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate",
                 zipfile.ZIP_BZIP2: "bzip2"}
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError,
               NotImplementedError, RuntimeError, struct.error)

# Printable ASCII but space and "%" stays as it is in a member path; the rest is escaped.
_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) != "%")
_LABEL = re.compile(r"(?:[!-$&-~]|%[0-9A-Fa-f]{2})+")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_TLSH = re.compile(r"(?:T1)?([0-9A-F]{70})")


def member_path(label: str) -> str:
    """The member name a value's path stands for.

    >>> member_path("bin/My%20Game.exe")
    'bin/My Game.exe'
    """
    return unquote(label, errors="strict")


def _label(name: str) -> str:
    """``name`` as a value's path: percent-encoded, cut to :data:`MAX_PATH_CHARS`."""
    label = quote(name or "(unnamed)", safe=_SAFE)
    if len(label) <= MAX_PATH_CHARS:
        return label
    cut = label[: MAX_PATH_CHARS - 3]
    if "%" in cut[-2:]:  # never cut an escape in half
        cut = cut[: cut.rindex("%")]
    while True:  # nor a multi-byte character
        try:
            unquote(cut, errors="strict")
            return cut + "..."
        except UnicodeDecodeError:
            cut = cut[: cut.rindex("%")]


def _check_label(label: str) -> str:
    """A value's path, normalised; raises ``ValueError``."""
    if len(label) > MAX_PATH_CHARS or not _LABEL.fullmatch(label):
        raise ValueError(f"malformed member path {label[:80]!r}: expected 1 to {MAX_PATH_CHARS} "
                         "percent-encoded characters, no spaces")
    try:
        return quote(unquote(label, errors="strict"), safe=_SAFE)
    except UnicodeDecodeError:
        raise ValueError(f"member path {label[:80]!r} is not percent-encoded UTF-8") from None


# --- reading content -----------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """A whole file (``index`` -1), an archive member, or an executable without its overlay
    (``index`` -2, ``overlay`` > 0), with its digests."""

    index: int
    label: str | None  # a member's path (percent-encoded), else None
    sha256: str
    tlsh: str | None  # None: too small or too uniform for TLSH
    overlay: int = 0  # bytes of appended data left out


@dataclass(frozen=True)
class QueryLine:
    """One line of a crawl's query: the whole file, a member, or the file without its
    overlay."""

    digest: str
    member: str | None = None  # the copy's member path (percent-encoded)
    overlay: int = 0  # > 0: the copy without this many appended bytes


@dataclass(frozen=True)
class Scan:
    """What could be read of some content: its parts, whole file first."""

    parts: tuple[Part, ...]
    problems: tuple[str, ...] = ()  # members not read (or not read cleanly), by reason
    rejected: str | None = None  # why the content cannot be fingerprinted at all


def _tlsh_of(data: bytes) -> str | None:
    digest = tlsh.hash(data)
    return None if digest == "TNULL" else digest


def _elf_end(content: bytes) -> int:
    """Where an ELF file's headers, segments and sections end."""
    wide, order = content[4] == 2, "<" if content[5] == 1 else ">"
    if wide:
        phoff, shoff = struct.unpack_from(order + "QQ", content, 0x20)
        phsize, phnum, shsize, shnum = struct.unpack_from(order + "HHHH", content, 0x36)
        segment, section = order + "8xQ16xQ", order + "4xI16xQQ"
    else:
        phoff, shoff = struct.unpack_from(order + "II", content, 0x1C)
        phsize, phnum, shsize, shnum = struct.unpack_from(order + "HHHH", content, 0x2A)
        segment, section = order + "4xI8xI", order + "4xI8xII"
    end = max(64 if wide else 52, phoff + phnum * phsize, shoff + shnum * shsize)
    for at in range(phnum if phoff else 0):
        offset, size = struct.unpack_from(segment, content, phoff + at * phsize)
        end = max(end, offset + size)
    # The section table is usually last: a member's first chunk does not reach it.
    for at in range(shnum if shoff and shoff + shnum * shsize <= len(content) else 0):
        kind, offset, size = struct.unpack_from(section, content, shoff + at * shsize)
        if kind != 8:  # SHT_NOBITS takes no room in the file
            end = max(end, offset + size)
    return end


def _pe_end(content: bytes) -> int:
    """Where a PE file's headers and sections end (its signature, if any, is past it)."""
    (header,) = struct.unpack_from("<I", content, 0x3C)
    if content[header : header + 4] != b"PE\0\0":
        raise ValueError("not a PE file")
    sections, optional = struct.unpack_from("<H12xH", content, header + 6)
    table = header + 24 + optional
    end = table + 40 * sections
    for at in range(min(sections, 96)):
        size, offset = struct.unpack_from("<II", content, table + 40 * at + 16)
        if size:
            end = max(end, offset + size)
    return end


def image_end(content: bytes, *, head: bool = False) -> int | None:
    """Where an ELF or PE executable's own bytes end (anything after is appended data, an
    overlay), or None for other content and malformed headers.

    ``head``: ``content`` is only the start of the file (a member's first chunk): the ELF
    section table is not read, and the end may lie beyond ``content``.
    """
    try:
        if content[:4] == b"\x7fELF" and content[4] in (1, 2) and content[5] in (1, 2):
            end = _elf_end(content)
        elif content[:2] == b"MZ":
            end = _pe_end(content)
        else:
            return None
    except (struct.error, ValueError):
        return None
    return end if head or end <= len(content) else None


class _Hashes:
    """SHA-256 and TLSH of a stream (TLSH optional)."""

    def __init__(self, fuzzy: bool = True) -> None:
        self.sha = hashlib.sha256()
        self.fuzzy = tlsh.Tlsh() if fuzzy else None

    def update(self, chunk: bytes) -> None:
        self.sha.update(chunk)
        if self.fuzzy is not None:
            self.fuzzy.update(chunk)

    def digests(self) -> tuple[str, str | None]:
        """``(sha256, tlsh)``; TLSH is None when off, or for too little or too uniform data."""
        if self.fuzzy is None:
            return self.sha.hexdigest(), None
        try:
            self.fuzzy.final()
            return self.sha.hexdigest(), self.fuzzy.hexdigest()
        except ValueError:  # under 50 bytes, or too uniform
            return self.sha.hexdigest(), None


def _without_overlay(content: bytes) -> Part | None:
    """The executable ``content`` without the data appended to it, if there is any."""
    end = image_end(content)
    if end is None or end < MIN_MEMBER_BYTES or end == len(content):
        return None
    image, hashes = memoryview(content)[:end], _Hashes()
    for at in range(0, end, _OUT_CHUNK):
        hashes.update(bytes(image[at : at + _OUT_CHUNK]))
    return Part(-2, None, *hashes.digests(), overlay=len(content) - end)


def _directory_bytes(content: bytes) -> int | None:
    """The central directory size the end records claim (the larger, with zip64), or None.

    Finds the end record as zipfile does: without a comment, else the last one in the final
    64 KiB.
    """
    at = len(content) - 22
    if at < 0:
        return None
    if content[at : at + 4] != b"PK\x05\x06" or content[at + 20 : at + 22] != b"\0\0":
        at = content.rfind(b"PK\x05\x06", max(0, len(content) - 65536 - 22))
        if at < 0 or at + 22 > len(content):
            return None
    (size,) = struct.unpack_from("<I", content, at + 12)
    record = at - 20 - 56  # a zip64 end record sits before its locator, before the end record
    if record >= 0 and content[at - 20 : at - 16] == b"PK\x06\x07" \
            and content[record : record + 4] == b"PK\x06\x06":
        size = max(size, struct.unpack_from("<Q", content, record + 40)[0])
    return size


def looks_like_text(data: bytes) -> bool:
    """Whether ``data`` starts like text (no NUL, at most 5% control bytes in 8 KiB).

    >>> looks_like_text(b"Licence: MIT\\r\\n"), looks_like_text(b"\\x7fELF\\x02\\x01\\x01\\0")
    (True, False)
    """
    head = data[:8192]
    if b"\0" in head:
        return False
    control = sum(head.count(bytes([c])) for c in (*range(1, 9), *range(14, 32), 127))
    return control <= 0.05 * len(head)


def _member_data(content: bytes, info: zipfile.ZipInfo) -> memoryview:
    """The compressed bytes of a member, found through its local header."""
    start = info.header_offset
    if start < 0 or content[start : start + 4] != b"PK\x03\x04":
        raise ValueError("bad local header")
    name_length, extra_length = struct.unpack_from("<HH", content, start + 26)
    start += 30 + name_length + extra_length
    if start + info.compress_size > len(content):
        raise ValueError("truncated: its data runs past the end of the file")
    return memoryview(content)[start : start + info.compress_size]


def _decompressed(method: int, data: memoryview) -> Iterator[tuple[bytes, int]]:
    """``(chunk, compressed bytes consumed so far)`` of a member's data, in bounded steps."""
    if method == zipfile.ZIP_STORED:
        for at in range(0, len(data), _OUT_CHUNK):
            yield bytes(data[at : at + _OUT_CHUNK]), min(at + _OUT_CHUNK, len(data))
        return
    fed = 0
    if method == zipfile.ZIP_DEFLATED:
        inflater = zlib.decompressobj(-15)
        while not inflater.eof:
            feed: bytes | memoryview = inflater.unconsumed_tail
            if not feed and fed < len(data):
                feed = data[fed : fed + _IN_CHUNK]
                fed += len(feed)
            chunk = inflater.decompress(feed, _OUT_CHUNK)
            if not chunk and not feed and not inflater.eof:
                raise ValueError("truncated: compressed data ends early")
            yield chunk, fed - len(inflater.unconsumed_tail)
        return
    unbzip = bz2.BZ2Decompressor()
    while not unbzip.eof:
        if unbzip.needs_input:
            if fed >= len(data):
                raise ValueError("truncated: compressed data ends early")
            chunk = unbzip.decompress(data[fed : fed + 4096], _OUT_CHUNK)
            fed += len(data[fed : fed + 4096])
        else:
            chunk = unbzip.decompress(b"", _OUT_CHUNK)
        yield chunk, fed  # at most 4 KiB ahead of what bzip2 consumed


def _read_member(content: bytes, info: zipfile.ZipInfo, budget: int
                 ) -> tuple[int, list[tuple[str, str | None, int]], str | None]:
    """Decompress one member within the caps.

    Returns the bytes decompressed; ``(sha256, tlsh, overlay)`` of the member if it was read
    completely and safely (and of an executable member without its overlay, if it has one);
    and a problem, if any (a wrong CRC is a problem that keeps the digests).
    """
    if info.flag_bits & 0x1:
        return 0, [], "encrypted"
    if info.compress_type not in _READ_METHODS:
        return 0, [], f"compression method {info.compress_type} is not read (only " \
            f"{', '.join(_READ_METHODS.values())})"
    hashes, crc, size = _Hashes(), 0, 0
    image: _Hashes | None = None
    end = 0
    try:
        for chunk, consumed in _decompressed(info.compress_type, _member_data(content, info)):
            if not size and chunk:
                hashes = _Hashes(fuzzy=not looks_like_text(chunk))
                end = image_end(chunk, head=True) or 0
                # hashed alongside, in case there is an overlay: only so much twice
                image = _Hashes() if MIN_MEMBER_BYTES <= end <= MAX_IMAGE_BYTES else None
            start, size = size, size + len(chunk)
            if size > budget:
                return size, [], f"the archive expands past {MAX_TOTAL_BYTES:,} bytes in all"
            if size > MAX_MEMBER_BYTES:
                return size, [], f"expands past the {MAX_MEMBER_BYTES:,} byte member limit"
            if size > max(RATIO_SLACK_BYTES, MAX_RATIO * consumed):
                return size, [], (f"zip bomb: expands over {MAX_RATIO}x ({size:,} bytes "
                                    f"from {consumed:,} compressed)")
            hashes.update(chunk)
            if image is not None and start < end:
                image.update(chunk[: end - start])
            crc = zlib.crc32(chunk, crc)
    except (ValueError, OSError, EOFError, zlib.error) as exc:
        return size, [], f"corrupt ({exc})"
    digests = [(*hashes.digests(), 0)]
    if image is not None and size > end:
        digests.append((*image.digests(), size - end))
    problem = None if crc == info.CRC else "corrupt (CRC mismatch)"
    return size, digests, problem


def _scan_archive(content: bytes) -> tuple[list[Part], list[str], str | None]:
    """Members of a zip archive ``content`` (none for other files), problems, rejection."""
    zip_like = content[:4] in (b"PK\x03\x04", b"PK\x05\x06")
    claimed = _directory_bytes(content)
    if claimed is None:
        return [], [], "corrupt or truncated zip archive: no end of central directory" \
            if zip_like else None
    if claimed > MAX_DIRECTORY_BYTES:
        too_big = (f"its directory claims {claimed:,} bytes, over the "
                   f"{MAX_DIRECTORY_BYTES:,} byte limit: members not read")
        return [], [too_big] if zip_like else [], None
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            infos = archive.infolist()
    except _ZIP_ERRORS as exc:
        return [], [], f"corrupt or truncated zip archive: {exc}" if zip_like else None
    parts: list[Part] = []
    problems: list[str] = []
    if len(infos) > MAX_MEMBERS:
        problems.append(f"{len(infos):,} members, over the {MAX_MEMBERS:,} member limit: "
                        "the rest were not read")
    total = 0
    for index, info in enumerate(infos[:MAX_MEMBERS]):
        if total >= MAX_TOTAL_BYTES:
            problems.append(f"the archive expands past {MAX_TOTAL_BYTES:,} bytes in all: "
                            f"members from {info.filename!r} on were not read")
            break
        size, digests, problem = _read_member(content, info, MAX_TOTAL_BYTES - total)
        total += size
        if problem:
            problems.append(f"member {info.filename!r}: {problem}")
        if size >= MIN_MEMBER_BYTES:
            parts += [Part(index, _label(info.filename), sha, fuzzy, overlay)
                      for sha, fuzzy, overlay in digests]
    return parts, problems, None


_cache: OrderedDict[tuple[str, int], Scan] = OrderedDict()
_cache_lock = threading.Lock()


def read_content(content: bytes) -> Scan:
    """Digests of ``content`` and, for a zip archive, of its members (cached: both signals
    read the same content in turn)."""
    digest = hashlib.sha256(content).hexdigest()
    key = (digest, len(content))
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    members, problems, rejected = _scan_archive(content)
    if rejected:
        scan = Scan((), (), rejected)
    else:
        stripped = _without_overlay(content)
        scan = Scan((Part(-1, None, digest, _tlsh_of(content)),
                     *([stripped] if stripped else []), *members), tuple(problems))
    with _cache_lock:
        _cache[key] = scan
        while len(_cache) > 4:
            _cache.popitem(last=False)
    return scan


# --- values ----------------------------------------------------------------------------------


def _parse(value: str, digest: Any, *, allow_empty: bool) -> list[tuple[str, str | None]]:
    """``(digest, path label)`` of each line of a value, normalised; raises ``ValueError``."""
    if not isinstance(value, str):
        raise ValueError(f"expected a string value, got {type(value).__name__}")
    value = value.strip()
    if not value:
        if allow_empty:
            return []
        raise ValueError("empty fingerprint value")
    lines = value.split("\n")
    if len(lines) > MAX_MEMBERS + 1:
        raise ValueError(f"{len(lines):,} lines, over the {MAX_MEMBERS + 1:,} line limit")
    parsed = []
    for line in lines:
        text, _, label = line.strip().partition(" ")
        parsed.append((digest(text), _check_label(label) if label else None))
    return parsed


def _sha256_digest(text: str) -> str:
    if not _SHA256.fullmatch(text.lower()):
        raise ValueError(f"malformed SHA-256 digest {text[:80]!r}: expected 64 hex digits")
    return text.lower()


def _tlsh_digest(text: str) -> str:
    match = _TLSH.fullmatch(text.upper())
    if not match:
        raise ValueError(f"malformed TLSH digest {text[:80]!r}: expected 'T1' and 70 hex digits")
    return "T1" + match[1]


def _query_lines(value: str | tuple[QueryLine, ...], digest: Any) -> list[QueryLine]:
    """A query: :meth:`_SoftwareSignal.query_value`'s lines, or a value's (parsed)."""
    if isinstance(value, str):
        return [QueryLine(d, label) for d, label in _parse(value, digest, allow_empty=True)]
    return list(value)


def _detail(line: QueryLine, work_label: str | None) -> dict[str, Any]:
    """Which members matched, for reviewers (whole files are not named)."""
    detail: dict[str, Any] = {}
    if line.member is not None:
        detail["copy_member"] = member_path(line.member)
    if line.overlay:
        detail["copy_overlay_ignored"] = line.overlay
    if work_label is not None:
        detail["work_member"] = member_path(work_label)
    return detail


class _SoftwareSignal(SignalType):
    """What the two software signals share: reading content, the value format."""

    work_kind: ClassVar[str] = "software"
    max_content_bytes: ClassVar[int] = MAX_CONTENT_BYTES

    @classmethod
    def _digest_of(cls, part: Part) -> str | None:
        raise NotImplementedError

    @classmethod
    def _normalise(cls, text: str) -> str:
        raise NotImplementedError

    @classmethod
    def _scan(cls, content: bytes) -> Scan:
        if not content:
            raise ContentRejected("empty file")
        if len(content) > cls.max_content_bytes:
            raise ContentRejected(f"file is {len(content):,} bytes, over the "
                                  f"{cls.max_content_bytes:,} byte limit")
        scan = read_content(content)
        if scan.rejected:
            raise ContentRejected(scan.rejected)
        return scan

    @classmethod
    def _lines(cls, scan: Scan) -> dict[str, str]:
        """Registered line by variant name, for every part this signal can fingerprint.

        A work's executable is registered whole, overlay included: without it, it may be
        nothing but a generic installer stub.
        """
        lines = {}
        for part in scan.parts:
            digest = cls._digest_of(part)
            if digest is not None and not part.overlay:
                variant = "original" if part.label is None else f"member:{part.index}"
                lines[variant] = digest if part.label is None else f"{digest} {part.label}"
        return lines

    @classmethod
    def fingerprint(cls, content: bytes) -> str:
        """The whole file's line; raises ``ContentSkipped`` if TLSH cannot hash it."""
        digest = cls._digest_of(cls._scan(content).parts[0])
        if digest is None:
            raise ContentSkipped(f"too small or too uniform for TLSH ({len(content):,} bytes; "
                                 "it needs 50 or more, not all alike)")
        return digest

    @classmethod
    def query_value(cls, content: bytes) -> tuple[QueryLine, ...]:
        """The whole file's line, the executable's without its overlay, and every member's.

        A crawled archive is matched on what could be read safely: members past a cap are
        left out. Empty (matching nothing) for TLSH when nothing could be hashed, so that
        SHA-256 still matches such content.
        """
        lines = (QueryLine(digest, part.label, part.overlay) for part in cls._scan(content).parts
                 if (digest := cls._digest_of(part)) is not None)
        return tuple(dict.fromkeys(lines))

    @classmethod
    def registration_variants(cls, content: bytes) -> dict[str, str]:
        """``original`` and ``member:N`` lines; refuses an archive not read completely."""
        scan = cls._scan(content)
        if scan.problems:
            more = len(scan.problems) - 1
            raise ContentRejected(f"zip archive refused: {scan.problems[0]}"
                                  + (f" (and {more} more problems)" if more else ""))
        return cls._lines(scan)

    @classmethod
    def validate(cls, value: str) -> str:
        """Normalised lines ``<digest>`` or ``<digest> <path>``; raises ``ValueError``."""
        return "\n".join(digest if label is None else f"{digest} {label}"
                         for digest, label in _parse(value, cls._normalise, allow_empty=False))


class Sha256Signal(_SoftwareSignal):
    """SHA-256 of the whole file and of each zip member: exact copies."""

    name: ClassVar[str] = "sha256"
    default_threshold: ClassVar[float] = 0
    score_unit: ClassVar[str] = "(exact)"

    @classmethod
    def _digest_of(cls, part: Part) -> str | None:
        return part.sha256

    @classmethod
    def _normalise(cls, text: str) -> str:
        return _sha256_digest(text)

    @classmethod
    def score(cls, a: str, b: str) -> float:
        """0 when the values share a digest, else 1."""
        ours = {d for d, _ in _parse(a, _sha256_digest, allow_empty=True)}
        theirs = {d for d, _ in _parse(b, _sha256_digest, allow_empty=True)}
        return 0.0 if ours & theirs else 1.0

    @classmethod
    def new_index(cls) -> SignalIndex:
        return Sha256Index()


class TlshSignal(_SoftwareSignal):
    """TLSH of the whole file and of each zip member: repacked and patched copies."""

    name: ClassVar[str] = "tlsh"
    score_unit: ClassVar[str] = "distance"
    # Calibrated by bench/software.py (bench/results/software.json): altered copies of 36
    # registered binaries and 12 zip releases (patched, strings changed, data inserted or
    # appended, re-zipped) came within 26 (99%; the farthest 40), while 430 unrelated binaries
    # of other packages, built by the same toolchain, came no closer than 43.
    default_threshold: ClassVar[float] = 35

    @classmethod
    def _digest_of(cls, part: Part) -> str | None:
        return part.tlsh

    @classmethod
    def _normalise(cls, text: str) -> str:
        return _tlsh_digest(text)

    @classmethod
    def score(cls, a: str, b: str) -> float:
        """The smallest TLSH distance between a line of ``a`` and one of ``b`` (inf if none)."""
        ours = [d for d, _ in _parse(a, _tlsh_digest, allow_empty=True)]
        theirs = [d for d, _ in _parse(b, _tlsh_digest, allow_empty=True)]
        return float(min((tlsh.diff(x, y) for x in ours for y in theirs), default=math.inf))

    @classmethod
    def new_index(cls) -> SignalIndex:
        return TlshIndex()


# --- indexes ---------------------------------------------------------------------------------


def _rank(line: QueryLine, work_label: str | None) -> int:
    """Among equal scores, whole files first, then whole file against member."""
    return (line.member is not None) + bool(line.overlay) + (work_label is not None)


class Sha256Index(SignalIndex):
    """Exact lookup of SHA-256 lines: a dict from digest to the entries holding it."""

    def __init__(self) -> None:
        self._by_digest: dict[str, dict[int, str | None]] = {}
        self._entries: dict[int, list[str]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, entry_id: int, value: str) -> None:
        lines = _parse(value, _sha256_digest, allow_empty=False)
        self.remove(entry_id)
        self._entries[entry_id] = [digest for digest, _ in lines]
        for digest, label in lines:
            self._by_digest.setdefault(digest, {}).setdefault(entry_id, label)

    def remove(self, entry_id: int) -> None:
        for digest in self._entries.pop(entry_id, ()):
            holders = self._by_digest.get(digest, {})
            holders.pop(entry_id, None)
            if not holders:
                self._by_digest.pop(digest, None)

    def query(self, value: str | tuple[QueryLine, ...], limit: float) -> list[tuple[int, float]]:
        return [(entry_id, score) for entry_id, score, _ in self.query_detailed(value, limit)]

    def query_detailed(self, value: str | tuple[QueryLine, ...], limit: float
                       ) -> list[tuple[int, float, dict[str, Any]]]:
        if limit < 0:
            return []
        best: dict[int, tuple[int, QueryLine, str | None]] = {}
        for line in _query_lines(value, _sha256_digest):
            for entry_id, work_label in self._by_digest.get(line.digest, {}).items():
                rank = _rank(line, work_label)
                if entry_id not in best or rank < best[entry_id][0]:
                    best[entry_id] = (rank, line, work_label)
        return [(entry_id, 0.0, _detail(line, work_label))
                for entry_id, (_, line, work_label)
                in sorted(best.items(), key=lambda item: (item[1][0], item[0]))]


_M55 = np.uint64(0x5555_5555_5555_5555)
_ONE = np.uint64(1)


@dataclass
class _Rows:
    """Decoded TLSH lines: the header fields and the 128 2-bit buckets as 4 words each."""

    ids: np.ndarray  # entry id (int64)
    line: np.ndarray  # the line's position in its entry's value (int32)
    lvalue: np.ndarray  # log-length byte (int16)
    checksum: np.ndarray  # (uint8)
    q1: np.ndarray  # quartile ratios (int16)
    q2: np.ndarray
    words: np.ndarray  # (n, 4) uint64

    @classmethod
    def decode(cls, ids: list[int], lines: list[int], digests: list[str]) -> _Rows:
        raw = np.frombuffer(bytes.fromhex("".join(d[2:] for d in digests)), dtype=np.uint8)
        raw = raw.reshape(-1, 35)
        swapped = ((raw[:, 1] & 0x0F) << 4) | (raw[:, 1] >> 4)  # stored nibble-swapped
        return cls(np.array(ids, dtype=np.int64), np.array(lines, dtype=np.int32),
                   swapped.astype(np.int16), raw[:, 0].copy(),
                   (raw[:, 2] >> 4).astype(np.int16), (raw[:, 2] & 0x0F).astype(np.int16),
                   np.ascontiguousarray(raw[:, 3:]).view("<u8").reshape(-1, 4))

    @classmethod
    def concat(cls, parts: list[_Rows]) -> _Rows:
        return cls(*(np.concatenate([getattr(p, f) for p in parts])
                     for f in ("ids", "line", "lvalue", "checksum", "q1", "q2", "words")))

    def take(self, order: np.ndarray | slice) -> _Rows:
        return _Rows(self.ids[order], self.line[order], self.lvalue[order],
                     self.checksum[order], self.q1[order], self.q2[order], self.words[order])

    def __len__(self) -> int:
        return len(self.ids)


_NO_ROWS = _Rows.decode([], [], [])


def _mod_diff(a: np.ndarray, b: int, span: int) -> np.ndarray:
    d = np.abs(a - b)
    return np.minimum(d, span - d)


def _distances(rows: _Rows, query: _Rows, at: int) -> np.ndarray:
    """TLSH distances (as ``tlsh.diff``) of every row to query row ``at``.

    Buckets are 2-bit values; ``tlsh.diff`` adds ``|a - b|`` per bucket, with 6 for 3. With
    ``x = a ^ b`` split in low and high bits ``l``, ``h``: one low bit costs 1, one high bit
    2, both 1 (01 against 10) or 6 (00 against 11, when the bucket's bits are equal), so the
    sum is ``pc(l) + 2 pc(h) - 2 pc(l & h) + 5 pc(l & h & eq)``.
    """
    length = _mod_diff(rows.lvalue, int(query.lvalue[at]), 256)
    total = np.where(length <= 1, length, length * 12)
    for mine, theirs in ((rows.q1, query.q1), (rows.q2, query.q2)):
        d = _mod_diff(mine, int(theirs[at]), 16)
        total += np.where(d <= 1, d, (d - 1) * 12)
    total += rows.checksum != query.checksum[at]
    word = query.words[at]
    x = rows.words ^ word
    low = x & _M55
    high = (x >> _ONE) & _M55
    both = low & high
    equal = ~(word ^ (word >> _ONE)) & _M55
    body = (np.bitwise_count(low).sum(axis=1, dtype=np.int32)
            + 2 * np.bitwise_count(high).sum(axis=1, dtype=np.int32)
            - 2 * np.bitwise_count(both).sum(axis=1, dtype=np.int32)
            + 5 * np.bitwise_count(both & equal).sum(axis=1, dtype=np.int32))
    return total + body


class _Table:
    """Rows sorted by their length byte, so a query scores only those within reach."""

    def __init__(self, rows: _Rows) -> None:
        self.rows = rows.take(np.argsort(rows.lvalue, kind="stable"))
        self.dead = np.zeros(len(rows), dtype=bool)
        self.n_dead = 0
        self._by_id = np.argsort(self.rows.ids, kind="stable")
        self._sorted_ids = self.rows.ids[self._by_id]

    def __len__(self) -> int:
        return len(self.rows)

    def kill(self, entry_id: int) -> None:
        lo, hi = np.searchsorted(self._sorted_ids, [entry_id, entry_id + 1])
        at = self._by_id[lo:hi]
        self.n_dead += int((~self.dead[at]).sum())
        self.dead[at] = True

    def live(self) -> _Rows:
        return self.rows.take(np.flatnonzero(~self.dead))

    def search(self, query: _Rows, at: int, limit: float) -> tuple[np.ndarray, ...]:
        """``(ids, lines, distances)`` of live rows within ``limit`` of query row ``at``."""
        # An L difference of d > 1 costs 12 d: rows further off cannot be within the limit.
        reach = max(min(1, math.floor(limit)), math.floor(limit / 12))
        lvalue = int(query.lvalue[at])
        if 2 * reach + 1 >= 256:
            spans = [(0, 255)]
        else:
            lo, hi = lvalue - reach, lvalue + reach
            spans = [(max(lo, 0), min(hi, 255))]
            if lo < 0:
                spans.append((lo + 256, 255))
            if hi > 255:
                spans.append((0, hi - 256))
        found = []
        for lo, hi in spans:
            start, end = np.searchsorted(self.rows.lvalue, [lo, hi + 1])
            if start == end:
                continue
            window = self.rows.take(slice(start, end))  # views, not copies
            distances = _distances(window, query, at)
            keep = np.flatnonzero((distances <= limit) & ~self.dead[start:end])
            found.append((window.ids[keep], window.line[keep], distances[keep]))
        if not found:
            return np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0, np.int64)
        return tuple(np.concatenate(column) for column in zip(*found, strict=True))


class TlshIndex(SignalIndex):
    """TLSH lines in numpy arrays sorted by length byte; distances computed vectorised.

    A query line is scored only against rows whose length byte is within reach of the limit
    (exact: the length term alone would exceed it), the rest in vectorised bit arithmetic that
    reproduces ``tlsh.diff``. Adds go to a small delta table merged into the main one when it
    outgrows ``delta_limit`` (or 1/8 of the main table); removals are tombstones.
    """

    def __init__(self, *, delta_limit: int = 4096) -> None:
        self._delta_limit = delta_limit
        self._labels: dict[int, tuple[str | None, ...]] = {}  # every live entry
        self._main = _Table(_NO_ROWS)
        self._delta: dict[int, list[str]] = {}  # entries added since the last merge
        self._delta_table: _Table | None = None

    def __len__(self) -> int:
        return len(self._labels)

    def add(self, entry_id: int, value: str) -> None:
        self.extend([(entry_id, value)])

    def extend(self, entries: list[tuple[int, str]]) -> None:
        parsed = [(entry_id, _parse(value, _tlsh_digest, allow_empty=False))
                  for entry_id, value in entries]  # all valid before anything changes
        for entry_id, lines in parsed:
            self._discard(entry_id)
            self._delta[entry_id] = [digest for digest, _ in lines]
            self._labels[entry_id] = tuple(label for _, label in lines)
        self._delta_table = None
        if len(self._delta) > max(self._delta_limit, (len(self._main) - self._main.n_dead) // 8):
            self._main = _Table(_Rows.concat([self._main.live(), self._delta_rows()]))
            self._delta = {}

    def remove(self, entry_id: int) -> None:
        self._discard(entry_id)
        if self._main.n_dead > len(self._main) // 2:
            self._main = _Table(self._main.live())

    def _discard(self, entry_id: int) -> None:
        if self._labels.pop(entry_id, None) is None:
            return
        if self._delta.pop(entry_id, None) is not None:
            self._delta_table = None
        else:
            self._main.kill(entry_id)

    def _delta_rows(self) -> _Rows:
        ids, lines, digests = [], [], []
        for entry_id, entry_digests in self._delta.items():
            for line, digest in enumerate(entry_digests):
                ids.append(entry_id)
                lines.append(line)
                digests.append(digest)
        return _Rows.decode(ids, lines, digests)

    def query(self, value: str | tuple[QueryLine, ...], limit: float) -> list[tuple[int, float]]:
        return [(entry_id, score) for entry_id, score, _ in self.query_detailed(value, limit)]

    def query_detailed(self, value: str | tuple[QueryLine, ...], limit: float
                       ) -> list[tuple[int, float, dict[str, Any]]]:
        lines = _query_lines(value, _tlsh_digest)
        if limit < 0 or not lines or not self._labels:
            return []
        if self._delta_table is None:
            self._delta_table = _Table(self._delta_rows())
        query = _Rows.decode([0] * len(lines), list(range(len(lines))),
                             [line.digest for line in lines])
        best: dict[int, tuple[int, int, QueryLine, str | None]] = {}
        for at, line in enumerate(lines):
            for table in (self._main, self._delta_table):
                ids, work_lines, distances = table.search(query, at, limit)
                for entry_id, work_line, distance in zip(
                        ids.tolist(), work_lines.tolist(), distances.tolist(), strict=True):
                    work_label = self._labels[entry_id][work_line]
                    key = (distance, _rank(line, work_label))
                    if entry_id not in best or key < best[entry_id][:2]:
                        best[entry_id] = (*key, line, work_label)
        return [(entry_id, float(distance), _detail(line, work_label))
                for entry_id, (distance, _, line, work_label)
                in sorted(best.items(), key=lambda item: (item[1][:2], item[0]))]
