"""Watch targets from the CLI: every spider and setting stored; bad settings refused in one
line, with nothing written."""

from __future__ import annotations

import json

import pytest

from swordnet.core.config import Settings
from swordnet.core.db import Database
from swordnet.core.models import WatchTarget
from tests.conftest import run_cli


def test_a_target_keeps_every_setting_it_was_given(home: Settings, db: Database) -> None:
    result = run_cli("sites", "add", "https://pirate.example/", "--spider", "search",
                     "--search-template", "https://pirate.example/s?q={query}",
                     "--mirror", "Pirate2.example", "--mirror", "127.0.0.1:8081",
                     "--allow", r"/films/\d+", "--deny", "/forum/", "--obey-robots",
                     "--delay", "1.5", "--concurrency", "2", "--time-cap", "30m",
                     "--screenshot", "--depth", "1")
    assert result.exit_code == 0, result.output
    assert "search spider" in result.output
    with db.session() as session:
        target = session.query(WatchTarget).one()
        assert (target.spider, target.search_template) == (
            "search", "https://pirate.example/s?q={query}")
        assert target.mirror_domains == ["pirate2.example", "127.0.0.1:8081"]
        assert (target.allow_patterns, target.deny_patterns) == ([r"/films/\d+"], ["/forum/"])
        assert (target.obey_robots, target.delay_s, target.concurrency) == (True, 1.5, 2)
        assert (target.time_cap_s, target.depth) == (1800, 1)
        assert target.screenshot and target.render_js  # screenshots need the browser
    # the same URL may be watched by another spider, not twice by one
    assert run_cli("sites", "add", "https://pirate.example/").exit_code == 0
    again = run_cli("sites", "add", "https://pirate.example/")
    assert again.exit_code == 1 and "already on the watchlist" in again.output


@pytest.mark.parametrize(("args", "message"), [
    (["--allow", "/films/("], "not a valid regular expression: '/films/('"),
    (["--deny", "[a-"], "not a valid regular expression: '[a-'"),
    (["--mirror", "https://mirror.example/"], "not a host name: 'https://mirror.example/'"),
    (["--spider", "search"], "a search target needs --search-template"),
    (["--spider", "search", "--search-template", "https://p.example/s"],
     "search template needs one {query} placeholder"),
    (["--spider", "search", "--search-template", "ftp://p.example/?q={query}"],
     "not an http(s) URL"),
    (["--spider", "search", "--search-template", "https://p.example/?q={query}",
      "--work", "99"], "no work with id 99"),
    (["--spider", "spiderman"], "Invalid value for '--spider'"),
    (["--time-cap", "soon"], "not an interval: 'soon'"),
    (["--delay", "-1"], "Invalid value for '--delay'"),
])
def test_bad_target_settings_are_refused_and_nothing_is_written(
        home: Settings, db: Database, args: list[str], message: str) -> None:
    result = run_cli("sites", "add", "https://pirate.example/", *args)
    assert result.exit_code != 0
    assert message in result.output
    assert len([line for line in result.output.splitlines() if "Error" in line]) == 1
    assert json.loads(run_cli("sites", "list", "--json").output) == []
