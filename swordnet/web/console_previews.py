"""Review previews of video and software hits, as JSON the review page fills in.

``/review/hits/{id}/video-strips``: the work's key frames across the matched segment and the
copy's frames at the same moments, as JPEG ``data:`` URLs re-encoded from the evidence (the
page's CSP allows images from data URLs only besides its own). ``/review/hits/{id}/
software-files``: the matched files of work and copy, their sizes, digests and TLSH distance.
Both are scoped like every hit (a rights holder gets their own works' hits, anyone else a
404). A capture that cannot be read gives a message in the answer, never an error page.
Decoding a copy takes a while, so rendered strips are kept in a small in-process cache keyed
by what they are rendered from (the evidence store, the capture's record and digest, the
work's preview and the match detail); a copy that could not be read is not cached.
"""

from __future__ import annotations

import base64
import json
import threading
from collections import OrderedDict
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from casefiles.captures import RecordUnreadable, capture_record
from swordnet.accounts import access
from swordnet.core.errors import NotFound
from swordnet.core.models import Hit
from swordnet.evidence.store import EvidenceStore
from swordnet.web.console_base import Signed
from swordnet.web.deps import DbSession
from swordnet.web.params import PathId
from swordnet.works.software_previews import (
    SOFTWARE_ALGORITHMS,
    FileSide,
    software_comparison,
)
from swordnet.works.video_previews import StripFrame, VideoStrips, video_strips

router = APIRouter(include_in_schema=False)
CACHED_STRIPS = 32
_HEADERS = {"Cache-Control": "private, max-age=3600"}


class _StripCache:
    """The last :data:`CACHED_STRIPS` rendered strips, by what they were rendered from."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
            return self._items.get(key)

    def put(self, key: str, value: dict[str, Any]) -> None:
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)


_strips = _StripCache(CACHED_STRIPS)


def _copy_bytes(session: Session, store: EvidenceStore, hit: Hit) -> tuple[bytes | None, str]:
    """The copy's captured bytes, or None and why they cannot be had."""
    if hit.media_capture is None:
        return None, "no capture of the copy was stored"
    try:
        return capture_record(session, store, hit.media_capture, check_file=False).payload, ""
    except RecordUnreadable as exc:
        return None, str(exc)


def _frame(frame: StripFrame, side: str) -> dict[str, Any]:
    src = (None if frame.jpeg is None
           else "data:image/jpeg;base64," + base64.b64encode(frame.jpeg).decode())
    minutes, seconds = divmod(frame.t, 60)
    return {"t": round(frame.t, 3), "clock": f"{int(minutes)}:{seconds:05.2f}", "src": src,
            "alt": f"{side} at {int(minutes)}:{seconds:05.2f}"}


def strips_json(strips: VideoStrips) -> dict[str, Any]:
    return {"offset_s": strips.offset_s,
            "work": [_frame(f, "Work") for f in strips.work],
            "copy": [_frame(f, "Copy") for f in strips.copy],
            "work_note": strips.work_note, "copy_note": strips.copy_note}


@router.get("/review/hits/{hit_id}/video-strips")
def video_hit_strips(hit_id: PathId, request: Request, session: DbSession,
                     viewer: Signed) -> JSONResponse:
    """The aligned key frame strips of a video hit."""
    hit = access.get_hit(session, viewer.principal, hit_id)
    if hit.algorithm != "video":
        raise NotFound(f"hit {hit_id} is not a video match")
    capture, store = hit.media_capture, request.app.state.store
    record = ([capture.id, capture.warc_file, capture.warc_offset, capture.sha256]
              if capture else None)
    key = json.dumps([str(store.root), record, hit.work.preview_sha256, hit.detail],
                     sort_keys=True)
    found = _strips.get(key)
    if found is None:
        copy, problem = _copy_bytes(session, store, hit)
        found = strips_json(video_strips(store, hit.work, hit.detail or {}, copy, problem))
        if copy is not None:  # an unreadable capture may be repaired: do not remember it
            _strips.put(key, found)
    return JSONResponse(found, headers=_HEADERS)


def _side(side: FileSide | None) -> dict[str, Any] | None:
    if side is None:
        return None
    return {"path": side.path, "size": side.size, "sha256": side.sha256, "tlsh": side.tlsh,
            "overlay_ignored": side.overlay_ignored}


@router.get("/review/hits/{hit_id}/software-files")
def software_hit_files(hit_id: PathId, request: Request, session: DbSession,
                       viewer: Signed) -> JSONResponse:
    """The matched files of a software hit: paths, sizes, digests, TLSH distance."""
    hit = access.get_hit(session, viewer.principal, hit_id)
    if hit.algorithm not in SOFTWARE_ALGORITHMS:
        raise NotFound(f"hit {hit_id} is not a software match")
    store = request.app.state.store
    copy, problem = _copy_bytes(session, store, hit)
    found = software_comparison(store, hit.work, hit.detail or {}, copy, problem)
    return JSONResponse({"algorithm": hit.algorithm, "work": _side(found.work),
                         "copy": _side(found.copy), "distance": found.distance,
                         "threshold": found.threshold, "identical": found.identical,
                         "work_note": found.work_note, "copy_note": found.copy_note},
                        headers=_HEADERS)
