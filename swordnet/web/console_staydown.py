"""The staydown console page (staff): whether reappearing copies are confirmed automatically,
and the sites proposed as mirrors of a case, to accept or decline.

Accepting links the mirror (a ``mirror_linked`` custody event on the case); declining keeps
the site from being proposed for that case again. A rights holder gets 403: proposals span
every holder's cases.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from casefiles.mirror_proposals import accept, decline, list_proposals
from casefiles.staydown import instance_policy, set_instance_policy
from swordnet.core.errors import SwordnetError
from swordnet.web.console_base import (
    Signed,
    Viewer,
    check_form_csrf,
    render,
    require_staff_page,
)
from swordnet.web.deps import DbSession
from swordnet.web.params import PathId

router = APIRouter(include_in_schema=False)
Flag = Annotated[str, Form(pattern="^(on|off)$")]
Csrf = Annotated[str, Form(max_length=200)]


def _page(request: Request, session: DbSession, viewer: Viewer, *, status: int = 200,
          error: str | None = None) -> Response:
    require_staff_page(viewer)
    return render(request, "staydown.html", viewer, status=status, error=error,
                  policy=instance_policy(session),
                  proposals=list_proposals(session, "proposed"),
                  decided=list_proposals(session, None)[-50:])


@router.get("/staydown")
def staydown_page(request: Request, session: DbSession, viewer: Signed) -> Response:
    return _page(request, session, viewer)


@router.post("/staydown/policy")
def staydown_policy(request: Request, session: DbSession, viewer: Signed, exact: Flag,
                    fuzzy: Flag, csrf_token: Csrf = "") -> Response:
    """Set the instance's automatic confirmation of exact and fuzzy reappearing copies."""
    check_form_csrf(request, viewer, csrf_token)
    require_staff_page(viewer)
    set_instance_policy(session, viewer.principal.username, exact == "on", fuzzy == "on")
    session.commit()
    return RedirectResponse("/staydown", status_code=303)


@router.post("/staydown/proposals/{proposal_id}/{decision}")
def decide_proposal(proposal_id: PathId, decision: str, request: Request, session: DbSession,
                    viewer: Signed, csrf_token: Csrf = "") -> Response:
    """Accept (link the mirror) or decline a mirror proposal."""
    check_form_csrf(request, viewer, csrf_token)
    require_staff_page(viewer)
    if decision not in ("accept", "decline"):
        return _page(request, session, viewer, status=404,
                     error=f"unknown decision {decision!r} (accept or decline)")
    try:
        (accept if decision == "accept" else decline)(session, proposal_id,
                                                      viewer.principal.username)
    except SwordnetError as exc:
        session.rollback()
        return _page(request, session, viewer, status=exc.status, error=str(exc))
    session.commit()
    return RedirectResponse("/staydown", status_code=303)
