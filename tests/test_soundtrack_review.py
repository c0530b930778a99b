"""Reviewing a film found through its soundtrack: the registered video work keeps its
soundtrack beside its key frames, a crawled copy whose picture is mirrored and cropped (its
frames miss) is found by the ``chromaprint`` signal, and the review page draws and plays the
matched segment of both the work and the copy. A film found by its frames still shows its
key frames; a video work with no stored sound shows no player on its side; a rights holder
cannot hear another holder's film.

The films are made once per session by ffmpeg and registered as ``works add`` does; the copies
are crawled from a local site by a real crawl.
"""

from __future__ import annotations

import io
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from playwright.sync_api import sync_playwright
from sqlalchemy import delete, select

from bench.audiogen import music, write_audio
from bench.video import write_work
from swordnet.accounts.users import add_user
from swordnet.core.config import Settings
from swordnet.core.db import open_database
from swordnet.core.models import Hit, Work
from swordnet.demo.site import DemoSite, serve_site
from swordnet.evidence.store import EvidenceStore
from swordnet.web.app import create_app
from swordnet.works.audio_codec import SPECTROGRAM_HEIGHT, spectrogram_png, spectrogram_width
from swordnet.works.previews import SOUNDTRACK_SECONDS, work_preview, work_sound
from swordnet.works.registry import register_work
from swordnet.works.video_previews import stored_key_frames
from tests.pirate_sites import add_watch_target, crawl_target, page
from tests.served_app import serving
from tests.sound_hits import assert_serves_byte_ranges, probe_seconds
from tests.test_console import signed_in_clients
from tests.test_console_browser import CHROMIUM, require_chromium

# One xdist worker runs this whole module, so its hits are built once, not per worker.
pytestmark = pytest.mark.xdist_group("soundtrack_review")

PASSWORD = "a long night train through the hills"
NORTH, HARBOUR = "North Pictures", "Harbour Films"
HTML = "text/html; charset=utf-8"
FILM_SECONDS = 30.0
CUT_S = 8.0  # the pirated copy starts this far into the film


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args],
                   check=True, capture_output=True, timeout=120)


