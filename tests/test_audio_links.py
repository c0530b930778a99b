"""Audio on pirate pages: players (``<audio src>``, their ``<source>`` s, a ``<video>``'s
sources) and links to audio files are file links of the audio kind, fetched within the cap
video files have once a signal reads audio files, and (with the chromaprint signal) the
fetched copies are kept in the crawl's WARC evidence.

Until ``matching/audio.py`` registers that signal here, the fetching rules are shown with a
stand-in audio reader in-process; the real crawl runs once it is registered.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from casefiles.captures import capture_record
from crawlers import watch_spider
from crawlers.extract import extract_page
from crawlers.items import Exchange, PageInfo
from crawlers.spiders.site import SiteSpider
from matching.media import AUDIO, VIDEO
from matching.registry import SIGNAL_TYPES, download_cap, work_kind_of_file
from swordnet.core.config import Settings
from swordnet.core.db import open_database
from swordnet.core.models import Hit
from swordnet.core.timeutil import utcnow
from swordnet.demo.site import DemoSite, serve_site
from swordnet.evidence.store import EvidenceStore
from tests.conftest import run_cli
from tests.pirate_sites import HTML, add_watch_target, crawl_target, page
from tests.sound_hits import StandInChromaprint, chirp, cut_mp3
from tests.spider_harness import make_spider, run_spider

HOST = "tunes.example"
SITE = f"http://{HOST}/"
AUDIO_EXTENSIONS = (".mp3", ".m4a", ".flac", ".ogg", ".opus", ".wav")
PLAYERS = """
  <audio src="/play/theme"></audio>
  <audio controls><source src="/play/2.opus" type="audio/ogg; codecs=opus">
                  <source src="/play/2.m4a" type="audio/mp4"></audio>
  <audio><source src="/stream?track=3" type="audio/mpeg"></audio>
  <video controls><source src="/clips/live.webm" type="video/webm"></video>
"""


class StandInAudioReader(StandInChromaprint):
    """A signal that reads linked audio files, as the chromaprint signal will."""

    file_kinds = (AUDIO,)


def links_page() -> str:
    links = "".join(f'<a href="/dl/Track-{n}{ext.upper() if n % 2 else ext}?dl=1">{n}</a>'
                    for n, ext in enumerate(AUDIO_EXTENSIONS))
    return f"<h1>OST</h1>{PLAYERS}<ul>{links}</ul><a href='/more.html'>more</a>"


def test_audio_players_and_audio_file_links_are_audio_file_links() -> None:
    found = extract_page(links_page(), SITE)
    kinds = {f.url.removeprefix(SITE): f.kind for f in found.files}
    assert kinds == {
        "play/theme": "audio", "play/2.opus": "audio", "play/2.m4a": "audio",
        "stream?track=3": "audio", "clips/live.webm": "video",
        **{f"dl/Track-{n}{ext.upper() if n % 2 else ext}?dl=1": "audio"
           for n, ext in enumerate(AUDIO_EXTENSIONS)}}
    assert found.links == [SITE + "more.html"]  # files are not pages to follow


def test_audio_is_fetched_within_the_cap_video_has_once_a_signal_reads_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    if work_kind_of_file(AUDIO.name) is None:
        monkeypatch.setitem(SIGNAL_TYPES, StandInAudioReader.name, StandInAudioReader)
        monkeypatch.setitem(watch_spider.SIZE_CAPS, AUDIO.name, download_cap(AUDIO.name))
    assert AUDIO.max_download_bytes == VIDEO.max_download_bytes
    spider = make_spider(SiteSpider, url=SITE)
    exchange = Exchange(url=SITE, method="GET", request_headers=[], status=200,
                        response_headers=[], body=b"", ip=None, fetched_at=utcnow())
    requests = list(spider.media_requests(extract_page(links_page(), SITE),
                                          PageInfo(exchange=exchange, title="OST")))
    audio = [r for r in requests if r.cb_kwargs["kind"] == "audio"]
    assert len(audio) == 4 + len(AUDIO_EXTENSIONS)
    assert {r.meta["download_maxsize"] for r in audio} == {download_cap(AUDIO.name)}
    assert 0 < download_cap(AUDIO.name) <= AUDIO.max_download_bytes

    site = DemoSite()
    site.add("/", page("OST", PLAYERS), HTML)
    for path in ("/play/theme", "/play/2.opus", "/play/2.m4a", "/stream"):
        site.add(path, b"ID3" + bytes(64), "audio/mpeg")
    run = run_spider(make_spider(SiteSpider, url=SITE), {HOST: site})
    assert sorted(i.exchange.url.removeprefix(SITE) for i in run.items if i.kind == "audio") \
        == ["play/2.m4a", "play/2.opus", "play/theme", "stream?track=3"]
    assert run.stats["files"]["audio"] == 4


@pytest.mark.slow
@pytest.mark.skipif(work_kind_of_file(AUDIO.name) is None,
                    reason="no signal reads audio files yet (matching/audio.py)")
def test_a_crawl_fetches_audio_and_keeps_the_matched_copy_in_its_warc(
        sqlite_home: Settings, tmp_path: Path) -> None:
    work = chirp(tmp_path / "theme.wav")
    assert run_cli("works", "add", str(work), "--kind", "audio", "--title", "Theme",
                   "--holder", "North Records").exit_code == 0
    copy = cut_mp3(work, tmp_path / "copy.mp3", 40, 60).read_bytes()
    other = cut_mp3(chirp(tmp_path / "other.wav", base=900.0), tmp_path / "o.mp3", 0, 60)
    site = DemoSite()
    site.add("/", page("Theme (OST) free mp3", '<audio controls><source src="/a/theme" '
                       'type="audio/mpeg"></audio><a href="/a/other.mp3">other</a>'), HTML)
    site.add("/a/theme", copy, "audio/mpeg")
    site.add("/a/other.mp3", other.read_bytes(), "audio/mpeg")
    db = open_database(sqlite_home)
    with serve_site(site) as running:
        run = crawl_target(db, sqlite_home, add_watch_target(db, running.url))
        assert {"/a/theme", "/a/other.mp3"} <= set(running.requests)
    assert run.outcome == "finished"
    store = EvidenceStore(sqlite_home.evidence_dir)
    with db.session() as session:
        [hit] = session.scalars(select(Hit).where(Hit.url.endswith("/a/theme"))).all()
        assert hit.algorithm == "chromaprint" and hit.media_capture is not None
        assert capture_record(session, store, hit.media_capture).payload == copy
    db.dispose()
