"""The organiser's CLI commands beside the API and console: pause, resume and remove a watch
target, edit a campaign, start a rapid response; bad input refused in one line with nothing
changed."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from swordnet.core.config import Settings
from swordnet.core.db import Database
from swordnet.core.models import Campaign, WatchTarget
from swordnet.core.timeutil import utcnow
from tests.conftest import run_cli
from tests.pirate_sites import register_samples


def test_targets_are_paused_resumed_and_removed_only_without_history(
        home: Settings, db: Database) -> None:
    assert run_cli("sites", "add", "https://pirate.example/", "--every", "6h").exit_code == 0
    assert run_cli("sites", "add", "https://other.example/").exit_code == 0
    paused = run_cli("sites", "pause", "1")
    assert paused.exit_code == 0 and "paused" in paused.output
    again = run_cli("sites", "pause", "1")
    assert again.exit_code == 1 and "already paused" in again.output
    assert run_cli("sites", "resume", "1").exit_code == 0
    start = utcnow() + timedelta(days=1)
    assert run_cli("campaigns", "create", "Keeps", "--from", start.isoformat(), "--to",
                   (start + timedelta(days=1)).isoformat(), "--targets", "1").exit_code == 0
    refused = run_cli("sites", "remove", "1")
    assert refused.exit_code == 1 and "pause it instead" in refused.output
    removed = run_cli("sites", "remove", "2")
    assert removed.exit_code == 0 and "other.example" in removed.output
    with db.session() as session:
        assert [(t.id, t.enabled) for t in session.scalars(select(WatchTarget))] == [(1, True)]
    depth = run_cli("sites", "add", "https://deep.example/", "--depth", "51")
    assert depth.exit_code == 2 and "--depth" in depth.output


def test_a_campaign_is_edited_and_a_rapid_response_started(home: Settings,
                                                           db: Database) -> None:
    register_samples(db)
    assert run_cli("sites", "add", "https://pirate.example/").exit_code == 0
    start = utcnow() - timedelta(hours=1)
    assert run_cli("campaigns", "create", "Push", "--from", start.isoformat(), "--to",
                   (start + timedelta(days=2)).isoformat(), "--targets", "1").exit_code == 0
    edited = run_cli("campaigns", "edit", "push", "--rename", "Big push", "--every", "15m")
    assert edited.exit_code == 0, edited.output
    moved = run_cli("campaigns", "edit", "Big push", "--from", utcnow().isoformat())
    assert moved.exit_code == 1 and "running" in moved.output

    no_search = run_cli("campaigns", "rapid", "--sites", "1", "--works", "1")
    assert no_search.exit_code == 1 and "no search template" in no_search.output
    assert run_cli("sites", "add", "https://pirate.example/", "--spider", "search",
                   "--search-template", "https://pirate.example/?s={query}").exit_code == 0
    started = run_cli("campaigns", "rapid", "--sites", "1", "--works", "1,2", "--hours", "3",
                      "--name", "Leak")
    assert started.exit_code == 0, started.output
    with db.session() as session:
        campaign = session.scalars(select(Campaign).where(Campaign.name == "Leak")).one()
        assert campaign.every_seconds == 300
        assert campaign.ends_at - campaign.starts_at == timedelta(hours=3)
        spiders = sorted((t.spider, tuple(t.work_ids), t.enabled) for t in campaign.targets)
        assert spiders == [("search", (1, 2), False), ("site", (), True)]
        big = session.scalars(select(Campaign).where(Campaign.name == "Big push")).one()
        assert big.every_seconds == 900
