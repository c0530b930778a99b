"""Sampling a stream: its playlist and newest segment fetched safely (outbound policy, size
caps, timeouts), with what a WARC record needs kept.

Every fetch (playlist, variant, initialisation section, segment, and each redirect hop)
resolves its host once (``resolve``, the system resolver by default), checks the
addresses against the outbound-request policy (:class:`swordnet.core.outbound.AddressPolicy`)
and connects to the first allowed one by address, sending the URL's ``Host`` (and, over
TLS, its name for SNI and the certificate check): a name that resolves elsewhere the second
time (DNS rebinding) is never looked up again. Only http(s) is fetched. A body is read
up to its cap and no further (a "segment" that never ends costs the cap, then the
connection is closed); ``timeout_s`` bounds each fetch as a whole, redirects included.

:meth:`StreamSampler.sample` walks master playlist → lowest-bandwidth variant with video
(:func:`matching.playlists.pick_variant`) → media playlist → newest segment, and says what
it found as one outcome (:data:`OUTCOMES`). :meth:`StreamSampler.new_segments` is the
official feed's intake: every newer segment, oldest first.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urljoin

import urllib3
from urllib3.exceptions import (
    HTTPError,
    LocationParseError,
    NewConnectionError,
    ProtocolError,
    SSLError,
)
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.util import parse_url

from matching.playlists import (
    MediaPlaylist,
    PlaylistError,
    Segment,
    Variant,
    parse_playlist,
    pick_variant,
)
from swordnet.core.outbound import AddressPolicy, host_address

# "ok", then the failure outcomes (a subset of swordnet.core.models.LIVE_CHECK_OUTCOMES).
OUTCOMES = ("ok", "offline", "not_found", "encrypted", "refused", "too_large", "looping",
            "bad_playlist", "failed")
USER_AGENT = "Mozilla/5.0 (compatible; Swordnet/0.1; copyright monitoring)"
MAX_REDIRECTS = 4
REDIRECTS = (301, 302, 303, 307, 308)
# Streams whose last listing is remembered (to tell a playlist that cycles the same segments).
MAX_REMEMBERED = 10_000
_CHUNK = 65_536


@dataclass(frozen=True)
class Fetched:
    """One HTTP exchange as received: what the evidence (WARC) and the Capture need.
    ``url`` is the URL that answered (after redirects), ``ip`` the address connected to,
    ``fetched_at`` when the request was sent, ``reason`` the HTTP reason phrase."""

    url: str
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    ip: str | None
    fetched_at: datetime
    request_headers: list[tuple[str, str]] = field(default_factory=list)
    reason: str = ""


@dataclass(frozen=True)
class Sample:
    """What sampling a stream found. ``outcome`` is "ok" (a segment fetched) or one of the
    failure outcomes of ``swordnet.core.models.LIVE_CHECK_OUTCOMES`` (offline, not_found,
    encrypted, refused, too_large, looping, bad_playlist, failed), with a one-line reason.
    ``init`` is the segment's initialisation section (fMP4), fetched when it has one;
    ``discontinuity``: the playlist marks the segment as starting a new timeline."""

    outcome: str
    reason: str
    playlists: list[Fetched]  # master then media playlist, as fetched
    segment: Fetched | None
    sequence: int | None
    duration: float | None
    edge: float | None  # wall-clock time (epoch s) the segment went live at its source
    init: Fetched | None = None
    discontinuity: bool = False

    @property
    def media(self) -> bytes:
        """The bytes a decoder takes: the initialisation section, then the segment."""
        return (self.init.body if self.init else b"") + (self.segment.body
                                                         if self.segment else b"")


class _Stop(Exception):
    """A fetch or a check that ends the sample with ``outcome``."""

    def __init__(self, outcome: str, reason: str) -> None:
        super().__init__(reason)
        self.outcome, self.reason = outcome, reason


def _short(url: str) -> str:
    return url if len(url) <= 120 else url[:117] + "..."


def system_resolve(host: str, port: int) -> list[str]:
    """The addresses the system resolver gives for ``host`` (TCP), in its order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def edge_of(segment: Segment, media: MediaPlaylist, fetched_at: datetime) -> float:
    """When ``segment`` went live at its source (epoch s): its program time if the playlist
    gives one, else the playlist's fetch time less the durations of it and every segment
    after it (the newest segment's content was all there when the playlist was fetched)."""
    if segment.program_time is not None:
        return segment.program_time.timestamp()
    after = [s.duration for s in media.segments if s.sequence >= segment.sequence]
    return fetched_at.timestamp() - sum(after)


