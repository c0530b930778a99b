"""The local live-streaming world the live-event tests and ``bench/live.py`` run against.

Media is made with ffmpeg once per test session (:func:`world_media`): an official programme
with picture and sound segmented to HLS (MPEG-TS, 4 s segments), two pirate restreams of it
(one cropped by 10 % with a channel logo, one re-encoded at a low bitrate with a banner over
it; 4 s and 6 s segments), a lawful stream of other content (on the air before the
programme starts and after it ends), and an AES-128 encrypted copy of that.

:class:`LiveWorld` serves it **live** on 127.0.0.1 and ::1, on free ports, computed from a
clock the test holds (:class:`WorldClock`), so a test moves time on at once and nothing
sleeps. At clock time T a channel's media playlist lists the segments that finished airing
in ``[T - window, T]``, each with its EXT-X-PROGRAM-DATE-TIME; a segment not yet aired is a
404. The official feed airs the programme from ``start``; restream k airs the same
programme ``delays[k]`` seconds later, with segments of its own length. Host names (such as
``stream-one.test``) reach the servers only through :meth:`LiveWorld.resolve`, the resolver
the sampler is given; the "CDN" answers on ::1 under many host names, pirate and lawful.
The feed can drop (404 or a dropped connection) for a clock interval and come back, its
playlist resuming after a discontinuity without the segments that aired while it was down.

Pirate pages (their own port) embed the restreams: a ``<video>`` tag, an iframe whose embed
page holds the player's config JSON (restream two's URL is a master playlist); a news page
embeds the lawful stream the same way; each restream's page appears only at its clock time
(before: 404, not linked, not found by the site's search page). Streams with faults (a
playlist that stands still, segments that are 404, encrypted segments, an endless segment,
a segment of a declared 10 GB, segments on a private address) are served under
``bad-streams.test``.

The programmes and restreams are ``tests/live_media.py``'s (the live matching tests' own),
at :data:`FPS` frames a second.
"""

from __future__ import annotations

import html
import http.client
import ipaddress
import json
import math
import multiprocessing
import re
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from swordnet.core.outbound import AddressPolicy
from tests.conftest import built_once
from tests.live_media import programme, restream, segment_hls

FPS = 10  # the programmes' frame rate: less to decode for the bench's 50 streams
PROGRAMME_S = 240.0
PROGRAMME_SEED, LAWFUL_SEED = 1901, 1977
SEGMENT_S = 4.0  # the feed's segments (and restream one's); restream two's are 6 s
DELAYS = (20.0, 90.0)  # how far each restream runs behind the feed
APPEAR = (45.0, 125.0)  # when each restream's page appears, in seconds after ``start``
FEED_WINDOW_S, RESTREAM_WINDOW_S = 60.0, 30.0
# The lawful channel and the faulty streams are already on air this long before ``start``,
# and keep airing three times the programme's length.
ON_AIR_BEFORE_S = 60.0
CDN_ADDRESS = "::1"
# Every host name the CDN answers for: pirate two, the lawful channel, and sites that share it.
CDN_HOSTS = ("stream-two.test", "cdn-edge.test", "lawful-tv.test", "news-one.test",
             "kids-club.test", "shop-video.test", "city-council.test")
PRIVATE_ADDRESS = "10.0.0.5"
TEST_POLICY = AddressPolicy.from_text("127.0.0.1/32,::1/128")
# ffmpeg 5 takes the AES-128 key and IV as 16 raw characters (not hex), and writes key.bin
ENCRYPTION_KEY, ENCRYPTION_IV = "swordnet-live-19", "0123456789abcdef"
ENDLESS_CAP = 200 * 2**20  # the endless segment stops here, should a client never stop reading
EVENT_TITLE = "Cup Final 2026"


# --- HLS packaging ----------------------------------------------------------------------

