"""Software content read once for both software signals: digests of the file and its parts.

A binary or archive is read as a whole file and, when it is a zip archive (.zip, .jar, .apk,
.whl, a self-extracting installer with a zip appended), also member by member, through
:mod:`matching.ziparchive`'s caps; an ELF or PE executable with data appended is also hashed
without it (:mod:`matching.executable`). Every part gets a SHA-256 and, when TLSH can hash
it, a TLSH digest.

Members under :data:`MIN_MEMBER_BYTES` are not fingerprinted: empty and boilerplate files are
in every archive and would tie unrelated works together. For the same reason text members
(readmes, licences, NFOs, configs: texts of one template come within TLSH distance 30 of each
other) get no TLSH digest; SHA-256 still matches them exactly. Nested archives are hashed as
members, never opened. Other archive formats (7z, RAR, tar.gz, MSI) are whole files only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property

import tlsh

from matching.executable import image_end
from matching.signal import Content
from matching.software_values import path_label
from matching.ziparchive import Member, MiB, ZipArchive, ZipUnreadable, looks_like_zip

MAX_CONTENT_BYTES = 512 * MiB
MIN_MEMBER_BYTES = 1024  # smaller members are not fingerprinted (see the module docstring)
MAX_MEMBER_BYTES = MAX_CONTENT_BYTES  # a member is fingerprinted only if a file could be
MAX_TOTAL_BYTES = 1024 * MiB  # decompressed bytes read from one archive, all members together
MAX_IMAGE_BYTES = 64 * MiB  # executable members up to this size are also hashed sans overlay
_CHUNK = MiB
# Starts of executables, installers and archives other than zip (zip is recognised only as
# a fallback: an EPUB book is a zip archive too).
_SIGNATURES = (b"\x7fELF", b"MZ", b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe",
               b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe", b"7z\xbc\xaf\x27\x1c", b"Rar!\x1a\x07",
               b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
               b"!<arch>\n", b"\xed\xab\xee\xdb", b"\x00asm", b"dex\n")


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
class Scan:
    """What could be read of some content: its parts, whole file first."""

    parts: tuple[Part, ...]
    problems: tuple[str, ...] = ()  # members not read (or not read cleanly), by reason
    rejected: str | None = None  # why the content cannot be fingerprinted at all


def _tlsh_of(data: bytes) -> str | None:
    digest = tlsh.hash(data)
    return None if digest == "TNULL" else digest


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
    for at in range(0, end, _CHUNK):
        hashes.update(bytes(image[at : at + _CHUNK]))
    return Part(-2, None, *hashes.digests(), overlay=len(content) - end)


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


def _read_member(member: Member) -> list[tuple[str, str | None, int]]:
    """``(sha256, tlsh, overlay)`` of a member read completely (and of an executable member
    without its overlay, if it has one); none if it could not be."""
    hashes = _Hashes()
    image: _Hashes | None = None
    end = size = 0
    for chunk in member.chunks():
        if not size and chunk:
            hashes = _Hashes(fuzzy=not looks_like_text(chunk))
            end = image_end(chunk, head=True) or 0
            # hashed alongside, in case there is an overlay: only so much twice
            image = _Hashes() if MIN_MEMBER_BYTES <= end <= MAX_IMAGE_BYTES else None
        start, size = size, size + len(chunk)
        hashes.update(chunk)
        if image is not None and start < end:
            image.update(chunk[: end - start])
    if not member.complete:
        return []
    digests = [(*hashes.digests(), 0)]
    if image is not None and size > end:
        digests.append((*image.digests(), size - end))
    return digests


def _scan_archive(content: bytes) -> tuple[list[Part], list[str]]:
    """Members of a zip archive ``content`` (none for other files), and problems; raises
    :class:`~matching.ziparchive.ZipUnreadable`."""
    archive = ZipArchive.open(content, member_bytes=MAX_MEMBER_BYTES, total_bytes=MAX_TOTAL_BYTES)
    if archive is None:
        return [], []
    parts: list[Part] = []
    problems = list(archive.problems)
    for index, info in enumerate(archive.members):
        if archive.read_bytes >= archive.total_bytes:
            problems.append(f"the archive expands past {archive.total_bytes:,} bytes in all: "
                            f"members from {info.filename!r} on were not read")
            break
        member = archive.member(info)
        digests = _read_member(member)
        if member.problem:
            problems.append(f"member {info.filename!r}: {member.problem}")
        if member.size >= MIN_MEMBER_BYTES:
            parts += [Part(index, path_label(info.filename), sha, fuzzy, overlay)
                      for sha, fuzzy, overlay in digests]
    return parts, problems


def read_content(content: bytes) -> Scan:
    """Digests of ``content`` and, for a zip archive, of its members."""
    try:
        members, problems = _scan_archive(content)
    except ZipUnreadable as exc:
        return Scan((), (), str(exc))
    stripped = _without_overlay(content)
    return Scan((Part(-1, None, hashlib.sha256(content).hexdigest(), _tlsh_of(content)),
                 *([stripped] if stripped else []), *members), tuple(problems))


class SoftwareContent(Content):
    """A binary or archive, read once (:func:`read_content`) for both software signals."""

    @cached_property
    def scan(self) -> Scan:
        return read_content(self.raw)

    @classmethod
    def recognise(cls, head: bytes) -> int:
        """2 for executables, installers and archives by their signature; 1 for zip archives
        (an EPUB book is one too); 0 for anything else."""
        if head.startswith(_SIGNATURES) or head[257:262] == b"ustar" \
                or head[0x8001:0x8006] == b"CD001":
            return 2
        return 1 if looks_like_zip(head) else 0
