"""The stream sampler against a real HTTP server on 127.0.0.1: live HLS that advances (a
test-driven sequence and clock, no sleeps), a master playlist, a live DASH MPD, and every
fault a candidate stream can show (segments that 404, encryption, an endless "segment", a
playlist that stands still or loops, a recording played as live, redirects to private
addresses, loopback without the policy's opt-in). Each gets its outcome, and the same
sampler goes on working after each. Host names map to 127.0.0.1 through the injected
resolver; nothing here connects anywhere else."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from swordnet.core.outbound import AddressPolicy
from swordnet.live.sampler import Sample, StreamSampler
from tests.smtp_server import self_signed

AST = datetime(2026, 12, 6, 15, 0, 0, tzinfo=UTC)
LOOPBACK = AddressPolicy.from_text("127.0.0.1/32")
SEGMENT_CAP = 1_000_000
WINDOW = 3  # segments a live playlist lists


def segment_body(name: str) -> bytes:
    return f"<{name}>".encode() * 1000


class StreamSite(ThreadingHTTPServer):
    """Streams and faults on 127.0.0.1; ``live_sequence`` is the newest live segment (the test
    moves it), ``requests`` every (path, Host) asked for."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.live_sequence = 100
        self.requests: list[tuple[str, str]] = []
        self.streams_ended: dict[str, threading.Event] = {
            "/endless/seg.ts": threading.Event(), "/huge/seg.ts": threading.Event()}
        self.release = threading.Event()  # /hang.m3u8 answers once it is set

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def url(self, path: str, host: str = "stream-one.test") -> str:
        return f"http://{host}:{self.port}{path}"

    def asked(self, prefix: str) -> list[str]:
        return [path for path, _host in self.requests if path.startswith(prefix)]


def live_playlist(sequence: int, name: str = "seg{}.ts", cycle: int = 0) -> str:
    """The last :data:`WINDOW` segments up to ``sequence``; with ``cycle``, their files go
    round ``cycle`` names."""
    first = max(0, sequence - WINDOW + 1)
    lines = ["#EXTM3U", "#EXT-X-TARGETDURATION:4", f"#EXT-X-MEDIA-SEQUENCE:{first}"]
    for number in range(first, sequence + 1):
        lines += ["#EXTINF:4.0,", name.format(number % cycle if cycle else number)]
    return "\n".join(lines) + "\n"


MASTER = """#EXTM3U
#EXT-X-STREAM-INF:BANDWIDTH=5000000,RESOLUTION=1920x1080
/hd/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=64000,CODECS="mp4a.40.2"
/audio/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360
live/index.m3u8
"""

MPD = f"""<?xml version="1.0"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic"
     availabilityStartTime="{AST.isoformat()}" timeShiftBufferDepth="PT12S">
  <Period start="PT0S">
    <AdaptationSet contentType="video" mimeType="video/mp4" codecs="avc1.64001f,mp4a.40.2">
      <SegmentTemplate timescale="1000" duration="4000" startNumber="1"
          media="$RepresentationID$/$Number$.m4s" initialization="$RepresentationID$/init.mp4"/>
      <Representation id="v360" bandwidth="500000"/>
      <Representation id="v1080" bandwidth="6000000"/>
    </AdaptationSet>
  </Period>
</MPD>"""

ENCRYPTED = """#EXTM3U
#EXT-X-TARGETDURATION:4
#EXT-X-MEDIA-SEQUENCE:40
#EXT-X-KEY:METHOD=AES-128,URI="/keys/k1"
#EXTINF:4.0,
seg40.ts
#EXTINF:4.0,
seg41.ts
"""

PDT = """#EXTM3U
#EXT-X-TARGETDURATION:4
#EXT-X-MEDIA-SEQUENCE:7
#EXT-X-PROGRAM-DATE-TIME:2026-12-06T15:00:30Z
#EXTINF:4.0,
/live/seg98.ts
#EXTINF:4.0,
/live/seg99.ts
"""


