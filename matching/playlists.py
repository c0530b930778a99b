"""HLS and DASH playlists parsed: a master playlist's variants, a media playlist's segments.

Pure: text in, data out, no I/O (:mod:`swordnet.live.sampler` fetches). Every URL is
resolved against the playlist's own URL; nothing here decides whether it may be fetched.

- **HLS** is read by the ``m3u8`` library (globocom's, the maintained Python parser of the
  whole tag set). Here: which variants a master playlist offers (BANDWIDTH, RESOLUTION,
  CODECS), and per media segment its sequence number (EXT-X-MEDIA-SEQUENCE onwards), its
  EXTINF duration, its program time (an EXT-X-PROGRAM-DATE-TIME carried forward by the
  durations, but not across an EXT-X-DISCONTINUITY that gives no new one), whether an
  EXT-X-KEY with a METHOD other than NONE covers it, and its EXT-X-MAP initialisation section.
  Byte-range segments (EXT-X-BYTERANGE: parts of one file, VOD and I-frame playlists) are
  refused, not sampled.
- **DASH**: the MPD (XML read by defusedxml: no DTD, no entity expansion) becomes one media
  playlist. Its segments are those of one representation of the period airing at ``now``
  (the last period of a static MPD), chosen by :func:`_rank`: the lowest-bandwidth video
  representation that carries its sound (muxed audio codecs), else the lowest-bandwidth video
  one (frames only: separate audio adaptation sets are not sampled), else the lowest-bandwidth
  audio one. Segments come from a SegmentTemplate (``$Number$``, ``$Time$``,
  ``$RepresentationID$``, ``$Bandwidth$``, with ``%0Nd`` widths; fixed ``duration`` or a
  SegmentTimeline), a SegmentList, or a lone BaseURL (static only), with BaseURL resolved
  level by level. In a dynamic MPD a segment is listed once it is available at ``now``
  (its end has passed: availabilityStartTime + Period@start + its end time) and while it
  is inside timeShiftBufferDepth; its program time is when its first frame aired. A
  ContentProtection element marks the representation's segments encrypted.

Input over :data:`MAX_PLAYLIST_CHARS`, or not one of these, is a :class:`PlaylistError` with
a one-line reason. At most :data:`MAX_SEGMENTS` (the newest) are kept of a DASH list, which
a template can make endless.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin
from xml.etree.ElementTree import Element

import m3u8
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError as XmlParseError
from defusedxml.ElementTree import fromstring

from matching.signal import ContentRejected

MAX_PLAYLIST_CHARS = 2_000_000
MAX_SEGMENTS = 5_000
_AUDIO_CODECS = ("mp4a", "ac-3", "ec-3", "ac-4", "opus", "vorbis", "flac", "mp3", "dtsc")
_VIDEO_CODECS = ("avc", "hvc", "hev", "vp8", "vp09", "vp9", "av01", "mp4v", "dvh", "dvav")
_DURATION = re.compile(r"^P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?"
                       r"(?:(\d+(?:\.\d+)?)S)?)?$")
_TEMPLATE_ID = re.compile(r"\$(RepresentationID|Number|Bandwidth|Time)(?:%0(\d{1,2})d)?\$|\$\$")


class PlaylistError(ContentRejected):
    """A playlist that cannot be read; the message names what is wrong with it."""


@dataclass(frozen=True)
class Variant:
    """One rendition a master playlist offers."""

    url: str
    bandwidth: int | None
    resolution: tuple[int, int] | None
    codecs: str | None = None


@dataclass(frozen=True)
class Segment:
    """One media segment of a media playlist. ``init_url``: the initialisation section
    (EXT-X-MAP, DASH ``initialization``) a decoder needs before it; ``discontinuity``: the
    segment starts a new timeline (EXT-X-DISCONTINUITY)."""

    url: str
    sequence: int
    duration: float
    program_time: datetime | None  # EXT-X-PROGRAM-DATE-TIME, or DASH's computed time
    encrypted: bool
    init_url: str | None = None
    discontinuity: bool = False


@dataclass(frozen=True)
class MediaPlaylist:
    """The segments a media playlist lists now, and whether the stream has ended."""

    segments: tuple[Segment, ...]
    target_duration: float
    ended: bool


def parse_playlist(text: str, base_url: str, *, now: datetime) -> MediaPlaylist | list[Variant]:
    """Parse an HLS playlist (master or media) or a DASH MPD; raises :class:`PlaylistError`.

    A master playlist gives its variants, anything else a :class:`MediaPlaylist`; ``now``
    says which segments of a dynamic (live) MPD are available.

    >>> media = parse_playlist("#EXTM3U\\n#EXT-X-MEDIA-SEQUENCE:7\\n#EXTINF:6.0,\\nseg7.ts\\n",
    ...                        "http://cdn.example/live/index.m3u8", now=datetime.now(UTC))
    >>> media.segments[0].url, media.segments[0].sequence, media.ended
    ('http://cdn.example/live/seg7.ts', 7, False)
    >>> parse_playlist("<html>", "http://x.example/", now=datetime.now(UTC))
    Traceback (most recent call last):
    ...
    matching.playlists.PlaylistError: neither an HLS playlist nor a DASH MPD (starts '<html>')
    """
    if len(text) > MAX_PLAYLIST_CHARS:
        raise PlaylistError(f"playlist over {MAX_PLAYLIST_CHARS} characters")
    body = text.lstrip("\ufeff \t\r\n")
    if body.startswith("#EXTM3U"):
        return _parse_hls(body, base_url)
    if body.startswith("<") and "MPD" in body[:4096]:
        return _parse_mpd(body, base_url, _aware(now))
    raise PlaylistError(f"neither an HLS playlist nor a DASH MPD (starts {body[:20]!r})")


def pick_variant(variants: list[Variant]) -> Variant:
    """The variant to sample: the lowest-bandwidth one with video (a RESOLUTION or a video
    codec), else the lowest-bandwidth one; a variant without BANDWIDTH comes last.

    >>> pick_variant([Variant("hd", 5_000_000, (1920, 1080)), Variant("audio", 64_000, None,
    ...               "mp4a.40.2"), Variant("sd", 800_000, (640, 360))]).url
    'sd'
    """
    with_video = [v for v in variants if v.resolution or _has(v.codecs, _VIDEO_CODECS)]
    return min(with_video or variants,
               key=lambda v: v.bandwidth if v.bandwidth is not None else math.inf)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _has(codecs: str | None, prefixes: tuple[str, ...]) -> bool:
    return any(c.strip().lower().startswith(prefixes) for c in (codecs or "").split(","))


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


# --- HLS ---------------------------------------------------------------------------------

def _parse_hls(text: str, base_url: str) -> MediaPlaylist | list[Variant]:
    try:
        parsed = m3u8.loads(text)
        return _hls_variants(parsed, base_url) if parsed.is_variant \
            else _hls_media(parsed, base_url)
    except PlaylistError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise PlaylistError(f"malformed HLS playlist: {_one_line(exc)}") from None


def _hls_variants(parsed: Any, base_url: str) -> list[Variant]:
    variants = [Variant(urljoin(base_url, playlist.uri), playlist.stream_info.bandwidth,
                        playlist.stream_info.resolution, playlist.stream_info.codecs)
                for playlist in parsed.playlists if playlist.uri]
    if not variants:
        raise PlaylistError("master playlist lists no variant URL")
    return variants


def _hls_media(parsed: Any, base_url: str) -> MediaPlaylist:
    sequence = parsed.media_sequence or 0
    if sequence < 0:
        raise PlaylistError(f"negative EXT-X-MEDIA-SEQUENCE {sequence}")
    segments: list[Segment] = []
    carried: datetime | None = None
    for number, item in enumerate(parsed.segments, sequence):
        if item.uri is None:
            raise PlaylistError(f"EXTINF of segment {number} has no URL line after it")
        if item.byterange is not None:
            raise PlaylistError(f"segment {number} is a byte range (EXT-X-BYTERANGE), which "
                                "is not sampled")
        duration = float(item.duration)
        if not math.isfinite(duration) or duration < 0:
            raise PlaylistError(f"segment {number} has EXTINF duration {item.duration!r}")
        if item.program_date_time is not None:
            carried = _aware(item.program_date_time)
        elif item.discontinuity:
            carried = None  # a new timeline that does not say when it starts
        key = item.key
        segments.append(Segment(
            url=urljoin(base_url, item.uri), sequence=number, duration=duration,
            program_time=carried,
            encrypted=key is not None and (key.method or "NONE").upper() != "NONE",
            init_url=urljoin(base_url, item.init_section.uri)
            if item.init_section is not None and item.init_section.uri else None,
            discontinuity=bool(item.discontinuity)))
        if carried is not None:
            carried += timedelta(seconds=duration)
    target = parsed.target_duration
    if target is None:
        target = max((s.duration for s in segments), default=0.0)
    return MediaPlaylist(tuple(segments), float(target), bool(parsed.is_endlist))


# --- DASH --------------------------------------------------------------------------------

def _local(element: Element) -> str:
    return element.tag.rsplit("}", 1)[-1]


def _children(element: Element, name: str) -> list[Element]:
    return [child for child in element if _local(child) == name]


def _child(element: Element | None, name: str) -> Element | None:
    if element is None:
        return None
    found = _children(element, name)
    return found[0] if found else None


def _seconds(value: str | None, what: str) -> float | None:
    """An xs:duration in seconds (days at most: no years or months in a stream)."""
    if value is None:
        return None
    match = _DURATION.match(value.strip())
    if not match or value.strip() in ("P", "PT"):
        raise PlaylistError(f"{what} is not a duration: {value[:40]!r}")
    days, hours, minutes, seconds = (float(part or 0) for part in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def _datetime(value: str | None, what: str) -> datetime | None:
    if value is None:
        return None
    try:
        return _aware(datetime.fromisoformat(value.strip()))
    except ValueError:
        raise PlaylistError(f"{what} is not a date and time: {value[:40]!r}") from None


def _int(element: Element, name: str, default: int) -> int:
    value = _opt_int(element, name)
    return default if value is None else value


def _opt_int(element: Element, name: str) -> int | None:
    value = element.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise PlaylistError(f"{_local(element)}@{name} is not a whole number: "
                            f"{value[:20]!r}") from None


def _base(base: str, *levels: Element) -> str:
    for level in levels:
        node = _child(level, "BaseURL")
        if node is not None and (node.text or "").strip():
            base = urljoin(base, (node.text or "").strip())
    return base


@dataclass(frozen=True)
class _Mpd:
    dynamic: bool
    start: datetime | None  # availabilityStartTime
    buffer_s: float | None  # timeShiftBufferDepth
    now: datetime


@dataclass(frozen=True)
class _Period:
    element: Element
    start_s: float
    duration_s: float | None


@dataclass(frozen=True)
class _Run:
    """Segments ``count`` (None: open-ended) of ``d`` ticks from tick ``t``, numbered from
    ``number``."""

    t: int
    d: int
    count: int | None
    number: int


def _parse_mpd(text: str, base_url: str, now: datetime) -> MediaPlaylist:
    try:
        root = fromstring(text, forbid_dtd=True)
    except DefusedXmlException:
        raise PlaylistError("MPD with a DTD or entities (refused)") from None
    except XmlParseError as exc:
        raise PlaylistError(f"MPD is not well-formed XML: {_one_line(exc)}") from None
    if _local(root) != "MPD":
        raise PlaylistError(f"XML root is <{_local(root)}>, not <MPD>")
    kind = root.get("type", "static")
    if kind not in ("static", "dynamic"):
        raise PlaylistError(f"MPD@type is {kind[:20]!r}, not static or dynamic")
    mpd = _Mpd(kind == "dynamic",
               _datetime(root.get("availabilityStartTime"), "MPD@availabilityStartTime"),
               _seconds(root.get("timeShiftBufferDepth"), "MPD@timeShiftBufferDepth"), now)
    if mpd.dynamic and mpd.start is None:
        raise PlaylistError("dynamic MPD without availabilityStartTime")
    period = _current_period(root, mpd)
    chosen = _representation(period.element)
    if chosen is None:
        return MediaPlaylist((), _max_segment_s(root), ended=not mpd.dynamic)
    adaptation, representation = chosen
    base = _base(base_url, root, period.element, adaptation, representation)
    encrypted = bool(_children(adaptation, "ContentProtection")
                     or _children(representation, "ContentProtection"))
    segments = _representation_segments(mpd, period, adaptation, representation, base,
                                        encrypted)
    target = max((s.duration for s in segments), default=_max_segment_s(root))
    return MediaPlaylist(tuple(segments), target, ended=not mpd.dynamic)


def _max_segment_s(root: Element) -> float:
    return _seconds(root.get("maxSegmentDuration"), "MPD@maxSegmentDuration") or 0.0


def _current_period(root: Element, mpd: _Mpd) -> _Period:
    """The period airing at ``now`` (dynamic), or the last one (static)."""
    elements = _children(root, "Period")
    if not elements:
        raise PlaylistError("MPD has no Period")
    total = _seconds(root.get("mediaPresentationDuration"), "MPD@mediaPresentationDuration")
    starts: list[float] = []
    for index, element in enumerate(elements):
        start = _seconds(element.get("start"), "Period@start")
        if start is None:
            previous = _seconds(elements[index - 1].get("duration"), "Period@duration") \
                if index else 0.0
            if previous is None:
                raise PlaylistError(f"Period {index + 1} has no start and the one before "
                                    "no duration")
            start = starts[-1] + previous if index else 0.0
        starts.append(start)
    index = len(elements) - 1
    if mpd.dynamic and mpd.start is not None:
        elapsed = (mpd.now - mpd.start).total_seconds()
        index = max([i for i, start in enumerate(starts) if start <= elapsed], default=0)
    duration = _seconds(elements[index].get("duration"), "Period@duration")
    if duration is None and index + 1 < len(starts):
        duration = starts[index + 1] - starts[index]
    if duration is None and total is not None:
        duration = total - starts[index]
    return _Period(elements[index], starts[index], duration)


def _rank(adaptation: Element, representation: Element) -> tuple[int, float]:
    """Lower is better: muxed video with sound, then video, then audio; then bandwidth."""
    def attr(name: str) -> str:
        return (representation.get(name) or adaptation.get(name) or "").lower()

    codecs, mime = attr("codecs"), attr("mimeType")
    content = adaptation.get("contentType", "").lower() or mime.split("/")[0]
    video = content == "video" or _has(codecs, _VIDEO_CODECS)
    audio = content == "audio" or _has(codecs, _AUDIO_CODECS)
    kind = 0 if video and audio else 1 if video else 2 if audio else 3
    bandwidth = _opt_int(representation, "bandwidth")
    return kind, float(bandwidth) if bandwidth is not None else math.inf


def _representation(period: Element) -> tuple[Element, Element] | None:
    pairs = [(adaptation, representation)
             for adaptation in _children(period, "AdaptationSet")
             for representation in _children(adaptation, "Representation")]
    if not pairs:
        return None
    return min(pairs, key=lambda pair: _rank(*pair))


def _expand(template: str, representation: Element, number: int | None,
            time: int | None) -> str:
    def value(match: re.Match[str]) -> str:
        name, width = match.group(1), match.group(2)
        if name is None:
            return "$"
        found: object = {"RepresentationID": representation.get("id"),
                         "Bandwidth": representation.get("bandwidth"),
                         "Number": number, "Time": time}[name]
        if found is None:
            raise PlaylistError(f"template {template[:60]!r} uses ${name}$, which is unknown "
                                "here")
        if name == "RepresentationID":
            return str(found)
        return str(found).zfill(int(width)) if width else str(found)

    return _TEMPLATE_ID.sub(value, template)


def _merged(name: str, *levels: Element) -> tuple[dict[str, str], Element | None]:
    """A SegmentTemplate/SegmentList's attributes inherited period → adaptation set →
    representation, and the innermost element found."""
    attributes: dict[str, str] = {}
    innermost = None
    for level in levels:
        element = _child(level, name)
        if element is not None:
            attributes.update(element.attrib)
            innermost = element
    return attributes, innermost


def _representation_segments(mpd: _Mpd, period: _Period, adaptation: Element,
                             representation: Element, base: str,
                             encrypted: bool) -> list[Segment]:
    levels = (period.element, adaptation, representation)
    attributes, template = _merged("SegmentTemplate", *levels)
    if template is None:
        attributes, template = _merged("SegmentList", *levels)
    if template is None:
        if mpd.dynamic:
            raise PlaylistError("dynamic MPD representation has no SegmentTemplate or "
                                "SegmentList")
        return [Segment(base, 1, period.duration_s or 0.0, None, encrypted)]
    holder = Element(_local(template), attributes)
    timescale = _int(holder, "timescale", 1)
    offset = _int(holder, "presentationTimeOffset", 0)
    start_number = _int(holder, "startNumber", 1)
    if timescale <= 0:
        raise PlaylistError(f"timescale {timescale} is not positive")
    timeline = _child(template, "SegmentTimeline")
    urls = [item.get("media", "") for item in _children(template, "SegmentURL")]
    if _local(template) == "SegmentList" and not urls:
        raise PlaylistError("SegmentList without SegmentURL")
    period_end = (offset + period.duration_s * timescale) if period.duration_s is not None \
        else None
    if timeline is not None:
        runs = _timeline_runs(timeline, start_number, period_end, mpd, period, timescale,
                              offset)
    else:
        duration = _opt_int(holder, "duration")
        if duration is None or duration <= 0:
            raise PlaylistError(f"{_local(template)} has neither a positive duration nor a "
                                "SegmentTimeline")
        end_number = _opt_int(holder, "endNumber")
        count: int | None = None
        if end_number is not None:
            count = end_number - start_number + 1
        elif urls:
            count = len(urls)
        elif period_end is not None:
            count = math.ceil((period_end - offset) / duration)
        elif not mpd.dynamic:
            raise PlaylistError("static MPD without mediaPresentationDuration or "
                                "Period@duration")
        runs = [_Run(offset, duration, count, start_number)]
    media = attributes.get("media")
    if _local(template) == "SegmentTemplate" and not media:
        raise PlaylistError("SegmentTemplate without a media template")
    init = attributes.get("initialization")
    if init is None:
        init_node = _child(template, "Initialization")
        init = init_node.get("sourceURL") if init_node is not None else None
    init_url = urljoin(base, _expand(init, representation, None, None)) if init else None
    segments = []
    for number, t, d in _available(runs, mpd, period, timescale, offset):
        if media:
            url = urljoin(base, _expand(media, representation, number, t))
        elif 0 <= number - start_number < len(urls):
            url = urljoin(base, urls[number - start_number])
        else:
            continue
        program = (mpd.start + timedelta(seconds=period.start_s + (t - offset) / timescale)
                   if mpd.dynamic and mpd.start is not None else None)
        segments.append(Segment(url, number, d / timescale, program, encrypted, init_url))
    return segments


def _timeline_runs(timeline: Element, number: int, period_end: float | None, mpd: _Mpd,
                   period: _Period, timescale: int, offset: int) -> list[_Run]:
    entries = _children(timeline, "S")
    runs: list[_Run] = []
    t = 0
    for index, entry in enumerate(entries):
        t = _int(entry, "t", t)
        d = _opt_int(entry, "d")
        if d is None or d <= 0:
            raise PlaylistError(f"SegmentTimeline S {index + 1} has no positive d")
        repeat = _int(entry, "r", 0)
        count: int | None = repeat + 1
        if repeat < 0:  # up to the next S, the period's end, or (live) open-ended
            following = _opt_int(entries[index + 1], "t") if index + 1 < len(entries) \
                else None
            end = following if following is not None else period_end
            if end is None and not mpd.dynamic:
                raise PlaylistError("SegmentTimeline repeats to the end of a period of "
                                    "unknown length")
            count = max(0, math.ceil((end - t) / d)) if end is not None else None
        runs.append(_Run(t, d, count, number))
        if count is None:
            break
        t += count * d
        number += count
    return runs


def _available(runs: list[_Run], mpd: _Mpd, period: _Period, timescale: int,
               offset: int) -> list[tuple[int, int, int]]:
    """(number, time, duration) of each listed segment, oldest first, the newest
    :data:`MAX_SEGMENTS` at most: in a dynamic MPD, those whose end has passed and is
    within the time-shift buffer."""
    low = high = None
    if mpd.dynamic and mpd.start is not None:
        elapsed = (mpd.now - mpd.start).total_seconds() - period.start_s
        high = offset + elapsed * timescale  # media time now
        if mpd.buffer_s is not None:
            low = high - mpd.buffer_s * timescale
    picked: list[tuple[int, int, int]] = []
    for run in reversed(runs):
        last = run.count - 1 if run.count is not None else None
        if high is not None:
            newest = math.floor((high - run.t) / run.d) - 1  # end <= now
            last = newest if last is None else min(last, newest)
        if last is None:
            raise PlaylistError("open-ended segment list in a static MPD")
        first = 0 if low is None else max(0, math.ceil((low - run.t) / run.d) - 1)
        for index in range(last, first - 1, -1):
            if len(picked) >= MAX_SEGMENTS:
                break
            picked.append((run.number + index, run.t + index * run.d, run.d))
    return picked[::-1]
