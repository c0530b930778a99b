"""Playlists parsed: HLS master and media playlists and DASH MPDs, as a live checker reads
them, and malformed or hostile ones refused with a one-line reason. Pure: no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from matching.playlists import (
    MAX_PLAYLIST_CHARS,
    MAX_SEGMENTS,
    MediaPlaylist,
    PlaylistError,
    Segment,
    Variant,
    parse_playlist,
    pick_variant,
)
from matching.signal import ContentRejected

NOW = datetime(2026, 12, 6, 15, 1, 0, tzinfo=UTC)
BASE = "http://cdn.example/live/channel/index.m3u8?token=abc"


def media(text: str, base: str = BASE, now: datetime = NOW) -> MediaPlaylist:
    parsed = parse_playlist(text, base, now=now)
    assert isinstance(parsed, MediaPlaylist)
    return parsed


def variants(text: str, base: str = BASE) -> list[Variant]:
    parsed = parse_playlist(text, base, now=NOW)
    assert isinstance(parsed, list)
    return parsed


def refused(text: str, base: str = BASE, now: datetime = NOW) -> str:
    with pytest.raises(PlaylistError) as caught:
        parse_playlist(text, base, now=now)
    message = str(caught.value)
    assert "\n" not in message and len(message) < 300
    return message


# --- HLS -----------------------------------------------------------------------------------

LIVE = """#EXTM3U
#EXT-X-VERSION:3
#EXT-X-TARGETDURATION:6
#EXT-X-MEDIA-SEQUENCE:1041
#EXTINF:6.006,
seg1041.ts
#EXTINF:5.005,
/abs/seg1042.ts
#EXTINF:6.0,
https://other-cdn.example/x/seg1043.ts?sig=1
"""


def test_live_media_playlist_numbers_and_resolves_its_segments() -> None:
    parsed = media(LIVE)
    assert parsed.target_duration == 6.0 and not parsed.ended
    assert [(s.sequence, s.duration, s.url) for s in parsed.segments] == [
        (1041, 6.006, "http://cdn.example/live/channel/seg1041.ts"),
        (1042, 5.005, "http://cdn.example/abs/seg1042.ts"),
        (1043, 6.0, "https://other-cdn.example/x/seg1043.ts?sig=1"),
    ]
    assert all(not s.encrypted and s.program_time is None and s.init_url is None
               for s in parsed.segments)


def test_a_playlist_without_media_sequence_starts_at_zero_and_endlist_ends_it() -> None:
    parsed = media("#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\na.ts\n#EXTINF:4,\nb.ts\n"
                   "#EXT-X-ENDLIST\n")
    assert [s.sequence for s in parsed.segments] == [0, 1]
    assert parsed.ended


def test_program_date_time_is_carried_forward_and_not_across_a_bare_discontinuity() -> None:
    parsed = media("""#EXTM3U
#EXT-X-TARGETDURATION:4
#EXT-X-MEDIA-SEQUENCE:10
#EXT-X-PROGRAM-DATE-TIME:2026-12-06T15:00:00.000Z
#EXTINF:4.0,
a.ts
#EXTINF:2.5,
b.ts
#EXTINF:4.0,
c.ts
#EXT-X-DISCONTINUITY
#EXTINF:4.0,
ad.ts
#EXT-X-DISCONTINUITY
#EXT-X-PROGRAM-DATE-TIME:2026-12-06T16:00:00+01:00
#EXTINF:4.0,
d.ts
#EXTINF:4.0,
e.ts
""")
    start = datetime(2026, 12, 6, 15, 0, tzinfo=UTC)
    assert [s.program_time for s in parsed.segments] == [
        start, start + timedelta(seconds=4), start + timedelta(seconds=6.5), None,
        start, start + timedelta(seconds=4)]
    assert [s.discontinuity for s in parsed.segments] == [False] * 3 + [True, True, False]


def test_a_program_date_time_without_zone_is_utc() -> None:
    parsed = media("#EXTM3U\n#EXT-X-PROGRAM-DATE-TIME:2026-12-06T15:00:00\n#EXTINF:4,\na.ts\n")
    assert parsed.segments[0].program_time == datetime(2026, 12, 6, 15, 0, tzinfo=UTC)


def test_segments_under_a_key_other_than_none_are_encrypted() -> None:
    parsed = media("""#EXTM3U
