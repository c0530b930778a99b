"""Review decisions taken at the same moment serialise, on SQLite and PostgreSQL.

Of a confirm and a reject sent together exactly one wins and the other is refused as a
conflict; confirmations of different hits on one site open one case; an undo racing other
decisions leaves a history that some one-at-a-time order would have produced. Each racer is
a thread with its own session, and all of a race's threads are released by one barrier.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta

import click
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from casefiles.custody import first_broken_link
from casefiles.lifecycle import get_case, transition
from casefiles.notices import record_notice
from casefiles.review import confirm_hit, reject_hit, undo_decision
from swordnet.accounts.users import add_user, create_token
from swordnet.cli.main import main
from swordnet.core.config import Settings
from swordnet.core.db import Database
from swordnet.core.errors import SwordnetError
from swordnet.core.models import Case, CaseEvent, Hit, HitDecision, NoticeUrl, Site
from swordnet.demo.samples import sample_files
from swordnet.web.app import API_PREFIX, create_app
from swordnet.works.registry import delete_work_and_hits, register_work

DECIDE: dict[str, Callable[[Session, int, str], object]] = {
    "confirm": confirm_hit, "reject": reject_hit, "undo": undo_decision}
# At most this many threads race at once: the engine's connection pool holds 15, and a
# thread waiting for a connection would not be racing.
RACERS = 12


def add_hits(db: Database, count: int, sites: int = 1, sample: int = 0) -> list[int]:
    """``count`` pending hits of a newly registered sample work (the ``sample``-th), spread
    over ``sites`` new sites."""
    path, title = sample_files()[sample]
    with db.session() as session:
        work = register_work(session, path.read_bytes(), title=title, holder_name="H").work
        first_site = len(session.scalars(select(Site.id)).all())
        domains = [Site(domain=f"pirate{first_site + n}.test") for n in range(sites)]
        session.add_all(domains)
        session.flush()
        hits = [Hit(work_id=work.id, site_id=domains[n % sites].id,
                    url=f"http://{domains[n % sites].domain}/{n}.jpg", algorithm="phash",
                    score=4) for n in range(count)]
        session.add_all(hits)
        session.flush()
        return [hit.id for hit in hits]


def race(calls: list[Callable[[], object]]) -> list[str | None]:
    """Run ``calls`` at once, one thread each, released together by a barrier. Returns, per
    call, None if it succeeded or the message it was refused with (a ``SwordnetError``, such
    as a ``ReviewError``); any other exception fails the test."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[str | None] = [None] * len(calls)
    crashes: list[BaseException] = []

    def run(index: int, call: Callable[[], object]) -> None:
        barrier.wait()
        try:
            call()
        except SwordnetError as exc:
            outcomes[index] = str(exc)
        except BaseException as exc:  # noqa: BLE001 - reported in the test's thread below
            crashes.append(exc)

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if crashes:
        raise crashes[0]
    return outcomes


def decision(db: Database, action: str, hit_id: int, actor: str) -> Callable[[], object]:
    """One decision in a unit of work of its own, as one CLI command or API request takes it."""
    def decide() -> object:
        with db.session() as session:
            return DECIDE[action](session, hit_id, actor)
    return decide


