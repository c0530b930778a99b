"""Campaign statistics that add up: a campaign counts every hit, case, notice, removal,
shutdown and transfer to judiciary that concerns its targets within its window, whichever
run found the hit first, and its report's totals equal what ``hits list``, ``cases list``,
``notices list`` and the cases' custody logs show for ``--campaign``."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from casefiles.lifecycle import get_case, transition
from casefiles.notices import record_notice, record_recheck
from swordnet.core.config import Settings
from swordnet.core.db import Database
from swordnet.core.models import Hit, NoticeUrl
from swordnet.core.timeutil import utcnow
from tests.conftest import run_cli
from tests.test_case_lifecycle import confirm, make_hits

ESCALATE = ("no_response", "escalated")


def found(db: Database, site_url: str, titles: list[str], purpose: str = "watch",
          campaign_id: int | None = None) -> list[int]:
    """Pending hits on ``site_url`` found by one crawl run (an ordinary scheduled one unless
    ``purpose`` says otherwise), one per new work."""
    return make_hits(db, site_url, titles, campaign_id, purpose)


def seen_again(db: Database, hit_ids: list[int]) -> None:
    """A later crawl finds the same copies again: it refreshes their last sighting."""
    with db.session() as session:
        session.execute(update(Hit).where(Hit.id.in_(hit_ids)).values(last_seen_at=utcnow()))


def notify(db: Database, case_id: int) -> list[int]:
    """A notice for the case; its URL ids."""
    with db.session() as session:
        notice = record_notice(session, case_id, "abuse@host.example", "dmca-en", "staff")
        return list(session.scalars(select(NoticeUrl.id).where(NoticeUrl.notice_id == notice.id)
                                    .order_by(NoticeUrl.id)))


def removed(db: Database, url_id: int) -> None:
    with db.session() as session:
        record_recheck(session, url_id, None, "removed", 404, "HTTP 404", None)


def move(db: Database, case_id: int, *statuses: str) -> None:
    for status in statuses:
        with db.session() as session:
            transition(session, get_case(session, case_id), status, "lead", "test", {})


def listed(*args: str) -> list[dict[str, Any]]:
    result = run_cli(*args, "--json")
    assert result.exit_code == 0, result.output
    rows: list[dict[str, Any]] = json.loads(result.output)
    return rows


def within(at: str, report: dict[str, Any]) -> bool:
    return (datetime.fromisoformat(report["window_start"]) <= datetime.fromisoformat(at)
            <= datetime.fromisoformat(report["window_end"]))


def shown_totals(campaign: str, report: dict[str, Any]) -> dict[str, Any]:
    """The report's totals as the lists and the custody logs show them."""
    hits = listed("hits", "list", "--campaign", campaign)
    cases = listed("cases", "list", "--campaign", campaign)
    notices = listed("notices", "list", "--campaign", campaign)
    events = [e for case in cases for e in listed("cases", "show", str(case["id"]))
              if within(e["at"], report)]
    moved = {to: len({case["id"] for case in cases
                      for e in listed("cases", "show", str(case["id"]))
                      if within(e["at"], report) and e["type"] == "status_changed"
                      and e["payload"]["to"] == to})
             for to in ("removed", "site_shut_down", "transferred_to_judiciary")}
    return {
        "hits": len(hits),
        "infringing_urls_confirmed": len(listed("hits", "list", "--campaign", campaign,
                                                "--status", "confirmed")),
        "cases": len(cases),
        "cases_opened": sum(within(case["opened_at"], report) for case in cases),
        "notices_sent": len(notices),
        "urls_removed": sum(e["type"] == "copy_removed" for e in events),
        "cases_removed": moved["removed"],
        "sites_shut_down": moved["site_shut_down"],
        "transferred_to_judiciary": moved["transferred_to_judiciary"],
    }


def report_of(campaign: str) -> dict[str, Any]:
    result = run_cli("campaigns", "report", campaign, "--json")
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.output)
    return data


