"""The software signals' values and queries: digest lines, member paths, match details.

Both software signals store text lines, one per file: ``<digest>`` for a whole file and
``<digest> <path>`` for a zip member. ``<path>`` is the member's name percent-encoded as UTF-8
(spaces, ``%``, control and non-ASCII characters escaped; at most 1024 characters, a longer
name is cut and ends in ``...``): :func:`member_path` gives reviewers the name back. A SHA-256
digest is 64 lowercase hex digits; a TLSH digest is ``T1`` and 70 uppercase hex digits
(py-tlsh's format; the bare 70 digits of TLSH < 4 are accepted and given the prefix).
Crawled content is queried with all its parts at once, as :class:`QueryLine` s (the whole
file, every member, the file without its overlay).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from matching.ziparchive import MAX_MEMBERS

MAX_PATH_CHARS = 1024
MAX_LINES = MAX_MEMBERS + 1  # a whole file and every member an archive is read for

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


def path_label(name: str) -> str:
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


def check_path_label(label: str) -> str:
    """A value's path, normalised; raises ``ValueError``."""
    if len(label) > MAX_PATH_CHARS or not _LABEL.fullmatch(label):
        raise ValueError(f"malformed member path {label[:80]!r}: expected 1 to {MAX_PATH_CHARS} "
                         "percent-encoded characters, no spaces")
    try:
        return quote(unquote(label, errors="strict"), safe=_SAFE)
    except UnicodeDecodeError:
        raise ValueError(f"member path {label[:80]!r} is not percent-encoded UTF-8") from None


@dataclass(frozen=True)
class QueryLine:
    """One line of a crawl's query: the whole file, a member, or the file without its
    overlay."""

    digest: str
    member: str | None = None  # the copy's member path (percent-encoded)
    overlay: int = 0  # > 0: the copy without this many appended bytes


def parse_value(value: str, digest: Any, *, allow_empty: bool) -> list[tuple[str, str | None]]:
    """``(digest, path label)`` of each line of a value, normalised; raises ``ValueError``."""
    if not isinstance(value, str):
        raise ValueError(f"expected a string value, got {type(value).__name__}")
    value = value.strip()
    if not value:
        if allow_empty:
            return []
        raise ValueError("empty fingerprint value")
    lines = value.split("\n")
    if len(lines) > MAX_LINES:
        raise ValueError(f"{len(lines):,} lines, over the {MAX_LINES:,} line limit")
    parsed = []
    for line in lines:
        text, _, label = line.strip().partition(" ")
        parsed.append((digest(text), check_path_label(label) if label else None))
    return parsed


def sha256_digest(text: str) -> str:
    if not _SHA256.fullmatch(text.lower()):
        raise ValueError(f"malformed SHA-256 digest {text[:80]!r}: expected 64 hex digits")
    return text.lower()


def tlsh_digest(text: str) -> str:
    match = _TLSH.fullmatch(text.upper())
    if not match:
        raise ValueError(f"malformed TLSH digest {text[:80]!r}: expected 'T1' and 70 hex digits")
    return "T1" + match[1]


def query_lines(value: str | tuple[QueryLine, ...], digest: Any) -> list[QueryLine]:
    """A query: the software signals' ``query_value``'s lines, or a value's (parsed)."""
    if isinstance(value, str):
        return [QueryLine(d, label) for d, label in parse_value(value, digest, allow_empty=True)]
    return list(value)


def match_detail(line: QueryLine, work_label: str | None) -> dict[str, Any]:
    """Which members matched, for reviewers (whole files are not named)."""
    detail: dict[str, Any] = {}
    if line.member is not None:
        detail["copy_member"] = member_path(line.member)
    if line.overlay:
        detail["copy_overlay_ignored"] = line.overlay
    if work_label is not None:
        detail["work_member"] = member_path(work_label)
    return detail


def rank(line: QueryLine, work_label: str | None) -> int:
    """Among equal scores, whole files first, then whole file against member."""
    return (line.member is not None) + bool(line.overlay) + (work_label is not None)