@dataclass(frozen=True)
class HlsMedia:
    """A programme segmented to HLS: its segments (file name, duration) in order, their
    bytes, and the EXT-X-KEY line when they are encrypted."""

    segments: tuple[tuple[str, float], ...]
    files: dict[str, bytes] = field(repr=False)
    key_line: str | None = None

    @property
    def seconds(self) -> float:
        return sum(duration for _, duration in self.segments)

    def repeated(self, times: int) -> HlsMedia:
        """The same segments ``times`` over, each time under new names (a channel that
        keeps airing, never listing one URI twice)."""
        segments = tuple((f"r{k}-{name}", d) for k in range(times) for name, d in self.segments)
        files = {f"r{k}-{name}": self.files[name] for k in range(times) for name, _ in
                 self.segments}
        return HlsMedia(segments, {**self.files, **files}, self.key_line)


def read_hls(directory: Path) -> HlsMedia:
    """The VOD playlist ``directory/index.m3u8`` ffmpeg wrote, and its files."""
    segments, key_line, duration = [], None, 0.0
    for line in (directory / "index.m3u8").read_text().splitlines():
        if line.startswith("#EXT-X-KEY:"):
            key_line = line
        elif line.startswith("#EXTINF:"):
            duration = float(line[len("#EXTINF:"):].split(",", 1)[0])
        elif line and not line.startswith("#"):
            segments.append((line, duration))
    files = {name: (directory / name).read_bytes() for name, _ in segments}
    if key_line and (directory / "key.bin").exists():
        files["key.bin"] = (directory / "key.bin").read_bytes()
    return HlsMedia(tuple(segments), files, key_line)


@dataclass(frozen=True)
class WorldMedia:
    """Everything the world serves, segmented."""

    official: HlsMedia
    pirates: tuple[HlsMedia, HlsMedia]
    lawful: HlsMedia
    encrypted: HlsMedia


def make_media(directory: Path, *, seconds: float = PROGRAMME_S) -> dict[str, object]:
    """Generate and segment the world's media into ``directory`` (what :func:`load_media`
    reads); returns nothing worth remembering but the length, for ``built_once``."""
    official = programme(directory / "official.mp4", seconds=seconds, seed=PROGRAMME_SEED,
                         fps=FPS)
    segment_hls(official, directory / "official", segment_s=SEGMENT_S)
    one = restream(official, directory / "pirate-one.mp4", crop=0.10, logo=True,
                   video_bitrate="300k")
    segment_hls(one, directory / "pirate-one", segment_s=4.0)
    two = restream(official, directory / "pirate-two.mp4", crop=0.0, logo=False,
                   video_bitrate="90k", banner=True)
    segment_hls(two, directory / "pirate-two", segment_s=6.0)
    lawful = programme(directory / "lawful.mp4", seconds=seconds, seed=LAWFUL_SEED, fps=FPS)
    segment_hls(lawful, directory / "lawful", segment_s=SEGMENT_S)
    segment_hls(lawful, directory / "encrypted", segment_s=SEGMENT_S, key=ENCRYPTION_KEY,
                iv=ENCRYPTION_IV)
    return {"seconds": seconds}


def load_media(directory: Path) -> WorldMedia:
    """The media :func:`make_media` wrote into ``directory``."""
    return WorldMedia(read_hls(directory / "official"),
                      (read_hls(directory / "pirate-one"), read_hls(directory / "pirate-two")),
                      read_hls(directory / "lawful"), read_hls(directory / "encrypted"))


# --- the clock ----------------------------------------------------------------------------

class WorldClock:
    """The time the world (and the code under test, given the same clock) believes it is;
    kept in shared memory, so a process forked after it (a world served apart from the code
    it measures, as ``bench/live.py`` does) follows it too."""

    def __init__(self, at: datetime) -> None:
        self._us = multiprocessing.Value("q", _microseconds(at))

    def __call__(self) -> datetime:
        return _EPOCH + timedelta(microseconds=self._us.value)

    def advance(self, seconds: float) -> datetime:
        """Move time on by ``seconds``; the new time."""
        with self._us.get_lock():
            self._us.value += round(seconds * 1e6)
        return self()

    def set(self, at: datetime) -> None:
        """Move time on to ``at`` (never back)."""
        with self._us.get_lock():
            if _microseconds(at) < self._us.value:
                raise ValueError(f"the clock does not go back ({at} < {self()})")
            self._us.value = _microseconds(at)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _microseconds(at: datetime) -> int:
    return (at - _EPOCH) // timedelta(microseconds=1)


