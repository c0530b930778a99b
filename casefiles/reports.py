"""Campaign statistics and site-shutdown lists (CSV, XLSX, JSON).

A campaign counts what concerns its targets within its window, whichever run found a hit
first (:mod:`swordnet.core.campaign_scope` defines it; the ``--campaign`` filters of the
lists use the same conditions).

An allowlist entry leaves out of a shutdown list only the hits it covers (its holder's
works, or its one work, on its domain); a site stays on the list while other confirmed hits
remain in its case. Spreadsheet
cells whose text starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return are
prefixed with an apostrophe, so no spreadsheet program runs them as formulas.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from openpyxl import Workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from swordnet.core.campaign_scope import (
    case_condition,
    event_condition,
    hit_condition,
    notice_condition,
)
from swordnet.core.campaign_scope import window as campaign_window
from swordnet.core.errors import BadInput
from swordnet.core.models import (
    Campaign,
    Case,
    CaseEvent,
    CaseExport,
    Hit,
    Notice,
    Site,
)
from swordnet.watch.allowlists import allowlisted_works

FORMATS = ("csv", "xlsx", "json")
SHUTDOWN_COLUMNS = ("domain", "ips", "first_seen", "last_seen", "infringing_urls", "works",
                    "work_titles", "case_id", "case_status", "evidence_bundle_sha256")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CONFIRMED = ("confirmed", "auto_confirmed")


def neutralise(value: Any) -> Any:
    """A cell value safe for spreadsheets: text that could start a formula gets a leading
    apostrophe; everything else is unchanged.

    >>> neutralise("=HYPERLINK(\\"http://evil\\")")
    '\\'=HYPERLINK("http://evil")'
    >>> neutralise("pirate.example"), neutralise(-3)
    ('pirate.example', -3)
    """
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def campaign_cases(session: Session, campaign: Campaign) -> list[Case]:
    """The cases the campaign counts (:func:`swordnet.core.campaign_scope.case_condition`)."""
    return list(session.scalars(select(Case).where(case_condition(campaign.id))
                                .order_by(Case.id)))


STATUS_MEASURES = {"cases_removed": "removed", "sites_shut_down": "site_shut_down",
                   "transferred_to_judiciary": "transferred_to_judiciary"}


def campaign_report(session: Session, campaign: Campaign) -> dict[str, Any]:
    """The campaign's enforcement statistics: what concerns its targets within its window
    (see :mod:`swordnet.core.campaign_scope` for exactly what each measure counts)."""
    start, end = campaign_window(campaign)
    cases = campaign_cases(session, campaign)
    hits = session.scalars(select(Hit).where(hit_condition(campaign.id))).all()
    notices = session.scalars(select(Notice).where(notice_condition(campaign.id))).all()
    events = session.scalars(select(CaseEvent).where(event_condition(campaign.id))
                             .order_by(CaseEvent.id)).all()
    removals = [e for e in events if e.type == "copy_removed"]
    sent_at: dict[Any, datetime] = {
        notice_id: at for notice_id, at in session.execute(
            select(Notice.id, Notice.sent_at).where(
                Notice.id.in_([e.payload.get("notice_id") for e in removals])))
        if at is not None}
    removal_days = [(e.at - sent_at[e.payload["notice_id"]]).total_seconds() / 86400
                    for e in removals if e.payload.get("notice_id") in sent_at]
    reached = {measure: len({e.case_id for e in events if e.type == "status_changed"
                             and e.payload.get("to") == status})
               for measure, status in STATUS_MEASURES.items()}
    return {
        "campaign": campaign.name,
        "window_start": start.isoformat(),
        "window_end": end.isoformat(),
        "hits": len(hits),
        "infringing_urls_confirmed": sum(h.status in CONFIRMED for h in hits),
        "cases": len(cases),
        "cases_opened": sum(start <= c.opened_at <= end for c in cases),
        "notices_sent": len(notices),
        "urls_removed": len(removals),
        "median_days_to_removal": round(statistics.median(removal_days), 2)
        if removal_days else None,
        **reached,
    }


def _not_allowlisted(session: Session, hits: Sequence[Hit]) -> list[Hit]:
    """``hits`` less those an allowlist entry covers (their work on their site)."""
    sites: dict[Site, list[Hit]] = {}
    for hit in hits:
        sites.setdefault(hit.site, []).append(hit)
    licensed = {(site.id, work_id) for site, found in sites.items()
                for work_id in allowlisted_works(session, site.domain,
                                                 {h.work_id for h in found})}
    return [hit for hit in hits if (hit.site_id, hit.work_id) not in licensed]


def shutdown_rows(session: Session, campaign: Campaign) -> list[dict[str, Any]]:
    """One row per site of the campaign's cases, counting its confirmed hits less those
    allowlisted; a case whose every confirmed hit is allowlisted is left out."""
    rows = []
    for case in campaign_cases(session, campaign):
        site = case.site
        confirmed = session.scalars(select(Hit).where(Hit.case_id == case.id,
                                                      Hit.status == "confirmed")).all()
        hits = _not_allowlisted(session, confirmed)
        if confirmed and not hits:
            continue
        export = session.scalar(select(CaseExport).where(CaseExport.case_id == case.id)
                                .order_by(CaseExport.id.desc()).limit(1))
        rows.append({
            "domain": site.domain, "ips": " ".join(site.ips),
            "first_seen": site.first_seen_at.isoformat(timespec="seconds"),
            "last_seen": site.last_seen_at.isoformat(timespec="seconds")
            if site.last_seen_at else "",
            "infringing_urls": len(hits), "works": len({h.work_id for h in hits}),
            "work_titles": "; ".join(sorted({h.work.title for h in hits})),
            "case_id": case.id, "case_status": case.status,
            "evidence_bundle_sha256": export.sha256 if export else ""})
    return rows


def render_rows(rows: Sequence[dict[str, Any]], fmt: str) -> bytes:
    """The shutdown list as CSV, XLSX or JSON bytes."""
    if fmt == "json":
        return json.dumps(list(rows), indent=2, ensure_ascii=False).encode()
    table = [list(SHUTDOWN_COLUMNS)] + [[neutralise(row[c]) for c in SHUTDOWN_COLUMNS]
                                        for row in rows]
    if fmt == "csv":
        text = io.StringIO()
        csv.writer(text).writerows(table)
        return text.getvalue().encode("utf-8-sig")  # the BOM makes Excel read UTF-8
    if fmt == "xlsx":
        workbook = Workbook()
        sheet = workbook.active
        assert sheet is not None
        sheet.title = "shutdown list"
        for line in table:
            sheet.append(line)
            for cell in sheet[sheet.max_row]:
                if isinstance(cell.value, str):
                    cell.data_type = "s"  # text, never a formula
        data = io.BytesIO()
        workbook.save(data)
        return data.getvalue()
    raise BadInput(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
