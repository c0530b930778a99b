"""Published cases: holders' consent, publishing and what the public sees of a case.

Staff publish a closed case, or one transferred to judicial authorities, with a short public
summary and the fields they choose from :data:`PUBLIC_FIELDS`; nothing else of the case is
ever public (no reviewer, evidence file or hash, token, URL of a copy, or id of anything
unpublished). Every rights holder whose work is in the case must have consented first: the
holder gives consent in the console, the API or the CLI, or staff record consent received
offline with a reference. Consent given, consent withdrawn, publishing and unpublishing are
custody events; withdrawing consent from a published case unpublishes it.

:func:`public_view` builds the public page's content from a case's :class:`CaseFacts` and
its publication alone, so what is shown is decided in one pure function.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from casefiles.custody import append_event
from casefiles.lifecycle import lock_case
from swordnet.core.campaign_scope import case_condition
from swordnet.core.errors import BadInput, Conflict, NotFound
from swordnet.core.models import (
    Campaign,
    Case,
    CaseEvent,
    CasePublication,
    Hit,
    Notice,
    PublicationConsent,
    RightsHolder,
    Work,
)
from swordnet.core.timeutil import utcnow

# The fields staff may make public, with the label the public page gives each.
PUBLIC_FIELDS: dict[str, str] = {
    "site": "Site",
    "works": "Works",
    "kinds": "Kinds of work",
    "opened": "Opened",
    "closed": "Closed",
    "outcome": "Outcome",
    "urls_removed": "Copies removed",
    "notices_sent": "Notices sent",
    "campaign": "Campaign",
}
PUBLISHABLE = ("closed", "transferred_to_judiciary")
MAX_SUMMARY = 2000
CONFIRMED = ("confirmed", "auto_confirmed")
# The furthest the case went, best first: what its public outcome says.
OUTCOMES = (("transferred_to_judiciary", "transferred to judicial authorities"),
            ("site_shut_down", "site shut down"), ("removed", "copies removed"))


@dataclass(frozen=True)
class CaseFacts:
    """Everything :data:`PUBLIC_FIELDS` can show of a case, read from the database."""

    case_id: int
    site: str
    works: tuple[str, ...]
    kinds: tuple[str, ...]
    opened: datetime
    closed: datetime | None
    outcome: str
    urls_removed: int
    notices_sent: int
    campaign: tuple[int, str] | None  # the campaign counting the case: id and name


@dataclass(frozen=True)
class PublicCase:
    """A published case as the public pages show it."""

    case_id: int
    summary: str
    published_at: datetime
    facts: tuple[tuple[str, str, str], ...]  # (field, label, text), in PUBLIC_FIELDS order
    campaign: tuple[int, str] | None  # set only when the campaign field is public
    title: str


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d") if value is not None else "—"


def public_view(facts: CaseFacts, publication: CasePublication) -> PublicCase:
    """What the public sees of a published case: the summary, and of ``facts`` only the
    fields chosen at publishing (pure: nothing else reaches the page).

    >>> from datetime import UTC
    >>> f = CaseFacts(3, "pirate.example", ("Dune",), ("image",), datetime(2026, 1, 2, tzinfo=UTC),
    ...               None, "site shut down", 4, 1, (2, "Spring push"))
    >>> p = CasePublication(summary="Shut.", fields=["outcome"],
    ...                     published_at=datetime(2026, 2, 1, tzinfo=UTC))
    >>> v = public_view(f, p)
    >>> v.facts, v.campaign, v.title
    ((('outcome', 'Outcome', 'site shut down'),), None, 'Case 3: site shut down')
    """
    chosen = set(publication.fields)
    values: dict[str, str] = {
        "site": facts.site, "works": "; ".join(facts.works), "kinds": ", ".join(facts.kinds),
        "opened": _when(facts.opened), "closed": _when(facts.closed), "outcome": facts.outcome,
        "urls_removed": str(facts.urls_removed), "notices_sent": str(facts.notices_sent),
        "campaign": facts.campaign[1] if facts.campaign else "—"}
    shown = tuple((name, label, values[name]) for name, label in PUBLIC_FIELDS.items()
                  if name in chosen)
    about = facts.site if "site" in chosen else facts.outcome if "outcome" in chosen else ""
    return PublicCase(case_id=facts.case_id, summary=publication.summary,
                      published_at=publication.published_at, facts=shown,
                      campaign=facts.campaign if "campaign" in chosen else None,
                      title=f"Case {facts.case_id}" + (f": {about}" if about else ""))


def case_holders(session: Session, case: Case) -> list[RightsHolder]:
    """The rights holders whose works are in the case's confirmed hits."""
    return list(session.scalars(
        select(RightsHolder).where(RightsHolder.id.in_(
            select(Work.holder_id).join(Hit, Hit.work_id == Work.id)
            .where(Hit.case_id == case.id, Hit.status.in_(CONFIRMED))))
        .order_by(RightsHolder.name)))


