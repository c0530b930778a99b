"""What a response fetched as a page really is: a page, or a file some signal reads (pure).

Links without a file extension (a forum's ``attachment.php?aid=N``, ``/download/123``) are
followed as pages; the response says what they are: its first bytes (a format's signature:
servers label downloads ``application/octet-stream``, or even ``text/html``), else its
``Content-Type``.
Only kinds some signal reads files of count (the signal registry says which): anything else
is read as a page.
"""

from __future__ import annotations

from functools import cache

from matching.media import kind_of_content_type
from matching.registry import (
    detect_fetched_kind,
    download_cap,
    fetched_file_kinds,
    work_kind_of_file,
)

SNIFF_BYTES = 64 * 1024  # enough for every signature the content kinds look for


def served_kind(content_type: str, body: bytes) -> str | None:
    """The kind of work a response is a file of, or None for a page or a file no signal
    reads. A file format's own signature in the body decides first; else the content type,
    unless the body starts like markup (a page whose server says ``image/jpeg``).

    >>> served_kind("application/octet-stream", b"\\x89PNG\\r\\n\\x1a\\n" + bytes(8))
    'image'
    >>> served_kind("image/jpeg", b"not quite a JPEG")
    'image'
    >>> served_kind("image/jpeg", b"<!doctype html><title>Liar</title>") is None
    True
    >>> served_kind("text/html; charset=utf-8", b"<!doctype html><p>hello</p>") is None
    True
    >>> served_kind("application/x-bittorrent", b"d8:announce") is None  # no signal reads it
    True
    """
    head = body[:SNIFF_BYTES]
    sniffed = detect_fetched_kind(head)
    if sniffed is not None:
        return sniffed
    file_kind = kind_of_content_type(content_type)
    declared = work_kind_of_file(file_kind) if file_kind else None
    return None if declared is None or _starts_like_markup(head) else declared


def _starts_like_markup(head: bytes) -> bool:
    return head.removeprefix(b"\xef\xbb\xbf").lstrip()[:1] == b"<"


@cache
def media_cap(kind: str) -> int:
    """Largest file of work ``kind`` a crawl keeps: the largest download cap of the file
    kinds read as that kind.

    >>> media_cap("image") >= 8 * 1024 * 1024
    True
    """
    return max((download_cap(k) for k in fetched_file_kinds() if work_kind_of_file(k) == kind),
               default=0)
