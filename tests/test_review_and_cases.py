"""Reviewing hits and the hash-chained case log, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from casefiles.custody import GENESIS_HASH, first_broken_link
from swordnet.core.config import Settings
from swordnet.core.db import Database
from swordnet.core.models import CaseEvent
from swordnet.demo.site import DemoSite
from tests.conftest import BACKENDS, run_cli
from tests.crawled import fixture_crawl


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                 tmp_path: Path, fixture_site: DemoSite) -> Iterator[str]:
    """A copy of the fixture site crawled once per test run and backend; its home is copied
    to ``tmp_path / "home"``, which is the test's home (the ``home`` fixture)."""
    with fixture_crawl(request.param, tmp_path_factory, fixture_site).copy(tmp_path) as copy:
        yield copy.database_url


@pytest.fixture
def crawled(home: Settings, db: Database) -> list[dict[str, object]]:
    """The hits of a crawl of the fixture site, in a database of the test's own."""
    return json.loads(run_cli("hits", "list", "--json").output)


def test_hit_list_fields_and_filters(crawled: list[dict[str, object]]) -> None:
    assert len(crawled) == 42
    assert set(crawled[0]) >= {"id", "work_id", "work_title", "url", "page_url", "algorithm",
                               "score", "stage", "status"}
    assert {h["status"] for h in crawled} == {"pending"}
    assert json.loads(run_cli("hits", "list", "--status", "confirmed", "--json").output) == []


def test_confirm_opens_one_case_per_site_with_a_valid_chain(
    crawled: list[dict[str, object]], db: Database
) -> None:
    ids = [str(h["id"]) for h in crawled[:3]]
    result = run_cli("hits", "confirm", *ids, "--reviewer", "alice")
    assert result.exit_code == 0, result.output
    assert result.output.count("(case 1)") == 3
    [case] = json.loads(run_cli("cases", "list", "--json").output)
    assert (case["hits"], case["events"], case["custody_log"]) == (3, 4, "intact")
    with db.session() as session:
        events = session.scalars(select(CaseEvent).order_by(CaseEvent.seq)).all()
        assert [e.type for e in events] == ["case_opened"] + ["hit_confirmed"] * 3
        assert events[0].prev_hash == GENESIS_HASH
        assert all(b.prev_hash == a.hash for a, b in zip(events, events[1:], strict=False))
        assert {e.actor for e in events} == {"alice"}
        assert first_broken_link(events) is None
        events[2].payload = {**events[2].payload, "url": "http://elsewhere.example/x.jpg"}
    with db.session() as session:
        tampered = session.scalars(select(CaseEvent)).all()
        assert first_broken_link(tampered) == 3
    shown = run_cli("cases", "show", "1")
    assert "Custody log broken at event 3" in shown.output


def test_review_refusals(crawled: list[dict[str, object]]) -> None:
    hit_id = str(crawled[0]["id"])
    assert run_cli("hits", "reject", hit_id).exit_code == 0
    again = run_cli("hits", "confirm", hit_id)
    assert again.exit_code == 1
    assert again.output.strip() == (
        f"Error: hit {hit_id} is already rejected; only pending hits can be confirmed")
    unknown = run_cli("hits", "confirm", "99999")
    assert unknown.exit_code == 1 and unknown.output.strip() == "Error: no hit with id 99999"
    assert json.loads(run_cli("cases", "list", "--json").output) == []
