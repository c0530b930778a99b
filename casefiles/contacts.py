"""Who to send a site's notices to: abuse contacts looked up over RDAP, kept in the database,
and the address staff set, which always wins.

A lookup asks RDAP about the site's registered domain and each of its known IP addresses,
and stores one row per question with what came of it (``found``, ``none``, or ``failed``
with the reason), so a garbage or slow answer is recorded, not retried at every page view.
The network is used outside any unit of work: the answers are stored afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from casefiles.notices import email_address
from casefiles.rdap import RdapClient, RdapFailure, registered_domain
from swordnet.core.db import Database
from swordnet.core.errors import BadInput, NotFound
from swordnet.core.models import AbuseContact, Case, Site
from swordnet.core.outbound import host_address
from swordnet.core.timeutil import utcnow

# The order suggestions are made in: staff's own address, then the registrar's abuse desk
# (it can suspend the domain), then the network's (it can pull the server).
PREFERENCE = ("staff", "rdap-domain", "rdap-ip")
MAX_IPS = 4  # the site's addresses asked about, at most


@dataclass(frozen=True)
class Lookup:
    """One RDAP question and what came of it."""

    source: str
    subject: str
    outcome: str
    email: str | None
    detail: str


def find_site(session: Session, domain: str) -> Site:
    site = session.scalar(select(Site).where(Site.domain == domain.strip().lower()))
    if site is None:
        raise NotFound(f"no site {domain!r} (see `swordnet sites list`)")
    return site


def contacts(session: Session, site: Site) -> list[AbuseContact]:
    """The site's contacts and lookups, most preferred first."""
    rows = session.scalars(select(AbuseContact).where(AbuseContact.site_id == site.id)
                           .order_by(AbuseContact.id)).all()
    return sorted(rows, key=lambda row: (PREFERENCE.index(row.source), row.id))


def suggestion(session: Session, site: Site) -> AbuseContact | None:
    """The address to suggest for the site's notices, or None if none is known."""
    return next((row for row in contacts(session, site) if row.email), None)


def suggested_recipient(session: Session, case_id: int) -> str:
    """The suggested address for a case's site; BadInput saying what to do if none."""
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound(f"no case with id {case_id} (see `swordnet cases list`)")
    found = suggestion(session, case.site)
    if found is None or found.email is None:
        raise BadInput(f"no abuse contact known for {case.site.domain}: give --recipient, or "
                       f"look it up with `swordnet contacts show {case.site.domain}`")
    return found.email


def set_contact(session: Session, site: Site, email: str | None, actor: str) -> None:
    """Staff's own address for the site (None: remove it, so RDAP's is suggested again)."""
    session.execute(delete(AbuseContact).where(AbuseContact.site_id == site.id,
                                               AbuseContact.source == "staff"))
    if email is not None:
        session.add(AbuseContact(site_id=site.id, source="staff", subject=site.domain,
                                 outcome="set", email=email_address(email, "contact"),
                                 detail=None, looked_up_at=utcnow(), actor=actor))


def ask_rdap(client: RdapClient, domain: str, ips: list[str]) -> list[Lookup]:
    """Ask RDAP about a site's registered domain (unless it is an IP address) and its IPs."""
    questions = [("ip", str(ip)) for ip in ips[:MAX_IPS]]
    if host_address(domain.rsplit(":", 1)[0]) is None:
        questions.insert(0, ("domain", registered_domain(domain)))
    lookups = []
    for kind, subject in questions:
        source = f"rdap-{kind}"
        try:
            emails = [e for e in map(_usable, client.abuse_emails(kind, subject)) if e]
        except RdapFailure as exc:
            lookups.append(Lookup(source, subject, "failed", None, str(exc)))
            continue
        if emails:
            lookups.append(Lookup(source, subject, "found", emails[0],
                                  ", ".join(emails[1:]) or ""))
        else:
            lookups.append(Lookup(source, subject, "none", None,
                                  "RDAP names no abuse contact with an email"))
    return lookups


def _usable(email: str) -> str | None:
    """The address normalised, or None if it is not one (RDAP answers are not trusted)."""
    try:
        return email_address(email, "contact")
    except BadInput:
        return None


def refresh(db: Database, domain: str, client: RdapClient,
            clock: Callable[[], datetime] = utcnow) -> list[Lookup]:
    """Look the site's abuse contacts up over RDAP and store what came of each question
    (replacing earlier RDAP rows; staff's address is kept)."""
    with db.session() as session:
        site = find_site(session, domain)
        site_id, key, ips = site.id, site.domain, [str(ip) for ip in site.ips or []]
    lookups = ask_rdap(client, key, ips)
    with db.session() as session:
        session.execute(delete(AbuseContact).where(AbuseContact.site_id == site_id,
                                                   AbuseContact.source != "staff"))
        for lookup in lookups:
            session.add(AbuseContact(site_id=site_id, source=lookup.source,
                                     subject=lookup.subject, outcome=lookup.outcome,
                                     email=lookup.email, detail=lookup.detail or None,
                                     looked_up_at=clock(), actor=None))
    return lookups
