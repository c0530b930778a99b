"""``/works``: list, show, register (upload, precomputed fingerprints, bulk), edit the
registration metadata, delete, preview.

A rights holder registers and sees only their own holder's works; staff name the holder.
An upload bigger than its kind's signals read is refused by its declared length before the
body is parsed, and by its size before it is read into memory. A bulk import (JSON Lines or
CSV of precomputed fingerprints) is checked whole first: one bad line stores nothing, and
every bad line is reported by number. Deleting a work with confirmed hits is refused, since
those hits are evidence in cases.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import (
    APIRouter,
    Depends,
    File,
    Form,
    Query,
    Response,
    UploadFile,
)
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from matching.registry import max_content_bytes, supported_kinds
from matching.signal import ContentRejected
from swordnet.accounts.access import (
    WORK_SORTS,
    WorkFilters,
    filtered_works,
    get_work,
    sort_clause,
)
from swordnet.core.categories import CATEGORIES, KindAndCategory, kind_words, resolve_kind
from swordnet.core.errors import BadInput, NotFound
from swordnet.core.models import (
    WORK_KINDS,
    Hit,
    Work,
)
from swordnet.web.deps import Caller, DbSession, Store
from swordnet.web.errors import ERROR_RESPONSES, UPLOAD_RESPONSES, ErrorOut
from swordnet.web.pagination import Page, PageParams, page_params, paginate
from swordnet.web.params import PathId, choice_param, sort_param
from swordnet.web.uploads import (
    FORM_SLACK_BYTES,
    MB,
    CappedBodyRoute,
    body_cap,
    read_capped,
    upload_cap,
)
from swordnet.works.holders import registering_holder
from swordnet.works.metadata import TEXT_FIELDS, registration_facts
from swordnet.works.precomputed import (
    PrecomputedWork,
    parse_csv,
    parse_lines,
    parse_work,
)
from swordnet.works.previews import PREVIEW_FORMATS, work_preview
from swordnet.works.registry import (
    Registration,
    RegistrationError,
    delete_work_and_hits,
    edit_registration,
    register_precomputed,
    register_work,
)

BULK_MAX_BYTES = 256 * MB
PRECOMPUTED_MAX_BYTES = 64 * MB


router = APIRouter(prefix="/works", tags=["works"], responses=ERROR_RESPONSES,
                   route_class=CappedBodyRoute)


class FingerprintOut(BaseModel):
    algorithm: str
    variant: str


class WorkOut(BaseModel):
    id: int
    title: str
    aliases: list[str]
    kind: str = Field(description="The media kind: which signals fingerprint it.")
    category: str = Field(description=f"What it is registered as: {', '.join(CATEGORIES)}.")
    holder: str
    registration_number: str | None
    registration_date: date | None
    registering_authority: str | None
    author: str | None
    first_published: date | None
    licence_territories: list[str] = Field(
        description="ISO 3166-1 alpha-2 codes, or [\"worldwide\"]; empty: not said.")
    source_name: str | None
    sha256: str | None
    quarantined: bool
    quarantine_reason: str | None
    has_preview: bool
    created_at: datetime


class WorkDetail(WorkOut):
    fingerprints: list[FingerprintOut] = Field(
        description="Which signals the work is registered with (not their values).")
    thresholds: dict[str, float]
    hits: dict[str, int] = Field(description="Hit status -> how many hits on the work.")


def work_out(work: Work) -> WorkOut:
    return WorkOut(
        id=work.id, title=work.title, aliases=[str(a) for a in work.aliases], kind=work.kind,
        category=work.category, holder=work.holder.name,
        registration_number=work.registration_number,
        registration_date=work.registration_date,
        registering_authority=work.registering_authority, author=work.author,
        first_published=work.first_published,
        licence_territories=registration_facts(work)["licence_territories"],
        source_name=work.source_name, sha256=work.sha256,
        quarantined=work.quarantined_at is not None, quarantine_reason=work.quarantine_reason,
        has_preview=work.preview_sha256 is not None and work.preview_type in PREVIEW_FORMATS,
        created_at=work.created_at)


def work_detail(session: Session, work: Work) -> WorkDetail:
    hits = dict(session.execute(select(Hit.status, func.count()).where(Hit.work_id == work.id)
                                .group_by(Hit.status)).all())
    fingerprints = sorted((fp.algorithm, fp.variant) for fp in work.fingerprints)
    return WorkDetail(**work_out(work).model_dump(), hits=hits,
                      fingerprints=[FingerprintOut(algorithm=a, variant=v)
                                    for a, v in fingerprints],
                      thresholds={k: float(v) for k, v in work.thresholds.items()})


def work_filters(
    kind: Annotated[str | None, choice_param(WORK_KINDS, "The media kind.")] = None,
    category: Annotated[str | None, choice_param(CATEGORIES, "What the work is registered "
                                                 "as.")] = None,
    title: Annotated[str | None, Query(max_length=500, description="A part of the title "
                                       "(any case; % and _ are plain characters).")] = None,
    holder: Annotated[str | None, Query(max_length=200, description="The rights holder's "
                                        "name, exactly.")] = None,
) -> WorkFilters:
    return WorkFilters(kind=kind, category=category, title=title, holder=holder)


@router.get("", response_model=Page[WorkOut])
def list_works(session: DbSession, caller: Caller,
               filters: Annotated[WorkFilters, Depends(work_filters)],
               page: Annotated[PageParams, Depends(page_params)],
               sort: Annotated[str, sort_param(WORK_SORTS)] = "-id",
               ) -> Page[WorkOut]:
    """Works you may see, filtered and sorted, one page at a time."""
    query = filtered_works(caller, filters).order_by(*sort_clause(sort, WORK_SORTS))
    return paginate(session, query, page, work_out)


@router.get("/{work_id}", response_model=WorkDetail)
def show_work(work_id: PathId, session: DbSession, caller: Caller) -> WorkDetail:
    """One work, with the signals it is registered with and its hits by status."""
    return work_detail(session, get_work(session, caller, work_id))


@router.get("/{work_id}/preview", response_class=Response,
            responses={200: {"content": {"image/jpeg": {}, "image/png": {}, "text/plain": {},
                                         "audio/ogg": {}},
                             "description": "A JPEG thumbnail (images; a PNG where the image "
                                            "has transparency), the text (text) or the sound "
                                            "as mono Opus (audio)."}})
def preview(work_id: PathId, session: DbSession, store: Store, caller: Caller) -> Response:
    """What reviewers see of the work: a thumbnail, its text or its sound."""
    work = get_work(session, caller, work_id)
    data = work_preview(store, work)
    if data is None:
        raise NotFound(f"work {work_id} has no stored preview")
    return Response(data, media_type=PREVIEW_FORMATS[work.preview_type or ""].media_type,
                    headers={"Cache-Control": "private, max-age=3600"})


# --- registering ------------------------------------------------------------------------------

class RegistrationOut(BaseModel):
    created: bool = Field(description="False: the same content was already registered.")
    added_fingerprints: int = Field(description="Signals an existing work lacked, added now.")
    work: WorkDetail


def _registered(session: Session, reg: Registration, response: Response) -> RegistrationOut:
    session.flush()
    if not reg.created:
        response.status_code = 200
    return RegistrationOut(created=reg.created, added_fingerprints=reg.added_fingerprints,
                           work=work_detail(session, reg.work))


def _check_kind(word: str) -> KindAndCategory:
    resolved = resolve_kind(word)
    if resolved.kind not in supported_kinds():
        raise BadInput(f"kind {word!r} is a {resolved.kind} work, which is not supported "
                       f"(supported: {', '.join(supported_kinds())})")
    return resolved


@router.post("", response_model=RegistrationOut, status_code=201,
             responses={200: {"model": RegistrationOut,
                              "description": "Already registered (fingerprints it lacked "
                                             "were added)."}, **UPLOAD_RESPONSES},
             max_body_size=upload_cap() + FORM_SLACK_BYTES)
@body_cap(upload_cap)
def upload_work(
    session: DbSession, caller: Caller, store: Store, response: Response,
    file: Annotated[UploadFile, File(description="The work: an image, a text (.txt, HTML, "
                                     "EPUB), a video, an audio or a software file.")],
    title: Annotated[str, Form(min_length=1, max_length=500)],
    kind: Annotated[str, Form(max_length=20, description="A registration category ("
                              f"{', '.join(CATEGORIES)}) or a media kind (image, video, "
                              "audio): " + ", ".join(kind_words()) + ".")] = "image",
    aliases: Annotated[list[str] | None, Form(description="Other names (repeat the field).")]
    = None,
    holder: Annotated[str | None, Form(max_length=200, description="The rights holder (staff "
                                       "only; a rights holder's own is used).")] = None,
    registration_number: Annotated[str | None, Form(
        max_length=TEXT_FIELDS["registration_number"])] = None,
    registration_date: Annotated[str | None, Form(max_length=40,
                                                  description="YYYY-MM-DD.")] = None,
    registering_authority: Annotated[str | None, Form(
        max_length=TEXT_FIELDS["registering_authority"])] = None,
    author: Annotated[str | None, Form(max_length=TEXT_FIELDS["author"])] = None,
    first_published: Annotated[str | None, Form(max_length=40,
                                                description="YYYY-MM-DD.")] = None,
    licence_territories: Annotated[str | None, Form(
        max_length=2000, description="ISO 3166-1 alpha-2 codes separated by commas, or "
                                     "worldwide.")] = None,
) -> RegistrationOut:
    """Register an uploaded file as a work, fingerprinted here, with what its copyright
    registration says (201; 200 if the same content was already registered for the holder,
    which keeps its own metadata)."""
    kind, category = _check_kind(kind)
    given = {"registration_number": registration_number,
             "registration_date": registration_date,
             "registering_authority": registering_authority, "author": author,
             "first_published": first_published, "licence_territories": licence_territories}
    metadata = {k: v for k, v in given.items() if v is not None}
    holder_name = registering_holder(session, caller, holder)
    content = read_capped(file, max_content_bytes(kind), f"a {kind} work")
    name = file.filename or "upload"
    try:
        reg = register_work(session, content, title=title, holder_name=holder_name, kind=kind,
                            category=category, source_name=name[:500], aliases=aliases or [],
                            metadata=metadata, preview_store=store)
    except (RegistrationError, ContentRejected) as exc:
        raise BadInput(f"{name}: {exc}") from None
    return _registered(session, reg, response)


class PrecomputedFingerprintIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    algorithm: str = Field(max_length=40)
    variant: str = Field("original", max_length=40)
    value: str


class PrecomputedIn(BaseModel):
    """One line of `swordnet fingerprint` output."""

    model_config = ConfigDict(extra="forbid")
    title: str = Field(max_length=500)
    kind: str = Field(max_length=20, description="A registration category or a media kind.")
    aliases: list[str] = []
    registration_number: str | None = Field(None, max_length=100)
    registration_date: str | None = Field(None, max_length=40, description="YYYY-MM-DD.")
    registering_authority: str | None = Field(None, max_length=200)
    author: str | None = Field(None, max_length=500)
    first_published: str | None = Field(None, max_length=40, description="YYYY-MM-DD.")
    licence_territories: list[str] | None = Field(None, max_length=300)
    fingerprints: list[PrecomputedFingerprintIn]


def _register_entries(session: Session, entries: list[PrecomputedWork], holder_name: str,
                      source: str) -> list[Registration]:
    registrations = []
    for entry in entries:
        try:
            registrations.append(register_precomputed(
                session, title=entry.title, holder_name=holder_name, kind=entry.kind,
                fingerprints=entry.fingerprints, aliases=entry.aliases,
                category=entry.category, metadata=entry.metadata,
                source_name=f"{source}:{entry.line}"[:500]))
        except RegistrationError as exc:
            raise RegistrationError(f"line {entry.line}: {exc}; nothing registered") from None
    return registrations


@router.post("/precomputed", response_model=RegistrationOut, status_code=201,
             responses={200: {"model": RegistrationOut, "description": "Already registered."},
                        **UPLOAD_RESPONSES},
             max_body_size=PRECOMPUTED_MAX_BYTES + FORM_SLACK_BYTES)
@body_cap(lambda: PRECOMPUTED_MAX_BYTES)
def create_precomputed(
    body: PrecomputedIn, session: DbSession, caller: Caller, response: Response,
    holder: Annotated[str | None, Query(max_length=200, description="The rights holder "
                                        "(staff only).")] = None,
) -> RegistrationOut:
    """Register a work from fingerprints computed elsewhere (`swordnet fingerprint FILE`),
    without sending its content."""
    entry = parse_work(body.model_dump(exclude_none=True))
    holder_name = registering_holder(session, caller, holder)
    [reg] = _register_entries(session, [entry], holder_name, "api")
    return _registered(session, reg, response)


class ImportOut(BaseModel):
    created: int
    existing: int = Field(description="Works already registered (fingerprints they lacked "
                                      "were added).")
    work_ids: list[int] = Field(description="The work of each entry, in file order.")


@router.post("/import", response_model=ImportOut,
             responses={422: {"model": ErrorOut, "description": "Bad lines (each in "
                              "`errors`, by line number); nothing was registered."},
                        **UPLOAD_RESPONSES},
             max_body_size=BULK_MAX_BYTES + FORM_SLACK_BYTES)
@body_cap(lambda: BULK_MAX_BYTES)
def import_works(
    session: DbSession, caller: Caller,
    file: Annotated[UploadFile, File(description="JSON Lines of precomputed works, or CSV "
                                     "with one fingerprint per row.")],
    holder: Annotated[str | None, Form(max_length=200, description="The rights holder (staff "
                                       "only).")] = None,
    fmt: Annotated[Literal["jsonl", "csv"] | None, Form(
        alias="format", description="Default: csv for a .csv file name, else jsonl.")] = None,
) -> Any:
    """Register many works from precomputed fingerprints. Every line is checked first; if
    any is bad, each problem is reported with its line number and nothing is registered.
    Importing the same file again registers nothing new."""
    holder_name = registering_holder(session, caller, holder)
    name = file.filename or "upload"
    data = read_capped(file, BULK_MAX_BYTES, "an import")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadInput(f"{name}: not UTF-8 text (byte {exc.start})") from None
    fmt = fmt or ("csv" if name.lower().endswith(".csv") else "jsonl")
    entries, errors = parse_csv(text) if fmt == "csv" else parse_lines(text)
    if errors:
        count = len(errors)
        return JSONResponse({"detail": f"{name}: {count} bad line{'s' * (count != 1)}; "
                             "nothing registered", "errors": errors}, status_code=422)
    registrations = _register_entries(session, entries, holder_name, name)
    created = sum(reg.created for reg in registrations)
    return ImportOut(created=created, existing=len(registrations) - created,
                     work_ids=[reg.work.id for reg in registrations])


# --- editing ----------------------------------------------------------------------------------

class WorkEditIn(BaseModel):
    """The registration fields to change: only those sent change; null or "" clears one."""

    model_config = ConfigDict(extra="forbid")
    kind: str | None = Field(None, max_length=20, description="A category of the work's own "
                             "media kind (a video work: audiovisual or film).")
    registration_number: str | None = Field(None, max_length=100)
    registration_date: str | None = Field(None, max_length=40, description="YYYY-MM-DD.")
    registering_authority: str | None = Field(None, max_length=200)
    author: str | None = Field(None, max_length=500)
    first_published: str | None = Field(None, max_length=40, description="YYYY-MM-DD.")
    licence_territories: list[str] | None = Field(None, max_length=300)


@router.patch("/{work_id}", response_model=WorkDetail)
def edit_work(work_id: PathId, body: WorkEditIn, session: DbSession,
              caller: Caller) -> WorkDetail:
    """Change a work's registration metadata or category (422 naming a bad field; nothing
    changes then). A rights holder edits only their own holder's works."""
    work = get_work(session, caller, work_id)
    changes = body.model_dump(exclude_unset=True)
    kind = changes.pop("kind", None)
    edit_registration(work, changes, kind)
    session.flush()
    return work_detail(session, work)


# --- deleting ---------------------------------------------------------------------------------

@router.delete("/{work_id}", status_code=204, response_class=Response)
def delete_work(work_id: PathId, session: DbSession, caller: Caller) -> Response:
    """Delete a work with its fingerprints, its pending and rejected hits, and its allowlist
    entries (tips naming it keep their URL). Refused (409) while any of its hits is evidence:
    confirmed, in a case or named in a notice."""
    delete_work_and_hits(session, get_work(session, caller, work_id))
    return Response(status_code=204)