class _Handler(BaseHTTPRequestHandler):
    server: StreamSite

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        site, path = self.server, self.path
        site.requests.append((path, self.headers.get("Host", "")))
        sequence = site.live_sequence
        playlists = {
            "/live/index.m3u8": live_playlist(sequence),
            "/master.m3u8": MASTER,
            "/pdt/index.m3u8": PDT,
            "/gone/index.m3u8": live_playlist(sequence),
            "/encrypted/index.m3u8": ENCRYPTED,
            "/endless/index.m3u8": "#EXTM3U\n#EXTINF:4.0,\nseg.ts\n",
            "/huge/index.m3u8": "#EXTM3U\n#EXTINF:4.0,\nseg.ts\n",
            "/still/index.m3u8": live_playlist(9, "/live/seg{}.ts"),
            "/cycle/index.m3u8": live_playlist(sequence, "/live/seg{}.ts").replace(
                f"/live/seg{sequence}.ts", f"/live/seg{sequence - 2}.ts"),
            "/relist/index.m3u8": live_playlist(sequence, "/live/seg{}.ts", cycle=4),
            "/vod/index.m3u8": live_playlist(5, "/live/seg{}.ts") + "#EXT-X-ENDLIST\n",
            "/scheme/index.m3u8": "#EXTM3U\n#EXTINF:4.0,\nfile:///etc/passwd\n",
            "/garbage.m3u8": "<html><body>no stream here</body></html>",
            "/spaces/index.m3u8": "#EXTM3U\n#EXTINF:4.0,\n/live/seg 5.ts?part=a b\n",
            "/dash/manifest.mpd": MPD,
        }
        redirects = {
            "/redirect/index.m3u8": "/live/index.m3u8",
            "/redirect-private.m3u8": "http://10.20.30.40/live/index.m3u8",
            "/redirect-name.m3u8": f"http://intranet.test:{site.port}/live/index.m3u8",
            "/redirect-loop.m3u8": "/redirect-loop.m3u8",
        }
        if path in playlists:
            self.answer(200, playlists[path].encode(), "application/vnd.apple.mpegurl")
        elif path in redirects:
            self.send_response(302)
            self.send_header("Location", redirects[path])
            self.end_headers()
        elif path in site.streams_ended:
            self.endless(path)
        elif path == "/hang.m3u8":
            site.release.wait()
            self.answer(200, b"#EXTM3U\n", "application/vnd.apple.mpegurl")
        elif path == "/error.m3u8":
            self.answer(503, b"overloaded", "text/plain")
        elif path.startswith(("/live/seg", "/encrypted/seg")) or (
                path.startswith("/dash/v360/") and path.endswith((".m4s", ".mp4"))):
            self.answer(200, segment_body(path), "video/mp2t")
        else:
            self.answer(404, b"not here", "text/plain")

    def answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def endless(self, path: str) -> None:
        """Bytes until the client goes (a 10 GB "segment", or one that never ends)."""
        self.send_response(200)
        self.send_header("Content-Type", "video/mp2t")
        if path == "/huge/seg.ts":
            self.send_header("Content-Length", str(10 * 1024**3))
        self.end_headers()
        chunk = b"\x47" * 65536
        try:
            while True:
                self.wfile.write(chunk)
        except OSError:
            pass
        finally:
            self.server.streams_ended[path].set()

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def serving(server: StreamSite) -> Iterator[StreamSite]:
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def site() -> Iterator[StreamSite]:
    with serving(StreamSite()) as server:
        yield server


NAMES = {"stream-one.test": ["127.0.0.1"], "stream-two.test": ["127.0.0.1"],
         "intranet.test": ["192.168.1.20"], "mixed.test": ["10.0.0.7", "127.0.0.1"]}


class Resolver:
    """The tests' DNS: names to addresses, counting lookups."""

    def __init__(self) -> None:
        self.lookups: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        if host not in NAMES:
            raise socket.gaierror(f"unknown host {host}")
        return NAMES[host]


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def make_sampler(policy: AddressPolicy = LOOPBACK, timeout_s: float = 10.0,
                 clock: Clock | None = None) -> StreamSampler:
    return StreamSampler(policy, max_playlist_bytes=100_000, max_segment_bytes=SEGMENT_CAP,
                         timeout_s=timeout_s, clock=clock or Clock(AST + timedelta(minutes=1)),
                         resolve=Resolver())


