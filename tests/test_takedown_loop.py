"""The takedown loop end to end (issue 17's target): a case goes from confirmed hits to a
notice delivered to a real SMTP server, a recheck, ``removed``, the same files on a new
domain and their automatic link back to the case, with no manual step beyond confirming the
first hits.

Everything after the confirmation is done by the jobs the scheduler has scheduled (its
standing crawls of watch targets, its sender, which queues the case's notice itself under
staff's automatic-notice policy, its rechecks), run one at a time by the test
with a clock it moves; every crawl is a real ``scrapy crawl`` subprocess over HTTP.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from scheduler import jobs
from scheduler.executor import LocalExecutor
from scheduler.service import JobSpec, wanted_jobs
from swordnet.core.config import Settings, load_settings
from swordnet.core.db import Database
from swordnet.core.models import (
    Case,
    CrawlRun,
    Hit,
    Notice,
    NoticeUrl,
    RecheckResult,
    WatchTarget,
)
from swordnet.core.timeutil import utcnow
from swordnet.demo.site import DemoSite, Resource, serve_site
from tests.conftest import run_cli, site_copy
from tests.pirate_sites import register_samples, small_site
from tests.smtp_server import smtp_server
from tests.test_campaign_statistics import shown_totals

ABUSE = "abuse@first-pirate.example"
SEND_EVERY_S = 60


class Clock:
    """The scheduler's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


