"""Stream URLs found on pages: players' tags, attributes, config JSON and scripts, embeds."""

from __future__ import annotations

import json

import pytest

from crawlers.stream_links import MAX_EMBEDS_PER_PAGE, MAX_STREAMS_PER_PAGE, find_streams
from swordnet.live.streams import MAX_URL_LENGTH

PAGE = "https://pirate.example/watch/final.html"


def streams(html: str | bytes, page_url: str = PAGE) -> list[str]:
    return find_streams(html, page_url).streams


def test_a_video_tag_playing_a_playlist() -> None:
    assert streams('<video controls src="live/ch1.m3u8" poster="p.jpg"></video>') == [
        "https://pirate.example/watch/live/ch1.m3u8"]


def test_sources_by_their_media_type_whatever_their_url() -> None:
    html = """<video>
      <source src="/hls/main" type="application/x-mpegURL">
      <source src="/hls/alt" type="application/vnd.apple.mpegurl">
      <source src="/dash/main" type="application/dash+xml; codecs=avc1">
      <source src="/film.mp4" type="video/mp4">
      <source src="/film.webm">
    </video>"""
    assert streams(html) == ["https://pirate.example/hls/main", "https://pirate.example/hls/alt",
                             "https://pirate.example/dash/main"]


def test_a_plain_video_file_is_no_stream() -> None:
    assert streams('<video src="/films/final.mp4"></video><a href="/dl/final.mkv">get</a>') == []


def test_links_to_playlists_of_either_kind() -> None:
    html = """<a href="https://cdn.example/live/INDEX.M3U8?token=abc">VLC</a>
              <a href="//cdn.example/dash/manifest.mpd">DASH</a>
              <a href="/watch/other.html">other match</a>"""
    assert streams(html) == ["https://cdn.example/live/INDEX.M3U8?token=abc",
                             "https://cdn.example/dash/manifest.mpd"]


def test_data_attributes_urls_stream_names_and_config_json() -> None:
    config = json.dumps({"autoplay": True, "file": "https://cdn.example/cfg/live.m3u8"})
    setup = json.dumps({"sources": [{"src": "https://cdn.example/vjs/stream",
                                     "type": "application/x-mpegURL"}]})
    html = f"""<div class="player" data-src="/lazy/ch2.m3u8"></div>
      <div data-hls="https://cdn.example/live/ch3" data-poster="/p.jpg"></div>
      <div data-stream-url="https://cdn.example/live/ch4"></div>
      <div id="p" data-config='{config}'></div>
      <video-js data-setup='{setup}'></video-js>"""
    assert streams(html) == [
        "https://pirate.example/lazy/ch2.m3u8", "https://cdn.example/live/ch3",
        "https://cdn.example/live/ch4", "https://cdn.example/cfg/live.m3u8",
        "https://cdn.example/vjs/stream"]


def test_text_attributes_are_not_read_as_urls() -> None:
    assert streams('<img alt="ch1.m3u8" title="final.m3u8" src="/a.jpg">') == []


@pytest.mark.parametrize("script, expected", [
    # JW Player, JSON with escaped slashes
    ('jwplayer("player").setup({"file":"https:\\/\\/cdn.example\\/jw\\/live.m3u8",'
     '"width":"100%"});', "https://cdn.example/jw/live.m3u8"),
    # Clappr
    ("var player = new Clappr.Player({source: 'https://cdn.example/clappr/ch1.m3u8', "
     "parentId: '#player'});", "https://cdn.example/clappr/ch1.m3u8"),
    # hls.js
    ("var hls = new Hls(); hls.loadSource(\"//cdn.example/hlsjs/index.m3u8\");",
     "https://cdn.example/hlsjs/index.m3u8"),
    # dash.js
    ("dashjs.MediaPlayer().create().initialize(v, '/dash/match.mpd', true);",
     "https://pirate.example/dash/match.mpd"),
    # a stream key, whatever the URL's ending
    ('var config = {"hls": "https://cdn.example/live/ch7", "title": "Final"};',
     "https://cdn.example/live/ch7"),
    ("const hlsUrl = 'https://cdn.example/live/ch8/';", "https://cdn.example/live/ch8/"),
    # a generic key in an object whose type says HLS
    ('playerInstance.setup({sources: [{file: "https://cdn.example/jw/ch9", type: "hls"}]});',
     "https://cdn.example/jw/ch9"),
    # unicode escapes, a template literal
    ('window.__CFG__ = {"stream": "https:\\u002F\\u002Fcdn.example\\u002Fu\\u002Fch10.m3u8"};',
     "https://cdn.example/u/ch10.m3u8"),
    ("const src = `https://cdn.example/tpl/ch11.m3u8`;", "https://cdn.example/tpl/ch11.m3u8"),
    # nothing but the type says it is a stream
    ('p.src({src: "/a/b/c", type: "application/x-mpegURL"});', "https://pirate.example/a/b/c"),
])
def test_player_scripts(script: str, expected: str) -> None:
    assert streams(f"<div id=player></div><script>{script}</script>") == [expected]


def test_json_ld_and_json_script_blocks() -> None:
    ld = json.dumps({"@type": "VideoObject", "name": "Final",
                     "contentUrl": "https://cdn.example/ld/master.m3u8"})
    data = json.dumps({"props": {"player": {"manifestUrl": "https://cdn.example/next/live"}}})
    html = (f'<script type="application/ld+json">{ld}</script>'
            f'<script id="__NEXT_DATA__" type="application/json">{data}</script>')
    assert streams(html) == ["https://cdn.example/ld/master.m3u8",
                             "https://cdn.example/next/live"]