def assert_serial_history(session: Session) -> None:
    """Everything stored is what deciding one at a time would have stored: each hit's
    decisions follow on from each other and end at its status; its case events match its
    decisions; only a confirmed hit is in a case; a site has one open case with one
    ``case_opened`` event, an intact custody log and as many hits as its events say."""
    decisions: dict[int, list[HitDecision]] = {}
    for row in session.scalars(select(HitDecision).order_by(HitDecision.id)):
        decisions.setdefault(row.hit_id, []).append(row)
    events = session.scalars(select(CaseEvent).order_by(CaseEvent.case_id, CaseEvent.seq)).all()
    hit_events: dict[int, list[str]] = {}
    for event in events:
        if event.type in ("hit_confirmed", "hit_unconfirmed"):
            hit_events.setdefault(event.payload["hit_id"], []).append(event.type)
    for hit in session.scalars(select(Hit)):
        status, expected_events = "pending", []
        for row in decisions.get(hit.id, []):
            assert row.previous_status == status, f"hit {hit.id} decided twice from {status}"
            if row.decision == "confirmed":
                expected_events.append("hit_confirmed")
            elif status == "confirmed":
                expected_events.append("hit_unconfirmed")
            status = "pending" if row.decision == "undone" else row.decision
        assert hit.status == status
        assert hit_events.get(hit.id, []) == expected_events, f"hit {hit.id}"
        assert (hit.case_id is not None) == (status == "confirmed"), f"hit {hit.id}"
    cases = session.scalars(select(Case)).all()
    assert len({case.site_id for case in cases}) == len(cases), "two cases for one site"
    hits_in_case = Counter(session.scalars(select(Hit.case_id)
                                           .where(Hit.case_id.is_not(None))).all())
    for case in cases:
        log = [event for event in events if event.case_id == case.id]
        types = Counter(event.type for event in log)
        assert types["case_opened"] == 1 and log[0].type == "case_opened"
        assert first_broken_link(log) is None
        assert hits_in_case[case.id] == types["hit_confirmed"] - types["hit_unconfirmed"]


def confirm_and_reject_together(db: Database, pairs: int) -> None:
    """``pairs`` hits over three sites, each confirmed and rejected at the same moment."""
    hit_ids = add_hits(db, pairs, sites=3)
    for start in range(0, pairs, RACERS // 2):
        batch = hit_ids[start:start + RACERS // 2]
        outcomes = race([decision(db, action, hit_id, action + "er")
                         for hit_id in batch for action in ("confirm", "reject")])
        for hit_id, confirmed, rejected in zip(batch, outcomes[::2], outcomes[1::2],
                                               strict=True):
            assert [confirmed, rejected].count(None) == 1, \
                f"hit {hit_id}: both or neither decision won ({confirmed!r}, {rejected!r})"
            refusal = confirmed or rejected
            assert refusal in (
                f"hit {hit_id} is already rejected; only pending hits can be confirmed",
                f"hit {hit_id} is already confirmed; only pending hits can be rejected")
    with db.session() as session:
        per_hit = Counter(session.scalars(select(HitDecision.hit_id)).all())
        assert per_hit == dict.fromkeys(hit_ids, 1)
        assert_serial_history(session)
        hits = session.scalars(select(Hit)).all()
        assert {hit.reviewer for hit in hits} == {
            "confirmer" if hit.status == "confirmed" else "rejecter" for hit in hits}
        assert all(hit.case_id is None for hit in hits if hit.status == "rejected")


def test_a_confirm_and_a_reject_sent_together_have_one_winner(db: Database) -> None:
    confirm_and_reject_together(db, 36)


@pytest.mark.slow
def test_200_concurrent_confirm_reject_pairs_make_no_double_decision(db: Database) -> None:
    confirm_and_reject_together(db, 200)


def test_concurrent_confirmations_on_one_site_open_one_case(db: Database) -> None:
    """Twelve confirmations at once of different hits on one new site, on four sites."""
    rounds = 4
    hit_ids = add_hits(db, RACERS * rounds, sites=rounds)
    for site in range(rounds):  # add_hits spreads hits round-robin over the sites
        on_site = hit_ids[site::rounds]
        assert race([decision(db, "confirm", hit_id, "ann") for hit_id in on_site]) == \
            [None] * len(on_site)
    with db.session() as session:
        cases = session.scalars(select(Case)).all()
        assert len(cases) == rounds
        assert Counter(session.scalars(select(Hit.case_id))) == \
            dict.fromkeys((case.id for case in cases), RACERS)
        assert_serial_history(session)


def test_status_changes_and_confirmations_sent_together_keep_one_custody_log(
        db: Database) -> None:
    """The same status change of one case twice and confirmations of hits into it, all at
    once: one status change wins (the other finds the case moved on), every confirmation
    joins the case, and the custody log stays one unbroken chain."""
    hit_ids = add_hits(db, RACERS)
    with db.session() as session:
        case_id = confirm_hit(session, hit_ids[0], "ann").id

    def change(to: str) -> Callable[[], object]:
        def move() -> object:
            with db.session() as session:
                return transition(session, get_case(session, case_id), to, "ann", "racing")
        return move

    with db.session() as session:  # a notice sent by staff's own channel: notice_sent
        record_notice(session, case_id, "abuse@pirate.test", "dmca-en", "ann")
    outcomes = race([change("no_response"), change("no_response"),
                     *(decision(db, "confirm", hit_id, "bo") for hit_id in hit_ids[1:11])])
    assert sum(outcome is None for outcome in outcomes[:2]) == 1, outcomes[:2]
    assert "cannot become" in next(outcome for outcome in outcomes[:2] if outcome)
    assert outcomes[2:] == [None] * 10
    with db.session() as session:
        assert session.get(Case, case_id).status == "no_response"
        events = session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id)
                                 .order_by(CaseEvent.seq)).all()
        assert [event.seq for event in events] == list(range(1, len(events) + 1))
        assert first_broken_link(events) is None
        assert [event.type for event in events].count("status_changed") == 2  # notice, race
        assert_serial_history(session)