@pytest.fixture()
def sampler() -> StreamSampler:
    return make_sampler()


def test_a_live_playlist_is_sampled_at_its_newest_segment_as_it_advances(
        site: StreamSite, sampler: StreamSampler) -> None:
    site.live_sequence = 100
    first = sampler.sample(site.url("/live/index.m3u8"))
    assert (first.outcome, first.reason, first.sequence, first.duration) == ("ok", "", 100, 4.0)
    assert first.segment is not None and first.segment.body == segment_body("/live/seg100.ts")
    site.live_sequence = 102
    second = sampler.sample(site.url("/live/index.m3u8"), last_sequence=first.sequence)
    assert (second.outcome, second.sequence) == ("ok", 102)
    assert second.segment is not None
    assert second.segment.url == site.url("/live/seg102.ts")


def test_what_a_warc_record_needs_is_kept(site: StreamSite) -> None:
    clock = Clock(datetime(2026, 12, 6, 15, 2, 3, tzinfo=UTC))
    sampler = make_sampler(clock=clock)
    site.live_sequence = 100
    sample = sampler.sample(site.url("/live/index.m3u8"))
    [playlist], segment = sample.playlists, sample.segment
    assert segment is not None
    for fetched in (playlist, segment):
        assert fetched.status == 200 and fetched.reason == "OK"
        assert fetched.ip == "127.0.0.1" and fetched.fetched_at == clock.at
        assert ("Host", f"stream-one.test:{site.port}") in fetched.request_headers
        assert ("Content-Type", "video/mp2t" if fetched is segment
                else "application/vnd.apple.mpegurl") in fetched.headers
    assert playlist.url == site.url("/live/index.m3u8")
    assert playlist.body.decode() == live_playlist(100)
    # The Host the server saw is the URL's name, though the connection went to the address.
    assert site.requests[-1] == ("/live/seg100.ts", f"stream-one.test:{site.port}")
    # No program time: the segment went live when its 4 s had been produced.
    assert sample.edge == clock.at.timestamp() - 4.0


def test_the_program_time_is_the_edge_when_the_playlist_gives_it(
        site: StreamSite, sampler: StreamSampler) -> None:
    sample = sampler.sample(site.url("/pdt/index.m3u8"))
    assert sample.outcome == "ok" and sample.sequence == 8
    assert sample.edge == datetime(2026, 12, 6, 15, 0, 34, tzinfo=UTC).timestamp()


def test_a_master_playlist_leads_to_its_lowest_bandwidth_video_variant(
        site: StreamSite, sampler: StreamSampler) -> None:
    site.live_sequence = 100
    sample = sampler.sample(site.url("/master.m3u8"))
    assert sample.outcome == "ok" and sample.sequence == 100
    assert [p.url for p in sample.playlists] == [site.url("/master.m3u8"),
                                                 site.url("/live/index.m3u8")]
    assert not site.asked("/hd/") and not site.asked("/audio/")


def test_a_live_dash_mpd_is_sampled_at_its_newest_available_segment(site: StreamSite) -> None:
    clock = Clock(AST + timedelta(seconds=60))
    sampler = make_sampler(clock=clock)
    first = sampler.sample(site.url("/dash/manifest.mpd"))
    assert (first.outcome, first.sequence) == ("ok", 15)
    assert first.segment is not None and first.init is not None
    assert first.segment.url == site.url("/dash/v360/15.m4s")
    assert first.init.url == site.url("/dash/v360/init.mp4")
    assert first.media == segment_body("/dash/v360/init.mp4") + segment_body("/dash/v360/15.m4s")
    assert first.edge == (AST + timedelta(seconds=56)).timestamp()
    clock.at += timedelta(seconds=9)
    later = sampler.sample(site.url("/dash/manifest.mpd"), last_sequence=first.sequence)
    assert (later.outcome, later.sequence) == ("ok", 17)