class StreamSampler:
    """Fetches playlists and segments within the outbound policy and the caps."""

    def __init__(self, policy: AddressPolicy, *, max_playlist_bytes: int = 1_000_000,
                 max_segment_bytes: int = 20_000_000, timeout_s: float = 15.0,
                 clock: Callable[[], datetime],
                 resolve: Callable[[str, int], Sequence[str]] | None = None) -> None:
        """``resolve`` maps (host, port) to addresses (default: the system resolver); every
        address is checked against ``policy`` and the connection made to a checked one."""
        self.policy = policy
        self.max_playlist_bytes, self.max_segment_bytes = max_playlist_bytes, max_segment_bytes
        self.timeout_s, self.clock = timeout_s, clock
        self.resolve = resolve or system_resolve
        self._listings: OrderedDict[str, dict[str, int]] = OrderedDict()
        self._lock = threading.Lock()

    def sample(self, url: str, *, last_sequence: int | None = None) -> Sample:
        """Fetch ``url``'s playlist and its newest segment; ``last_sequence`` (the newest
        sequence the previous sample saw) lets a playlist that loops or stands still be told."""
        playlists: list[Fetched] = []
        segment: Segment | None = None
        edge: float | None = None
        try:
            media, fetched = self._media_playlist(url, playlists)
            if not media.segments:
                raise _Stop("offline", f"{_short(url)} lists no segment yet")
            segment = media.segments[-1]
            edge = edge_of(segment, media, fetched.fetched_at)
            self._check_live(url, media, last_sequence)
            if segment.encrypted:
                return Sample("encrypted", f"segment {segment.sequence} of {_short(url)} is "
                              "encrypted (not fetched)", playlists, None, segment.sequence,
                              segment.duration, edge)
            init = self._get(segment.init_url, self.max_segment_bytes, "initialisation "
                             "section") if segment.init_url else None
            body = self._get(segment.url, self.max_segment_bytes, "segment")
            return Sample("ok", "", playlists, body, segment.sequence, segment.duration, edge,
                          init)
        except _Stop as stop:
            return Sample(stop.outcome, stop.reason, playlists, None,
                          segment.sequence if segment else None,
                          segment.duration if segment else None, edge)

    def new_segments(self, url: str, *, after_sequence: int | None,
                     limit: int = 10) -> list[Sample]:
        """Every segment after ``after_sequence`` still listed (the whole window when None),
        oldest first, at most ``limit``: what the official feed's reference takes in.

        With more new segments than ``limit``, the oldest ones (the next call goes on from
        the last); with None, the newest ``limit``. A listing whose newest sequence is
        below ``after_sequence`` by more than its length is a restarted feed: taken as
        None. A playlist that cannot be had is one failure sample (no sequence); a segment
        that cannot be is a failure sample with its sequence, and the others still come.
        """
        playlists: list[Fetched] = []
        try:
            media, fetched = self._media_playlist(url, playlists)
        except _Stop as stop:
            return [Sample(stop.outcome, stop.reason, playlists, None, None, None, None)]
        listed = list(media.segments)
        if (after_sequence is not None and listed
                and listed[-1].sequence < after_sequence - len(listed)):
            after_sequence = None
        if limit <= 0:
            chosen = []
        elif after_sequence is None:
            chosen = listed[-limit:]
        else:
            chosen = [s for s in listed if s.sequence > after_sequence][:limit]
        inits: dict[str, Fetched] = {}
        samples = []
        for segment in chosen:
            edge = edge_of(segment, media, fetched.fetched_at)
            if segment.encrypted:
                samples.append(Sample("encrypted", f"segment {segment.sequence} of "
                                      f"{_short(url)} is encrypted (not fetched)", playlists,
                                      None, segment.sequence, segment.duration, edge))
                continue
            try:
                init = None
                if segment.init_url:
                    init = inits.get(segment.init_url) or self._get(
                        segment.init_url, self.max_segment_bytes, "initialisation section")
                    inits[segment.init_url] = init
                body = self._get(segment.url, self.max_segment_bytes, "segment")
                samples.append(Sample("ok", "", playlists, body, segment.sequence,
                                      segment.duration, edge, init, segment.discontinuity))
            except _Stop as stop:
                samples.append(Sample(stop.outcome, stop.reason, playlists, None,
                                      segment.sequence, segment.duration, edge))
        return samples

    # --- playlists -------------------------------------------------------------------------

    def _media_playlist(self, url: str,
                        playlists: list[Fetched]) -> tuple[MediaPlaylist, Fetched]:
        """The media playlist at ``url``, through its master playlist's chosen variant."""
        fetched = self._get(url, self.max_playlist_bytes, "playlist")
        playlists.append(fetched)
        parsed = self._parse(fetched)
        if isinstance(parsed, list):
            variant = pick_variant(parsed)
            fetched = self._get(variant.url, self.max_playlist_bytes, "playlist")
            playlists.append(fetched)
            parsed = self._parse(fetched)
            if isinstance(parsed, list):
                raise _Stop("bad_playlist", f"variant {_short(variant.url)} is itself a master "
                            "playlist")
        return parsed, fetched

    def _parse(self, fetched: Fetched) -> MediaPlaylist | list[Variant]:
        try:
            text = fetched.body.decode("utf-8")
        except UnicodeDecodeError:
            raise _Stop("bad_playlist", f"playlist {_short(fetched.url)} is not UTF-8 text") \
                from None
        try:
            return parse_playlist(text, fetched.url, now=fetched.fetched_at)
        except PlaylistError as exc:
            raise _Stop("bad_playlist", f"playlist {_short(fetched.url)}: {exc}") from None

    def _check_live(self, url: str, media: MediaPlaylist, last_sequence: int | None) -> None:
        """Raises "looping" for a playlist that is not a live stream going forward."""
        newest = media.segments[-1].sequence
        if media.ended:
            raise _Stop("looping", f"{_short(url)} has ended (a recording played as live)")
        if last_sequence is not None and newest < last_sequence:
            raise _Stop("looping", f"{_short(url)} went back from sequence {last_sequence} to "
                        f"{newest}")
        if last_sequence is not None and newest == last_sequence:
            raise _Stop("looping", f"{_short(url)} stands still at sequence {newest}")
        listing: dict[str, int] = {}
        for segment in media.segments:
            if segment.url in listing:
                raise _Stop("looping", f"{_short(url)} lists {_short(segment.url)} twice "
                            f"(sequences {listing[segment.url]} and {segment.sequence})")
            listing[segment.url] = segment.sequence
        with self._lock:
            before = self._listings.pop(url, {})
            self._listings[url] = listing
            while len(self._listings) > MAX_REMEMBERED:
                self._listings.popitem(last=False)
        for segment_url, sequence in listing.items():
            if before.get(segment_url, sequence) != sequence:
                raise _Stop("looping", f"{_short(url)} repeats {_short(segment_url)} (sequence "
                            f"{before[segment_url]}, now {sequence})")

    # --- HTTP ------------------------------------------------------------------------------

    def _get(self, url: str, cap: int, what: str) -> Fetched:
        """GET ``url`` (following redirects) as a 2xx answer; anything else stops the sample."""
        fetched = self._fetch(url, cap, what)
        if 200 <= fetched.status < 300:
            return fetched
        answer = f"{what} {_short(fetched.url)} answered HTTP {fetched.status}"
        if fetched.status in (404, 410):
            raise _Stop("not_found", answer)
        if fetched.status >= 500:
            raise _Stop("offline", answer)
        raise _Stop("failed", answer)

    def _fetch(self, url: str, cap: int, what: str) -> Fetched:
        deadline = time.monotonic() + self.timeout_s
        for _ in range(MAX_REDIRECTS + 1):
            fetched, location = self._exchange(url, cap, what, deadline)
            if fetched.status not in REDIRECTS or not location:
                return fetched
            url = urljoin(url, location)
        raise _Stop("failed", f"{what} {_short(url)}: more than {MAX_REDIRECTS} redirects")

    def _address(self, host: str, port: int, what: str, url: str) -> str:
        """An address of ``host`` the policy allows (resolved once, here)."""
        literal = host_address(host)
        if literal is not None:
            addresses: Sequence[str] = [str(literal)]
        else:
            try:
                addresses = self.resolve(host, port)
            except (OSError, UnicodeError):
                raise _Stop("offline", f"{what} {_short(url)}: cannot resolve {host}") from None
        refusals = []
        for address in addresses:
            try:
                refusal = self.policy.refusal(address)
            except ValueError:
                refusal = "refused: not an IP address"
            if refusal is None:
                return address
            refusals.append(refusal)
        if not refusals:
            raise _Stop("offline", f"{what} {_short(url)}: cannot resolve {host}")
        raise _Stop("refused", f"{what} {_short(url)}: {refusals[0]}")

    def _exchange(self, url: str, cap: int, what: str,
                  deadline: float) -> tuple[Fetched, str | None]:
        """One request to a checked address; the answer, and where it redirects."""
        try:
            parts = parse_url(url)  # IDNA host, percent-encoded path
        except LocationParseError:
            raise _Stop("failed", f"{what} URL is malformed: {_short(url)}") from None
        scheme = (parts.scheme or "").lower()
        if scheme not in ("http", "https") or not parts.host:
            raise _Stop("refused", f"{what} URL is not http(s): {_short(url)}")
        tls = scheme == "https"
        hostname = parts.host.strip("[]")
        port = parts.port or (443 if tls else 80)
        address = self._address(hostname, port, what, url)
        request_headers = [("Host", parts.netloc or hostname), ("User-Agent", USER_AGENT),
                           ("Accept", "*/*"), ("Accept-Encoding", "identity"),
                           ("Connection", "close")]
        remaining = max(deadline - time.monotonic(), 0.01)
        timeout = urllib3.Timeout(connect=remaining, read=remaining)
        pool: urllib3.HTTPConnectionPool
        if tls:
            pool = urllib3.HTTPSConnectionPool(address, port, timeout=timeout, maxsize=1,
                                               retries=False, server_hostname=hostname,
                                               assert_hostname=hostname)
        else:
            pool = urllib3.HTTPConnectionPool(address, port, timeout=timeout, maxsize=1,
                                              retries=False)
        fetched_at = self.clock()
        try:
            response = pool.urlopen("GET", parts.request_uri, headers=dict(request_headers),
                                    redirect=False, retries=False, preload_content=False,
                                    assert_same_host=False)
            try:
                body = self._body(response, cap, what, url, deadline) \
                    if 200 <= response.status < 300 else b""
            finally:
                response.close()
        except (NewConnectionError, ConnectionError):
            raise _Stop("offline", f"{what} {_short(url)}: no connection to "
                        f"{parts.hostname}") from None
        except Urllib3Timeout:
            raise _Stop("offline", f"{what} {_short(url)}: no answer within "
                        f"{self.timeout_s:g} s") from None
        except ProtocolError:
            raise _Stop("offline", f"{what} {_short(url)}: the connection broke off") from None
        except SSLError:
            raise _Stop("failed", f"{what} {_short(url)}: TLS failed") from None
        except (HTTPError, OSError, ValueError) as exc:
            raise _Stop("failed", f"{what} {_short(url)}: {type(exc).__name__}") from None
        finally:
            pool.close()
        fetched = Fetched(url, response.status, list(response.headers.items()), body, address,
                          fetched_at, request_headers, response.reason or "")
        return fetched, response.headers.get("Location")

    def _body(self, response: urllib3.BaseHTTPResponse, cap: int, what: str, url: str,
              deadline: float) -> bytes:
        """The body, read up to ``cap`` bytes and before ``deadline``, and no further."""
        too_large = _Stop("too_large", f"{what} {_short(url)} is over {cap} bytes")
        declared = response.headers.get("Content-Length", "")
        if declared.strip().isdigit() and int(declared) > cap:
            raise too_large
        chunks, size = [], 0
        while chunk := response.read1(_CHUNK):
            size += len(chunk)
            if size > cap:
                raise too_large
            if time.monotonic() > deadline:
                raise _Stop("offline", f"{what} {_short(url)}: not complete within "
                            f"{self.timeout_s:g} s")
            chunks.append(chunk)
        return b"".join(chunks)

