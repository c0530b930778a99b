"""The link signal: a registered work named next to magnet, torrent, cloud or playlist links."""

from __future__ import annotations

import pytest

from matching.link_context import link_query
from matching.match_index import MatchIndex
from swordnet.works.registry import name_fingerprints

WORKS = {1: ("The Salt Road", ["盐之路"]), 2: ("流浪地球", ["The Wandering Earth"]),
         3: ("Heat Wave", []), 4: ("Up", [])}


@pytest.fixture(scope="module")
def index() -> MatchIndex:
    index = MatchIndex()
    fingerprint_id = 0
    for work_id, (title, aliases) in WORKS.items():
        for algorithm, variant, value in name_fingerprints(title, aliases):
            fingerprint_id += 1
            index.add(fingerprint_id, work_id, algorithm, value, variant=variant)
    return index


def found(index: MatchIndex, html: str) -> dict[int, dict]:
    return {m.work_id: {"score": m.score, "variant": m.variant, **m.detail}
            for m in index.match("link", link_query(html, "http://pirate.test/film/7.html"))}


def test_a_release_name_next_to_a_magnet_link_is_a_link_hit(index: MatchIndex) -> None:
    page = ('<table><tr><td>The.Salt.Road.2026.1080p.WEB-DL.x264</td><td>'
            '<a href="magnet:?xt=urn:btih:abc">magnet</a></td><td>'
            '<a href="/t/salt.torrent">torrent</a></td></tr></table>')
    hits = found(index, page)
    assert list(hits) == [1]
    assert hits[1]["links"] == ["magnet:?xt=urn:btih:abc", "http://pirate.test/t/salt.torrent"]
    assert hits[1]["link_kinds"] == ["magnet", "torrent"]
    assert "The.Salt.Road.2026" in hits[1]["matched_text"]
    assert hits[1]["score"] == 2


def test_cjk_titles_traditional_and_full_width_names_match(index: MatchIndex) -> None:
    page = ('<h2>《流浪地球》超清 百度網盤</h2><p><a href="https://pan.baidu.com/s/1x">'
            '提取碼 8x2k</a></p><h2>更多</h2><p>ＴＨＥ　ＳＡＬＴ　ＲＯＡＤ <a href="/v/index.m3u8">'
            '在線</a></p><p>鹽之路 <a href="https://mega.nz/file/abc">mega</a></p>')
    hits = found(index, page)
    assert set(hits) == {1, 2}
    assert hits[2]["links"] == ["https://pan.baidu.com/s/1x"]
    assert set(hits[1]["links"]) == {"http://pirate.test/v/index.m3u8", "https://mega.nz/file/abc"}


def test_the_page_heading_names_what_its_download_links_are(index: MatchIndex) -> None:
    page = ("<html><head><title>The Wandering Earth (2019) - download</title></head><body>"
            '<ul><li><a href="magnet:?xt=urn:btih:1">1080p</a></li>'
            '<li><a href="magnet:?xt=urn:btih:2">720p</a></li></ul></body></html>')
    assert found(index, page)[2]["score"] == 2


def test_names_without_download_links_or_inside_other_words_do_not_match(
        index: MatchIndex) -> None:
    assert found(index, "<h1>The Salt Road</h1><p>A review of the film.</p>"
                        '<a href="/reviews/2.html">more</a>') == {}
    assert found(index, '<p>Theater heat waves <a href="magnet:?xt=1">m</a></p>') == {}
    assert found(index, '<p>Heat Waves season 2 <a href="magnet:?xt=1">m</a></p>') == {}
    assert found(index, '<p>Heat Wave <a href="magnet:?xt=1">m</a></p>') != {}


def test_names_too_short_to_tell_are_not_registered() -> None:
    assert name_fingerprints("Up") == []
    assert name_fingerprints("Up", ["Up (2009 film)"]) == [("link", "names", "up 2009 film")]


def test_unparseable_markup_gives_no_contexts() -> None:
    assert link_query("", "http://x.test/").contexts == []
    assert link_query("\x00\x00<<<>>>", "http://x.test/").contexts == []