#EXT-X-TARGETDURATION:4
#EXTINF:4,
clear.ts
#EXT-X-KEY:METHOD=AES-128,URI="https://keys.example/k1",IV=0x1234
#EXTINF:4,
aes.ts
#EXT-X-KEY:METHOD=SAMPLE-AES,URI="skd://key",KEYFORMAT="com.apple.streamingkeydelivery"
#EXTINF:4,
fairplay.ts
#EXT-X-KEY:METHOD=NONE
#EXTINF:4,
clear-again.ts
""")
    assert [(s.url.rsplit("/", 1)[1], s.encrypted) for s in parsed.segments] == [
        ("clear.ts", False), ("aes.ts", True), ("fairplay.ts", True), ("clear-again.ts", False)]


def test_fmp4_segments_carry_their_initialisation_section() -> None:
    parsed = media('#EXTM3U\n#EXT-X-MAP:URI="init-v1.mp4"\n#EXTINF:2,\np1.m4s\n'
                   '#EXT-X-MAP:URI="init-v2.mp4"\n#EXTINF:2,\np2.m4s\n')
    assert [s.init_url for s in parsed.segments] == [
        "http://cdn.example/live/channel/init-v1.mp4", "http://cdn.example/live/channel/init-v2.mp4"]


def test_an_empty_live_playlist_lists_nothing_and_crlf_bom_and_unknown_tags_pass() -> None:
    assert media("#EXTM3U\r\n#EXT-X-TARGETDURATION:6\r\n").segments == ()
    parsed = media("\ufeff#EXTM3U\r\n#EXT-X-FUTURE-TAG:x=1\r\n#EXTINF:3,\r\na.ts\r\n")
    assert [s.url for s in parsed.segments] == ["http://cdn.example/live/channel/a.ts"]
    assert parsed.target_duration == 3.0  # no TARGETDURATION: the longest segment


MASTER = """#EXTM3U
#EXT-X-STREAM-INF:BANDWIDTH=5000000,RESOLUTION=1920x1080,CODECS="avc1.640028,mp4a.40.2"
hd/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=64000,CODECS="mp4a.40.2"
audio/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360,CODECS="avc1.4d401e,mp4a.40.2"
https://edge.example/sd/index.m3u8
#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=90000,URI="iframes.m3u8"
"""


def test_master_playlist_gives_its_variants_resolved() -> None:
    assert variants(MASTER) == [
        Variant("http://cdn.example/live/channel/hd/index.m3u8", 5_000_000, (1920, 1080),
                "avc1.640028,mp4a.40.2"),
        Variant("http://cdn.example/live/channel/audio/index.m3u8", 64_000, None, "mp4a.40.2"),
        Variant("https://edge.example/sd/index.m3u8", 800_000, (640, 360),
                "avc1.4d401e,mp4a.40.2"),
    ]


def test_the_variant_picked_is_the_lowest_bandwidth_one_with_video() -> None:
    assert pick_variant(variants(MASTER)).url == "https://edge.example/sd/index.m3u8"
    audio_only = [Variant("a", 96_000, None, "mp4a.40.2"), Variant("b", 64_000, None, None)]
    assert pick_variant(audio_only).url == "b"
    unknown = [Variant("x", None, (640, 360)), Variant("y", 900_000, (1280, 720))]
    assert pick_variant(unknown).url == "y"
    assert pick_variant([Variant("v", None, None, "hvc1.1.6.L93.B0")]).url == "v"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "neither an HLS playlist nor a DASH MPD"),
        ("<html><body>player</body></html>", "neither an HLS playlist nor a DASH MPD"),
        ('{"hls": "x.m3u8"}', "neither an HLS playlist nor a DASH MPD"),
        ("seg1.ts\nseg2.ts\n", "neither an HLS playlist nor a DASH MPD"),
        ("#EXTM3U\n#EXTINF:abc,\na.ts\n", "malformed HLS playlist"),
        ("#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:ten\n#EXTINF:4,\na.ts\n", "malformed HLS playlist"),
        ("#EXTM3U\n#EXT-X-TARGETDURATION:x\n", "malformed HLS playlist"),
        ("#EXTM3U\n#EXT-X-PROGRAM-DATE-TIME:yesterday\n#EXTINF:4,\na.ts\n",
         "malformed HLS playlist"),
        ("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=lots\nv.m3u8\n", "malformed HLS playlist"),
        ("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,RESOLUTION=wide\nv.m3u8\n",
         "malformed HLS playlist"),
        ("#EXTM3U\n#EXT-X-KEY:METHOD\n#EXTINF:4,\na.ts\n", "malformed HLS playlist"),
        ("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=100\n", "master playlist lists no variant URL"),
        ("#EXTM3U\n#EXTINF:4,\na.ts\n#EXTINF:4,\n", "EXTINF of segment 1 has no URL line"),
        ("#EXTM3U\n#EXTINF:-4,\na.ts\n", "segment 0 has EXTINF duration"),
        ("#EXTM3U\n#EXTINF:nan,\na.ts\n", "segment 0 has EXTINF duration"),
        ("#EXTM3U\n#EXTINF:4,\n#EXT-X-BYTERANGE:1000@0\nall.mp4\n",
         "segment 0 is a byte range (EXT-X-BYTERANGE), which is not sampled"),
        ("#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:-5\n#EXTINF:4,\na.ts\n",
         "negative EXT-X-MEDIA-SEQUENCE -5"),
    ],
)
def test_malformed_playlists_are_refused_with_a_reason(text: str, reason: str) -> None:
    assert refused(text).startswith(reason)


def test_an_oversized_playlist_is_refused_before_parsing() -> None:
    huge = "#EXTM3U\n" + "#EXTINF:1,\nx.ts\n" * (MAX_PLAYLIST_CHARS // 16 + 1)
    assert refused(huge) == f"playlist over {MAX_PLAYLIST_CHARS} characters"


def test_playlist_error_is_content_rejected() -> None:
    assert issubclass(PlaylistError, ContentRejected)


# --- DASH ----------------------------------------------------------------------------------

def mpd(body: str, kind: str = "dynamic", extra: str = "") -> str:
    start = 'availabilityStartTime="2026-12-06T15:00:00Z" ' if kind == "dynamic" else ""
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="{kind}" {start}{extra}>'
            f"{body}</MPD>")


MUXED_AND_SEPARATE = """
<BaseURL>https://dash.example/event/</BaseURL>
<Period id="p0" start="PT0S">
  <AdaptationSet contentType="video" mimeType="video/mp4" codecs="avc1.64001f">
    <SegmentTemplate timescale="1000" duration="4000" startNumber="1"
        media="$RepresentationID$/seg-$Number%05d$.m4s"
        initialization="$RepresentationID$/init.mp4"/>
    <Representation id="v720" bandwidth="3000000" width="1280" height="720"/>
    <Representation id="v360" bandwidth="500000" width="640" height="360"/>
  </AdaptationSet>
  <AdaptationSet mimeType="video/mp4">
    <SegmentTemplate timescale="1000" duration="4000" media="muxed/$Bandwidth$/$Number$.mp4"/>
    <Representation id="m1" bandwidth="900000" codecs="avc1.4d401e,mp4a.40.2"/>
    <Representation id="m2" bandwidth="700000" codecs="avc1.4d401e,mp4a.40.2"/>
  </AdaptationSet>
  <AdaptationSet contentType="audio" mimeType="audio/mp4" codecs="mp4a.40.2">
    <SegmentTemplate media="a/$Number$.m4s" duration="4"/>
    <Representation id="aud" bandwidth="64000"/>
  </AdaptationSet>
