"""Crawler-trap guards: session ids out of URLs, caps on depth, repeats, length and patterns."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from crawlers.traps import (
    MAX_SAMPLES,
    REASONS,
    TrapGuard,
    canonical_url,
    had_session_id,
    looks_like_token,
)

TOKEN = "9f86d081884c7d659a2feaa0c55ad015"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://a.test/x?jsessionid=ABC&id=1", "http://a.test/x?id=1"),
        ("http://a.test/x?id=1&PHPSESSID=abc123", "http://a.test/x?id=1"),
        ("http://a.test/x?SessionID=1&b=2&session_id=3", "http://a.test/x?b=2"),
        ("http://a.test/x?session=xyz", "http://a.test/x"),
        ("http://a.test/x?ASPSESSIONIDQSDTRCBS=KJHGF&y=1", "http://a.test/x?y=1"),
        ("http://a.test/x?CFID=12345&CFTOKEN=67890&page=3", "http://a.test/x?page=3"),
        (f"http://a.test/x?s={TOKEN}&page=3", "http://a.test/x?page=3"),
        (f"http://a.test/x?page=3&SID={TOKEN.upper()}", "http://a.test/x?page=3"),
        ("http://a.test/x?sid=550e8400-e29b-41d4-a716-446655440000", "http://a.test/x"),
        ("http://a.test/x?sid=1234567890123456", "http://a.test/x"),
    ],
)
def test_session_query_parameters_are_removed(url: str, expected: str) -> None:
    assert canonical_url(url) == expected
    assert had_session_id(url)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://a.test/films;jsessionid=0A1B2C3D", "http://a.test/films"),
        ("http://a.test/films;JSESSIONID=0A1B2C3D?page=2", "http://a.test/films?page=2"),
        ("http://a.test/a;jsessionid=X/b.html", "http://a.test/a/b.html"),
        ("http://a.test/a;v=2;phpsessid=zz;w=3/b", "http://a.test/a;v=2;w=3/b"),
        (f"http://a.test/a;sid={TOKEN}", "http://a.test/a"),
    ],
)
def test_session_path_parameters_are_removed(url: str, expected: str) -> None:
    assert canonical_url(url) == expected
    assert had_session_id(url)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://a.test/(S(lit3py55t21z5v55vlm25s55))/default.aspx", "http://a.test/default.aspx"),
        (
            "http://a.test/app/(X(1)S(abc)A(d-e_f))/page.aspx?id=4",
            "http://a.test/app/page.aspx?id=4",
        ),
        ("http://a.test/(S(lit3py55t21z5v55vlm25s55))", "http://a.test/"),
        ("http://a.test/(S(abc))/(S(def))/x", "http://a.test/x"),
    ],
)
def test_aspnet_cookieless_segments_are_removed(url: str, expected: str) -> None:
    assert canonical_url(url) == expected
    assert had_session_id(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://a.test/?s=batman",
        "http://a.test/search?s=spiderman2homecoming",
        "http://a.test/list?page=2",
        "http://a.test/watch?id=7&lang=zh",
        "http://a.test/x?sid=3",
        "http://a.test/x?b=2&a=1&a=1&&z",  # order, duplicates and empties are kept
        "http://a.test/x?session",  # a bare name carries no id
        "http://a.test/Films%20HD/(2019)/x;v=1?q=a%2Fb+c",
        "http://user@A.Test:8080/x",
        "http://a.test",
        "http://a.test/?",
        "/relative/path;jsession=notquite?x=1",
    ],
)
def test_other_urls_are_untouched(url: str) -> None:
    assert canonical_url(url) == url
    assert not had_session_id(url)


def test_fragment_is_dropped_without_counting_as_a_session_id() -> None:
    assert canonical_url("http://a.test/x?s=batman#comments") == "http://a.test/x?s=batman"
    assert canonical_url(f"http://a.test/x?s={TOKEN}#p?PHPSESSID=1") == "http://a.test/x"
    assert not had_session_id("http://a.test/x#top")


def test_session_per_request_urls_collapse_to_one() -> None:
    urls = [f"http://a.test/film/9?PHPSESSID={n:032x}" for n in range(100)]
    assert {canonical_url(u) for u in urls} == {"http://a.test/film/9"}


def test_token_heuristic() -> None:
    assert not looks_like_token("batman")
    assert not looks_like_token("avengersendgame2019")
    assert not looks_like_token("a1b2c3d4e5f6g7h")  # 15 characters: too short
    assert looks_like_token("k3j4h5g6f7d8s9a0")
    assert looks_like_token(TOKEN)


def test_segment_cap() -> None:
    guard = TrapGuard()
    twenty = "http://a.test/" + "/".join(f"d{i}" for i in range(20))
    assert guard.check(twenty) is None
    assert guard.check(twenty + "/d20") == "too_many_segments"
    assert guard.check(twenty + "/") is None  # a trailing slash is no segment


@pytest.mark.parametrize(
    "path",
    ["/a/a/a/a/", "/x/y/x/y/x/y/x/y", "/img/page/1/page/2/page/3/page/4", "/a/b/a/c/a/d/a"],
)
def test_repeated_segments_are_refused(path: str) -> None:
    assert TrapGuard().check("http://a.test" + path) == "repeated_segments"


@pytest.mark.parametrize("path", ["/a/a/a/", "/x/y/x/y/x/y", "/2026/01/01/01"])
def test_up_to_max_repeats_is_allowed(path: str) -> None:
    assert TrapGuard().check("http://a.test" + path) is None


def test_url_length_cap() -> None:
    guard = TrapGuard(max_url_length=100)
    base = "http://a.test/x?q="
    assert guard.check(base + "q" * (100 - len(base))) is None
    long_url = base + "q" * (101 - len(base))
    assert guard.check(long_url) == "url_too_long"
    assert TrapGuard().check("http://a.test/?q=" + "z" * 5000) == "url_too_long"


def test_endless_calendar_stops_at_the_calendar_cap() -> None:
    guard = TrapGuard()
    day = date(2026, 11, 21)
    followed: list[str] = []
    for _ in range(10_000):
        url = f"http://cal.test/cal/{day.year}/{day.month}/{day.day}"
        if guard.check(url) is None:
            followed.append(url)
        day += timedelta(days=1)
    assert len(followed) == 50
    assert followed[0] == "http://cal.test/cal/2026/11/21"
    assert followed[-1] == "http://cal.test/cal/2027/1/9"
    assert guard.reported() == {"calendar": 9_950}
    assert guard.allowed == 50


def test_numbered_pages_are_content_up_to_the_pattern_cap() -> None:
    guard = TrapGuard(max_per_pattern=200)
    allowed = [n for n in range(1, 1001) if guard.check(f"http://a.test/film/{n}.html") is None]
    assert len(allowed) == 200
    assert guard.reported() == {"pattern_cap": 800}


def test_query_dates_share_a_calendar_pattern() -> None:
    guard = TrapGuard(max_per_calendar=3)
    assert guard.check("http://a.test/day?date=2026-11-22") is None
    assert guard.check("http://a.test/day?date=2026-11-23") is None
    assert guard.check("http://a.test/day?date=2026-12-1") is None
    assert guard.check("http://a.test/day?date=2026-12-2") == "calendar"
    # Other patterns and other hosts have their own allowance.
    assert guard.check("http://a.test/list?page=12345") is None
    assert guard.check("http://a.test/day?date=2026-12-2&view=week") is None
    assert guard.check("http://b.test/day?date=2026-12-2") is None


def test_the_same_url_counts_once_toward_its_pattern() -> None:
    guard = TrapGuard(max_per_pattern=2)
    for _ in range(5):
        assert guard.check("http://a.test/p/1") is None
    assert guard.check("http://a.test/p/2") is None
    assert guard.check("http://a.test/p/3") == "pattern_cap"
    assert guard.check("http://a.test/p/1") is None  # already followed: still fine
    assert guard.allowed == 2


def test_report_and_samples() -> None:
    guard = TrapGuard(max_per_pattern=1, max_url_length=600)
    guard.check("http://a.test/p/1")
    for _ in range(3):
        guard.check("http://a.test/p/2")
    guard.check("http://a.test/a/a/a/a")
    guard.check("http://a.test/" + "/".join(str(i) for i in range(30)))
    guard.check("http://a.test/?q=" + "z" * 700)
    assert guard.reported() == {
        "too_many_segments": 1,
        "repeated_segments": 1,
        "url_too_long": 1,
        "pattern_cap": 3,
    }
    assert set(guard.reported()) <= set(REASONS)
    assert guard.samples[0] == {"reason": "pattern_cap", "url": "http://a.test/p/2"}
    assert len(guard.samples) == 4  # a repeated refusal is sampled once
    assert len(guard.samples[-1]["url"]) == 512 and guard.samples[-1]["url"].endswith("...")


def test_samples_keep_the_first_twenty() -> None:
    guard = TrapGuard(max_per_pattern=1)
    for n in range(100):
        guard.check(f"http://a.test/p/{n}")
    assert len(guard.samples) == MAX_SAMPLES
    assert guard.samples[0]["url"] == "http://a.test/p/1"
    assert guard.reported() == {"pattern_cap": 99}


def test_clean_run_reports_nothing() -> None:
    guard = TrapGuard()
    assert guard.check("http://a.test/") is None
    assert guard.reported() == {} and guard.samples == []
    assert guard.had_session_id("http://a.test/x;jsessionid=1")


def test_caps_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_per_pattern"):
        TrapGuard(max_per_pattern=0)



def test_a_link_space_holding_half_the_pages_is_crowded() -> None:
    guard = TrapGuard()
    for n in range(1, 6):
        guard.check(f"http://a.test/page/{n}")
    for name in ("news", "films", "music", "games"):
        guard.check(f"http://a.test/{name}.html")
    guard.check("http://a.test/")
    assert guard.crowded_patterns() == [("a.test/page/{n}", 5)]  # 5 of 10
    guard.check("http://a.test/about.html")
    assert guard.crowded_patterns() == []  # 5 of 11
    assert guard.crowded_patterns(share=0.4) == [("a.test/page/{n}", 5)]


def test_refused_urls_do_not_crowd_a_pattern() -> None:
    guard = TrapGuard(max_per_calendar=2)
    for day in range(1, 20):
        guard.check(f"http://a.test/cal?date=2026-11-{day}")
    for name in ("a", "b", "c"):
        guard.check(f"http://a.test/{name}.html")
    assert guard.crowded_patterns() == []  # 2 of 5 allowed


def test_crowding_needs_a_share_in_range() -> None:
    assert TrapGuard().crowded_patterns() == []
    with pytest.raises(ValueError, match="share must be more than 0 and at most 1, not 0"):
        TrapGuard().crowded_patterns(share=0)