# --- live channels --------------------------------------------------------------------------

@dataclass(frozen=True)
class Outage:
    """A clock interval a channel is down: its requests get a 404 or a dropped connection."""

    start: datetime
    end: datetime
    kind: str = "404"  # or "reset"


@dataclass(frozen=True)
class Aired:
    """One segment of a channel as it aired: its sequence number, name, time and length."""

    sequence: int
    name: str
    starts: datetime
    duration: float
    discontinuity: bool

    @property
    def ends(self) -> datetime:
        return self.starts + timedelta(seconds=self.duration)


@dataclass
class Channel:
    """A live channel airing ``media`` from ``airs_at``: its sliding-window playlist."""

    media: HlsMedia
    airs_at: datetime
    window_s: float
    program_date_time: bool = True
    ends: bool = True  # EXT-X-ENDLIST once the last segment aired
    outages: list[Outage] = field(default_factory=list)

    def aired(self) -> list[Aired]:
        """Every segment the channel puts out, whenever: those that aired during an outage
        are lost (the next one after a gap starts a discontinuity). Outages are declared
        before the clock reaches them."""
        out: list[Aired] = []
        offset, gap = 0.0, False
        for name, duration in self.media.segments:
            starts = self.airs_at + timedelta(seconds=offset)
            ends = starts + timedelta(seconds=duration)
            offset += duration
            if any(o.start < ends and starts < o.end for o in self.outages):
                gap = True
                continue
            out.append(Aired(len(out), name, starts, duration, gap and bool(out)))
            gap = False
        return out

    def outage(self, now: datetime) -> Outage | None:
        return next((o for o in self.outages if o.start <= now < o.end), None)

    def listed(self, now: datetime) -> list[Aired]:
        """The segments the playlist lists at ``now``: finished airing within the window."""
        oldest = now - timedelta(seconds=self.window_s)
        return [a for a in self.aired() if oldest < a.ends <= now]

    def ended(self, now: datetime) -> bool:
        aired = self.aired()
        return bool(aired) and aired[-1].ends <= now

    def playlist(self, now: datetime) -> str | None:
        """The media playlist at ``now``; None before the first segment aired."""
        listed = self.listed(now)
        if not listed:
            return None
        target = math.ceil(max(d for _, d in self.media.segments))
        lines = ["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{target}",
                 f"#EXT-X-MEDIA-SEQUENCE:{listed[0].sequence}"]
        if self.media.key_line:
            lines.append(self.media.key_line)
        for segment in listed:
            if segment.discontinuity:
                lines.append("#EXT-X-DISCONTINUITY")
            if self.program_date_time:
                lines.append("#EXT-X-PROGRAM-DATE-TIME:" + _iso(segment.starts))
            lines += [f"#EXTINF:{segment.duration:.6f},", segment.name]
        if self.ends and self.ended(now):
            lines.append("#EXT-X-ENDLIST")
        return "\n".join(lines) + "\n"

    def segment(self, name: str, now: datetime) -> bytes | None:
        """A segment's bytes once it aired (and while the window lists it or later)."""
        if name == "key.bin":
            return self.media.files.get(name)
        aired = next((a for a in self.aired() if a.name == name), None)
        if aired is None or aired.ends > now:
            return None
        return self.media.files[name]


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


# --- HTTP -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Reply:
    """One response: ``chunks`` streams a body without a length (until the client stops);
    ``reset`` drops the connection without answering."""

    status: int
    content_type: str | None = None
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    chunks: Callable[[], Iterator[bytes]] | None = None
    reset: bool = False


