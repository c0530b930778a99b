"""Reviewing sound matches: an audio work's stored preview, the matched segments of the work
and the copy (an MP3, a video's soundtrack) drawn as spectrograms and played as re-encoded
excerpts, rights holders kept to their own hits, and unreadable captures explained.

The works, captures and hits are made by ffmpeg and written directly (tests/sound_hits.py).
"""

from __future__ import annotations

import html
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from playwright.sync_api import sync_playwright
from sqlalchemy import select

from swordnet.core.db import open_database
from swordnet.core.models import Work
from swordnet.evidence.store import EvidenceStore
from swordnet.web.app import create_app
from swordnet.works.audio_codec import (
    SPECTROGRAM_HEIGHT,
    AudioUnreadable,
    opus_excerpt,
    spectrogram_png,
    spectrogram_width,
)
from swordnet.works.previews import store_work_preview, work_preview
from tests.served_app import serving
from tests.sound_hits import (
    HOLDER_A,
    PASSWORD,
    SoundHits,
    assert_serves_byte_ranges,
    build_sound_hits,
    chirp,
    cut_mp3,
    cut_video,
    probe_seconds,
    sound_signal,
)
from tests.test_console import signed_in_clients
from tests.test_console_browser import CHROMIUM, require_chromium

# One xdist worker runs this whole module, so its hits are built once, not per worker.
pytestmark = pytest.mark.xdist_group("sound_review")

SEGMENT = 30.0


@pytest.fixture(scope="module")
def hits(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoundHits]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        sound_signal(monkeypatch)
        yield build_sound_hits(tmp_path_factory.mktemp("sound"))


@pytest.fixture(scope="module")
def clients(hits: SoundHits) -> Iterator[dict[str, TestClient]]:
    with signed_in_clients(hits.settings, ("reviewer", "north", "harbour"), PASSWORD) as signed:
        yield signed


def png_of(content: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(content))
    assert image.format == "PNG"
    image.load()
    return image


def loudest_rows(content: bytes) -> np.ndarray:
    """The brightest row (the loudest pitch) of each column of a spectrogram."""
    return np.asarray(png_of(content).convert("L"), dtype=float).argmax(axis=0)


def pitch_apart(a: bytes, b: bytes) -> float:
    """How far apart (in rows, on average) the loudest pitches of two spectrograms are."""
    return float(np.abs(loudest_rows(a) - loudest_rows(b)).mean())