</Period>"""


def test_dash_picks_the_lowest_bandwidth_video_with_sound_and_lists_what_is_available() -> None:
    parsed = media(mpd(MUXED_AND_SEPARATE, extra='timeShiftBufferDepth="PT20S"'),
                   "https://dash.example/event/manifest.mpd", now=NOW)
    assert not parsed.ended and parsed.target_duration == 4.0
    # 60 s after availabilityStartTime: segments 1..15 have ended; the buffer keeps 20 s.
    assert [s.sequence for s in parsed.segments] == [10, 11, 12, 13, 14, 15]
    newest = parsed.segments[-1]
    assert newest.url == "https://dash.example/event/muxed/700000/15.mp4"
    assert newest.program_time == datetime(2026, 12, 6, 15, 0, 56, tzinfo=UTC)
    assert newest.duration == 4.0 and newest.init_url is None and not newest.encrypted
    later = media(mpd(MUXED_AND_SEPARATE, extra='timeShiftBufferDepth="PT20S"'),
                  "https://dash.example/event/manifest.mpd", now=NOW + timedelta(seconds=9))
    assert [s.sequence for s in later.segments][-1] == 17


def test_dash_without_muxed_sound_takes_the_lowest_video_with_its_init_segment() -> None:
    body = MUXED_AND_SEPARATE.replace('codecs="avc1.4d401e,mp4a.40.2"', 'codecs="avc1.4d401e"')
    body = body.replace('<AdaptationSet mimeType="video/mp4">', '<AdaptationSet>')
    parsed = media(mpd(body, extra='timeShiftBufferDepth="PT8S"'), "http://x.example/m.mpd")
    assert [s.url for s in parsed.segments] == [  # ends at 52 s: just inside the 8 s buffer
        "https://dash.example/event/v360/seg-00013.m4s",
        "https://dash.example/event/v360/seg-00014.m4s",
        "https://dash.example/event/v360/seg-00015.m4s"]
    assert parsed.segments[0].init_url == "https://dash.example/event/v360/init.mp4"


def test_dash_before_its_start_lists_nothing() -> None:
    parsed = media(mpd(MUXED_AND_SEPARATE), "http://x.example/m.mpd",
                   now=datetime(2026, 12, 6, 14, 0, tzinfo=UTC))
    assert parsed.segments == ()


TIMELINE = """
<Period start="PT10S">
  <AdaptationSet mimeType="video/mp4" codecs="avc1.64001f,mp4a.40.2">
    <BaseURL>tl/</BaseURL>
    <SegmentTemplate timescale="90000" presentationTimeOffset="900000" startNumber="100"
        media="$RepresentationID$_$Time$.m4s">
      <SegmentTimeline>
        <S t="900000" d="180000" r="2"/>
        <S d="90000"/>
        <S d="180000" r="-1"/>
      </SegmentTimeline>
    </SegmentTemplate>
    <Representation id="r1" bandwidth="1000000">
      <ContentProtection schemeIdUri="urn:mpeg:dash:mp4protection:2011" value="cenc"/>
    </Representation>
  </AdaptationSet>