def test_undo_racing_other_decisions_leaves_a_one_at_a_time_history(db: Database) -> None:
    """Per hit a confirm, a reject and two undos at once: any of them may win, in any order,
    but no decision is taken from a status the hit no longer had."""
    hit_ids = add_hits(db, 12, sites=2)
    actions = ("confirm", "reject", "undo", "undo")
    for start in range(0, len(hit_ids), RACERS // len(actions)):
        batch = hit_ids[start:start + RACERS // len(actions)]
        race([decision(db, action, hit_id, f"{action}{n}") for hit_id in batch
              for n, action in enumerate(actions)])
    confirmed = hit_ids[:6]  # then two undos of each confirmation at once: one wins
    with db.session() as session:
        for hit_id in confirmed:
            status = session.get(Hit, hit_id).status
            if status == "rejected":
                undo_decision(session, hit_id, "ann")
            if status != "confirmed":
                confirm_hit(session, hit_id, "ann")
    outcomes = race([decision(db, "undo", hit_id, f"bo{n}") for hit_id in confirmed
                     for n in range(2)])
    assert [pair.count(None) for pair in zip(outcomes[::2], outcomes[1::2], strict=True)] == \
        [1] * len(confirmed)
    with db.session() as session:
        assert_serial_history(session)
        assert {session.get(Hit, hit_id).status for hit_id in confirmed} == {"pending"}


@pytest.fixture
def api(home: Settings, db: Database) -> Iterator[tuple[TestClient, str]]:
    """The app on the test's database, and a staff user's API token."""
    with db.session() as session:
        add_user(session, "reviewer", "a long enough password", "staff")
        token = create_token(session, "reviewer", "t", timedelta(hours=1)).secret
    app = create_app(home, db)
    with TestClient(app) as client:
        yield client, token


def test_over_the_api_the_losing_decision_gets_409(api: tuple[TestClient, str],
                                                 db: Database) -> None:
    client, token = api
    hit_ids = add_hits(db, 36)
    responses: dict[tuple[int, str], tuple[int, str]] = {}

    def post(hit_id: int, action: str) -> Callable[[], object]:
        def send() -> None:
            response = client.post(f"{API_PREFIX}/hits/{hit_id}/{action}",
                                   headers={"Authorization": f"Bearer {token}"})
            body = response.json()
            responses[hit_id, action] = (response.status_code,
                                         body.get("detail") or body["status"])
        return send

    for start in range(0, len(hit_ids), RACERS // 2):
        race([post(hit_id, action) for hit_id in hit_ids[start:start + RACERS // 2]
              for action in ("confirm", "reject")])
    for hit_id in hit_ids:
        codes = sorted(responses[hit_id, action] for action in ("confirm", "reject"))
        (won, status), (lost, detail) = codes
        assert (won, lost) == (200, 409), codes
        assert detail == f"hit {hit_id} is already {status}; only pending hits can be " + \
            ("rejected" if status == "confirmed" else "confirmed")
    with db.session() as session:
        assert_serial_history(session)


def test_bulk_decisions_sent_together_decide_each_hit_once(api: tuple[TestClient, str],
                                                           db: Database) -> None:
    client, token = api
    hit_ids = add_hits(db, 24, sites=2)
    results: dict[str, dict] = {}

    def bulk(action: str) -> Callable[[], object]:
        def send() -> None:
            response = client.post(f"{API_PREFIX}/hits/bulk", json={"action": action,
                                                                    "ids": hit_ids},
                                   headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200, response.text
            results[action] = response.json()
        return send

    for _ in range(3):
        race([bulk("confirm"), bulk("reject")])
        decided = results["confirm"]["decided"] + results["reject"]["decided"]
        assert sorted(decided) == hit_ids
        assert len(results["confirm"]["errors"]) + len(results["reject"]["errors"]) == \
            len(hit_ids)
        with db.session() as session:
            assert_serial_history(session)
            for hit_id in hit_ids:
                undo_decision(session, hit_id, "ann")


def test_a_notice_and_undos_sent_together_never_name_an_undone_hit(db: Database) -> None:
    hit_ids = add_hits(db, (RACERS - 1) * 3, sites=3)
    with db.session() as session:
        case_ids = [confirm_hit(session, hit_id, "ann").id for hit_id in hit_ids]

    def notice(case_id: int) -> Callable[[], object]:
        def send() -> object:
            with db.session() as session:
                return record_notice(session, case_id, "abuse@pirate.test", "dmca-en", "ann")
        return send

    for site in range(3):
        on_site = hit_ids[site::3]
        race([notice(case_ids[site]), *(decision(db, "undo", hit_id, "bo")
                                         for hit_id in on_site)])
    with db.session() as session:
        assert_serial_history(session)
        named = session.scalars(select(NoticeUrl.hit_id)).all()
        assert {session.get(Hit, hit_id).status for hit_id in named} == {"confirmed"}


def test_from_the_cli_the_losing_decision_is_a_one_line_error(home: Settings,
                                                              db: Database) -> None:
    hit_ids = add_hits(db, 12)

    def cli(action: str, hit_id: int) -> Callable[[], object]:
        """``swordnet hits ACTION HIT_ID`` as the shell runs it, its refusal as a
        SwordnetError that holds the exit status and message."""
        def run() -> None:
            try:
                main.main(["hits", action, str(hit_id)], standalone_mode=False)
            except click.ClickException as exc:
                raise SwordnetError(f"exit {exc.exit_code}: {exc.format_message()}") from exc
        return run

    for start in range(0, len(hit_ids), RACERS // 2):
        batch = hit_ids[start:start + RACERS // 2]
        outcomes = race([cli(action, hit_id) for hit_id in batch
                         for action in ("confirm", "reject")])
        for hit_id, confirmed, rejected in zip(batch, outcomes[::2], outcomes[1::2],
                                               strict=True):
            assert (confirmed, rejected).count(None) == 1, (hit_id, confirmed, rejected)
            assert (confirmed or rejected) in (
                f"exit 1: hit {hit_id} is already rejected; only pending hits can be confirmed",
                f"exit 1: hit {hit_id} is already confirmed; only pending hits can be rejected")
    with db.session() as session:
        assert_serial_history(session)


def test_a_work_deleted_while_its_hit_is_confirmed_keeps_the_evidence(db: Database) -> None:
    """Deleting a work and confirming one of its hits at once: either the confirmation wins
    and the work is kept, or the deletion wins and the confirmation finds no hit; a confirmed
    hit is never deleted."""
    works = len(sample_files())
    hits = [add_hits(db, 2, sample=sample) for sample in range(works)]

    def delete(hit_id: int) -> Callable[[], object]:
        def run() -> None:
            with db.session() as session:
                delete_work_and_hits(session, session.get(Hit, hit_id).work)
        return run

    for first, second in hits:
        outcomes = race([delete(first), decision(db, "confirm", first, "ann"),
                         decision(db, "confirm", second, "ann")])
        assert outcomes.count(None) in (1, 2), outcomes
    with db.session() as session:
        confirmed = session.scalars(select(CaseEvent.payload)
                                    .where(CaseEvent.type == "hit_confirmed")).all()
        assert len(confirmed) == len(session.scalars(select(Hit).where(
            Hit.status == "confirmed")).all()), "a confirmed hit was deleted"
        assert_serial_history(session)