def test_a_redirect_is_followed_and_the_answering_url_recorded(
        site: StreamSite, sampler: StreamSampler) -> None:
    sample = sampler.sample(site.url("/redirect/index.m3u8"))
    assert sample.outcome == "ok"
    assert [p.url for p in sample.playlists] == [site.url("/live/index.m3u8")]


def test_a_segment_url_with_spaces_is_sent_percent_encoded(
        site: StreamSite, sampler: StreamSampler) -> None:
    sample = sampler.sample(site.url("/spaces/index.m3u8"))
    assert sample.outcome == "ok" and site.asked("/live/seg")[-1] == "/live/seg%205.ts?part=a%20b"


def test_a_name_resolving_to_allowed_and_refused_addresses_connects_to_the_allowed_one(
        site: StreamSite, sampler: StreamSampler) -> None:
    sample = sampler.sample(site.url("/live/index.m3u8", host="mixed.test"))
    assert sample.outcome == "ok" and sample.playlists[0].ip == "127.0.0.1"


def test_each_fetch_resolves_its_host_once_and_connects_to_that_address(
        site: StreamSite) -> None:
    resolver = Resolver()
    sampler = StreamSampler(LOOPBACK, clock=Clock(AST), resolve=resolver)
    sample = sampler.sample(site.url("/master.m3u8"))
    # master, variant, segment: three lookups, all through the injected resolver (the system
    # resolver does not know stream-one.test, so no connection could have asked it again).
    assert sample.outcome == "ok" and resolver.lookups == ["stream-one.test"] * 3


FAULTS = [
    ("/gone/index.m3u8", "not_found", "segment {url}/gone/seg100.ts answered HTTP 404"),
    ("/missing.m3u8", "not_found", "playlist {url}/missing.m3u8 answered HTTP 404"),
    ("/error.m3u8", "offline", "playlist {url}/error.m3u8 answered HTTP 503"),
    ("/encrypted/index.m3u8", "encrypted",
     "segment 41 of {url}/encrypted/index.m3u8 is encrypted (not fetched)"),
    ("/endless/index.m3u8", "too_large",
     f"segment {{url}}/endless/seg.ts is over {SEGMENT_CAP} bytes"),
    ("/huge/index.m3u8", "too_large", f"segment {{url}}/huge/seg.ts is over {SEGMENT_CAP} bytes"),
    ("/vod/index.m3u8", "looping",
     "{url}/vod/index.m3u8 has ended (a recording played as live)"),
    ("/garbage.m3u8", "bad_playlist", "playlist {url}/garbage.m3u8: neither an HLS playlist "
     "nor a DASH MPD (starts '<html><body>no strea')"),
    ("/scheme/index.m3u8", "refused", "segment URL is not http(s): file:///etc/passwd"),
    ("/redirect-private.m3u8", "refused", "playlist http://10.20.30.40/live/index.m3u8: "
     "refused: address not allowed (private network)"),
    ("/redirect-name.m3u8", "refused", "playlist http://intranet.test:{port}/live/index.m3u8: "
     "refused: address not allowed (private network)"),
    ("/redirect-loop.m3u8", "failed",
     "playlist {url}/redirect-loop.m3u8: more than 4 redirects"),
]


@pytest.mark.parametrize(("path", "outcome", "reason"), FAULTS)
def test_each_fault_has_its_outcome_and_reason(site: StreamSite, sampler: StreamSampler,
                                               path: str, outcome: str, reason: str) -> None:
    site.live_sequence = 100
    sample = sampler.sample(site.url(path))
    assert (sample.outcome, sample.reason) == (
        outcome, reason.format(url=f"http://stream-one.test:{site.port}", port=site.port))
    assert sample.segment is None


def test_an_encrypted_segment_is_recorded_but_never_fetched(
        site: StreamSite, sampler: StreamSampler) -> None:
    sample = sampler.sample(site.url("/encrypted/index.m3u8"))
    assert (sample.outcome, sample.sequence, sample.duration) == ("encrypted", 41, 4.0)
    assert len(sample.playlists) == 1 and sample.edge is not None
    assert not site.asked("/encrypted/seg") and not site.asked("/keys/")


