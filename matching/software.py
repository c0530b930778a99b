"""The software signal types: SHA-256 (exact copies) and TLSH (repacked copies), both stage 1.

A binary or archive is fingerprinted as a whole file and, when it is a zip archive, also
member by member (read once for both signals: :mod:`matching.software_scan`):

* :class:`Sha256Signal` finds exact copies: a dict lookup, score 0, threshold 0
  (:mod:`matching.sha256_index`).
* :class:`TlshSignal` finds repacked ones (bytes patched, version strings changed, an overlay
  appended): the score is the TLSH distance (``tlsh.diff``, length term included; lower is
  closer; :mod:`matching.tlsh_index`). The threshold was calibrated by ``bench/software.py``.

Values are digest lines (:mod:`matching.software_values`). Registration stores the variants
``original`` (the whole file) and ``member:N`` (the archive's N-th directory entry), one line
each. Crawled content is queried with all its parts at once: a registered member is found
inside a different archive, a registered binary inside an archive, a registered member
served alone. Match details name the members involved: ``copy_member`` and/or
``work_member`` (and ``copy_overlay_ignored``, in bytes, when the copy matched without its
overlay).

Content TLSH cannot hash (under 50 bytes, or too uniform) has no TLSH line: TLSH registers no
variant for it and a crawl queries TLSH with an empty value, while SHA-256 still registers and
matches it (``TlshSignal.fingerprint``, the whole file's line alone, raises
``ContentSkipped``).

An executable with data appended is also queried without it, so a binary that was only
appended to matches exactly. Registration stores the whole file only: without its overlay an
installer may be nothing but a generic stub.

* Registration is strict: an archive with any member that could not be read completely and
  safely (zip bomb, over a cap, encrypted, corrupt, unsupported method; see
  :mod:`matching.ziparchive`) is refused with a :class:`~matching.signal.ContentRejected`
  naming the first problem.
* A crawled archive is matched on what could be read safely (the whole file and every member
  within the caps), so adding a bomb member to a pirated archive does not hide the rest.
* Content that starts like a zip but whose directory cannot be read (truncated, corrupt) is
  refused either way. Other content with a stray end-of-directory signature is a plain file.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import tlsh

from matching.media import ARCHIVE, SOFTWARE, FileKind
from matching.sha256_index import Sha256Index
from matching.signal import Content, ContentRejected, ContentSkipped, SignalIndex, SignalType
from matching.software_scan import MAX_CONTENT_BYTES, Part, Scan, SoftwareContent
from matching.software_values import (
    QueryLine,
    parse_value,
    sha256_digest,
    tlsh_digest,
)
from matching.tlsh_index import TlshIndex


class _SoftwareSignal(SignalType):
    """What the two software signals share: reading content, the value format."""

    work_kind: ClassVar[str] = "software"
    max_content_bytes: ClassVar[int] = MAX_CONTENT_BYTES
    file_kinds: ClassVar[tuple[FileKind, ...]] = (SOFTWARE, ARCHIVE)  # archives hold software
    content_type: ClassVar[type[Content]] = SoftwareContent

    @classmethod
    def _digest_of(cls, part: Part) -> str | None:
        raise NotImplementedError

    @classmethod
    def _normalise(cls, text: str) -> str:
        raise NotImplementedError

    @classmethod
    def _scan(cls, content: bytes | Content) -> Scan:
        software = SoftwareContent.of(content)
        if not software.raw:
            raise ContentRejected("empty file")
        if len(software.raw) > cls.max_content_bytes:
            raise ContentRejected(f"file is {len(software.raw):,} bytes, over the "
                                  f"{cls.max_content_bytes:,} byte limit")
        scan = software.scan
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
    def fingerprint(cls, content: bytes | Content) -> str:
        """The whole file's line; raises ``ContentSkipped`` if TLSH cannot hash it."""
        digest = cls._digest_of(cls._scan(content).parts[0])
        if digest is None:
            size = len(SoftwareContent.of(content).raw)
            raise ContentSkipped(f"too small or too uniform for TLSH ({size:,} bytes; "
                                 "it needs 50 or more, not all alike)")
        return digest

    @classmethod
    def query_value(cls, content: bytes | Content) -> tuple[QueryLine, ...]:
        """The whole file's line, the executable's without its overlay, and every member's.

        A crawled archive is matched on what could be read safely: members past a cap are
        left out. Empty (matching nothing) for TLSH when nothing could be hashed, so that
        SHA-256 still matches such content.
        """
        lines = (QueryLine(digest, part.label, part.overlay) for part in cls._scan(content).parts
                 if (digest := cls._digest_of(part)) is not None)
        return tuple(dict.fromkeys(lines))

    @classmethod
    def registration_variants(cls, content: bytes | Content) -> dict[str, str]:
        """``original`` and ``member:N`` lines; refuses an archive not read completely."""
        scan = cls._scan(content)
        if scan.problems:
            more = len(scan.problems) - 1
            raise ContentRejected(f"zip archive refused: {scan.problems[0]}"
                                  + (f" (and {more} more problems)" if more else ""))
        return cls._lines(scan)

    @classmethod
    def describe(cls, detail: dict[str, Any]) -> str:
        """The member of the copy (or else of the work) that matched; "" for whole files.

        >>> TlshSignal.describe({"copy_member": "bin/app.exe", "work_member": "app.exe"})
        'bin/app.exe'
        """
        return str(detail.get("copy_member") or detail.get("work_member") or "")

    @classmethod
    def validate(cls, value: str) -> str:
        """Normalised lines ``<digest>`` or ``<digest> <path>``; raises ``ValueError``."""
        return "\n".join(digest if label is None else f"{digest} {label}"
                         for digest, label in parse_value(value, cls._normalise, allow_empty=False))


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
        return sha256_digest(text)

    @classmethod
    def score(cls, a: str, b: str) -> float:
        """0 when the values share a digest, else 1."""
        ours = {d for d, _ in parse_value(a, sha256_digest, allow_empty=True)}
        theirs = {d for d, _ in parse_value(b, sha256_digest, allow_empty=True)}
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
        return tlsh_digest(text)

    @classmethod
    def score(cls, a: str, b: str) -> float:
        """The smallest TLSH distance between a line of ``a`` and one of ``b`` (inf if none)."""
        ours = [d for d, _ in parse_value(a, tlsh_digest, allow_empty=True)]
        theirs = [d for d, _ in parse_value(b, tlsh_digest, allow_empty=True)]
        return float(min((tlsh.diff(x, y) for x in ours for y in theirs), default=math.inf))

    @classmethod
    def new_index(cls) -> SignalIndex:
        return TlshIndex()