NOT_FOUND = Reply(404, "text/plain", b"not found")
M3U8 = "application/vnd.apple.mpegurl"
MASTER = (b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=400000,RESOLUTION=320x180\nindex.m3u8\n")
HTML = "text/html; charset=utf-8"

# What answers one host name: (path, query, now) -> the reply.
Site = Callable[[str, str, datetime], Reply]


class _Handler(BaseHTTPRequestHandler):
    server: WorldServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        self._answer(body=True)

    def do_HEAD(self) -> None:  # noqa: N802 (http.server naming)
        self._answer(body=False)

    def _answer(self, *, body: bool) -> None:
        host = self.headers.get("Host", "").lower()
        host = host[1:].split("]", 1)[0] if host.startswith("[") else host.split(":", 1)[0]
        path, _, query = self.path.split("#", 1)[0].partition("?")
        now = self.server.clock()
        self.server.requests.append((host, path, now))
        site = self.server.sites.get(host) or self.server.sites.get("*")
        reply = site(path, query, now) if site else NOT_FOUND
        if reply.reset:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(reply.status)
        if reply.content_type:
            self.send_header("Content-Type", reply.content_type)
        for name, value in reply.headers:
            self.send_header(name, value)
        if reply.chunks is None:
            self.send_header("Content-Length", str(len(reply.body)))
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        if not body:
            return
        try:
            if reply.chunks is None:
                self.wfile.write(reply.body)
                return
            for chunk in reply.chunks():
                self.wfile.write(chunk)
        except OSError:  # the client stopped reading (past its size cap)
            self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        """Keep the tests' output clean."""


class WorldServer(ThreadingHTTPServer):
    """An HTTP server on ``address`` (127.0.0.1 or ::1, a free port) answering each Host
    name with its :data:`Site` (``"*"``: any other name)."""

    daemon_threads = True

    def __init__(self, address: str, clock: WorldClock) -> None:
        self.address_family = socket.AF_INET6 if ":" in address else socket.AF_INET
        super().__init__((address, 0), _Handler)
        self.address = address
        self.clock = clock
        self.sites: dict[str, Site] = {}
        self.requests: list[tuple[str, str, datetime]] = []
        self._thread = threading.Thread(target=self.serve_forever, daemon=True,
                                        name=f"live-world-{address}")
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def url(self, host: str | None = None) -> str:
        """The server's base URL under ``host`` (default: its address)."""
        name = host or (f"[{self.address}]" if ":" in self.address else self.address)
        return f"http://{name}:{self.port}"

    def close(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)


def channel_site(channels: dict[str, Channel]) -> Site:
    """A host serving ``channels`` by path prefix: ``/PREFIX/index.m3u8`` (the media
    playlist), ``/PREFIX/master.m3u8`` (a master playlist offering it) and its segments."""

    def answer(path: str, query: str, now: datetime) -> Reply:
        prefix, _, name = path.rpartition("/")
        channel = channels.get(prefix)
        if channel is None:
            return NOT_FOUND
        outage = channel.outage(now)
        if outage is not None:
            return Reply(0, reset=True) if outage.kind == "reset" else NOT_FOUND
        if name == "index.m3u8":
            text = channel.playlist(now)
            return NOT_FOUND if text is None else Reply(200, M3U8, text.encode())
        if name == "master.m3u8":
            return Reply(200, M3U8, MASTER)
        body = channel.segment(name, now)
        return NOT_FOUND if body is None else Reply(200, "video/mp2t", body)

    return answer


# --- pirate pages -------------------------------------------------------------------------

@dataclass(frozen=True)
class Page:
    """A page of the pirate site, there from ``appears_at`` (None: always)."""

    path: str
    title: str
    body: str
    appears_at: datetime | None = None
    linked: bool = True  # from the index page and the search page

    def there(self, now: datetime) -> bool:
        return self.appears_at is None or now >= self.appears_at


def _html(title: str, body: str) -> bytes:
    return (f"<!doctype html><html><head><title>{html.escape(title)}</title></head>"
            f"<body><h1>{html.escape(title)}</h1>{body}</body></html>").encode()


def player_config(url: str) -> str:
    """A player's config JSON in the page, as web players are set up."""
    config = {"autoplay": True, "sources": [{"file": url, "type": "hls"}]}
    return (f'<div id="player"></div><script type="application/json" id="player-config">'
            f"{json.dumps(config)}</script>")


def pirate_site(pages: list[Page]) -> Site:
    """The pirate site: its pages as they appear, an index linking them, and a search page
    (``/search?q=``) listing the pages whose title has every word of the query."""

    def answer(path: str, query: str, now: datetime) -> Reply:
        there = [p for p in pages if p.there(now)]
        if path in ("/", "/index.html"):
            links = "".join(f'<li><a href="{p.path}">{html.escape(p.title)}</a></li>'
                            for p in there if p.linked)
            return Reply(200, HTML, _html("LiveSportz - free streams", f"<ul>{links}</ul>"
                         '<form action="/search"><input name="q"></form>'))
        if path == "/search":
            words = re.findall(r"\w+", parse_qs(query).get("q", [""])[0].lower())
            found = [p for p in there if p.linked and words
                     and all(w in re.findall(r"\w+", p.title.lower()) for w in words)]
            links = "".join(f'<li><a href="{p.path}">{html.escape(p.title)}</a></li>'
                            for p in found)
            return Reply(200, HTML, _html("Search results", f"<ul>{links}</ul>"))
        page = next((p for p in there if p.path == path), None)
        return NOT_FOUND if page is None else Reply(200, HTML, _html(page.title, page.body))

    return answer


# --- streams with faults ------------------------------------------------------------------

def _endless() -> Iterator[bytes]:
    packet = b"\x47\x1f\xff\x10" + b"\xff" * 184  # MPEG-TS null packets, for ever
    chunk = packet * 348
    for _ in range(ENDLESS_CAP // len(chunk)):
        yield chunk


def fault_site(world: LiveWorld) -> Site:
    """``bad-streams.test``: one stream per fault, ``/FAULT/index.m3u8``."""
    lawful = world.media.lawful
    # a playlist that stands still: the same three segments for ever, and no end
    looping = Channel(HlsMedia(lawful.segments[:3], lawful.files),
                      world.start - timedelta(hours=1), 1e9, ends=False)
    on_air = world.start - timedelta(seconds=ON_AIR_BEFORE_S)
    gone = Channel(lawful.repeated(3), on_air, RESTREAM_WINDOW_S)
    locked = Channel(world.media.encrypted.repeated(3), on_air, RESTREAM_WINDOW_S)
    streams = channel_site({"/loop": looping, "/locked": locked})

    def endless_playlist(now: datetime, segment: str) -> Reply:
        first = max(0, int((now - world.start).total_seconds() // SEGMENT_S) - 3)
        lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:4",
                 f"#EXT-X-MEDIA-SEQUENCE:{first}"]
        for n in range(first, first + 3):
            lines += ["#EXT-X-PROGRAM-DATE-TIME:" + _iso(world.at(SEGMENT_S * n)),
                      "#EXTINF:4.000000,", segment.format(n=n)]
        return Reply(200, M3U8, ("\n".join(lines) + "\n").encode())

    def answer(path: str, query: str, now: datetime) -> Reply:
        if path == "/gone/index.m3u8":
            text = gone.playlist(now)
            return NOT_FOUND if text is None else Reply(200, M3U8, text.encode())
        if path == "/endless/index.m3u8":
            return endless_playlist(now, "live{n}.ts")
        if path.startswith("/endless/live"):
            return Reply(200, "video/mp2t", chunks=_endless)
        if path == "/huge/index.m3u8":
            return endless_playlist(now, "big{n}.ts")
        if path.startswith("/huge/big"):  # declares 10 GB, then streams for ever
            return Reply(200, "video/mp2t", headers=(("Content-Length", str(10 * 10**9)),),
                         chunks=_endless)
        if path == "/inside/index.m3u8":
            return endless_playlist(now, "http://intranet.test/live/seg{n}.ts")
        if path.startswith("/gone/"):
            return NOT_FOUND
        return streams(path, query, now)

    return answer


# --- the world ----------------------------------------------------------------------------

def resolver(names: dict[str, str]) -> Callable[[str, int], list[str]]:
    """A resolver (as the sampler takes) answering from ``names``: an address literal is
    itself; a name it does not know raises ``socket.gaierror``, as a failed lookup does."""

    def resolve(host: str, port: int) -> list[str]:
        name = host.strip("[]").lower()
        try:
            return [str(ipaddress.ip_address(name))]
        except ValueError:
            pass
        if name not in names:
            raise socket.gaierror(socket.EAI_NONAME, f"unknown host {host}")
        return [names[name]]

    return resolve


@dataclass(frozen=True)
class Restream:
    """A pirate restream: its playlist, the page that embeds it, its true delay."""

    url: str
    host: str
    page_url: str
    delay_s: float
    appears_at: datetime


class LiveWorld:
    """The official feed, the pirates' streams and pages, the lawful stream and the CDN,
    served live from ``clock`` while the ``with`` block runs. The programme airs on the
    feed from ``start``."""

    def __init__(self, media: WorldMedia, clock: WorldClock, start: datetime, *,
                 delays: Sequence[float] = DELAYS, appear: Sequence[float] = APPEAR) -> None:
        self.media, self.clock, self.start = media, clock, start
        self.feed = Channel(media.official, start, FEED_WINDOW_S)
        self._delays, self._appear = tuple(delays), tuple(appear)
        self._servers: list[WorldServer] = []
        self._names: dict[str, str] = {}

    def __enter__(self) -> LiveWorld:
        clock, start = self.clock, self.start
        feed, origin, cdn, pages = (WorldServer(a, clock) for a in
                                    ("127.0.0.1", "127.0.0.1", CDN_ADDRESS, "127.0.0.1"))
        self._servers = [feed, origin, cdn, pages]
        self.feed_server, self.origin, self.cdn, self.pages = feed, origin, cdn, pages
        feed.sites["*"] = channel_site({"/live/official": self.feed})
        self.feed_url = f"{feed.url()}/live/official/index.m3u8"

        one = Channel(self.media.pirates[0], self.at(self._delays[0]), RESTREAM_WINDOW_S)
        two = Channel(self.media.pirates[1], self.at(self._delays[1]), RESTREAM_WINDOW_S)
        self.lawful = Channel(self.media.lawful.repeated(3),
                              start - timedelta(seconds=ON_AIR_BEFORE_S), RESTREAM_WINDOW_S)
        self.origin_channels = {"/hls/match": one}
        origin.sites["stream-one.test"] = channel_site(self.origin_channels)
        origin.sites["bad-streams.test"] = fault_site(self)
        cdn_channels = {"/live/final": two, "/tv/news": self.lawful}
        for host in CDN_HOSTS:
            cdn.sites[host] = channel_site(cdn_channels)
        self._names = {"stream-one.test": "127.0.0.1", "bad-streams.test": "127.0.0.1",
                       "intranet.test": PRIVATE_ADDRESS,
                       **dict.fromkeys(CDN_HOSTS, CDN_ADDRESS)}

        base = pages.url()
        one_url = f"{origin.url('stream-one.test')}/hls/match/index.m3u8"
        two_url = f"{cdn.url('stream-two.test')}/live/final/master.m3u8"  # a master playlist
        self.lawful_url = f"{cdn.url('lawful-tv.test')}/tv/news/index.m3u8"
        appear_one, appear_two = self.at(self._appear[0]), self.at(self._appear[1])
        site_pages = [
            Page("/live/cup-final-one.html", f"{EVENT_TITLE} live stream HD",
                 f'<video src="{one_url}" controls autoplay></video>', appear_one),
            Page("/live/cup-final-two.html", f"{EVENT_TITLE} live free",
                 '<iframe src="/embed/two.html" width="640" height="360"></iframe>', appear_two),
            Page("/embed/two.html", "player", player_config(two_url), appear_two, linked=False),
            Page("/news.html", "City news live", player_config(self.lawful_url)),
        ]
        pages.sites["*"] = pirate_site(site_pages)
        self.pirate_url = base + "/"
        self.restreams = (
            Restream(one_url, "stream-one.test", base + site_pages[0].path, self._delays[0],
                     appear_one),
            Restream(two_url, "stream-two.test", base + site_pages[1].path, self._delays[1],
                     appear_two),
        )
        bad = origin.url("bad-streams.test")
        # The recorded outcome each fault stream must get (LIVE_CHECK_OUTCOMES).
        self.faults = {"looping": f"{bad}/loop/index.m3u8",
                       "not_found": f"{bad}/gone/index.m3u8",
                       "encrypted": f"{bad}/locked/index.m3u8",
                       "too_large": f"{bad}/endless/index.m3u8",
                       "too_large_declared": f"{bad}/huge/index.m3u8",
                       "refused": f"{bad}/inside/index.m3u8"}
        return self

    def __exit__(self, *exc: object) -> None:
        for server in self._servers:
            server.close()

    def at(self, seconds: float) -> datetime:
        """The clock time ``seconds`` after the programme's start."""
        return self.start + timedelta(seconds=seconds)

    def elapsed(self) -> float:
        """Seconds since the programme's start, by the clock."""
        return (self.clock() - self.start).total_seconds()

    def search_url(self, query: str) -> str:
        return f"{self.pirate_url}search?q={query.replace(' ', '+')}"

    def drop_feed(self, start_s: float, end_s: float, kind: str = "404") -> Outage:
        """The feed goes down from ``start_s`` to ``end_s`` after the start (declare it before
        the clock gets there): requests get ``kind`` (404, or "reset": a dropped connection)."""
        outage = Outage(self.at(start_s), self.at(end_s), kind)
        self.feed.outages.append(outage)
        return outage

    def add_restreams(self, count: int, *, delays: tuple[float, float] = DELAYS) -> list[str]:
        """``count`` more restreams of the programme (restream one's media), each under its
        own host name (``r01.test``, ...) on the origin, delays spread over ``delays``."""
        urls = []
        for n in range(1, count + 1):
            host = f"r{n:02d}.test"
            delay = delays[0] + (delays[1] - delays[0]) * (n - 1) / max(1, count - 1)
            channel = Channel(self.media.pirates[n % 2], self.at(delay), RESTREAM_WINDOW_S)
            self.origin.sites[host] = channel_site({"/hls/match": channel})
            self._names[host] = "127.0.0.1"
            urls.append(f"{self.origin.url(host)}/hls/match/index.m3u8")
        return urls

    def address_book(self) -> dict[str, str]:
        """The world's DNS: host name -> address (see :func:`resolver`)."""
        return dict(self._names)

    def resolve(self, host: str, port: int) -> list[str]:
        """The addresses ``host`` has in the world's DNS (see :func:`resolver`)."""
        return resolver(self._names)(host, port)

    def requests(self) -> list[tuple[str, str, datetime]]:
        """(host name, path, clock time) of every request any server answered, in order."""
        return sorted((r for s in self._servers for r in s.requests), key=lambda r: r[2])


def session_media(tmp_path_factory: pytest.TempPathFactory) -> WorldMedia:
    """The world's media, made once per test run (whichever xdist worker needs it first)."""
    directory, _ = built_once(tmp_path_factory, "live_world_media", make_media)
    return load_media(directory)


def fetch(world: LiveWorld, url: str, *, cap: int = 50 * 2**20) -> tuple[int, bytes]:
    """GET ``url`` through the world's resolver (at most ``cap`` bytes of body): status, body."""
    parts = urlsplit(url)
    assert parts.hostname is not None
    address = world.resolve(parts.hostname, parts.port or 80)[0]
    connection = http.client.HTTPConnection(address, parts.port or 80, timeout=30)
    try:
        connection.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""),
                           headers={"Host": parts.netloc})
        response = connection.getresponse()
        return response.status, response.read(cap)
    finally:
        connection.close()