</Period>"""


def test_dash_segment_timeline_with_open_repeat_times_and_numbers() -> None:
    # Period starts 10 s after AST; now is 60 s after AST, so 50 s of media time have aired:
    # 3 x 2 s + 1 s, then 2 s segments (the open repeat): the newest ends at 49 s.
    parsed = media(mpd(TIMELINE), "http://live.example/a/b.mpd")
    times = [s.url.rsplit("_", 1)[1] for s in parsed.segments]
    assert times[:5] == ["900000.m4s", "1080000.m4s", "1260000.m4s", "1440000.m4s",
                         "1530000.m4s"]
    assert parsed.segments[0].url == "http://live.example/a/tl/r1_900000.m4s"
    assert [s.duration for s in parsed.segments[:5]] == [2.0, 2.0, 2.0, 1.0, 2.0]
    assert parsed.segments[0].sequence == 100
    newest = parsed.segments[-1]
    assert newest.sequence == 100 + 4 + 21 - 1
    assert newest.program_time == datetime(2026, 12, 6, 15, 0, 57, tzinfo=UTC)  # 10 + 47 s
    assert all(s.encrypted for s in parsed.segments)  # ContentProtection


def test_static_dash_with_a_segment_list_ends() -> None:
    body = """<Period duration="PT6S"><AdaptationSet mimeType="video/mp4" codecs="avc1,mp4a">
      <Representation id="only" bandwidth="1"><BaseURL>vod/</BaseURL>
        <SegmentList timescale="1" duration="2">
          <Initialization sourceURL="init.mp4"/>
          <SegmentURL media="one.mp4"/><SegmentURL media="two.mp4"/><SegmentURL media="three.mp4"/>
        </SegmentList></Representation></AdaptationSet></Period>"""
    parsed = media(mpd(body, kind="static"), "http://v.example/film.mpd")
    assert parsed.ended
    assert [(s.sequence, s.url, s.program_time) for s in parsed.segments] == [
        (1, "http://v.example/vod/one.mp4", None), (2, "http://v.example/vod/two.mp4", None),
        (3, "http://v.example/vod/three.mp4", None)]
    assert parsed.segments[0].init_url == "http://v.example/vod/init.mp4"


def test_static_dash_with_a_single_file_is_one_segment() -> None:
    body = """<Period duration="PT1M30S"><AdaptationSet mimeType="video/mp4">
      <Representation id="f" bandwidth="1"><BaseURL>film.mp4</BaseURL><SegmentBase/>
      </Representation></AdaptationSet></Period>"""
    parsed = media(mpd(body, kind="static"), "http://v.example/dir/film.mpd")
    assert parsed.segments == (Segment("http://v.example/dir/film.mp4", 1, 90.0, None, False),)


def test_dash_multi_period_live_takes_the_period_airing_now() -> None:
    body = """<Period id="pre" start="PT0S"><AdaptationSet mimeType="video/mp4">
        <SegmentTemplate duration="5" media="pre-$Number$.ts"/>
        <Representation id="a" bandwidth="1"/>
      </AdaptationSet></Period>
      <Period id="main" start="PT50S"><AdaptationSet mimeType="video/mp4">
        <SegmentTemplate duration="5" media="main-$Number$.ts"/>
        <Representation id="a" bandwidth="1"/>
      </AdaptationSet></Period>"""
    parsed = media(mpd(body), "http://l.example/m.mpd")
    assert [s.url.rsplit("/", 1)[1] for s in parsed.segments] == ["main-1.ts", "main-2.ts"]
    assert parsed.segments[0].program_time == datetime(2026, 12, 6, 15, 0, 50, tzinfo=UTC)


def test_an_endless_dash_window_keeps_only_the_newest_segments() -> None:
    body = """<Period><AdaptationSet mimeType="video/mp4">
      <SegmentTemplate timescale="1000" duration="1" media="$Number$.ts"/>
      <Representation id="a" bandwidth="1"/></AdaptationSet></Period>"""
    parsed = media(mpd(body), "http://l.example/m.mpd")  # 60 000 one-millisecond segments
    assert len(parsed.segments) == MAX_SEGMENTS
    assert parsed.segments[-1].sequence == 60_000


def test_dash_without_representations_lists_nothing() -> None:
    parsed = media(mpd("<Period><AdaptationSet/></Period>", kind="static",
                       extra='maxSegmentDuration="PT4S"'), "http://l.example/m.mpd")
    assert parsed.segments == () and parsed.target_duration == 4.0 and parsed.ended


BOMB = """<?xml version="1.0"?>
<!DOCTYPE MPD [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>
<MPD type="static"><Period><BaseURL>&b;</BaseURL></Period></MPD>"""
EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE MPD [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<MPD type="static"><Period><BaseURL>&x;</BaseURL></Period></MPD>"""


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (BOMB, "MPD with a DTD or entities (refused)"),
        (EXTERNAL, "MPD with a DTD or entities (refused)"),
        ("<MPD type='dynamic'><Period>", "MPD is not well-formed XML"),
        ("<?xml version='1.0'?><html>MPD</html>", "XML root is <html>, not <MPD>"),
        (mpd("<Period/>", kind="vod"), "MPD@type is 'vod', not static or dynamic"),
        ("<MPD type='dynamic'><Period/></MPD>", "dynamic MPD without availabilityStartTime"),
        (mpd(""), "MPD has no Period"),
        (mpd("<Period/>", extra='timeShiftBufferDepth="forever"'),
         "MPD@timeShiftBufferDepth is not a duration"),
        (mpd("<Period/>", extra='timeShiftBufferDepth="P1Y"'),
         "MPD@timeShiftBufferDepth is not a duration"),
        ("<MPD type='dynamic' availabilityStartTime='soon'><Period/></MPD>",
         "MPD@availabilityStartTime is not a date and time"),
        (mpd("<Period><AdaptationSet><Representation id='a' bandwidth='1'/></AdaptationSet>"
             "</Period>"), "dynamic MPD representation has no SegmentTemplate or SegmentList"),
        (mpd("<Period><AdaptationSet><SegmentTemplate media='$Number$.ts'/>"
             "<Representation id='a' bandwidth='1'/></AdaptationSet></Period>"),
         "SegmentTemplate has neither a positive duration nor a SegmentTimeline"),
        (mpd("<Period><AdaptationSet><SegmentTemplate duration='2'/>"
             "<Representation id='a' bandwidth='1'/></AdaptationSet></Period>"),
         "SegmentTemplate without a media template"),
        (mpd("<Period><AdaptationSet><SegmentTemplate duration='x' media='$Number$.ts'/>"
             "<Representation id='a' bandwidth='1'/></AdaptationSet></Period>"),
         "SegmentTemplate@duration is not a whole number"),
        (mpd("<Period><AdaptationSet><SegmentTemplate duration='2' timescale='0' "
             "media='$Number$.ts'/><Representation id='a' bandwidth='1'/></AdaptationSet>"
             "</Period>"), "timescale 0 is not positive"),
        (mpd("<Period><AdaptationSet><SegmentTemplate duration='2' "
             "media='$RepresentationID$.ts'/><Representation bandwidth='1'/></AdaptationSet>"
             "</Period>"), "template '$RepresentationID$.ts' uses $RepresentationID$"),
        (mpd("<Period><AdaptationSet><SegmentTemplate media='$Number$.ts'><SegmentTimeline>"
             "<S t='0'/></SegmentTimeline></SegmentTemplate><Representation id='a' "
             "bandwidth='1'/></AdaptationSet></Period>"), "SegmentTimeline S 1 has no positive d"),
        (mpd("<Period><AdaptationSet><SegmentTemplate duration='2' media='$Number$.ts'/>"
             "<Representation id='a' bandwidth='1'/></AdaptationSet></Period>", kind="static"),
         "static MPD without mediaPresentationDuration or Period@duration"),
        (mpd("<Period><AdaptationSet><SegmentList duration='2'/>"
             "<Representation id='a' bandwidth='1'/></AdaptationSet></Period>"),
         "SegmentList without SegmentURL"),
        (mpd("<Period/><Period/>", kind="static"),
         "Period 2 has no start and the one before no duration"),
    ],
)
def test_malformed_mpds_are_refused_with_a_reason(text: str, reason: str) -> None:
    assert refused(text, "http://l.example/m.mpd").startswith(reason)