def test_an_audio_work_keeps_its_sound_as_a_small_mono_opus_preview(
        hits: SoundHits, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sound_signal(monkeypatch)
    wav = chirp(tmp_path / "song.wav", seconds=20)
    store = EvidenceStore(tmp_path / "evidence")
    work = Work(title="Song", kind="audio")
    store_work_preview(store, work, wav.read_bytes())
    preview = work_preview(store, work)
    assert work.preview_type == "audio" and preview is not None
    assert preview[:4] == b"OggS" and b"OpusHead" in preview[:200]
    assert preview[preview.index(b"OpusHead") + 9:][:1] == b"\x01"  # one channel
    assert abs(probe_seconds(preview, tmp_path) - 20) <= 0.5
    assert len(preview) < wav.stat().st_size / 10


def test_a_work_registered_from_a_video_keeps_its_soundtrack(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sound_signal(monkeypatch)
    video = cut_video(chirp(tmp_path / "song.wav", seconds=20), tmp_path / "clip.mp4", 5, 10)
    store = EvidenceStore(tmp_path / "evidence")
    work = Work(title="Music video", kind="audio")
    store_work_preview(store, work, video.read_bytes())
    preview = work_preview(store, work)
    assert work.preview_type == "audio" and preview is not None
    assert abs(probe_seconds(preview, tmp_path) - 10) <= 0.5  # sound only (probe checks)


def test_a_crawled_playlist_cannot_make_ffmpeg_open_another_file(tmp_path: Path) -> None:
    song = cut_mp3(chirp(tmp_path / "song.wav", seconds=5), tmp_path / "song.mp3", 0, 5)
    playlist = f"#EXTM3U\n#EXT-X-TARGETDURATION:5\n#EXTINF:5,\n{song}\n#EXT-X-ENDLIST\n"
    with pytest.raises(AudioUnreadable):
        opus_excerpt(playlist.encode())
    assert opus_excerpt(song.read_bytes())[:4] == b"OggS"


def test_a_file_without_sound_stores_no_preview(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    sound_signal(monkeypatch)
    store = EvidenceStore(tmp_path / "evidence")
    work = Work(title="Not a song", kind="audio")
    store_work_preview(store, work, b"ID3" + bytes(4096))
    assert work.preview_type is None and work_preview(store, work) is None


def test_the_review_page_shows_both_segments_drawn_and_playable(
        clients: dict[str, TestClient], hits: SoundHits) -> None:
    page = clients["reviewer"].get(f"/review?hit={hits.mp3_hit}")
    assert page.status_code == 200
    assert "work 1:10–1:40 at copy 0:00–0:30, 83% of the copy" in page.text
    for side in ("work", "copy"):
        assert f'data-src="/hits/{hits.mp3_hit}/sound/{side}.png"' in page.text
        assert f'<audio controls preload="none" data-src="/hits/{hits.mp3_hit}/sound/{side}.ogg"' \
            in page.text
    assert "media-src 'self'" in page.headers["content-security-policy"]


def test_spectrograms_are_pngs_of_the_matched_segments(
        clients: dict[str, TestClient], hits: SoundHits, tmp_path: Path) -> None:
    reviewer = clients["reviewer"]
    drawn = {}
    for side in ("work", "copy"):
        response = reviewer.get(f"/hits/{hits.mp3_hit}/sound/{side}.png")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "image/png"
        image = png_of(response.content)
        assert image.size == (spectrogram_width(SEGMENT), SPECTROGRAM_HEIGHT)
        drawn[side] = response.content
    # The work's picture is of 1:10-1:40, the part the copy holds, not of its beginning.
    db = open_database(hits.settings)
    with db.session() as session:
        work = session.scalar(select(Work).where(Work.title == f"{HOLDER_A} theme"))
        assert work is not None
        preview = work_preview(EvidenceStore(hits.settings.evidence_dir), work)
    db.dispose()
    assert preview is not None
    beginning = spectrogram_png(preview, 0.0, SEGMENT)
    assert pitch_apart(drawn["work"], drawn["copy"]) < 3
    assert pitch_apart(beginning, drawn["copy"]) > 30


@pytest.mark.parametrize("which", ["mp3_hit", "video_hit"])
def test_excerpts_are_reencoded_audio_of_the_segment(
        clients: dict[str, TestClient], hits: SoundHits, tmp_path: Path, which: str) -> None:
    hit_id = getattr(hits, which)
    for side in ("work", "copy"):
        response = clients["reviewer"].get(f"/hits/{hit_id}/sound/{side}.ogg")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "audio/ogg"
        assert response.content[:4] == b"OggS"  # not the captured MP3 or MP4 as served
        assert abs(probe_seconds(response.content, tmp_path) - SEGMENT) <= 0.5


def test_players_get_the_byte_ranges_they_ask_for(clients: dict[str, TestClient],
                                                   hits: SoundHits) -> None:
    assert_serves_byte_ranges(clients["reviewer"], f"/hits/{hits.mp3_hit}/sound/copy.ogg")


def test_rights_holders_hear_and_see_only_their_own_hits(
        clients: dict[str, TestClient], hits: SoundHits) -> None:
    north, harbour = clients["north"], clients["harbour"]
    for path in ("work.ogg", "copy.ogg", "work.png", "copy.png"):
        assert harbour.get(f"/hits/{hits.mp3_hit}/sound/{path}").status_code == 404
        assert north.get(f"/hits/{hits.other_hit}/sound/{path}").status_code == 404
    assert north.get(f"/hits/{hits.mp3_hit}/sound/copy.ogg").status_code == 200
    assert harbour.get(f"/hits/{hits.other_hit}/sound/work.png").status_code == 200
    assert f"/hits/{hits.mp3_hit}/" not in harbour.get("/review").text


@pytest.mark.parametrize(("which", "said"), [
    ("missing_hit", "the copy's capture cannot be read"),
    ("corrupt_hit", "the copy's sound cannot be decoded")])
def test_an_unreadable_capture_is_explained_not_a_server_error(
        clients: dict[str, TestClient], hits: SoundHits, which: str, said: str) -> None:
    reviewer = clients["reviewer"]
    hit_id = getattr(hits, which)
    assert reviewer.get(f"/review?hit={hit_id}").status_code == 200
    for path in ("copy.png", "copy.ogg"):
        response = reviewer.get(f"/hits/{hit_id}/sound/{path}")
        assert response.status_code == 404
        assert f"hit {hit_id}: {said}" in html.unescape(response.text)
    assert reviewer.get(f"/hits/{hit_id}/sound/work.png").status_code == 200  # still there


def test_an_unknown_side_is_refused(clients: dict[str, TestClient], hits: SoundHits) -> None:
    response = clients["reviewer"].get(f"/hits/{hits.mp3_hit}/sound/page.ogg")
    assert response.status_code == 422


@pytest.mark.slow
def test_the_browser_shows_both_spectrograms_and_players_without_csp_errors(
        hits: SoundHits, monkeypatch: pytest.MonkeyPatch) -> None:
    require_chromium()
    sound_signal(monkeypatch)
    app = create_app(hits.settings)
    errors: list[str] = []
    try:
        with serving(app) as url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                 args=["--no-sandbox"])
            page = browser.new_page(base_url=url)
            page.on("console", lambda m: m.type == "error" and errors.append(m.text))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto("/login")
            page.fill("input[name=username]", "reviewer")
            page.fill("input[name=password]", PASSWORD)
            page.keyboard.press("Enter")
            page.wait_for_url("**/")
            page.goto(f"/review?hit={hits.video_hit}")
            hit = f"#hit-{hits.video_hit}"
            page.wait_for_function(
                f"() => [...document.querySelectorAll('{hit} img.spectrogram')]"
                ".every(i => i.complete && i.naturalWidth > 0)")
            widths = page.eval_on_selector_all(f"{hit} img.spectrogram",
                                               "images => images.map(i => i.naturalWidth)")
            assert widths == [spectrogram_width(SEGMENT)] * 2
            durations = page.eval_on_selector_all(f"{hit} audio", """players => Promise.all(
                players.map(a => new Promise((done, failed) => {
                    a.addEventListener('loadedmetadata', () => done(a.duration));
                    a.addEventListener('error', () => failed(new Error('cannot play ' + a.src)));
                    a.preload = 'metadata';
                    a.load();
                })))""")
            assert [round(d) for d in durations] == [SEGMENT, SEGMENT]
            page.goto(f"/review?hit={hits.missing_hit}")
            problem = page.locator(f"#hit-{hits.missing_hit} [data-sound=copy] .sound-problem")
            problem.wait_for(state="visible")
            assert "the copy's capture cannot be read" in problem.inner_text()
            browser.close()
    finally:
        app.state.db.dispose()
    # Only the spectrogram asked for on purpose of the missing capture may fail to load.
    assert [e for e in errors if "Content Security Policy" in e or "Refused" in e] == []
    assert all("404" in e for e in errors), errors