def test_an_endless_segment_costs_at_most_the_cap_and_the_connection_is_dropped(
        site: StreamSite, sampler: StreamSampler) -> None:
    for path in ("/endless/index.m3u8", "/huge/index.m3u8"):
        assert sampler.sample(site.url(path)).outcome == "too_large"
    # The server's writes fail once the sampler has closed the connection.
    assert site.streams_ended["/endless/seg.ts"].wait(timeout=60)
    assert site.streams_ended["/huge/seg.ts"].wait(timeout=60)


def test_a_playlist_that_stands_still_or_goes_back_is_looping(
        site: StreamSite, sampler: StreamSampler) -> None:
    first = sampler.sample(site.url("/still/index.m3u8"))
    assert (first.outcome, first.sequence) == ("ok", 9)
    again = sampler.sample(site.url("/still/index.m3u8"), last_sequence=first.sequence)
    assert (again.outcome, again.reason) == (
        "looping", f"{site.url('/still/index.m3u8')} stands still at sequence 9")
    back = sampler.sample(site.url("/still/index.m3u8"), last_sequence=30)
    assert (back.outcome, back.reason) == (
        "looping", f"{site.url('/still/index.m3u8')} went back from sequence 30 to 9")
    assert back.sequence == 9 and back.segment is None


def test_a_playlist_that_cycles_the_same_segments_is_looping(
        site: StreamSite, sampler: StreamSampler) -> None:
    """Its sequence advances, but it lists segments it listed before under other numbers."""
    site.live_sequence = 100
    url = site.url("/cycle/index.m3u8")
    first = sampler.sample(url)
    assert first.outcome == "looping"  # seg98.ts is listed twice, as 98 and as 100
    assert first.reason == f"{url} lists {site.url('/live/seg98.ts')} twice (sequences 98 and 100)"


def test_a_playlist_that_relists_old_segments_later_is_looping(
        site: StreamSite, sampler: StreamSampler) -> None:
    """Its sequence advances and each listing is clean, but it cycles four segment files."""
    url = site.url("/relist/index.m3u8")
    site.live_sequence = 100
    first = sampler.sample(url)
    assert (first.outcome, first.segment and first.segment.url) == (
        "ok", site.url("/live/seg0.ts"))
    site.live_sequence = 102
    later = sampler.sample(url, last_sequence=100)
    assert (later.outcome, later.reason) == (
        "looping", f"{url} repeats {site.url('/live/seg2.ts')} (sequence 98, now 102)")


def test_tls_is_checked_against_the_url_host_not_the_address(tmp_path: Path) -> None:
    """Over https the connection goes to the checked address, but SNI and the certificate
    check use the URL's name: a certificate no public CA signed fails, as "failed"."""
    cert, key = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    names: list[str | None] = []
    context.sni_callback = lambda _socket, name, _context: names.append(name)
    server = StreamSite()
    server.socket = context.wrap_socket(server.socket, server_side=True)
    with serving(server):
        url = f"https://stream-one.test:{server.port}/live/index.m3u8"
        sample = make_sampler().sample(url)
    assert (sample.outcome, sample.reason) == ("failed", f"playlist {url}: TLS failed")
    assert names == ["stream-one.test"] and server.requests == []


def test_loopback_without_the_policy_opt_in_is_refused_before_any_connection(
        site: StreamSite) -> None:
    strict = make_sampler(policy=AddressPolicy())
    before = len(site.requests)
    for url in (site.url("/live/index.m3u8"), site.url("/live/index.m3u8", host="127.0.0.1"),
                site.url("/live/index.m3u8", host="0x7f000001"),
                site.url("/live/index.m3u8", host="[::ffff:127.0.0.1]")):
        sample = strict.sample(url)
        assert sample.outcome == "refused", url
        assert sample.reason.endswith(": refused: address not allowed (loopback)")
        assert sample.playlists == []
    assert len(site.requests) == before


