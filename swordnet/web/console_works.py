"""Console: a work's registration edit form (its category and what its registration says).

The form shows each refusal beside the field it names and changes nothing then. A rights
holder edits only their own holder's works: any other id is not found, as everywhere.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from swordnet.accounts import access
from swordnet.core.categories import MEDIA_KIND_OF, UnknownKind
from swordnet.core.models import Work
from swordnet.web.console_base import Signed, Viewer, check_form_csrf, render
from swordnet.web.deps import DbSession
from swordnet.web.params import PathId
from swordnet.works.metadata import MetadataError, registration_facts
from swordnet.works.registry import RegistrationError, edit_registration

router = APIRouter(include_in_schema=False)
Text = Annotated[str, Form(max_length=2000)]


def categories_of(kind: str) -> list[str]:
    """The categories a work of media ``kind`` can be registered as.

    >>> categories_of("image")
    ['photography', 'fine_art']
    """
    return [category for category, media in MEDIA_KIND_OF.items() if media == kind]


def metadata_form(work: Work) -> dict[str, str]:
    """A work's registration as the form's fields show it."""
    facts = registration_facts(work)
    return {**{k: v or "" for k, v in facts.items() if k != "licence_territories"},
            "licence_territories": ", ".join(facts["licence_territories"])}


def _edit_page(request: Request, viewer: Viewer, work: Work, form: dict[str, str], *,
               status: int = 200, errors: dict[str, str] | None = None) -> Response:
    return render(request, "work_edit.html", viewer, status=status, work=work, form=form,
                  categories=categories_of(work.kind), errors=errors or {})


@router.get("/works/{work_id}/edit")
def edit_page(work_id: PathId, request: Request, session: DbSession,
              viewer: Signed) -> Response:
    work = access.get_work(session, viewer.principal, work_id)
    return _edit_page(request, viewer, work, metadata_form(work))


@router.post("/works/{work_id}/edit")
def edit(work_id: PathId, request: Request, session: DbSession, viewer: Signed,
         category: Annotated[str, Form(max_length=40)] = "",
         registration_number: Text = "", registration_date: Text = "",
         registering_authority: Text = "", author: Text = "", first_published: Text = "",
         licence_territories: Text = "",
         csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    """Save a work's registration; a bad field is shown beside it and nothing changes."""
    check_form_csrf(request, viewer, csrf_token)
    work = access.get_work(session, viewer.principal, work_id)
    form = {"category": category, "registration_number": registration_number,
            "registration_date": registration_date,
            "registering_authority": registering_authority, "author": author,
            "first_published": first_published, "licence_territories": licence_territories}
    metadata = {k: v for k, v in form.items() if k != "category"}
    try:
        edit_registration(work, metadata, category or None)
    except MetadataError as exc:
        session.rollback()
        return _edit_page(request, viewer, work, form, status=422,
                          errors={exc.field or "form": str(exc)})
    except (RegistrationError, UnknownKind) as exc:
        session.rollback()
        return _edit_page(request, viewer, work, form, status=422,
                          errors={"category": str(exc)})
    session.commit()
    return RedirectResponse(f"/works?edited={work_id}", status_code=303)
