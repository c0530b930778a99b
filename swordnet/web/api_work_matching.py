"""``/works/{id}/thresholds/{algorithm}`` and ``/works/{id}/release``: a work's own match
thresholds (``swordnet works threshold``) and lifting its quarantine (``swordnet works
release``). Staff only: both change what new crawls confirm as copies.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from swordnet.accounts.access import get_work, require_staff
from swordnet.core.models import Work
from swordnet.web.deps import Caller, DbSession
from swordnet.web.errors import ERROR_RESPONSES
from swordnet.web.params import PathId
from swordnet.works.quarantine import release
from swordnet.works.registry import set_threshold

router = APIRouter(prefix="/works", tags=["works"], responses=ERROR_RESPONSES)
Algorithm = Annotated[str, Path(max_length=40, description="The signal, e.g. phash, orb, "
                                "text, link (the work's kind decides which it has).")]


class ThresholdIn(BaseModel):
    value: float | None = Field(ge=0, le=1_000_000, description=(
        "The work's own threshold (phash: max bits; orb: min inliers; text: min share of a "
        "page; link: min links); null goes back to the algorithm's default."))


class MatchingOut(BaseModel):
    work_id: int
    thresholds: dict[str, float] = Field(description="The work's own thresholds.")
    quarantined: bool
    quarantine_reason: str | None


def matching_out(work: Work) -> MatchingOut:
    return MatchingOut(work_id=work.id, thresholds=work.thresholds,
                       quarantined=work.quarantined_at is not None,
                       quarantine_reason=work.quarantine_reason)


@router.put("/{work_id}/thresholds/{algorithm}", response_model=MatchingOut,
            summary="Set a work's threshold")
def put_threshold(work_id: PathId, algorithm: Algorithm, body: ThresholdIn,
                  session: DbSession, caller: Caller) -> MatchingOut:
    """Override (or with null restore) the work's threshold for one signal; applies to new
    crawls. Staff only."""
    require_staff(caller)
    get_work(session, caller, work_id)
    return matching_out(set_threshold(session, work_id, algorithm, body.value))


@router.post("/{work_id}/release", response_model=MatchingOut,
             summary="Release a work from quarantine")
def release_work(work_id: PathId, session: DbSession, caller: Caller) -> MatchingOut:
    """Lift the work's quarantine (hits it already holds stay flagged until reviewed).
    Staff only."""
    require_staff(caller)
    get_work(session, caller, work_id)
    return matching_out(release(session, work_id))
