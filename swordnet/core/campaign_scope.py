"""What a campaign's statistics count: the rows that concern its targets within its window.

One definition, as SQL conditions over the models, shared by the campaign report, the
``--campaign`` filters of ``hits list``, ``cases list`` and ``notices list``, and the API's
and console's ``campaign_id`` filters, so their numbers agree. Which run found a hit first
does not matter:

- **The campaign's sites** are the sites of its watch targets, and the sites linked as
  mirrors to cases on those sites (``cases link-mirror``).
- **Its window** runs from its start to its end, or to when it was stopped if earlier; both
  ends included.
- **A hit** counts when it is on one of those sites and was known to be up during the
  window: first found (``created_at``) by the window's end and last seen (``last_seen_at``)
  at or after its start. Any status; the report also counts those now confirmed.
- **A case** counts when it is on one of those sites or holds a hit on one, and was open
  during the window: opened by its end, and not closed before its start.
- **A notice** counts when it is one of those cases' notices, sent within the window.
- **A removal, shutdown or transfer to judiciary** counts when the custody log of one of
  those cases records it within the window: a ``copy_removed`` event (one URL gone), a
  ``status_changed`` event to ``removed``, ``site_shut_down`` or
  ``transferred_to_judiciary``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, case, or_, select

from swordnet.core.models import (
    Campaign,
    CampaignTarget,
    Case,
    CaseEvent,
    CaseMirror,
    Hit,
    Notice,
    WatchTarget,
)


def window(campaign: Campaign) -> tuple[datetime, datetime]:
    """The campaign's window: its start, and its end or the moment it was stopped."""
    end = campaign.ends_at
    if campaign.stopped_at is not None and campaign.stopped_at < end:
        end = campaign.stopped_at
    return campaign.starts_at, end


def _bounds(campaign_id: int) -> tuple[ColumnElement[datetime], ColumnElement[datetime]]:
    """:func:`window` in SQL, read from the campaign's row (no row: nothing is in it)."""
    row = Campaign.id == campaign_id
    start = select(Campaign.starts_at).where(row).scalar_subquery()
    end = select(case((and_(Campaign.stopped_at.is_not(None),
                            Campaign.stopped_at < Campaign.ends_at), Campaign.stopped_at),
                      else_=Campaign.ends_at)).where(row).scalar_subquery()
    return start, end


def site_ids(campaign_id: int) -> Select[tuple[int]]:
    """The ids of the campaign's sites: its targets' and their cases' linked mirrors'."""
    targets = select(WatchTarget.site_id).join(
        CampaignTarget, CampaignTarget.target_id == WatchTarget.id).where(
        CampaignTarget.campaign_id == campaign_id)
    mirrors = select(CaseMirror.site_id).join(Case, Case.id == CaseMirror.case_id).where(
        Case.site_id.in_(targets))
    return targets.union(mirrors)  # type: ignore[return-value]


def hit_condition(campaign_id: int) -> ColumnElement[bool]:
    """Hits on the campaign's sites known to be up during its window."""
    start, end = _bounds(campaign_id)
    return and_(Hit.site_id.in_(site_ids(campaign_id)), Hit.created_at <= end,
                Hit.last_seen_at >= start)


def _cases_on_sites(campaign_id: int) -> ColumnElement[bool]:
    return or_(Case.site_id.in_(site_ids(campaign_id)),
               Case.id.in_(select(Hit.case_id).where(Hit.site_id.in_(site_ids(campaign_id)),
                                                      Hit.case_id.is_not(None))))


def case_condition(campaign_id: int) -> ColumnElement[bool]:
    """Cases on the campaign's sites (or holding a hit on one) open during its window."""
    start, end = _bounds(campaign_id)
    return and_(_cases_on_sites(campaign_id), Case.opened_at <= end,
                or_(Case.closed_at.is_(None), Case.closed_at >= start))


def notice_condition(campaign_id: int) -> ColumnElement[bool]:
    """Notices of those cases sent within the window."""
    start, end = _bounds(campaign_id)
    return and_(Notice.case_id.in_(select(Case.id).where(_cases_on_sites(campaign_id))),
                Notice.sent_at >= start, Notice.sent_at <= end)


def event_condition(campaign_id: int) -> ColumnElement[bool]:
    """Custody events of those cases recorded within the window."""
    start, end = _bounds(campaign_id)
    return and_(CaseEvent.case_id.in_(select(Case.id).where(_cases_on_sites(campaign_id))),
                CaseEvent.at >= start, CaseEvent.at <= end)