def test_unreachable_streams_are_offline(site: StreamSite) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    sampler = make_sampler(timeout_s=0.5)
    refused = sampler.sample(f"http://stream-one.test:{closed}/live/index.m3u8")
    assert (refused.outcome, refused.reason) == (
        "offline", f"playlist http://stream-one.test:{closed}/live/index.m3u8: no connection "
                   "to stream-one.test")
    unknown = sampler.sample("http://no-such-host.test/live.m3u8")
    assert (unknown.outcome, unknown.reason) == (
        "offline", "playlist http://no-such-host.test/live.m3u8: cannot resolve no-such-host.test")
    silent = sampler.sample(site.url("/hang.m3u8"))
    assert (silent.outcome, silent.reason) == (
        "offline", f"playlist {site.url('/hang.m3u8')}: no answer within 0.5 s")
    assert sampler.sample(site.url("/live/index.m3u8")).outcome == "ok"


def test_one_sampler_goes_on_after_every_fault(site: StreamSite) -> None:
    sampler = make_sampler()
    site.live_sequence = 200
    last = sampler.sample(site.url("/live/index.m3u8")).sequence
    outcomes = []
    for path, _outcome, _reason in FAULTS:
        outcomes.append(sampler.sample(site.url(path)).outcome)
        site.live_sequence += 1
        healthy = sampler.sample(site.url("/live/index.m3u8"), last_sequence=last)
        assert (healthy.outcome, healthy.sequence) == ("ok", site.live_sequence), path
        last = healthy.sequence
    assert outcomes == [outcome for _path, outcome, _reason in FAULTS]


def sequences(samples: list[Sample]) -> list[tuple[str, int | None]]:
    return [(s.outcome, s.sequence) for s in samples]


def test_new_segments_are_every_newer_segment_oldest_first(
        site: StreamSite, sampler: StreamSampler) -> None:
    url = site.url("/live/index.m3u8")
    site.live_sequence = 100
    window = sampler.new_segments(url, after_sequence=None)
    assert sequences(window) == [("ok", 98), ("ok", 99), ("ok", 100)]
    assert [s.segment.body for s in window if s.segment] == [
        segment_body(f"/live/seg{n}.ts") for n in (98, 99, 100)]
    assert sampler.new_segments(url, after_sequence=100) == []
    site.live_sequence = 102
    assert sequences(sampler.new_segments(url, after_sequence=100)) == [("ok", 101), ("ok", 102)]
    assert sequences(sampler.new_segments(url, after_sequence=100, limit=1)) == [("ok", 101)]
    assert sequences(sampler.new_segments(url, after_sequence=None, limit=2)) == [
        ("ok", 101), ("ok", 102)]


def test_new_segments_after_a_feed_restart_start_again(
        site: StreamSite, sampler: StreamSampler) -> None:
    """The official feed dropped and came back numbering from 0: its segments are taken."""
    site.live_sequence = 2
    assert sequences(sampler.new_segments(site.url("/live/index.m3u8"), after_sequence=500)) \
        == [("ok", 0), ("ok", 1), ("ok", 2)]


def test_new_segments_report_each_segment_and_playlist_fault(
        site: StreamSite, sampler: StreamSampler) -> None:
    site.live_sequence = 100
    assert sequences(sampler.new_segments(site.url("/gone/index.m3u8"), after_sequence=98)) \
        == [("not_found", 99), ("not_found", 100)]
    assert sequences(sampler.new_segments(site.url("/encrypted/index.m3u8"),
                                          after_sequence=None)) == [("encrypted", 40),
                                                                    ("encrypted", 41)]
    [missing] = sampler.new_segments(site.url("/missing.m3u8"), after_sequence=None)
    assert (missing.outcome, missing.sequence) == ("not_found", None)
    clock = Clock(AST + timedelta(seconds=60))
    dash = make_sampler(clock=clock).new_segments(site.url("/dash/manifest.mpd"),
                                                  after_sequence=12)
    assert sequences(dash) == [("ok", 13), ("ok", 14), ("ok", 15)]
    assert all(s.init is not None and s.init.url == site.url("/dash/v360/init.mp4")
               for s in dash)
