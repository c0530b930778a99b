"""The case-file walkthrough end to end, as docs/evidence.md tells it: a campaign crawl finds
copies, staff confirm them, a notice goes out, a recheck sees a copy removed, the case's
bundle is exported and verified, tampering is caught, and the shutdown list is exported in
all three formats carrying the bundle's sha256."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path

import openpyxl
from sqlalchemy import select

from swordnet.core.config import Settings
from swordnet.core.db import Database, open_database
from swordnet.core.models import CaseExport, Hit, NoticeUrl
from swordnet.core.timeutil import utcnow
from swordnet.demo.site import RunningSite
from tests.conftest import run_cli
from tests.pirate_sites import register_samples
from tests.test_scheduler import runs_of, start_scheduler, wait_for


def test_from_campaign_crawl_to_verified_bundle_and_shutdown_list(
    sqlite_home: Settings, served_site: RunningSite, tmp_path: Path
) -> None:
    db = open_database(sqlite_home)
    register_samples(db)
    assert run_cli("sites", "add", served_site.url).exit_code == 0
    yesterday, next_week = utcnow() - timedelta(days=1), utcnow() + timedelta(days=7)
    assert run_cli("campaigns", "create", "Spring push", "--from", yesterday.isoformat(),
                   "--to", next_week.isoformat(), "--targets", "1").exit_code == 0
    scheduler = start_scheduler(sqlite_home, "--recheck-every", "2s")
    try:
        wait_for(lambda: bool(runs_of(db, campaign_id=1, outcome="finished")), scheduler)
        with db.session() as session:
            hit_ids = [str(i) for i in session.scalars(select(Hit.id).order_by(Hit.id))][:3]
        assert run_cli("hits", "confirm", *hit_ids).exit_code == 0
        assert run_cli("notices", "record", "1", "--recipient", "abuse@pirate.example",
                       "--template", "admin-zh").exit_code == 0
        with db.session() as session:
            removed = session.scalars(select(NoticeUrl.url).order_by(NoticeUrl.id)).first()
        assert removed is not None
        del served_site.site.files["/" + removed.split("/", 3)[3]]
        wait_for(lambda: "removed" in {u.status for u in _urls(db)}, scheduler)
    finally:
        scheduler.stop()

    bundle = tmp_path / "case1.zip"
    assert run_cli("cases", "export", "1", "-o", str(bundle)).exit_code == 0
    verified = run_cli("evidence", "verify", str(bundle))
    assert verified.exit_code == 0, verified.output
    with zipfile.ZipFile(bundle) as archive:
        case = json.loads(archive.read("case.json"))
        files = {name: archive.read(name) for name in archive.namelist()}
    assert [r["outcome"] for r in case["rechecks"] if r["url"] == removed][-1] == "removed"
    events = [json.loads(line)["type"] for line in files["custody.jsonl"].splitlines()]
    assert "copy_removed" in events and "notice_sent" in events
    files["case.json"] = files["case.json"].replace(b"removed", b"present")  # tampering
    forged = tmp_path / "forged.zip"
    with zipfile.ZipFile(forged, "w") as archive:
        for name, body in files.items():
            archive.writestr(name, body)
    failed = run_cli("evidence", "verify", str(forged))
    assert failed.exit_code == 1 and "case.json: altered" in failed.output

    with db.session() as session:
        export = session.scalars(select(CaseExport)).one()
    for fmt in ("csv", "xlsx", "json"):
        out = tmp_path / f"shutdown.{fmt}"
        assert run_cli("campaigns", "shutdown-list", "Spring push", "--format", fmt,
                       "-o", str(out)).exit_code == 0
    rows = json.loads((tmp_path / "shutdown.json").read_text())
    assert len(rows) == 1 and rows[0]["evidence_bundle_sha256"] == export.sha256
    assert rows[0]["infringing_urls"] == 3 and rows[0]["case_status"] == "notice_sent"
    table = list(csv.reader(io.StringIO((tmp_path / "shutdown.csv").read_text("utf-8-sig"))))
    assert table[1][table[0].index("evidence_bundle_sha256")] == export.sha256
    sheet = openpyxl.load_workbook(tmp_path / "shutdown.xlsx").active
    assert sheet is not None and sheet.cell(row=2, column=1).value == rows[0]["domain"]
    report = json.loads(run_cli("campaigns", "report", "Spring push", "--json").output)
    assert report["cases_opened"] == 1 and report["urls_removed"] == 1
    db.dispose()


def _urls(db: Database) -> list[NoticeUrl]:
    with db.session() as session:
        return list(session.scalars(select(NoticeUrl)))
