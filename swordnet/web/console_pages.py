"""Console pages every signed-in user has: dashboard, works (with upload), cases, tips.

Every query goes through :mod:`swordnet.accounts.access`, so a rights holder sees their own holder's
works, the hits on them, the cases holding those hits (with only their events) and their
tips, and every count on the dashboard is of those alone.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from casefiles.captures import hit_captures
from casefiles.contacts import contacts, suggestion
from casefiles.custody import case_log_problem
from casefiles.lifecycle import TransitionRefused, case_sites, manual_next, transition
from casefiles.notices import notice_row
from casefiles.publication import PUBLIC_FIELDS, PUBLISHABLE, consent_rows, publication_of
from casefiles.templates import notice_templates
from matching.registry import describe_match, max_content_bytes, supported_kinds
from matching.signal import ContentRejected
from swordnet.accounts import access, dashboard_counts
from swordnet.core.categories import UnknownKind, kind_words, resolve_kind
from swordnet.core.config import Settings
from swordnet.core.errors import BadInput, Conflict, Forbidden, NotFound
from swordnet.core.models import (
    CASE_STATUSES,
    MAX_ID,
    AllowlistEntry,
    Capture,
    Case,
    Fingerprint,
    Hit,
    Notice,
    RightsHolder,
    Tip,
    Work,
)
from swordnet.core.timeutil import utcnow
from swordnet.watch import allowlists
from swordnet.web.api_tips import TooManyTips, submit_within_limit
from swordnet.web.console_base import (
    API,
    Signed,
    Viewer,
    check_form_csrf,
    render,
)
from swordnet.web.console_charts import daily, horizontal
from swordnet.web.deps import DbSession
from swordnet.web.params import PathId, QueryId
from swordnet.web.uploads import FORM_SLACK_BYTES, upload_cap
from swordnet.works.holders import registering_holder
from swordnet.works.metadata import MetadataError, parse_metadata
from swordnet.works.registry import RegistrationError, register_work

router = APIRouter(include_in_schema=False)
DAYS_SHOWN = 14
# The cases API exports a case's evidence bundle on POST (the export is a custody event);
# static/case.js sends it with the CSRF header and saves the zip.
BUNDLE_URL = API + "/cases/{id}/bundle"


@router.get("/")
def dashboard(request: Request, session: DbSession, viewer: Signed) -> Response:
    principal = viewer.principal
    now = utcnow()
    by_status = dashboard_counts.hits_by_status(session, principal)
    per_day = dashboard_counts.hits_per_day(session, principal, now - timedelta(days=DAYS_SHOWN))
    sites = dashboard_counts.top_sites(session, principal)
    cases = dashboard_counts.cases_by_status(session, principal)
    oldest = dashboard_counts.oldest_pending(session, principal)
    return render(
        request, "dashboard.html", viewer,
        per_day=daily(per_day, now.date(), DAYS_SHOWN),
        top_sites=horizontal([(domain, n, f"/review?status=&site={quote(domain)}")
                              for domain, n in sites]),
        statuses=horizontal([(status.replace("_", " "), by_status.get(status, 0),
                              f"/review?status={status}")
                             for status in ("pending", "confirmed", "rejected",
                                            "auto_confirmed")]),
        funnel=horizontal([(status.replace("_", " "), cases.get(status, 0),
                            f"/cases?status={status}") for status in CASE_STATUSES]),
        pending=by_status.get("pending", 0),
        quarantined=dashboard_counts.quarantined_pending(session, principal),
        oldest_pending=oldest, oldest_days=(now - oldest).days if oldest else None,
        hits_total=sum(by_status.values()), cases_total=sum(cases.values()),
        works_total=access.count(session, access.works_query(principal)))


# --- works -----------------------------------------------------------------------------------

def _works_page(request: Request, session: DbSession, viewer: Viewer, *, status: int = 200,
                message: str | None = None, error: str | None = None,
                form: dict[str, str] | None = None,
                errors: dict[str, str] | None = None) -> Response:
    works = list(session.scalars(access.works_query(viewer.principal)
                                 .order_by(Work.id.desc()).limit(500)))
    ids = [w.id for w in works]
    hits = dict(session.execute(select(Hit.work_id, func.count()).where(Hit.work_id.in_(ids))
                                .group_by(Hit.work_id)).all())
    pending = dict(session.execute(
        select(Hit.work_id, func.count()).where(Hit.work_id.in_(ids), Hit.status == "pending")
        .group_by(Hit.work_id)).all())
    signals: dict[int, list[str]] = {}
    for work_id, algorithm in session.execute(
            select(Fingerprint.work_id, Fingerprint.algorithm)
            .where(Fingerprint.work_id.in_(ids)).distinct()):
        signals.setdefault(work_id, []).append(algorithm)
    holders = (list(session.scalars(select(RightsHolder.name).order_by(RightsHolder.name)))
               if viewer.is_staff else [])
    own_holder = (session.get(RightsHolder, viewer.principal.holder_id)
                  if viewer.principal.holder_id else None)
    return render(request, "works.html", viewer, status=status, works=works, hits=hits,
                  pending=pending, signals=signals, holders=holders, own_holder=own_holder,
                  kinds=[w for w in kind_words()
                         if resolve_kind(w).kind in supported_kinds()],
                  message=message, error=error, form=form or {}, errors=errors or {})


@router.get("/works")
def works_page(request: Request, session: DbSession, viewer: Signed,
               registered: QueryId = None, existing: QueryId = None,
               edited: QueryId = None) -> Response:
    message = None
    if (work_id := registered or existing or edited) is not None:
        work = access.get_work(session, viewer.principal, work_id)
        message = (f"Registered work {work.id}, “{work.title}”." if registered is not None
                   else f"Saved the registration of work {work.id}, “{work.title}”."
                   if edited is not None
                   else f"“{work.title}” was already registered (work {work.id}); fingerprints "
                        "it lacked were added.")
    return _works_page(request, session, viewer, message=message)


@router.post("/works", max_body_size=upload_cap() + FORM_SLACK_BYTES)
def register(request: Request, session: DbSession, viewer: Signed,
             file: Annotated[UploadFile | None, File()] = None,
             title: Annotated[str, Form(max_length=500)] = "",
             kind: Annotated[str, Form(max_length=20)] = "image",
             aliases: Annotated[str, Form(max_length=5000)] = "",
             holder: Annotated[str, Form(max_length=200)] = "",
             registration_number: Annotated[str, Form(max_length=2000)] = "",
             registration_date: Annotated[str, Form(max_length=2000)] = "",
             registering_authority: Annotated[str, Form(max_length=2000)] = "",
             author: Annotated[str, Form(max_length=2000)] = "",
             first_published: Annotated[str, Form(max_length=2000)] = "",
             licence_territories: Annotated[str, Form(max_length=2000)] = "",
             csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    """Register an uploaded work with its registration metadata: fingerprinted here, its
    preview kept for reviewers. A bad field is shown beside it."""
    check_form_csrf(request, viewer, csrf_token)
    metadata = {"registration_number": registration_number,
                "registration_date": registration_date,
                "registering_authority": registering_authority, "author": author,
                "first_published": first_published, "licence_territories": licence_territories}
    form = {"title": title, "kind": kind, "aliases": aliases, "holder": holder, **metadata}

    def refuse(error: str, field: str | None = None) -> Response:
        session.rollback()
        return _works_page(request, session, viewer, status=422, form=form,
                           error=None if field else error,
                           errors={field: error} if field else None)

    try:
        holder_name = registering_holder(session, viewer.principal,
                                                holder if viewer.is_staff else None)
    except RegistrationError:
        return refuse("Name the rights holder the work belongs to.")
    try:
        media_kind, category = resolve_kind(kind)
        parse_metadata(metadata)  # each bad field refused before the file is read
    except UnknownKind as exc:
        return refuse(f"{exc}.", "kind")
    except MetadataError as exc:
        return refuse(f"{exc}.", exc.field)
    if media_kind not in supported_kinds():
        return refuse(f"{kind.replace('_', ' ')} works ({media_kind}) cannot be registered "
                      "here yet.", "kind")
    kind = media_kind
    if file is None or not file.filename:
        return refuse("Choose the file to register.")
    limit = max_content_bytes(kind)
    content = file.file.read(limit + 1)
    if len(content) > limit:
        return refuse(f"{file.filename} is larger than {limit // 2**20} MB, the limit for "
                      f"{kind} works; register its fingerprints instead "
                      "(swordnet fingerprint, then works import-fingerprints).")
    if not content:
        return refuse(f"{file.filename} is empty.")
    names = [a.strip() for a in aliases.replace("\n", ",").split(",") if a.strip()]
    try:
        reg = register_work(session, content, title=title, holder_name=holder_name, kind=kind,
                            category=category, source_name=file.filename[:500], aliases=names,
                            metadata=metadata, preview_store=request.app.state.store)
    except (RegistrationError, ContentRejected) as exc:
        return refuse(f"{file.filename}: {exc}")
    session.commit()
    what = "registered" if reg.created else "existing"
    return RedirectResponse(f"/works?{what}={reg.work.id}", status_code=303)


# --- cases -----------------------------------------------------------------------------------

@router.get("/cases")
def cases_page(request: Request, session: DbSession, viewer: Signed,
               status: Annotated[str, Query(max_length=40)] = "") -> Response:
    query = access.filtered_cases(viewer.principal, access.CaseFilters(status=status or None))
    cases = list(session.scalars(query.order_by(Case.id.desc()).limit(500)))
    counts = access.case_hit_counts(session, viewer.principal, [c.id for c in cases])
    return render(request, "cases.html", viewer, cases=cases, counts=counts, wanted=status,
                  statuses=CASE_STATUSES)


def notices_context(session: Session, settings: Settings, case: Case) -> dict[str, Any]:
    """What the case page's notices card shows staff."""
    notices = session.scalars(select(Notice).where(Notice.case_id == case.id)
                              .order_by(Notice.id)).all()
    suggested = suggestion(session, case.site)
    return {"notices": [notice_row(n) for n in notices],
            "contacts": contacts(session, case.site),
            "suggested": suggested.email if suggested is not None else "",
            "notice_templates": notice_templates(settings.templates_dir),
            "can_email": settings.smtp is not None}