def test_what_only_looks_like_a_stream_is_not_one() -> None:
    html = """<p>Our player supports .m3u8 and .mpd files, e.g. live.m3u8 links.</p>
      <script>
        if (url.endsWith(".m3u8")) { type = "application/x-mpegURL"; }
        var opts = {"file": "/films/trailer.mp4", "source": "https://cdn.example/about",
                    "url": "https://pirate.example/", "hls": "auto", "stream": true};
        var label = 'stream.m3u8 not found';
      </script>"""
    assert streams(html) == []


def test_urls_are_resolved_against_the_base_href_and_the_page() -> None:
    html = """<head><base href="https://static.example/players/"></head>
      <video src="ch1.m3u8"></video><a href="/top.m3u8">top</a>
      <script>load("//cdn.example/x.m3u8")</script>"""
    assert streams(html, "http://pirate.example/a/b.html") == [
        "https://static.example/players/ch1.m3u8", "https://static.example/top.m3u8",
        "https://cdn.example/x.m3u8"]
    assert streams('<video src="//cdn.example/x.m3u8"></video>', "http://pirate.example/") == [
        "http://cdn.example/x.m3u8"]


def test_each_stream_once_in_document_order_without_fragments() -> None:
    html = """<a href="/b.m3u8">b</a><video src="/a.m3u8#t=30"></video>
      <script>player.load("/a.m3u8"); player.load("https://pirate.example/b.m3u8")</script>
      <a href="/c.mpd">c</a>"""
    assert streams(html) == ["https://pirate.example/b.m3u8", "https://pirate.example/a.m3u8",
                             "https://pirate.example/c.mpd"]


def test_only_http_urls_a_request_can_be_made_to() -> None:
    html = """<video src="blob:https://pirate.example/1234"></video>
      <a href="rtmp://cdn.example/live/ch1.m3u8">rtmp</a><a href="ftp://cdn.example/a.m3u8">f</a>
      <a href="javascript:play('x.m3u8')">js</a><a href="data:text/plain,a.m3u8">data</a>
      <a href="http://cdn.example:99999/a.m3u8">bad port</a><a href="http://[::1/a.m3u8">v6</a>
      <a href="https://cdn.example/ok.m3u8">ok</a>"""
    assert streams(html) == ["https://cdn.example/ok.m3u8"]


def test_over_long_urls_are_left_out() -> None:
    long_url = "https://cdn.example/" + "a" * MAX_URL_LENGTH + ".m3u8"
    assert streams(f'<a href="{long_url}">x</a><a href="/short.m3u8">y</a>') == [
        "https://pirate.example/short.m3u8"]


def test_a_page_gives_at_most_its_cap() -> None:
    html = "".join(f'<a href="/ch/{n}.m3u8">{n}</a>' for n in range(100))
    found = streams(html)
    assert len(found) == MAX_STREAMS_PER_PAGE
    assert found[0] == "https://pirate.example/ch/0.m3u8"
    assert find_streams(html, PAGE, limit=3).streams == [
        f"https://pirate.example/ch/{n}.m3u8" for n in range(3)]


def test_iframes_are_embeds_and_carried_streams_are_streams() -> None:
    html = """<iframe src="//player.example/embed/7" allowfullscreen></iframe>
      <iframe class="lazy" data-src="/embed/8"></iframe>
      <iframe src="https://player.example/e.php?src=https%3A%2F%2Fcdn.example%2Fq%2Fch1.m3u8">
      </iframe>
      <iframe src="https://cdn.example/direct/ch2.m3u8"></iframe>
      <iframe src="javascript:false"></iframe><iframe src="about:blank"></iframe>
      <object><param name="movie" value="/p.swf?file=https://cdn.example/swf/ch3.m3u8"></object>
      <frameset><frame src="/frames/player.html"></frameset>"""
    found = find_streams(html, PAGE)
    assert found.streams == ["https://cdn.example/q/ch1.m3u8",
                             "https://cdn.example/direct/ch2.m3u8",
                             "https://cdn.example/swf/ch3.m3u8"]
    assert found.embeds == ["https://player.example/embed/7", "https://pirate.example/embed/8",
                            "https://pirate.example/frames/player.html"]


def test_a_page_gives_at_most_its_cap_of_embeds() -> None:
    html = "".join(f'<iframe src="/embed/{n}"></iframe>' for n in range(20))
    embeds = find_streams(html, PAGE).embeds
    assert embeds == [f"https://pirate.example/embed/{n}" for n in range(MAX_EMBEDS_PER_PAGE)]


@pytest.mark.parametrize("garbage", [
    b"\x00\xff\xfe<<<video src=>>>\x00", "<script>'unterminated", "<video><source type=>",
    '<div data-config="{not json: \'/x.m3u8\'">', "", "<script>" + "'a'," * 5_000 + "</script>",
])
def test_garbage_does_not_crash(garbage: str | bytes) -> None:
    found = find_streams(garbage, PAGE)
    assert len(found.streams) <= 1 and found.embeds == []


def test_bytes_are_read_like_text() -> None:
    html = '<meta charset="utf-8"><video src="/ä/ch1.m3u8"></video>'
    assert streams(html.encode()) == streams(html) == ["https://pirate.example/ä/ch1.m3u8"]
