"""The live world the live-event tests run against (tests/live_world.py) is what it claims:
ffprobe plays its playlists, the sliding windows and the restreams' delays follow the clock,
pages appear on time, the feed drops and comes back, and each faulty stream is faulty."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.live_world import (
    CDN_ADDRESS,
    CDN_HOSTS,
    EVENT_TITLE,
    FEED_WINDOW_S,
    PRIVATE_ADDRESS,
    RESTREAM_WINDOW_S,
    TEST_POLICY,
    LiveWorld,
    WorldClock,
    WorldMedia,
    fetch,
    session_media,
)

START = datetime(2026, 6, 14, 19, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> WorldMedia:
    return session_media(tmp_path_factory)


@pytest.fixture
def world(media: WorldMedia) -> Iterator[LiveWorld]:
    with LiveWorld(media, WorldClock(START), START) as running:
        yield running


def listed(text: str) -> list[tuple[datetime, float, str]]:
    """(program date-time, duration, URI) of each segment a media playlist lists."""
    out, when, duration = [], None, 0.0
    for line in text.splitlines():
        if line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            when = datetime.fromisoformat(line.split(":", 1)[1].replace("Z", "+00:00"))
        elif line.startswith("#EXTINF:"):
            duration = float(line[8:].split(",")[0])
        elif line and not line.startswith("#"):
            assert when is not None
            out.append((when, duration, line))
    return out


def probe(world: LiveWorld, url: str) -> list[str]:
    """The codecs ffprobe finds playing ``url`` (a host name reached through the world's
    resolver, as the sampler reaches it: the address connected to, the name in Host)."""
    host, _, rest = url.removeprefix("http://").partition("/")
    name, _, port = host.rpartition(":")
    address = world.resolve(name, int(port))[0]
    literal = f"[{address}]" if ":" in address else address
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-headers", f"Host: {host}\r\n", "-show_entries",
         "stream=codec_type,codec_name", "-of", "json", f"http://{literal}:{port}/{rest}"],
        capture_output=True, text=True, timeout=60, check=True)
    return sorted(s["codec_name"] for s in json.loads(result.stdout)["streams"])


def playlist(world: LiveWorld, url: str) -> str:
    status, body = fetch(world, url)
    assert status == 200, url
    return body.decode()


def test_ffprobe_plays_the_feed_and_restreams_at_two_clock_times(world: LiveWorld) -> None:
    urls = [world.feed_url, *(r.url for r in world.restreams), world.lawful_url]
    for elapsed in (100.0, 160.0):
        world.clock.set(world.at(elapsed))
        for url in urls:
            assert probe(world, url) == ["aac", "h264"], (url, elapsed)


def test_the_feed_lists_what_aired_in_its_window_with_its_air_times(world: LiveWorld) -> None:
    status, _ = fetch(world, world.feed_url)
    assert status == 404  # nothing has aired yet
    for elapsed in (30.0, 100.0):
        world.clock.set(world.at(elapsed))
        segments = listed(playlist(world, world.feed_url))
        ends = [when + timedelta(seconds=d) for when, d, _ in segments]
        assert all(world.at(elapsed - FEED_WINDOW_S) < end <= world.clock() for end in ends)
        assert ends[-1] > world.clock() - timedelta(seconds=4)  # up to the live edge
        # air times follow the programme: segment n aired 4n s after the start
        assert [when for when, _, _ in segments] == [
            world.at(4 * int(uri[3:8])) for _, _, uri in segments]
    # a segment that has not aired yet is not there
    status, _ = fetch(world, world.feed_url.replace("index.m3u8", "seg00059.ts"))
    assert status == 404


def test_restreams_run_their_delay_behind_with_their_own_segments(world: LiveWorld) -> None:
    world.clock.set(world.at(150.0))
    assert "#EXT-X-STREAM-INF" in playlist(world, world.restreams[1].url)  # a master
    for restream, length in zip(world.restreams, (4.0, 6.0), strict=True):
        media = restream.url.replace("master.m3u8", "index.m3u8")
        segments = listed(playlist(world, media))
        assert {d for _, d, _ in segments} == {length}
        for when, duration, uri in segments:
            content_at = length * int(uri[3:8])  # where in the programme the segment is
            assert when == world.at(restream.delay_s + content_at)
            assert when + timedelta(seconds=duration) <= world.clock()
        newest = segments[-1][0] + timedelta(seconds=segments[-1][1])
        assert world.clock() - newest < timedelta(seconds=length)
        assert world.clock() - segments[0][0] <= timedelta(seconds=RESTREAM_WINDOW_S + length)
        # the same content as the feed, the delay later: byte sizes differ (re-encoded)
        status, body = fetch(world, media.replace("index.m3u8", segments[-1][2]))
        assert status == 200 and body[:1] == b"\x47"


def test_pages_appear_at_their_time_and_the_search_finds_them(world: LiveWorld) -> None:
    first, second = world.restreams
    search = world.search_url(EVENT_TITLE)
    world.clock.set(first.appears_at - timedelta(seconds=1))
    assert fetch(world, first.page_url)[0] == 404
    assert b"cup-final" not in fetch(world, world.pirate_url)[1]
    assert b"cup-final" not in fetch(world, search)[1]
    world.clock.set(first.appears_at)
    status, body = fetch(world, first.page_url)
    assert status == 200 and f'<video src="{first.url}"'.encode() in body
    assert b"cup-final-one" in fetch(world, search)[1]
    assert b"cup-final-two" not in fetch(world, search)[1]
    world.clock.set(second.appears_at)
    assert b"cup-final-two" in fetch(world, world.pirate_url)[1]
    status, page = fetch(world, second.page_url)
    assert status == 200 and b'<iframe src="/embed/two.html"' in page
    status, embed = fetch(world, world.pirate_url + "embed/two.html")
    config = embed.split(b'id="player-config">')[1].split(b"</script>")[0]
    assert json.loads(config)["sources"][0]["file"] == second.url
    assert b"news" not in fetch(world, search)[1]  # the lawful page is not the event's


def test_the_feed_drops_and_comes_back_without_what_aired_meanwhile(world: LiveWorld) -> None:
    world.drop_feed(60.0, 90.0)
    world.clock.set(world.at(70.0))
    assert fetch(world, world.feed_url)[0] == 404
    world.clock.set(world.at(110.0))
    text = playlist(world, world.feed_url)
    times = [when for when, _, _ in listed(text)]
    assert "#EXT-X-DISCONTINUITY" in text
    assert not [t for t in times if world.at(56) < t < world.at(90)]  # lost while down
    assert times[-1] == world.at(104)
    sequence = int(text.split("#EXT-X-MEDIA-SEQUENCE:")[1].split()[0])
    world.clock.set(world.at(130.0))
    later = playlist(world, world.feed_url)
    assert int(later.split("#EXT-X-MEDIA-SEQUENCE:")[1].split()[0]) > sequence
    world.drop_feed(140.0, 150.0, kind="reset")
    world.clock.set(world.at(145.0))
    with pytest.raises(OSError):  # the connection is dropped without an answer
        fetch(world, world.feed_url)


def test_the_cdn_answers_many_names_on_one_address(world: LiveWorld) -> None:
    assert listed(playlist(world, world.lawful_url))  # on the air before the programme
    world.clock.set(world.at(300.0))
    assert listed(playlist(world, world.lawful_url))  # and after it
    assert {world.resolve(host, 80)[0] for host in CDN_HOSTS} == {CDN_ADDRESS}
    for host in CDN_HOSTS:
        assert fetch(world, world.lawful_url.replace("lawful-tv.test", host))[0] == 200
    assert world.resolve("stream-one.test", 80) == ["127.0.0.1"]
    with pytest.raises(OSError):
        world.resolve("elsewhere.test", 80)


def test_each_faulty_stream_is_faulty(world: LiveWorld) -> None:
    world.clock.set(world.at(60.0))
    looping = playlist(world, world.faults["looping"])
    world.clock.advance(30)
    assert playlist(world, world.faults["looping"]) == looping  # stands still, never ends
    assert "#EXT-X-ENDLIST" not in looping

    gone = listed(playlist(world, world.faults["not_found"]))
    assert gone and fetch(world, world.faults["not_found"].replace(
        "index.m3u8", gone[-1][2]))[0] == 404

    locked = playlist(world, world.faults["encrypted"])
    assert "#EXT-X-KEY:METHOD=AES-128" in locked
    status, body = fetch(world, world.faults["encrypted"].replace(
        "index.m3u8", listed(locked)[-1][2]))
    assert status == 200 and body[:1] != b"\x47"  # not MPEG-TS until decrypted
    assert probe(world, world.faults["encrypted"]) == ["aac", "h264"]  # it is, with its key

    endless = listed(playlist(world, world.faults["too_large"]))
    status, body = fetch(world, world.faults["too_large"].replace("index.m3u8", endless[-1][2]),
                         cap=30 * 2**20)
    assert status == 200 and len(body) == 30 * 2**20  # more than the sampler's 20 MB cap

    inside = listed(playlist(world, world.faults["refused"]))
    host = inside[-1][2].split("/")[2]
    address = world.resolve(host, 80)[0]
    assert address == PRIVATE_ADDRESS and TEST_POLICY.refusal(address)
    assert TEST_POLICY.refusal("127.0.0.1") is None and TEST_POLICY.refusal(CDN_ADDRESS) is None