def _case_page(request: Request, session: DbSession, viewer: Viewer, case_id: int, *,
               status: int = 200, error: str | None = None,
               message: str | None = None) -> Response:
    case = access.get_case(session, viewer.principal, case_id)
    hits = [h for h in access.case_hits(session, viewer.principal, case)
            if h.status in ("confirmed", "auto_confirmed")]
    events = access.case_events(session, viewer.principal, case)
    all_events = case.events
    evidence: dict[int, tuple[Capture, list[int]]] = {}  # a page capture backs many hits
    for hit in hits:
        for capture in hit_captures(session, hit):
            evidence.setdefault(capture.id, (capture, []))[1].append(hit.id)
    consents = [row for row in consent_rows(session, case)  # a holder sees only their own
                if viewer.is_staff or row["holder_id"] == viewer.principal.holder_id]
    return render(request, "case.html", viewer, status=status, case=case, hits=hits,
                  matches={h.id: describe_match(h.algorithm, h.variant, h.score, h.detail)
                           for h in hits},
                  events=events, hidden_events=len(all_events) - len(events),
                  broken=case_log_problem(session, case), evidence=list(evidence.values()),
                  sites=case_sites(session, case), next_statuses=manual_next(case.status),
                  bundle_url=BUNDLE_URL.format(id=case.id), error=error, message=message,
                  publication=publication_of(session, case), consents=consents,
                  public_fields=PUBLIC_FIELDS, publishable=case.status in PUBLISHABLE,
                  public_pages=request.app.state.settings.public_pages,
                  **(notices_context(session, request.app.state.settings, case)
                     if viewer.is_staff else {}))