def cli_json(*args: str) -> Any:
    result = run_cli(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def ok(*args: str) -> str:
    result = run_cli(*args)
    assert result.exit_code == 0, result.output
    return result.output


def scheduled(db: Database, clock: Clock) -> dict[str, JobSpec]:
    """The jobs the scheduler would run at the clock's time, by id."""
    return {s.job_id: s for s in wanted_jobs(db, 86400, 60, clock(), send_every_s=SEND_EVERY_S)}


def run_job(db: Database, clock: Clock, job_id: str) -> None:
    spec = scheduled(db, clock)[job_id]
    spec.func(*spec.args)


def watch(db: Database, url: str) -> int:
    """``sites add URL --every 1h``: the new watch target's id."""
    ok("sites", "add", url, "--every", "1h")
    with db.session() as session:
        target = session.scalars(select(WatchTarget).order_by(WatchTarget.id.desc())).first()
        assert target is not None and target.start_urls == [url]
        return target.id


def last_run(db: Database) -> CrawlRun:
    with db.session() as session:
        run = session.scalars(select(CrawlRun).order_by(CrawlRun.id.desc())).first()
        assert run is not None
        return run


def case_log(case_id: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = cli_json("cases", "show", str(case_id))
    return rows


def take_down(site: DemoSite, urls: list[str]) -> None:
    """The site removes the copies: 410 Gone for half of them, 404 for the rest."""
    for n, url in enumerate(urls):
        path = "/" + url.split("/", 3)[3]
        assert path in site.files, path
        site.files[path] = Resource(410 if n % 2 else 404, "text/html", b"<p>removed</p>")


@pytest.mark.slow
@pytest.mark.timeout(600)  # three real crawls (scrapy subprocesses), an SMTP server process
def test_confirmed_hits_to_notice_to_removed_to_staydown_on_a_new_domain(
        home: Settings, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    register_samples(db)
    clock = Clock()
    # Two copies on two pages: the loop is the point, not how many copies it carries (the
    # fixture site's 54 images would be matched in each of the two crawls).
    site = small_site(0)
    first_site = site_copy(site)
    with smtp_server(tmp_path / "smtp", "--auth") as mail, serve_site(first_site) as first:
        for name, value in mail.environment().items():  # the mail server, as operators set it
            monkeypatch.setenv(name, value)
        domain = first.url[7:-1]
        target = watch(db, first.url)
        start = utcnow()
        ok("campaigns", "create", "Loop", "--from", start.isoformat(),
           "--to", (start + timedelta(days=7)).isoformat(), "--targets", str(target))
        ok("contacts", "set", domain, ABUSE)  # staff's address for the site's notices
        ok("notices", "auto", "--on")  # staff's policy: first notices go out by themselves
        # The scheduler's jobs, with the mail server read from the environment as
        # `swordnet scheduler run` reads it.
        jobs.install(jobs.JobContext(db=db, executor=LocalExecutor(db, home, timeout_s=240),
                                     max_concurrent=1, clock=clock, smtp=load_settings().smtp))
        try:
            # The target's standing crawl finds the copies.
            run_job(db, clock, f"target:{target}")
            crawl = last_run(db)
            assert (crawl.outcome, crawl.purpose) == ("finished", "watch"), crawl.error
            pending = cli_json("hits", "list", "--status", "pending")
            assert pending and all(h["url"].startswith(first.url) for h in pending)

            # The one manual step: a reviewer confirms them.
            ok("hits", "confirm", *(str(h["id"]) for h in pending))
            [case] = cli_json("cases", "list")
            case_id = case["id"]
            confirmed = cli_json("hits", "list", "--status", "confirmed")
            assert {h["id"] for h in confirmed} == {h["id"] for h in pending}
            urls = sorted(h["url"] for h in confirmed)

            # Automatic notices are on: the sender job's next run queues a notice to the
            # site's abuse contact and emails it.
            assert case_status(db, case_id) == "open"
            run_job(db, clock, "notices")  # by the scheduler's clock the case is not open yet
            assert mail.messages() == [] and no_notice(db, case_id)
            clock.now = utcnow()  # the sender's next run
            run_job(db, clock, "notices")
            [(envelope, message)] = mail.messages()
            notice = sent_notice(db, case_id)
            assert notice.status == "sent" and envelope["to"] == [ABUSE]
            assert envelope["authenticated"] and envelope["tls"]
            assert message["Message-ID"].strip() == notice.message_id
            assert (notice.server_answer or "").startswith("250 ")
            payload = message.get_payload(decode=True)
            assert isinstance(payload, bytes)
            body = payload.decode()
            evidence = media_sha256(db, case_id)
            assert sorted(evidence) == urls
            for url, sha256 in evidence.items():
                assert url in body and sha256 in body, (url, sha256)
            assert case_status(db, case_id) == "notice_sent"
            assert [e["actor"] for e in case_log(case_id) if e["type"] == "notice_queued"] \
                == ["auto-notice"]
            run_job(db, clock, "notices")  # the next sender run sends nothing again
            assert len(mail.messages()) == 1

            # The site takes the copies down; the recheck job finds them gone.
            take_down(first_site, urls)
            run_job(db, clock, "rechecks")
            recheck = last_run(db)
            assert (recheck.outcome, recheck.purpose) == ("finished", "recheck"), recheck.error
            with db.session() as session:
                statuses = {u.url: u.status for u in session.scalars(
                    select(NoticeUrl).where(NoticeUrl.notice_id == notice.id))}
            assert statuses == {url: "removed" for url in urls}
            with db.session() as session:
                answers = session.scalars(select(RecheckResult.http_status).where(
                    RecheckResult.run_id == recheck.id)).all()
            gone = [410 if n % 2 else 404 for n in range(len(urls))]
            assert sorted(a or 0 for a in answers) == sorted(gone)
            assert case_status(db, case_id) == "removed"
            log = case_log(case_id)
            assert sum(e["type"] == "copy_removed" for e in log) == len(urls)
            assert log[-1]["type"] == "status_changed" and log[-1]["payload"]["to"] == "removed"

            # The same files appear on a new domain; its standing crawl finds them and
            # staydown confirms them into the case, which reopens.
            with serve_site(site_copy(site)) as moved_site:
                moved = moved_site.url.replace("127.0.0.1", "localhost")
                new_target = watch(db, moved)
                run_job(db, clock, f"target:{new_target}")
            crawl = last_run(db)
            assert (crawl.outcome, crawl.purpose) == ("finished", "watch"), crawl.error
        finally:
            jobs.install(None)

    new = [h for h in cli_json("hits", "list") if h["url"].startswith(moved)]
    assert sorted(h["url"].removeprefix(moved) for h in new) == \
        sorted(u.removeprefix(first.url) for u in urls)
    assert all(h["status"] == "confirmed" and h["case_id"] == case_id
               and h["known_by"] == "sha256" and h["reviewer"] == "staydown" for h in new), new
    assert crawl.stats["hits_auto_confirmed"] == len(new)
    assert case_status(db, case_id) == "reopened"
    log = case_log(case_id)
    staydown = [e for e in log if e["actor"] == "staydown"]
    assert {e["payload"]["hit_id"] for e in staydown if e["type"] == "hit_confirmed"} == \
        {h["id"] for h in new}
    [reopened] = [e for e in staydown if e["type"] == "status_changed"]
    assert (reopened["payload"]["from"], reopened["payload"]["to"]) == ("removed", "reopened")
    proposals = cli_json("staydown", "proposals")
    assert [(p["case_id"], p["site"]) for p in proposals] == [(case_id, moved[7:-1])]
    assert "serves the same file" in proposals[0]["reasons"]

    # The custody chain is intact, and the campaign aimed at the first site counts it all.
    assert "intact" in ok("cases", "verify", str(case_id)).lower()
    report = cli_json("campaigns", "report", "Loop")
    expected = {"hits": len(urls), "infringing_urls_confirmed": len(urls), "cases": 1,
                "cases_opened": 1, "notices_sent": 1, "urls_removed": len(urls),
                "cases_removed": 1, "sites_shut_down": 0, "transferred_to_judiciary": 0}
    assert {k: report[k] for k in expected} == expected
    assert math.copysign(1, report["median_days_to_removal"]) == 1  # removed after sending
    assert shown_totals("Loop", report) == expected


def case_status(db: Database, case_id: int) -> str:
    with db.session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        return case.status


def no_notice(db: Database, case_id: int) -> bool:
    with db.session() as session:
        return session.scalar(select(Notice.id).where(Notice.case_id == case_id)) is None


def sent_notice(db: Database, case_id: int) -> Notice:
    with db.session() as session:
        [notice] = session.scalars(select(Notice).where(Notice.case_id == case_id)).all()
        return notice


def media_sha256(db: Database, case_id: int) -> dict[str, str]:
    """Each confirmed URL of the case and the sha256 of its captured copy."""
    with db.session() as session:
        hits = session.scalars(select(Hit).where(Hit.case_id == case_id)).all()
        found = {h.url: h.media_capture.sha256 for h in hits if h.media_capture is not None}
        assert len(found) == len(hits)
        return found

