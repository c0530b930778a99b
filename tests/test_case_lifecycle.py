"""Case lifecycle, custody verification, mirrors, notices from templates, campaign reports
and shutdown lists (CSV, XLSX, JSON) with formula neutralisation."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path

import openpyxl
import pytest
from alembic import command
from sqlalchemy import delete, inspect, select, text, update

from casefiles.custody import event_hash
from casefiles.notices import record_notice, record_recheck
from casefiles.reports import SHUTDOWN_COLUMNS, render_rows
from casefiles.review import confirm_hit
from swordnet.accounts.users import add_user, create_token
from swordnet.core.config import Settings
from swordnet.core.db import Database, _alembic_config, open_database
from swordnet.core.models import (
    Campaign,
    Case,
    CaseEvent,
    CrawlRun,
    CustodyHead,
    Hit,
    NoticeUrl,
    RightsHolder,
    Work,
)
from swordnet.core.timeutil import utcnow
from swordnet.watch.targets import add_target, site_for_url
from tests.api_client import one_line, open_api
from tests.conftest import run_cli

TRICKY_TITLES = ['=HYPERLINK("http://evil.example","click")', "+1+1", "-2", "@SUM(A1:A2)",
                 "\tTabbed", "\rReturned"]


def make_hits(db: Database, site_url: str, titles: list[str],
              campaign_id: int | None = None, purpose: str | None = None) -> list[int]:
    """Pending hits on ``site_url`` found by one crawl run (a campaign's with ``campaign_id``,
    else a manual one, unless ``purpose`` says), one per work title (works registered as
    needed)."""
    with db.session() as session:
        holder = session.scalar(select(RightsHolder).where(RightsHolder.name == "Studio")) \
            or RightsHolder(name="Studio")
        site = site_for_url(session, site_url)
        run = CrawlRun(site_id=site.id, start_url=site_url, outcome="finished",
                       campaign_id=campaign_id,
                       purpose=purpose or ("campaign" if campaign_id else "manual"))
        session.add(run)
        session.flush()
        ids = []
        for title in titles:
            work = Work(holder=holder, title=title, kind="image")
            session.add(work)
            session.flush()
            hit = Hit(work_id=work.id, site_id=site.id, run_id=run.id,
                      url=f"{site_url}img/{work.id}.jpg", page_url=f"{site_url}p/{work.id}",
                      algorithm="phash", score=3)
            session.add(hit)
            session.flush()
            ids.append(hit.id)
    return ids


def confirm(db: Database, hit_ids: list[int]) -> int:
    with db.session() as session:
        return [confirm_hit(session, hit_id, "reviewer").id for hit_id in hit_ids][-1]


def status(db: Database, case_id: int) -> str:
    with db.session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        return case.status


def test_illegal_transition_is_refused_with_the_allowed_next_states(home: Settings,
                                                                    db: Database) -> None:
    case_id = confirm(db, make_hits(db, "http://pirate.example/", ["Film"]))
    result = run_cli("cases", "transition", str(case_id), "site_shut_down", "--reason", "x")
    assert result.exit_code == 1
    assert result.output.strip() == (f"Error: case {case_id} is open; it cannot become "
                                     "site_shut_down (allowed next: notice_sent, closed)")
    with db.session() as session:
        events = session.scalars(select(CaseEvent.type).where(CaseEvent.case_id == case_id))
        assert "status_changed" not in list(events)  # nothing written
    assert status(db, case_id) == "open"


def test_case_walks_the_lifecycle_and_its_custody_log_verifies(home: Settings,
                                                               db: Database) -> None:
    case_id = confirm(db, make_hits(db, "http://pirate.example/", ["Film", "Song"]))
    notice = run_cli("notices", "record", str(case_id), "--recipient", "abuse@pirate.example")
    assert notice.exit_code == 0, notice.output
    for to in ("no_response", "escalated", "site_shut_down", "closed"):
        result = run_cli("cases", "transition", str(case_id), to, "--reason", f"going {to}",
                         "--evidence", "capture:1", "--actor", "lead")
        assert result.exit_code == 0, result.output
    assert status(db, case_id) == "closed"
    with db.session() as session:
        changes = session.scalars(select(CaseEvent).where(
            CaseEvent.case_id == case_id, CaseEvent.type == "status_changed")
            .order_by(CaseEvent.seq)).all()
        assert [(e.payload["from"], e.payload["to"]) for e in changes] == [
            ("open", "notice_sent"), ("notice_sent", "no_response"),
            ("no_response", "escalated"), ("escalated", "site_shut_down"),
            ("site_shut_down", "closed")]
        assert changes[-1].actor == "lead" and changes[-1].payload["reason"] == "going closed"
        assert changes[-1].payload["evidence"] == {"references": ["capture:1"]}
        seq = changes[2].seq
    verified = run_cli("cases", "verify", str(case_id))
    assert verified.exit_code == 0 and "custody log intact" in verified.output
    with db.session() as session:  # someone edits an event in the database
        session.execute(update(CaseEvent).where(CaseEvent.case_id == case_id,
                                                CaseEvent.seq == seq)
                        .values(actor="someone else"))
    broken = run_cli("cases", "verify", str(case_id))
    assert broken.exit_code == 1
    assert f"custody log broken at event {seq} (" in broken.output


def test_rechecks_move_the_case_to_removed_and_back_to_reopened(home: Settings,
                                                                db: Database) -> None:
    case_id = confirm(db, make_hits(db, "http://pirate.example/", ["Film", "Song"]))
    with db.session() as session:
        record_notice(session, case_id, "abuse@pirate.example", "dmca-en", "staff")
        url_ids = session.scalars(select(NoticeUrl.id).order_by(NoticeUrl.id)).all()
    with db.session() as session:
        record_recheck(session, url_ids[0], None, "removed", 404, "HTTP 404", None)
    assert status(db, case_id) == "notice_sent"  # one of two gone: not yet
    with db.session() as session:
        record_recheck(session, url_ids[1], None, "removed", 410, "HTTP 410", None)
    assert status(db, case_id) == "removed"
    with db.session() as session:
        record_recheck(session, url_ids[0], None, "present", 200, "still matches", None)
    assert status(db, case_id) == "reopened"
    with db.session() as session:
        last = session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id)
                               .order_by(CaseEvent.seq.desc()).limit(1)).one()
        assert last.actor == "recheck" and last.payload["to"] == "reopened"
    assert run_cli("cases", "verify", str(case_id)).exit_code == 0


def test_hits_on_a_linked_mirror_join_the_case(home: Settings, db: Database) -> None:
    case_id = confirm(db, make_hits(db, "http://pirate.example/", ["Film"]))
    assert run_cli("cases", "link-mirror", str(case_id), "mirror.example").exit_code == 0
    mirror_hit = make_hits(db, "http://mirror.example/", ["Song"])
    assert confirm(db, mirror_hit) == case_id
    other = confirm(db, make_hits(db, "http://other.example/", ["Book"]))
    again = run_cli("cases", "link-mirror", str(other), "mirror.example")
    assert again.exit_code == 1
    assert again.output.strip() == f"Error: mirror.example is already linked to case {case_id}"


def test_notices_render_every_work_and_url_in_english_and_chinese(home: Settings,
                                                                  db: Database) -> None:
    case_id = confirm(db, make_hits(db, "http://pirate.example/", ["Film", "Song"]))
    with db.session() as session:
        urls = session.scalars(select(Hit.url).where(Hit.case_id == case_id)).all()
    for template, phrases in (("dmca-en", ["17 U.S.C. § 512(c)(3)", '"Film"', '"Song"']),
                              ("admin-zh", ["《Film》", "《Song》", "信息网络传播权保护条例"])):
        result = run_cli("notices", "record", str(case_id), "--recipient", "abuse@x.example",
                         "--template", template)
        assert result.exit_code == 0, result.output
        notice_id = result.output.split()[1]
        text = run_cli("notices", "text", notice_id).output
        assert all(p in text for p in phrases) and all(u in text for u in urls)
        assert "abuse@x.example" in text
    unknown = run_cli("notices", "record", str(case_id), "--recipient", "a@x", "--template",
                      "fr")
    assert unknown.output.strip() == "Error: no notice template 'fr' (templates: admin-zh, " \
        "dmca-en)"
    custom = home.templates_dir / "notice-dmca-en.txt"  # an edited template replaces ours
    custom.parent.mkdir(parents=True)
    custom.write_text("Dear {{ notice.recipient }}: {{ url_count }} URLs.\n")
    run_cli("notices", "record", str(case_id), "--recipient", "legal@x.example")
    assert run_cli("notices", "text", "3").output == "Dear legal@x.example: 2 URLs.\n"


@pytest.fixture
def campaign_with_cases(home: Settings, db: Database) -> Database:
    with db.session() as session:
        targets = [add_target(session, url, depth=1, max_pages=10, every_seconds=None)
                   for url in ("http://pirate.example/", "http://licensed.example:8080/")]
        session.add(Campaign(name="Push", starts_at=utcnow() - timedelta(hours=1),
                             ends_at=utcnow() + timedelta(days=1), targets=targets))
    first = make_hits(db, "http://pirate.example/", TRICKY_TITLES, campaign_id=1)
    confirm(db, first)
    confirm(db, make_hits(db, "http://licensed.example:8080/", ["Film"], campaign_id=1))
    confirm(db, make_hits(db, "http://unrelated.example/", ["Other"]))  # not the campaign's
    with db.session() as session:
        holder = session.scalar(select(RightsHolder))
        assert holder is not None
    assert run_cli("allowlist", "add", "licensed.example:8080", "--holder",
                   "Studio").exit_code == 0
    run_cli("notices", "record", "1", "--recipient", "abuse@pirate.example")
    with db.session() as session:
        for url_id in session.scalars(select(NoticeUrl.id)):
            record_recheck(session, url_id, None, "removed", 404, "HTTP 404", None)
    return db


def test_campaign_report_counts_its_own_cases(campaign_with_cases: Database) -> None:
    report = json.loads(run_cli("campaigns", "report", "Push", "--json").output)
    assert report["cases_opened"] == report["cases"] == 2
    assert report["infringing_urls_confirmed"] == len(TRICKY_TITLES) + 1
    assert report["notices_sent"] == 1 and report["urls_removed"] == len(TRICKY_TITLES)
    assert report["median_days_to_removal"] is not None and report["median_days_to_removal"] < 1
    assert report["sites_shut_down"] == 0 and report["transferred_to_judiciary"] == 0


def test_shutdown_list_in_three_formats_neutralises_formulas(campaign_with_cases: Database,
                                                             tmp_path: Path) -> None:
    outputs = {}
    for fmt in ("csv", "xlsx", "json"):
        path = tmp_path / f"list.{fmt}"
        result = run_cli("campaigns", "shutdown-list", "push", "--format", fmt, "-o", str(path))
        assert result.exit_code == 0, result.output
        outputs[fmt] = path
    rows = json.loads(outputs["json"].read_text())
    assert [r["domain"] for r in rows] == ["pirate.example"]  # allowlisted site left out
    assert rows[0]["infringing_urls"] == len(TRICKY_TITLES) and rows[0]["case_id"] == 1
    assert set(rows[0]["work_titles"].split("; ")) == set(TRICKY_TITLES)  # raw in JSON
    header, row = list(csv.reader(io.StringIO(outputs["csv"].read_text("utf-8-sig"))))
    cell = dict(zip(header, row, strict=True))
    assert cell["domain"] == "pirate.example"
    sheet = openpyxl.load_workbook(outputs["xlsx"]).active
    assert sheet is not None
    values = {c.value: c.data_type for c in sheet[2]}
    for title in TRICKY_TITLES:  # each a cell of its own for the round trip
        text = neutralise_probe(title, tmp_path)
        assert text == "'" + title
    assert all(kind != "f" for kind in values.values())
    assert cell["work_titles"].startswith("'")  # the joined titles start with one too


def neutralise_probe(title: str, tmp_path: Path) -> str:
    """Round-trip one title through the xlsx and csv writers; the text each reads back."""
    row = {column: "" for column in SHUTDOWN_COLUMNS} | {"work_titles": title}
    book = tmp_path / "probe.xlsx"
    book.write_bytes(render_rows([row], "xlsx"))
    sheet = openpyxl.load_workbook(book).active
    assert sheet is not None
    cell = sheet.cell(row=2, column=SHUTDOWN_COLUMNS.index("work_titles") + 1)
    assert cell.data_type == "s"
    from_csv = list(csv.reader(io.StringIO(render_rows([row], "csv").decode("utf-8-sig"))))
    assert from_csv[1][SHUTDOWN_COLUMNS.index("work_titles")] == cell.value
    return str(cell.value)


# --- signed custody-log heads (issue 20) --------------------------------------------------------

def _staff_token(db: Database) -> dict[str, str]:
    with db.session() as session:
        add_user(session, "lead", "a long and unusual passphrase 7", "staff")
        return {"lead": create_token(session, "lead", "tests").secret}


@pytest.mark.parametrize("tamper", ["delete-last", "delete-three", "delete-all", "forge-one"])
def test_deleting_or_forging_the_newest_custody_events_is_detected(
        home: Settings, db: Database, tmp_path: Path, tamper: str) -> None:
    case_id = confirm(db, make_hits(db, "http://pirate.example/", ["A", "B", "C", "D"]))
    tokens = _staff_token(db)
    assert run_cli("cases", "verify", str(case_id)).exit_code == 0
    with db.session() as session:  # someone with write access to the database, not the key
        if tamper.startswith("delete"):
            keep = {"delete-last": 4, "delete-three": 2, "delete-all": 0}[tamper]
            session.execute(delete(CaseEvent).where(CaseEvent.case_id == case_id,
                                                    CaseEvent.seq > keep))
        else:  # a sixth event that chains correctly (no key is needed for that)
            last = session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id)
                                   .order_by(CaseEvent.seq.desc())).first()
            assert last is not None
            at = utcnow()
            payload = {"hit_id": 99, "url": "http://innocent.example/"}
            session.add(CaseEvent(case_id=case_id, seq=6, type="hit_unconfirmed",
                                  payload=payload, actor="lead", at=at, prev_hash=last.hash,
                                  hash=event_hash(last.hash, case_id, 6, "hit_unconfirmed",
                                                  payload, "lead", at)))
    ends = {"delete-last": 4, "delete-three": 2, "delete-all": 0, "forge-one": 6}[tamper]
    expected = f"ends at event {ends}, but its signed head is event 5 (events " + (
        "added" if tamper == "forge-one" else "deleted)")
    verified = run_cli("cases", "verify", str(case_id))
    assert verified.exit_code == 1 and expected in verified.output, verified.output
    assert verified.output.count("\n") == 1
    assert expected in json.loads(run_cli("cases", "list", "--json").output)[0]["custody_log"]
    with open_api(home, tokens) as api:
        assert expected in api.ok("lead", f"/cases/{case_id}")["custody_log"]
        bundle = api.post("lead", f"/cases/{case_id}/bundle")
        assert bundle.status_code == 409 and expected in one_line(bundle)
        moved = api.post("lead", f"/cases/{case_id}/transition",
                         json={"to": "closed", "reason": "done"})
        assert moved.status_code == 409 and expected in one_line(moved)
    # nothing is signed over the gap: further changes and exports are refused
    moved = run_cli("cases", "transition", str(case_id), "closed", "--reason", "done")
    assert moved.exit_code == 1 and expected in moved.output
    exported = run_cli("cases", "export", str(case_id), "-o", str(tmp_path / "b.zip"))
    assert exported.exit_code == 1 and "not exported" in exported.output
    assert not list(tmp_path.glob("*b.zip*"))
    assert status(db, case_id) == "open"


def test_a_removed_signed_head_is_detected(home: Settings, db: Database) -> None:
    case_id = confirm(db, make_hits(db, "http://pirate.example/", ["A"]))
    with db.session() as session:
        session.execute(delete(CustodyHead).where(CustodyHead.case_id == case_id))
    verified = run_cli("cases", "verify", str(case_id))
    assert verified.exit_code == 1 and "has no signed head" in verified.output


def test_bad_case_ids_corrupt_payloads_and_export_paths_are_one_line_errors(
        home: Settings, db: Database, tmp_path: Path) -> None:
    case_id = confirm(db, make_hits(db, "http://pirate.example/", ["A", "B"]))
    for verb in ("verify", "show", "export"):
        args = ["-o", str(tmp_path / "x.zip")] if verb == "export" else []
        huge = run_cli("cases", verb, "99999999999999999999", *args)
        assert huge.exit_code == 2 and "Error: Invalid value for 'CASE_ID': " \
            "99999999999999999999 is not in the range 1<=x<=2147483647.\n" in huge.output
    missing_folder = run_cli("cases", "export", str(case_id), "-o",
                             str(tmp_path / "nonexistent" / "b.zip"))
    assert missing_folder.exit_code == 1
    assert missing_folder.output == (f"Error: {tmp_path / 'nonexistent'} is not a folder; "
                                     "create it or choose another --output\n")
    with db.session() as session:  # an event's stored JSON is no longer JSON
        session.execute(text("UPDATE case_events SET payload = :bad WHERE seq = 2"),
                        {"bad": '{"hit_id": 1, ' if db.engine.dialect.name == "sqlite"
                         else '{"hit_id": "edited"}'})
    for args in (["verify", str(case_id)], ["show", str(case_id)]):
        result = run_cli("cases", *args)
        assert "broken at event 2" in result.output and not isinstance(
            result.exception, (ValueError, KeyError)), result.output
    assert run_cli("cases", "verify", str(case_id)).exit_code == 1


def test_upgrading_to_0007_signs_the_heads_of_existing_logs(home: Settings,
                                                            db: Database) -> None:
    case_id = confirm(db, make_hits(db, "http://pirate.example/", ["A", "B"]))
    command.downgrade(_alembic_config(db.engine), "0006")  # as before signed heads
    assert "custody_heads" not in inspect(db.engine).get_table_names()
    open_database(home).dispose()  # upgrades, signing the head of every log as it stands
    verified = run_cli("cases", "verify", str(case_id))
    assert verified.exit_code == 0 and "custody log intact (3 events" in verified.output
    with db.session() as session:
        session.execute(delete(CaseEvent).where(CaseEvent.case_id == case_id,
                                                CaseEvent.seq == 3))
    assert "ends at event 2, but its signed head is event 3" in run_cli(
        "cases", "verify", str(case_id)).output