def consents(session: Session, case: Case) -> dict[int, PublicationConsent]:
    """The case's consents in force (not withdrawn), by holder id."""
    return {c.holder_id: c for c in session.scalars(
        select(PublicationConsent).where(PublicationConsent.case_id == case.id,
                                         PublicationConsent.withdrawn_at.is_(None)))}


def publication_of(session: Session, case: Case) -> CasePublication | None:
    """The case's publication row, shown or not."""
    return session.get(CasePublication, case.id)


def is_published(publication: CasePublication | None) -> bool:
    return publication is not None and publication.unpublished_at is None


def _holder_of_case(session: Session, case: Case, holder_name: str) -> RightsHolder:
    for holder in case_holders(session, case):
        if holder.name == holder_name.strip():
            return holder
    raise NotFound(f"{holder_name!r} holds no work in case {case.id}'s confirmed hits")


def give_consent(session: Session, case: Case, holder_name: str, actor: str, method: str,
                 reference: str | None = None) -> PublicationConsent:
    """Record ``holder_name``'s consent to publishing ``case`` (again, if it was withdrawn);
    consent received ``offline`` needs the reference it was given in."""
    lock_case(session, case)
    holder = _holder_of_case(session, case, holder_name)
    reference = (reference or "").strip() or None
    if method == "offline" and reference is None:
        raise BadInput("consent received offline needs a reference (the letter, email or "
                       "call it was given in: --reference)")
    if reference is not None and len(reference) > MAX_SUMMARY:
        raise BadInput(f"the consent reference is longer than {MAX_SUMMARY} characters")
    existing = session.scalar(select(PublicationConsent).where(
        PublicationConsent.case_id == case.id, PublicationConsent.holder_id == holder.id))
    if existing is not None and existing.withdrawn_at is None:
        raise Conflict(f"{holder.name} has already consented to publishing case {case.id} "
                       f"({existing.given_at:%Y-%m-%d}, by {existing.given_by})")
    consent = existing or PublicationConsent(case_id=case.id, holder_id=holder.id)
    consent.given_by, consent.given_at, consent.method = actor, utcnow(), method
    consent.reference, consent.withdrawn_at, consent.withdrawn_by = reference, None, None
    session.add(consent)
    append_event(session, case, "publication_consent_given",
                 {"holder_id": holder.id, "method": method, "reference": reference}, actor)
    return consent


def withdraw_consent(session: Session, case: Case, holder_name: str,
                     actor: str) -> PublicationConsent:
    """Withdraw ``holder_name``'s consent; a published case is unpublished with it."""
    lock_case(session, case)
    holder = _holder_of_case(session, case, holder_name)
    consent = consents(session, case).get(holder.id)
    if consent is None:
        raise Conflict(f"{holder.name} has not consented to publishing case {case.id}")
    consent.withdrawn_at, consent.withdrawn_by = utcnow(), actor
    append_event(session, case, "publication_consent_withdrawn", {"holder_id": holder.id},
                 actor)
    if is_published(publication_of(session, case)):
        unpublish(session, case, actor, f"{holder.name} withdrew consent")
    return consent


def check_fields(fields: list[str]) -> list[str]:
    """The chosen public fields, in :data:`PUBLIC_FIELDS` order; BadInput names an unknown one.

    >>> check_fields(["outcome", "site"])
    ['site', 'outcome']
    """
    unknown = [f for f in fields if f not in PUBLIC_FIELDS]
    if unknown:
        raise BadInput(f"unknown public field {unknown[0]!r} (choose from "
                       f"{', '.join(PUBLIC_FIELDS)})")
    return [f for f in PUBLIC_FIELDS if f in fields]