@router.get("/cases/{case_id}")
def case_page(case_id: PathId, request: Request, session: DbSession, viewer: Signed) -> Response:
    return _case_page(request, session, viewer, case_id)


def case_page_response(request: Request, session: DbSession, viewer: Viewer, case_id: int, *,
                       status: int = 200, error: str | None = None) -> Response:
    """The case page, e.g. again with a form's refusal (:mod:`console_notices`)."""
    return _case_page(request, session, viewer, case_id, status=status, error=error)


@router.post("/cases/{case_id}/transition")
def case_transition(case_id: PathId, request: Request, session: DbSession, viewer: Signed,
                    to: Annotated[str, Form(max_length=40)] = "",
                    reason: Annotated[str, Form(max_length=2000)] = "",
                    csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    """Move a case to its next status (a custody event with the reason). Staff only."""
    check_form_csrf(request, viewer, csrf_token)
    if not viewer.is_staff:
        raise Forbidden("Only staff change a case's status.")
    case = access.get_case(session, viewer.principal, case_id)
    if not reason.strip():
        return _case_page(request, session, viewer, case_id, status=422,
                          error="Say why the case changes status (the reason is logged).")
    try:
        transition(session, case, to, viewer.principal.username, reason.strip())
    except TransitionRefused as exc:
        session.rollback()
        return _case_page(request, session, viewer, case_id, status=409, error=str(exc))
    session.commit()
    return RedirectResponse(f"/cases/{case_id}", status_code=303)


# --- allowlist -------------------------------------------------------------------------------

def chosen_work(value: str) -> int | None:
    """The work picked in a form's list (None: none); BadInput for anything else.

    >>> chosen_work(" 12 "), chosen_work("")
    (12, None)
    """
    value = value.strip()
    if value and not (value.isdigit() and 1 <= int(value) <= MAX_ID):
        raise BadInput(f"work {value!r} is not a work id; choose one from the list")
    return int(value) if value else None


def _allowlist_page(request: Request, session: DbSession, viewer: Viewer, *,
                    status: int = 200, message: str | None = None, error: str | None = None,
                    form: dict[str, str] | None = None) -> Response:
    principal = viewer.principal
    entries = list(session.scalars(access.allowlist_query(principal)
                                   .order_by(AllowlistEntry.id.desc()).limit(1000)))
    works = session.execute(access.works_query(principal).with_only_columns(Work.id, Work.title)
                            .order_by(Work.title)).all()
    holders = dict(session.execute(select(RightsHolder.id, RightsHolder.name)).all())
    return render(request, "allowlist.html", viewer, status=status, entries=entries,
                  works=works, titles=dict(works), holders=holders,
                  holder_names=sorted(holders.values()) if viewer.is_staff else [],
                  own_holder=session.get(RightsHolder, principal.holder_id)
                  if principal.holder_id else None,
                  message=message, error=error, form=form or {})


@router.get("/allowlist")
def allowlist_page(request: Request, session: DbSession, viewer: Signed,
                   added: Annotated[str, Query(max_length=255)] = "") -> Response:
    return _allowlist_page(request, session, viewer,
                           message=f"{added} is on the allowlist." if added else None)


@router.post("/allowlist")
def allowlist_add(request: Request, session: DbSession, viewer: Signed,
                  domain: Annotated[str, Form(max_length=255)] = "",
                  work_id: Annotated[str, Form(max_length=20)] = "",
                  holder: Annotated[str, Form(max_length=200)] = "",
                  csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    """Add a licensed domain for the viewer's holder (staff: the holder or work named)."""
    check_form_csrf(request, viewer, csrf_token)
    form = {"domain": domain, "work_id": work_id, "holder": holder}

    def refuse(error: str) -> Response:
        session.rollback()
        return _allowlist_page(request, session, viewer, status=422, error=error, form=form)

    try:
        entry = allowlists.add_entry(session, viewer.principal, domain,
                                     holder if viewer.is_staff else None,
                                     chosen_work(work_id))
    except (BadInput, NotFound, Conflict) as exc:
        return refuse(str(exc))
    session.commit()
    return RedirectResponse(f"/allowlist?added={quote(entry.domain)}", status_code=303)


@router.post("/allowlist/{entry_id}/delete")
def allowlist_delete(entry_id: PathId, request: Request, session: DbSession, viewer: Signed,
                     csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    check_form_csrf(request, viewer, csrf_token)
    session.delete(access.get_allowlist_entry(session, viewer.principal, entry_id))
    session.commit()
    return RedirectResponse("/allowlist", status_code=303)


# --- tips ------------------------------------------------------------------------------------

def _tips_page(request: Request, session: DbSession, viewer: Viewer, *, status: int = 200,
               message: str | None = None, error: str | None = None,
               form: dict[str, str] | None = None) -> Response:
    tips = list(session.scalars(access.tips_query(viewer.principal)
                                .order_by(Tip.id.desc()).limit(500)))
    works = session.execute(access.works_query(viewer.principal)
                            .with_only_columns(Work.id, Work.title).order_by(Work.title)).all()
    titles = dict(session.execute(select(Work.id, Work.title).where(
        Work.id.in_([t.work_id for t in tips if t.work_id is not None]))).all())
    shown = access.visible_tip_hits(session, viewer.principal, tips)
    return render(request, "tips.html", viewer, status=status, tips=tips, titles=titles,
                  shown_hits=shown, works=works, message=message, error=error,
                  form=form or {})


@router.get("/tips")
def tips_page(request: Request, session: DbSession, viewer: Signed,
              queued: QueryId = None) -> Response:
    message = (f"Tip {queued} is queued; the scheduler checks it within minutes."
               if queued else None)
    return _tips_page(request, session, viewer, message=message)


@router.post("/tips")
def tips_submit(request: Request, session: DbSession, viewer: Signed,
                url: Annotated[str, Form(max_length=4000)] = "",
                work_id: Annotated[str, Form(max_length=20)] = "",
                reporter: Annotated[str, Form(max_length=200)] = "",
                csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    """Queue a URL someone reported, optionally naming the work it infringes."""
    check_form_csrf(request, viewer, csrf_token)
    form = {"url": url, "work_id": work_id, "reporter": reporter}

    def refuse(error: str) -> Response:
        session.rollback()
        return _tips_page(request, session, viewer, status=422, error=error, form=form)

    try:
        tip = submit_within_limit(request, session, viewer.principal, url, chosen_work(work_id),
                                  reporter)
    except TooManyTips as exc:
        response = refuse(str(exc))
        response.status_code = 429
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except (BadInput, NotFound) as exc:
        return refuse(str(exc))
    session.commit()
    return RedirectResponse(f"/tips?queued={tip.id}", status_code=303)
