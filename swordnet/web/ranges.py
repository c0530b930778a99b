"""Answering a request for part of a response made in memory (HTTP ``Range: bytes=``).

Media players ask for parts of a sound file: the end of an Ogg file tells them its length,
and seeking asks for the part from there on. One range is served (206 with its
``Content-Range``); several, a malformed header or one naming other units get the whole body,
as RFC 9110 allows; a range wholly past the end is 416.
"""

from __future__ import annotations

import re

from fastapi import Request
from fastapi.responses import Response

SINGLE_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def byte_range(header: str, size: int) -> tuple[int, int] | None:
    """The first and last byte a ``Range`` header asks for of ``size`` bytes, None to send
    them all; ValueError for a range that starts past the end.

    >>> byte_range("bytes=0-99", 1000), byte_range("bytes=900-", 1000)
    ((0, 99), (900, 999))
    >>> byte_range("bytes=-100", 1000), byte_range("bytes=0-5000", 1000)
    ((900, 999), (0, 999))
    >>> byte_range("bytes=0-1,5-9", 1000) is None, byte_range("items=0-1", 1000) is None
    (True, True)
    """
    found = SINGLE_RANGE.fullmatch(header.strip())
    if found is None or found.groups() == ("", ""):
        return None
    first, last = found.groups()
    if not first:  # the last N bytes
        return max(size - int(last), 0), size - 1
    start = int(first)
    if last and int(last) < start:
        return None  # not a valid range: ignored
    if start >= size:
        raise ValueError(f"range {header!r} starts past the end ({size} bytes)")
    return start, min(int(last), size - 1) if last else size - 1


def ranged(request: Request, body: bytes, media_type: str,
           headers: dict[str, str] | None = None) -> Response:
    """``body`` as the answer to ``request``: whole, or the one range it asks for."""
    sent = {**(headers or {}), "Accept-Ranges": "bytes"}
    try:
        wanted = byte_range(request.headers.get("range", ""), len(body))
    except ValueError:
        return Response(status_code=416, headers={**sent, "Content-Range": f"bytes */{len(body)}"})
    if wanted is None:
        return Response(body, media_type=media_type, headers=sent)
    start, end = wanted
    return Response(body[start:end + 1], status_code=206, media_type=media_type,
                    headers={**sent, "Content-Range": f"bytes {start}-{end}/{len(body)}"})
