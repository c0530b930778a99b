"""The demo's published case: one typical case taken from confirmation to publication.

The reposted chapter of the demo's text work is confirmed, a notice is recorded as sent to
the site, the copy is marked removed and the case closed; the demo rights holder's consent
is recorded as received offline, and the case is published with a short summary (the public
pages are on under ``make serve``). A second run finds the publication and changes nothing.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from casefiles.lifecycle import transition
from casefiles.notices import record_notice
from casefiles.publication import give_consent, publish
from casefiles.review import confirm_hit
from swordnet.core.models import CasePublication, Hit, Work

DEMO_ACTOR = "demo"
SUMMARY = ("A forum reposted a chapter of a registered novel. After one takedown notice the "
           "host removed the copy and the case was closed.")
FIELDS = ["site", "works", "kinds", "opened", "closed", "outcome", "notices_sent"]


def publish_typical_case(session: Session, site_id: int, holder: str) -> int | None:
    """Take the site's text hit through a whole case and publish it; returns the case id
    (None: a case is already published, or the site has no text hit to confirm)."""
    if session.scalar(select(CasePublication.case_id).limit(1)) is not None:
        return None
    hit = session.scalar(select(Hit).join(Work, Work.id == Hit.work_id).where(
        Hit.site_id == site_id, Hit.status == "pending", Work.kind == "text")
        .order_by(Hit.id).limit(1))
    if hit is None:
        return None
    case = confirm_hit(session, hit.id, DEMO_ACTOR)
    record_notice(session, case.id, f"abuse@{case.site.domain.split(':')[0]}", "dmca-en",
                  DEMO_ACTOR)
    transition(session, case, "removed", DEMO_ACTOR, "the host took the chapter down")
    transition(session, case, "closed", DEMO_ACTOR, "the copy is gone")
    give_consent(session, case, holder, DEMO_ACTOR, "offline",
                 "demo: the rights holder agreed by email")
    publish(session, case, SUMMARY, FIELDS, DEMO_ACTOR)
    return case.id