def publish(session: Session, case: Case, summary: str, fields: list[str],
            actor: str) -> CasePublication:
    """Publish ``case`` (or change its summary and fields), refused unless it is closed or
    transferred to judicial authorities and every holder of a work in it has consented."""
    lock_case(session, case)
    summary = summary.strip()
    if not summary:
        raise BadInput("a published case needs a public summary (--summary)")
    if len(summary) > MAX_SUMMARY:
        raise BadInput(f"the public summary is {len(summary)} characters; keep it to "
                       f"{MAX_SUMMARY}")
    chosen = check_fields(fields)
    if case.status not in PUBLISHABLE:
        raise Conflict(f"case {case.id} is {case.status}; only a closed case or one "
                       "transferred to judicial authorities is published")
    holders = case_holders(session, case)
    if not holders:
        raise Conflict(f"case {case.id} has no confirmed hits, so no rights holder to consent")
    given = consents(session, case)
    missing = [h.name for h in holders if h.id not in given]
    if missing:
        raise Conflict(f"case {case.id} is not published: {', '.join(missing)} "
                       f"{'has' if len(missing) == 1 else 'have'} not consented")
    publication = publication_of(session, case) or CasePublication(case_id=case.id)
    publication.summary, publication.fields = summary, chosen
    publication.published_at, publication.published_by = utcnow(), actor
    publication.unpublished_at = publication.unpublished_by = None
    session.add(publication)
    append_event(session, case, "published", {"summary": summary, "fields": chosen}, actor)
    return publication


def unpublish(session: Session, case: Case, actor: str, reason: str) -> CasePublication:
    """Take ``case`` off the public pages (its publication row stays, marked unpublished)."""
    lock_case(session, case)
    publication = publication_of(session, case)
    if not is_published(publication):
        raise Conflict(f"case {case.id} is not published")
    assert publication is not None
    if not reason.strip():
        raise BadInput("unpublishing needs a reason (--reason)")
    publication.unpublished_at, publication.unpublished_by = utcnow(), actor
    append_event(session, case, "unpublished", {"reason": reason.strip()}, actor)
    return publication


# --- what the public pages read --------------------------------------------------------------

def published(session: Session) -> list[CasePublication]:
    """Publications shown on the public pages, newest first."""
    return list(session.scalars(select(CasePublication)
                                .where(CasePublication.unpublished_at.is_(None))
                                .order_by(CasePublication.published_at.desc(),
                                          CasePublication.case_id.desc())))


def _outcome(session: Session, case: Case) -> str:
    payloads = session.scalars(select(CaseEvent.payload).where(
        CaseEvent.case_id == case.id, CaseEvent.type == "status_changed"))
    reached = {payload.get("to") for payload in payloads}
    for status, text in OUTCOMES:
        if status in reached:
            return text
    return "closed"


def _campaign(session: Session, case: Case) -> tuple[int, str] | None:
    """The campaign the case was opened in, else the first one whose statistics count it."""
    if case.campaign_id is not None:
        campaign = session.get(Campaign, case.campaign_id)
        if campaign is not None:
            return campaign.id, campaign.name
    for campaign in session.scalars(select(Campaign).order_by(Campaign.id)):
        if session.scalar(select(Case.id).where(Case.id == case.id,
                                                case_condition(campaign.id))) is not None:
            return campaign.id, campaign.name
    return None


def case_facts(session: Session, case: Case) -> CaseFacts:
    """The facts :func:`public_view` may show of ``case``."""
    works = session.execute(
        select(Work.title, Work.kind).join(Hit, Hit.work_id == Work.id)
        .where(Hit.case_id == case.id, Hit.status.in_(CONFIRMED)).distinct()).all()
    removed = session.scalar(select(func.count()).select_from(CaseEvent).where(
        CaseEvent.case_id == case.id, CaseEvent.type == "copy_removed")) or 0
    notices = session.scalar(select(func.count()).select_from(Notice).where(
        Notice.case_id == case.id, Notice.sent_at.is_not(None))) or 0
    return CaseFacts(case_id=case.id, site=case.site.domain,
                     works=tuple(sorted({title for title, _ in works})),
                     kinds=tuple(sorted({kind for _, kind in works})),
                     opened=case.opened_at, closed=case.closed_at,
                     outcome=_outcome(session, case), urls_removed=removed,
                     notices_sent=notices, campaign=_campaign(session, case))


def public_cases(session: Session) -> list[PublicCase]:
    """Every published case as the public pages show it, newest first."""
    return [public_view(case_facts(session, p.case), p) for p in published(session)]


def public_case(session: Session, case_id: int) -> PublicCase | None:
    """Case ``case_id`` as the public pages show it, or None if it is not published."""
    publication = session.get(CasePublication, case_id)
    if not is_published(publication):
        return None
    assert publication is not None
    return public_view(case_facts(session, publication.case), publication)


def public_campaigns(cases: list[PublicCase]) -> dict[int, str]:
    """The campaigns the public pages may name: those a published case shows."""
    return {c.campaign[0]: c.campaign[1] for c in cases if c.campaign is not None}


def consent_rows(session: Session, case: Case) -> list[dict[str, Any]]:
    """Each holder of the case with its consent in force (None: not given)."""
    given = consents(session, case)
    return [{"holder": h.name, "holder_id": h.id, "consent": given.get(h.id)}
            for h in case_holders(session, case)]
