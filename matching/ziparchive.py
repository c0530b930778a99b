"""Zip archives read with hard caps, whatever their headers claim.

zipfile only parses the central directory here, and only after its claimed size was checked
against :data:`MAX_DIRECTORY_BYTES`; members are decompressed by this module, in bounded
chunks, never trusting the sizes the archive declares. A member may not expand beyond
:data:`MAX_RATIO` times the compressed bytes consumed so far (after
:data:`RATIO_SLACK_BYTES`), nor past the caller's per-member and whole-archive caps. Only
stored, deflate and bzip2 members are read. Used by the software signals (archives and their
members) and by the text signal's EPUB reader.
"""

from __future__ import annotations

import bz2
import io
import struct
import zipfile
import zlib
from collections.abc import Iterator

MiB = 1024 * 1024
MAX_DIRECTORY_BYTES = 4 * MiB  # central directory: bounds zipfile's parse (about 90k entries)
MAX_MEMBERS = 10_000
MAX_RATIO = 200  # deflate peaks near 1032x; binaries compress 2-4x, text about 10x
RATIO_SLACK_BYTES = MiB  # any member may expand to this much, whatever its ratio
_OUT_CHUNK = MiB  # decompressed bytes per step
_IN_CHUNK = 64 * 1024  # compressed bytes fed per step
_READ_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate",
                 zipfile.ZIP_BZIP2: "bzip2"}
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError,
               NotImplementedError, RuntimeError, struct.error)


class ZipUnreadable(ValueError):
    """Content that starts like a zip archive but whose directory cannot be read."""


def looks_like_zip(content: bytes) -> bool:
    """Whether ``content`` starts with a zip signature (a local header or an empty archive)."""
    return content[:4] in (b"PK\x03\x04", b"PK\x05\x06")


def directory_bytes(content: bytes) -> int | None:
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


class Member:
    """One member being read: its chunks, then whether it was read completely and why not.

    A member stops early at the first problem (over a cap, a zip bomb, corrupt data); a
    wrong CRC is found at the end and leaves it complete, with the problem noted.
    """

    def __init__(self, archive: ZipArchive, info: zipfile.ZipInfo) -> None:
        self.archive = archive
        self.info = info
        self.size = 0  # bytes decompressed so far
        self.complete = False
        self.problem: str | None = None

    def chunks(self) -> Iterator[bytes]:
        """The decompressed data in chunks of at most 1 MiB; see the class docstring."""
        info, archive = self.info, self.archive
        if info.flag_bits & 0x1:
            self.problem = "encrypted"
            return
        if info.compress_type not in _READ_METHODS:
            self.problem = (f"compression method {info.compress_type} is not read (only "
                            f"{', '.join(_READ_METHODS.values())})")
            return
        budget = archive.total_bytes - archive.read_bytes
        crc = 0
        try:
            for chunk, consumed in _decompressed(info.compress_type,
                                                 _member_data(archive.content, info)):
                self.size += len(chunk)
                archive.read_bytes += len(chunk)
                if self.size > budget:
                    self.problem = (f"the archive expands past {archive.total_bytes:,} bytes "
                                    "in all")
                    return
                if self.size > archive.member_bytes:
                    self.problem = f"expands past the {archive.member_bytes:,} byte member limit"
                    return
                if self.size > max(RATIO_SLACK_BYTES, MAX_RATIO * consumed):
                    self.problem = (f"zip bomb: expands over {MAX_RATIO}x ({self.size:,} bytes "
                                    f"from {consumed:,} compressed)")
                    return
                crc = zlib.crc32(chunk, crc)
                yield chunk
        except (ValueError, OSError, EOFError, zlib.error) as exc:
            self.problem = f"corrupt ({exc})"
            return
        self.complete = True
        if crc != info.CRC:
            self.problem = "corrupt (CRC mismatch)"


class ZipArchive:
    """A zip archive's directory, read within the caps, and its members on demand."""

    def __init__(self, content: bytes, members: list[zipfile.ZipInfo], problems: list[str], *,
                 member_bytes: int, total_bytes: int) -> None:
        self.content = content
        self.members = members  # at most MAX_MEMBERS, in directory order
        self.problems = problems  # why some members are not listed
        self.member_bytes = member_bytes
        self.total_bytes = total_bytes
        self.read_bytes = 0  # decompressed so far, all members together

    @classmethod
    def open(cls, content: bytes, *, member_bytes: int, total_bytes: int) -> ZipArchive | None:
        """The archive ``content`` is, or None if it is none.

        Raises :class:`ZipUnreadable` when content that starts like a zip archive has no
        readable directory; other content with a stray end-of-directory signature is not an
        archive. A directory claiming over :data:`MAX_DIRECTORY_BYTES` is not parsed: the
        archive then lists no members and says why.
        """
        zip_like = looks_like_zip(content)
        limits = {"member_bytes": member_bytes, "total_bytes": total_bytes}
        claimed = directory_bytes(content)
        if claimed is None:
            if zip_like:
                raise ZipUnreadable("corrupt or truncated zip archive: no end of central "
                                    "directory")
            return None
        if claimed > MAX_DIRECTORY_BYTES:
            if not zip_like:
                return None
            return cls(content, [], [f"its directory claims {claimed:,} bytes, over the "
                                     f"{MAX_DIRECTORY_BYTES:,} byte limit: members not read"],
                       **limits)
        try:
            with zipfile.ZipFile(io.BytesIO(content)) as archive:
                infos = archive.infolist()
        except _ZIP_ERRORS as exc:
            if zip_like:
                raise ZipUnreadable(f"corrupt or truncated zip archive: {exc}") from None
            return None
        problems = []
        if len(infos) > MAX_MEMBERS:
            problems.append(f"{len(infos):,} members, over the {MAX_MEMBERS:,} member limit: "
                            "the rest were not read")
        return cls(content, infos[:MAX_MEMBERS], problems, **limits)

    def member(self, info: zipfile.ZipInfo) -> Member:
        """A reader of one listed member (counted against the whole-archive cap)."""
        return Member(self, info)

    def read(self, name: str) -> bytes:
        """The whole member called ``name``; raises ``KeyError`` if there is none, and
        :class:`ZipUnreadable` naming the problem if it cannot be read completely."""
        info = next((i for i in self.members if i.filename == name), None)
        if info is None and self.problems:
            raise ZipUnreadable(f"member {name!r} not read: {self.problems[0]}")
        if info is None:
            raise KeyError(f"no member {name!r}")
        member = self.member(info)
        data = b"".join(member.chunks())
        if member.problem:
            raise ZipUnreadable(f"member {name!r}: {member.problem}")
        return data
