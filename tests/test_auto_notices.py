"""Automatic notices: the scheduler's sender queues a case's first notice by itself, to the
site's known abuse contact, and emails it in the same run (a real SMTP server, aiosmtpd in
its own process); a case without a contact is skipped and reported; nothing is queued twice,
not even by two sender runs racing."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from casefiles import auto_notices
from casefiles.auto_notices import queue_due
from scheduler import jobs
from swordnet.accounts.users import add_user, create_token
from swordnet.core.config import Settings, load_smtp
from swordnet.core.db import Database
from swordnet.core.models import AbuseContact, Case, CaseEvent, Notice, Site
from swordnet.core.timeutil import utcnow
from swordnet.web.app import API_PREFIX, create_app
from tests.conftest import run_cli
from tests.smtp_server import SmtpServer, smtp_server
from tests.test_case_lifecycle import confirm, make_hits
from tests.test_notice_delivery import PASSPHRASE, SENDER, Clock, case_with_evidence


def ok(*args: str) -> str:
    result = run_cli(*args)
    assert result.exit_code == 0, result.output
    return result.output


@contextmanager
def sender_job(db: Database, server: SmtpServer, clock: Clock) -> Iterator[None]:
    """The scheduler's jobs, with its mail server and clock."""
    jobs.install(jobs.JobContext(db=db, executor=None, max_concurrent=1,  # type: ignore[arg-type]
                                 clock=clock, smtp=load_smtp(server.environment())))
    try:
        yield
    finally:
        jobs.install(None)


def notices_of(db: Database, case_id: int) -> list[Notice]:
    with db.session() as session:
        return list(session.scalars(select(Notice).where(Notice.case_id == case_id)
                                    .order_by(Notice.id)))


def case_status(db: Database, case_id: int) -> str:
    with db.session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        return case.status


def later(minutes: int = 1) -> Clock:
    """A clock just after the cases made so far were opened."""
    clock = Clock()
    clock.now = utcnow() + timedelta(minutes=minutes)
    return clock


def test_off_by_default_nothing_is_queued(home: Settings, db: Database,
                                          tmp_path: Path) -> None:
    case_id = case_with_evidence(db)
    ok("contacts", "set", "pirate.example", "abuse@pirate.example")
    assert "Automatic notices: off, template dmca-en, 0 hour(s)" in ok("notices", "auto")
    with smtp_server(tmp_path / "smtp", "--auth") as server, \
            sender_job(db, server, later()):
        jobs.send_notices()
        assert server.messages() == []
    assert notices_of(db, case_id) == [] and case_status(db, case_id) == "open"