def film(directory: Path, seed: int, with_sound: bool = True) -> Path:
    """A 30-second film: a moving synthetic picture and (unless told not to) generated music."""
    picture = write_work(directory / f"picture-{seed}.mp4", seed, FILM_SECONDS, 10, (320, 180))
    path = directory / f"film-{seed}.mp4"
    if not with_sound:
        ffmpeg("-i", str(picture), "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path))
        return path
    score = write_audio(directory / f"score-{seed}.wav", music(seed, FILM_SECONDS))
    ffmpeg("-i", str(picture), "-i", str(score), "-map", "0:v", "-map", "1:a", "-c:v",
           "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path))
    return path


def mirrored_excerpt(source: Path, path: Path) -> Path:
    """The film from :data:`CUT_S` on, mirrored, a third cropped away; its sound intact."""
    ffmpeg("-ss", str(CUT_S), "-i", str(source), "-vf",
           "hflip,crop=iw*2/3:ih*2/3:0:0,scale=240:134", "-c:v", "libx264", "-pix_fmt",
           "yuv420p", "-c:a", "aac", str(path))
    return path


@dataclass(frozen=True)
class Films:
    settings: Settings
    film_bytes: bytes  # the registered film with sound
    sound_hit: int     # North's film, found through its soundtrack (picture mirrored, cropped)
    frames_hit: int    # Harbour's silent film, found by its frames
    unheard_hit: int   # North's film registered without its sound kept, found by its sound


@pytest.fixture(scope="session")
def films(tmp_path_factory: pytest.TempPathFactory) -> Films:
    """Three registered films, their copies crawled from a local site, and the hits."""
    directory = tmp_path_factory.mktemp("soundtrack")
    home = directory / "home"
    settings = Settings(home=home, database_url=f"sqlite:///{home / 'swordnet.db'}")
    night, silent, old = film(directory, 811), film(directory, 812, False), film(directory, 813)
    db = open_database(settings)
    store = EvidenceStore(settings.evidence_dir)
    try:
        with db.session() as session:
            for path, title, holder, kept in ((night, "Night Train", NORTH, store),
                                              (silent, "Silent Reel", HARBOUR, store),
                                              (old, "Old Reel", NORTH, None)):
                register_work(session, path.read_bytes(), title=title, holder_name=holder,
                              kind="video", preview_store=kept)
            add_user(session, "reviewer", PASSWORD, "staff")
            add_user(session, "north", PASSWORD, "rights_holder", NORTH)
            add_user(session, "harbour", PASSWORD, "rights_holder", HARBOUR)
        site = DemoSite()
        body = "".join(f'<video controls><source src="/films/{name}" type="video/mp4"></video>'
                       for name in ("night-train", "silent-reel", "old-reel"))
        site.add("/", page("Films, free streaming", body), HTML)
        site.add("/films/night-train",
                 mirrored_excerpt(night, directory / "night-copy.mp4").read_bytes(), "video/mp4")
        site.add("/films/silent-reel", silent.read_bytes(), "video/mp4")
        site.add("/films/old-reel",
                 mirrored_excerpt(old, directory / "old-copy.mp4").read_bytes(), "video/mp4")
        with serve_site(site) as running:
            run = crawl_target(db, settings, add_watch_target(db, running.url))
        assert run.outcome == "finished", run.errors
        with db.session() as session:
            found = {(h.work.title, h.algorithm): h.id for h in session.scalars(select(Hit))}
    finally:
        db.dispose()
    assert ("Night Train", "video") not in found  # the picture no longer matches
    return Films(settings, night.read_bytes(), found[("Night Train", "chromaprint")],
                 found[("Silent Reel", "video")], found[("Old Reel", "chromaprint")])


@pytest.fixture(scope="module")
def clients(films: Films) -> Iterator[dict[str, TestClient]]:
    with signed_in_clients(films.settings, ("reviewer", "north", "harbour"), PASSWORD) as signed:
        yield signed


def hit_detail(films: Films, hit_id: int) -> dict[str, list[float]]:
    db = open_database(films.settings)
    with db.session() as session:
        hit = session.get(Hit, hit_id)
        assert hit is not None
        detail = dict(hit.detail or {})
    db.dispose()
    return detail


def stored_film(films: Films, title: str) -> tuple[Work, EvidenceStore]:
    db = open_database(films.settings)
    with db.session() as session:
        work = session.scalar(select(Work).where(Work.title == title))
        assert work is not None
        session.expunge(work)
    db.dispose()
    return work, EvidenceStore(films.settings.evidence_dir)


def article(client: TestClient, hit_id: int) -> str:
    """The review page's article of one hit."""
    text = client.get(f"/review?status=&hit={hit_id}").text
    shown = text[text.index(f'id="hit-{hit_id}"'):]
    return shown[:shown.index("</article>")]


def shades(png: bytes) -> np.ndarray:
    """A spectrogram's brightness less its average spectrum, in coarse cells (so a fraction
    of a second's shift does not matter): what changes over time."""
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    levels = np.asarray(image.convert("L").resize((120, 50)), dtype=float) / 255
    return levels - levels.mean(axis=1, keepdims=True)


def test_a_registered_video_work_keeps_its_soundtrack_beside_its_key_frames(
        films: Films, tmp_path: Path) -> None:
    work, store = stored_film(films, "Night Train")
    assert work.preview_type == "frames" and stored_key_frames(store, work) is not None
    sound = work_sound(store, work)
    assert work.sound_sha256 is not None and sound is not None
    assert sound[:4] == b"OggS" and b"OpusHead" in sound[:200]
    assert abs(probe_seconds(sound, tmp_path) - FILM_SECONDS) <= 0.5  # sound only
    assert len(sound) < FILM_SECONDS * 16_000 / 8 * 1.5  # about 16 kbit/s
    assert work_preview(store, work) is None  # the preview slot still holds the frames
    silent, _ = stored_film(films, "Silent Reel")
    assert silent.preview_type == "frames" and silent.sound_sha256 is None


def test_the_review_page_shows_both_segments_of_a_soundtrack_match(
        clients: dict[str, TestClient], films: Films) -> None:
    detail = hit_detail(films, films.sound_hit)
    work_start, _ = detail["work_range"]
    copy_start, _ = detail["copy_range"]
    assert abs((work_start - copy_start) - CUT_S) <= 1.0
    text = article(clients["reviewer"], films.sound_hit)
    assert "work 0:0" in text and "of the copy" in text  # the match in words
    for side in ("work", "copy"):
        assert f'data-src="/hits/{films.sound_hit}/sound/{side}.png"' in text
        assert (f'<audio controls preload="none" '
                f'data-src="/hits/{films.sound_hit}/sound/{side}.ogg"') in text
    assert 'data-role="no-work-sound"' not in text


def test_both_spectrograms_show_the_same_stretch_of_the_soundtrack(
        clients: dict[str, TestClient], films: Films) -> None:
    drawn = {}
    for side in ("work", "copy"):
        response = clients["reviewer"].get(f"/hits/{films.sound_hit}/sound/{side}.png")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "image/png"
        drawn[side] = response.content
    detail = hit_detail(films, films.sound_hit)
    seconds = detail["copy_range"][1] - detail["copy_range"][0]
    assert Image.open(io.BytesIO(drawn["copy"])).size == (spectrogram_width(seconds),
                                                         SPECTROGRAM_HEIGHT)
    work, store = stored_film(films, "Night Train")
    sound = work_sound(store, work)
    assert sound is not None
    beginning = spectrogram_png(sound, 0.0, seconds)  # the part of the film not copied
    copy = shades(drawn["copy"]).ravel()
    same = np.corrcoef(shades(drawn["work"]).ravel(), copy)[0, 1]
    other = np.corrcoef(shades(beginning).ravel(), copy)[0, 1]
    # The ranges are aligned to a Chromaprint item (0.124 s), so the two drawings of the same
    # stretch correlate well short of 1 (about 0.56 here); unrelated parts near 0.16.
    assert same > 0.45 and other < 0.3 and same - other > 0.25, (same, other)


def test_the_excerpts_are_the_segments_with_the_byte_ranges_asked_for(
        clients: dict[str, TestClient], films: Films, tmp_path: Path) -> None:
    reviewer = clients["reviewer"]
    detail = hit_detail(films, films.sound_hit)
    for side in ("work", "copy"):
        start, end = detail[f"{side}_range"]
        whole = assert_serves_byte_ranges(reviewer, f"/hits/{films.sound_hit}/sound/{side}.ogg")
        assert whole[:4] == b"OggS"  # re-encoded, not the captured MP4
        assert abs(probe_seconds(whole, tmp_path) - (end - start)) <= 0.5


def test_a_holder_of_another_work_cannot_hear_or_see_the_film(
        clients: dict[str, TestClient], films: Films) -> None:
    north, harbour = clients["north"], clients["harbour"]
    for path in ("work.ogg", "copy.ogg", "work.png", "copy.png"):
        assert harbour.get(f"/hits/{films.sound_hit}/sound/{path}").status_code == 404
    assert north.get(f"/hits/{films.sound_hit}/sound/work.ogg").status_code == 200
    assert f"/hits/{films.sound_hit}/" not in harbour.get("/review?status=").text


def test_a_film_found_by_its_frames_shows_key_frames_and_no_player(
        clients: dict[str, TestClient], films: Films) -> None:
    shown = article(clients["reviewer"], films.frames_hit)
    assert 'data-fill="video-strips"' in shown
    assert "<audio" not in shown and "spectrogram" not in shown


def test_a_video_work_without_stored_sound_shows_no_player_on_its_side(
        clients: dict[str, TestClient], films: Films) -> None:
    reviewer = clients["reviewer"]
    shown = article(reviewer, films.unheard_hit)
    assert 'data-role="no-work-sound"' in shown
    assert f"/hits/{films.unheard_hit}/sound/work." not in shown
    assert f'data-src="/hits/{films.unheard_hit}/sound/copy.ogg"' in shown  # the copy's is
    response = reviewer.get(f"/hits/{films.unheard_hit}/sound/work.ogg")
    assert response.status_code == 404 and "has no stored sound" in response.text


def test_a_segment_past_the_stored_soundtrack_is_explained(
        clients: dict[str, TestClient], films: Films) -> None:
    db = open_database(films.settings)
    with db.session() as session:
        found = session.get(Hit, films.sound_hit)
        assert found is not None
        late = Hit(work_id=found.work_id, site_id=found.site_id, run_id=found.run_id,
                   url=found.url + "?late", page_url=found.page_url,
                   media_capture_id=found.media_capture_id, algorithm="chromaprint",
                   score=20.0, detail={"work_range": [SOUNDTRACK_SECONDS + 60,
                                                      SOUNDTRACK_SECONDS + 80],
                                       "copy_range": [0.0, 20.0], "fraction": 1.0})
        session.add(late)
        session.flush()
        late_id = late.id
    try:
        response = clients["reviewer"].get(f"/hits/{late_id}/sound/work.png")
        assert response.status_code == 404
        assert "stored sound is its first 4:00:00, the segment starts at 4:01:00" in response.text
        assert clients["reviewer"].get(f"/hits/{late_id}/sound/copy.png").status_code == 200
    finally:  # the module's other tests (the browser's page of all hits) must not see it
        with db.session() as session:
            session.execute(delete(Hit).where(Hit.id == late_id))
        db.dispose()


def test_registering_the_same_film_again_keeps_its_soundtrack(
        films: Films, tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = Settings(home=home, database_url=f"sqlite:///{home / 'swordnet.db'}")
    db = open_database(settings)
    store = EvidenceStore(settings.evidence_dir)
    try:
        with db.session() as session:
            first = register_work(session, films.film_bytes, title="Night Train",
                                  holder_name=NORTH, kind="video")
            assert first.work.sound_sha256 is None  # as registered before sound was kept
            again = register_work(session, films.film_bytes, title="Night Train",
                                  holder_name=NORTH, kind="video", preview_store=store)
            assert not again.created and again.work.id == first.work.id
            assert work_sound(store, again.work) is not None
            assert again.work.preview_type == "frames"
    finally:
        db.dispose()


@pytest.mark.slow
def test_the_browser_draws_and_plays_both_segments_without_csp_errors(films: Films) -> None:
    require_chromium()
    app = create_app(films.settings)
    errors: list[str] = []
    detail = hit_detail(films, films.sound_hit)
    try:
        with serving(app) as url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                 args=["--no-sandbox"])
            page_ = browser.new_page(base_url=url)
            page_.on("console", lambda m: m.type == "error" and errors.append(m.text))
            page_.on("pageerror", lambda e: errors.append(str(e)))
            page_.on("response", lambda r: r.status >= 400
                     and errors.append(f"{r.status} {r.url}"))
            page_.goto("/login")
            page_.fill("input[name=username]", "reviewer")
            page_.fill("input[name=password]", PASSWORD)
            page_.keyboard.press("Enter")
            page_.wait_for_url("**/")
            page_.goto(f"/review?status=&hit={films.sound_hit}")
            hit = f"#hit-{films.sound_hit}"
            page_.wait_for_function(
                f"() => [...document.querySelectorAll('{hit} img.spectrogram')]"
                ".every(i => i.complete && i.naturalWidth > 0)")
            assert page_.eval_on_selector_all(f"{hit} img.spectrogram",
                                              "images => images.length") == 2
            durations = page_.eval_on_selector_all(f"{hit} audio", """players => Promise.all(
                players.map(a => new Promise((done, failed) => {
                    a.addEventListener('loadedmetadata', () => done(a.duration));
                    a.addEventListener('error', () => failed(new Error('cannot play ' + a.src)));
                    a.preload = 'metadata';
                    a.load();
                })))""")
            expected = [detail[f"{side}_range"][1] - detail[f"{side}_range"][0]
                        for side in ("work", "copy")]
            assert all(abs(d - e) <= 0.5 for d, e in zip(durations, expected, strict=True))
            browser.close()
    finally:
        app.state.db.dispose()
    assert errors == []
