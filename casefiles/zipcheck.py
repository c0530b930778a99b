"""Which zip entries are safe to read and unpack: pure rules over a zip's directory.

A zip can say one thing to Python and another to ``unzip``: two entries with one name
(Python reads the last, ``unzip`` extracts the first), names that differ only by case,
Unicode normalisation, ``./`` or backslashes (one file on disk), paths that leave the
target folder, links, and entries whose sizes make a small zip unpack to gigabytes. Every
check here runs on the zip's directory alone, before a byte of any entry is read.
"""

from __future__ import annotations

import posixpath
import stat
import unicodedata
import zipfile
from collections.abc import Sequence
from pathlib import PurePosixPath

MAX_ENTRIES = 100_000
MAX_TOTAL_BYTES = 64 * 1024**3
# Swordnet's own entries are WARC files and media (stored or already compressed) and
# JSON/HTML text: for a case of 3,000 hits, case.json deflates 26:1, report.html 19:1 and
# custody.jsonl 10:1, while a run of zeros deflates about 1,000:1 (see docs/security.md).
MAX_RATIO = 200
RATIO_FLOOR_BYTES = 1024 * 1024  # smaller entries are never refused for their ratio
SAFE_COMPRESSION = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)


def shown(name: str, limit: int = 60) -> str:
    """A name as it goes into a one-line message: as is if short and printable, else
    quoted with escapes and cut short.

    >>> shown("media/1.jpg")
    'media/1.jpg'
    >>> shown("a" * 100, limit=10)
    "'aaaaaaaaa…'"
    >>> shown("x\\ny")
    "'x\\\\ny'"
    """
    if len(name) <= limit and name.isprintable() and name.strip() == name:
        return name
    return repr(name if len(name) <= limit else name[:limit - 1] + "…")


def same_file_key(name: str) -> str:
    """The file an entry name lands on when unpacked anywhere: backslashes as slashes, no
    ``./`` or doubled slashes, Unicode NFC, case folded (Windows and macOS).

    >>> same_file_key("./Media\\\\1.JPG") == same_file_key("media/1.jpg")
    True
    >>> same_file_key("caf\\u0065\\u0301.txt") == same_file_key("caf\\u00e9.txt")
    True
    """
    path = posixpath.normpath(name.replace("\\", "/").lstrip("/"))
    return unicodedata.normalize("NFC", path).casefold()


def unsafe_member(info: zipfile.ZipInfo) -> str | None:
    """Why a zip member must not be extracted (absolute, ``..``, a link), or None.

    >>> unsafe_member(zipfile.ZipInfo("warc/a.warc.gz")) is None
    True
    >>> unsafe_member(zipfile.ZipInfo("../../etc/passwd"))
    "../../etc/passwd leaves the bundle's directory"
    """
    name = info.filename
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return f"{shown(name)} is an absolute path"
    if ".." in path.parts:
        return f"{shown(name)} leaves the bundle's directory"
    if stat.S_ISLNK(info.external_attr >> 16):
        return f"{shown(name)} is a symbolic link"
    return None


def entry_problems(infos: Sequence[zipfile.ZipInfo]) -> list[str]:
    """Everything wrong with a zip's directory for a bundle: too many entries or bytes,
    unsafe paths, directories, compression other than stored/deflate, a ratio no Swordnet
    file has, and two entries that unpack to the same file. Empty: safe to read.

    >>> ok = [zipfile.ZipInfo("a.txt"), zipfile.ZipInfo("b.txt")]
    >>> entry_problems(ok)
    []
    >>> entry_problems([*ok, zipfile.ZipInfo("A.TXT")])
    ['A.TXT is a second entry for the file a.txt']
    """
    if len(infos) > MAX_ENTRIES:
        return [f"{len(infos)} entries; a bundle holds at most {MAX_ENTRIES}"]
    problems: list[str] = []
    first: dict[str, str] = {}
    total = 0
    for info in infos:
        name = info.filename
        total += info.file_size
        if reason := unsafe_member(info):
            problems.append(reason)
        elif info.is_dir():
            problems.append(f"{shown(name)} is a directory entry (bundles hold files only)")
        elif (key := same_file_key(name)) in first:
            problems.append(f"{shown(name)} is a second entry for the file {shown(first[key])}")
        else:
            first[key] = name
        if info.compress_type not in SAFE_COMPRESSION:
            problems.append(f"{shown(name)} uses compression method {info.compress_type} "
                            "(only stored and deflate are read)")
        elif info.file_size > RATIO_FLOOR_BYTES and \
                info.file_size > MAX_RATIO * max(info.compress_size, 1):
            problems.append(f"{shown(name)} unpacks {info.compress_size} bytes to "
                            f"{info.file_size} (a zip bomb?)")
    if total > MAX_TOTAL_BYTES:
        problems.append(f"entries unpack to {total} bytes; a bundle holds at most "
                        f"{MAX_TOTAL_BYTES}")
    return problems