def test_a_campaign_counts_what_concerns_its_targets_within_its_window(
        home: Settings, db: Database) -> None:
    # Before the campaign: an ordinary crawl found three copies on pirate.example; the case
    # is under notice; one copy is already gone.
    early = found(db, "http://pirate.example/", ["Film", "Song", "Book"])
    case_a = confirm(db, early)
    urls_a = notify(db, case_a)
    removed(db, urls_a[2])
    assert run_cli("sites", "add", "http://pirate.example/").exit_code == 0
    assert run_cli("sites", "add", "http://premiere.example/").exit_code == 0
    other = confirm(db, found(db, "http://other.example/", ["Elsewhere"]))  # not a target
    start = utcnow()
    created = run_cli("campaigns", "create", "Premiere", "--from", start.isoformat(),
                      "--to", (start + timedelta(days=7)).isoformat(), "--targets", "1,2")
    assert created.exit_code == 0, created.output
    empty = report_of("Premiere")
    # the case under notice is open in the window; none of its copies was seen in it yet
    assert (empty["hits"], empty["cases"], empty["cases_opened"]) == (0, 1, 0)

    # During the campaign. Scheduled (not campaign) crawls see two old copies again and find
    # new ones, one confirmed into the old case; a mirror linked to that case holds another.
    seen_again(db, early[:2])
    new_a = found(db, "http://pirate.example/", ["Film 2", "Song 2"])
    confirm(db, new_a[:1])
    assert run_cli("cases", "link-mirror", str(case_a), "mirror.example").exit_code == 0
    confirm(db, found(db, "http://mirror.example/", ["Mirrored"]))
    found(db, "http://premiere.example/", ["Ignored"], purpose="campaign", campaign_id=1)
    case_p = confirm(db, found(db, "http://premiere.example/", ["Premiere film"]))
    urls_p = notify(db, case_p)
    removed(db, urls_a[0])                                 # one URL gone in the window
    move(db, case_p, *ESCALATE, "transferred_to_judiciary")  # a transfer in the window
    move(db, other, "closed")                              # not a target: never counted
    assert run_cli("campaigns", "stop", "Premiere").exit_code == 0

    # After it: a removal, a shutdown and a new copy the campaign must not count.
    removed(db, urls_p[0])
    move(db, case_a, *ESCALATE, "site_shut_down")
    found(db, "http://pirate.example/", ["Too late"])

    report = report_of("Premiere")
    expected = {"hits": 2 + 2 + 1 + 2, "infringing_urls_confirmed": 2 + 1 + 1 + 1,
                "cases": 2, "cases_opened": 1, "notices_sent": 1, "urls_removed": 1,
                "cases_removed": 0, "sites_shut_down": 0, "transferred_to_judiciary": 1}
    assert {k: report[k] for k in expected} == expected
    assert shown_totals("Premiere", report) == expected
    summary = json.loads(run_cli("campaigns", "show", "Premiere", "--json").output)
    assert summary["hits_found"] == report["hits"]


def test_a_campaign_under_way_counts_a_pre_existing_case_under_notice(
        home: Settings, db: Database) -> None:
    """The case the issue reported as "0 hits, 0 cases": fifteen copies confirmed and under
    notice before the campaign began, still up (seen again by scheduled crawls) during it."""
    hits = found(db, "http://pirate.example/", [f"Episode {n}" for n in range(15)])
    case_id = confirm(db, hits)
    notify(db, case_id)
    assert run_cli("sites", "add", "http://pirate.example/").exit_code == 0
    start = utcnow()
    assert run_cli("campaigns", "create", "Premiere", "--from", start.isoformat(), "--to",
                   (start + timedelta(days=7)).isoformat(), "--targets", "1").exit_code == 0
    for _ in range(3):  # the campaign's own runs find nothing new
        found(db, "http://pirate.example/", [], purpose="campaign", campaign_id=1)
    seen_again(db, hits)
    report = report_of("Premiere")
    assert (report["hits"], report["infringing_urls_confirmed"], report["cases"],
            report["cases_opened"], report["notices_sent"]) == (15, 15, 1, 0, 0)
    shown_in_lists = shown_totals("Premiere", report)
    assert {k: report[k] for k in shown_in_lists} == shown_in_lists
    summary = json.loads(run_cli("campaigns", "show", "Premiere", "--json").output)
    assert (summary["runs"], summary["hits_found"]) == (3, 15)
