"""``/captures`` and ``/hits/{id}/captures``: the captured responses (WARC records) behind
hits, and a capture's body as recorded.

Rights holders see the captures of their own hits (metadata only); downloading a body is
staff work. A body is served as ``application/octet-stream``, as an attachment, never
rendered: it is whatever a pirate site sent.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from casefiles.captures import capture_record, capture_row, hit_captures
from swordnet.accounts.access import get_capture, get_hit, require_staff
from swordnet.accounts.users import Principal
from swordnet.core.models import Capture
from swordnet.evidence.store import EvidenceStore
from swordnet.web.deps import Caller, DbSession, Store
from swordnet.web.errors import ERROR_RESPONSES
from swordnet.web.params import PathId

router = APIRouter(tags=["captures"], responses=ERROR_RESPONSES)


class CaptureOut(BaseModel):
    id: int
    kind: str = Field(description="page, media or screenshot")
    url: str
    fetched_at: datetime
    http_status: int
    ip: str | None = Field(description="The address the response came from.")
    sha256: str = Field(description="The sha256 of the body.")
    content_type: str | None
    size: int = Field(description="The body's size in bytes.")
    warc_file: str | None = Field(description="The WARC file holding its record.")
    warc_offset: int | None
    warc_path: str | None = Field(description="Where that file is in the evidence store "
                                  "(staff only; null for rights holders).")


def capture_out(session: Session, store: EvidenceStore, caller: Principal,
                capture: Capture) -> CaptureOut:
    row = capture_row(session, store, capture)
    return CaptureOut(**{**row, "warc_path": row["warc_path"] if caller.is_staff else None})


@router.get("/hits/{hit_id}/captures", response_model=list[CaptureOut],
            summary="List a hit's captures")
def list_hit_captures(hit_id: PathId, session: DbSession, store: Store,
                      caller: Caller) -> list[CaptureOut]:
    """A hit's captures: its page, its media file and any screenshot of its page."""
    hit = get_hit(session, caller, hit_id)
    return [capture_out(session, store, caller, c) for c in hit_captures(session, hit)]


@router.get("/captures/{capture_id}", response_model=CaptureOut, summary="Show a capture")
def show_capture(capture_id: PathId, session: DbSession, store: Store,
                 caller: Caller) -> CaptureOut:
    """One capture's response metadata and where its WARC record is."""
    return capture_out(session, store, caller, get_capture(session, caller, capture_id))


@router.get("/captures/{capture_id}/body", response_class=Response,
            summary="Download a capture's body",
            responses={200: {"content": {"application/octet-stream": {}},
                             "description": "The body as recorded (digests checked), as an "
                             "attachment."}})
def download_capture_body(capture_id: PathId, session: DbSession, store: Store,
                          caller: Caller) -> Response:
    """The capture's body read back from its WARC record, its digests and the sealed file's
    hash checked first (``swordnet captures extract``). Staff only."""
    require_staff(caller)
    capture = get_capture(session, caller, capture_id)
    view = capture_record(session, store, capture)
    return Response(view.payload, media_type="application/octet-stream", headers={
        "Content-Disposition": f'attachment; filename="capture-{capture.id}.bin"',
        "X-Content-Type-Options": "nosniff"})