def test_on_a_case_with_a_contact_gets_one_notice_sent_and_one_without_is_reported(
        home: Settings, db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    staffs = case_with_evidence(db, "pirate.example")
    rdaps = case_with_evidence(db, "rdap-pirate.example")
    lonely = case_with_evidence(db, "lonely.example")
    ok("contacts", "set", "pirate.example", "abuse@pirate.example")
    with db.session() as session:  # an RDAP lookup stored earlier by `contacts show`
        site = session.scalar(select(Site).where(Site.domain == "rdap-pirate.example"))
        assert site is not None
        session.add(AbuseContact(site_id=site.id, source="rdap-domain", subject=site.domain,
                                 outcome="found", email="abuse@registrar.example",
                                 looked_up_at=utcnow()))
    shown = ok("notices", "auto", "--on")
    assert "Automatic notices: on, template dmca-en, 0 hour(s) after a case opens." in shown
    clock = later()
    with smtp_server(tmp_path / "smtp", "--auth") as server, sender_job(db, server, clock):
        with caplog.at_level(logging.INFO, logger="swordnet.scheduler"):
            jobs.send_notices()
        arrived = sorted(envelope["to"][0] for envelope, _ in server.messages())
        assert arrived == ["abuse@pirate.example", "abuse@registrar.example"]
        for case_id in (staffs, rdaps):
            [notice] = notices_of(db, case_id)
            assert (notice.status, notice.delivery, notice.template) == ("sent", "email",
                                                                         "dmca-en")
            assert case_status(db, case_id) == "notice_sent"
            with db.session() as session:
                queued = session.scalar(select(CaseEvent).where(
                    CaseEvent.case_id == case_id, CaseEvent.type == "notice_queued"))
                assert queued is not None and queued.actor == "auto-notice"
        assert notices_of(db, lonely) == [] and case_status(db, lonely) == "open"
        assert "1 case(s) skipped; case " in caplog.text
        assert "no abuse contact known for lonely.example" in caplog.text
        status = ok("notices", "auto")
        assert f"case {lonely}: no abuse contact known for lonely.example" in status
        assert "queued notice" in status and "1 case(s) skipped." in status

        # The next run queues nothing again; hits confirmed after the first notice wait
        # for staff.
        confirm(db, make_hits(db, "http://pirate.example/", ["A later upload"]))
        clock.now += timedelta(minutes=1)
        jobs.send_notices()
        assert len(server.messages()) == 2
        assert len(notices_of(db, staffs)) == 1 and len(notices_of(db, rdaps)) == 1
        # Once its site has a contact, the skipped case gets its notice.
        ok("contacts", "set", "lonely.example", "abuse@lonely.example")
        jobs.send_notices()
        assert [e["to"] for e, _ in server.messages()][-1] == ["abuse@lonely.example"]
        assert [n.status for n in notices_of(db, lonely)] == ["sent"]
    status = ok("notices", "auto")
    assert "0 case(s) skipped." in status and "lonely.example" not in status


def test_the_notice_waits_after_hours_and_bad_settings_are_refused(
        home: Settings, db: Database, tmp_path: Path) -> None:
    case_id = case_with_evidence(db)
    ok("contacts", "set", "pirate.example", "abuse@pirate.example")
    ok("notices", "auto", "--on", "--after-hours", "2", "--template", "admin-zh")
    for bad, named in ((("--after-hours", "-1"), "-1"), (("--template", "nope"), "'nope'"),
                       (("--after-hours", "100000"), "100000")):
        result = run_cli("notices", "auto", "--off", *bad)
        assert result.exit_code != 0 and named in result.output, result.output
    assert "on, template admin-zh, 2 hour(s)" in ok("notices", "auto")  # unchanged
    clock = later()
    with smtp_server(tmp_path / "smtp", "--auth") as server, sender_job(db, server, clock):
        jobs.send_notices()
        assert server.messages() == [] and notices_of(db, case_id) == []
        clock.now += timedelta(hours=2)
        jobs.send_notices()
        [(envelope, _)] = server.messages()
    assert envelope["to"] == ["abuse@pirate.example"]
    [notice] = notices_of(db, case_id)
    assert (notice.template, notice.status) == ("admin-zh", "sent")


def test_two_sender_runs_racing_queue_one_notice(home: Settings, db: Database,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    case_id = case_with_evidence(db)
    ok("contacts", "set", "pirate.example", "abuse@pirate.example")
    ok("notices", "auto", "--on")
    both_read = threading.Barrier(2, timeout=60)
    read_candidates = auto_notices.candidates

    def candidates_then_wait(session: Session, opened_by: datetime) -> list[int]:
        found = read_candidates(session, opened_by)
        both_read.wait()  # each run has seen the case without a notice
        return found

    monkeypatch.setattr(auto_notices, "candidates", candidates_then_wait)
    now = later()()
    reports: list[auto_notices.AutoReport] = []

    def run() -> None:
        reports.append(queue_due(db, SENDER, None, now))

    runs = [threading.Thread(target=run) for _ in range(2)]
    for thread in runs:
        thread.start()
    for thread in runs:
        thread.join()
    assert len(reports) == 2
    assert sorted(len(r.queued) for r in reports) == [0, 1]
    assert [n.status for n in notices_of(db, case_id)] == ["queued"]
    with db.session() as session:
        queued = session.scalars(select(CaseEvent.type).where(
            CaseEvent.case_id == case_id, CaseEvent.type == "notice_queued")).all()
    assert len(queued) == 1
    # Hits confirmed while the case's first notice is still queued are not noticed by a
    # later run either: they wait for staff.
    confirm(db, make_hits(db, "http://pirate.example/", ["A later upload"]))
    assert case_status(db, case_id) == "open"
    monkeypatch.setattr(auto_notices, "candidates", read_candidates)
    assert queue_due(db, SENDER, None, now + timedelta(minutes=1)).queued == []
    assert len(notices_of(db, case_id)) == 1


def test_the_policy_over_the_api_is_staff_only(home: Settings, db: Database) -> None:
    lonely = case_with_evidence(db, "lonely.example")
    with db.session() as session:
        add_user(session, "lead", PASSPHRASE, "staff")
        add_user(session, "studio", PASSPHRASE, "rights_holder", "Studio")
        staff = {"Authorization": f"Bearer {create_token(session, 'lead', 't').secret}"}
        holder = {"Authorization": f"Bearer {create_token(session, 'studio', 't').secret}"}
    with TestClient(create_app(home, db)) as client:
        url = f"{API_PREFIX}/notices/auto"
        shown = client.get(url, headers=staff)
        assert shown.status_code == 200, shown.text
        assert shown.json() == {"enabled": False, "template": "dmca-en", "after_hours": 0,
                                "last_run_at": None, "last_queued": [], "last_skipped": []}
        assert client.get(url, headers=holder).status_code == 403
        assert client.put(url, headers=holder, json={"enabled": True}).status_code == 403
        bad = client.put(url, headers=staff, json={"template": "nope"})
        assert bad.status_code == 404 and "nope" in bad.text
        assert client.put(url, headers=staff, json={"after_hours": -1}).status_code == 422
        changed = client.put(url, headers=staff, json={"enabled": True, "after_hours": 3})
        assert changed.status_code == 200, changed.text
        assert (changed.json()["enabled"], changed.json()["after_hours"],
                changed.json()["template"]) == (True, 3, "dmca-en")
        queue_due(db, SENDER, None, utcnow() + timedelta(hours=4))
        last = client.get(url, headers=staff).json()
        assert last["last_queued"] == [] and [s["case_id"] for s in last["last_skipped"]] == \
            [lonely]
        assert "lonely.example" in last["last_skipped"][0]["reason"]
    assert "on, template dmca-en, 3 hour(s)" in ok("notices", "auto")
