"""A crawl of a pirate site serving music and a film: an MP3 copy of a registered song and a
copy of a registered film whose picture is mirrored and cropped (its frames miss) but whose
soundtrack is intact both become hits, the film through its soundtrack; bad audio files are
recorded without stopping the crawl."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from bench.audiogen import RATE, music, write_audio
from bench.video import write_work
from swordnet.core.config import Settings
from swordnet.core.db import open_database
from swordnet.core.models import Hit
from swordnet.demo.site import DemoSite, serve_site
from tests.conftest import run_cli
from tests.pirate_sites import add_watch_target, crawl_target, page

HTML = "text/html; charset=utf-8"


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", *args], check=True,
                   capture_output=True)


@pytest.mark.slow
def test_a_crawl_finds_a_song_and_a_film_by_its_soundtrack(sqlite_home: Settings,
                                                            tmp_path: Path) -> None:
    song = write_audio(tmp_path / "song.flac", music(801, 40.0))
    score = write_audio(tmp_path / "score.wav", music(802, 24.0))
    picture = write_work(tmp_path / "picture.mp4", 803, 24.0, 10, (320, 180))
    film = tmp_path / "film.mp4"
    ffmpeg("-i", str(picture), "-i", str(score), "-map", "0:v", "-map", "1:a", "-c:v", "copy",
           "-c:a", "aac", "-shortest", str(film))
    for path, kind, title in ((song, "audio", "Harbour Song"), (film, "video", "Night Train")):
        result = run_cli("works", "add", str(path), "--kind", kind, "--title", title,
                         "--holder", "Studio")
        assert result.exit_code == 0, result.output
    copy_mp3 = write_audio(tmp_path / "copy.mp3", music(801, 40.0)[8 * RATE:],
                           args=("-b:a", "64k"))
    pirated = tmp_path / "pirated.mp4"  # mirrored, a third cropped away; the sound intact
    ffmpeg("-i", str(film), "-vf", "hflip,crop=iw*2/3:ih*2/3:0:0,scale=240:134",
           "-c:v", "libx264", "-c:a", "copy", str(pirated))
    unrelated = write_audio(tmp_path / "other.mp3", music(804, 30.0))
    silence = write_audio(tmp_path / "silence.mp3", np.zeros(RATE * 10))
    whole = copy_mp3.read_bytes()
    site = DemoSite()
    body = ('<audio controls src="/music/harbour.mp3"></audio>'
            '<video controls><source src="/films/night-train" type="video/mp4"></video>'
            '<a href="/music/other.mp3">other</a><a href="/music/silence.mp3">silence</a>'
            '<a href="/music/broken.mp3">broken</a>')
    site.add("/", page("Harbour Song and Night Train, free download", body), HTML)
    site.add("/music/harbour.mp3", whole, "audio/mpeg")
    site.add("/films/night-train", pirated.read_bytes(), "video/mp4")
    site.add("/music/other.mp3", unrelated.read_bytes(), "audio/mpeg")
    site.add("/music/silence.mp3", silence.read_bytes(), "audio/mpeg")
    site.add("/music/broken.mp3", b"ID3\x04\x00\x00" + bytes(200), "audio/mpeg")
    db = open_database(sqlite_home)
    with serve_site(site) as running:
        run = crawl_target(db, sqlite_home, add_watch_target(db, running.url))
        assert "/music/other.mp3" in running.requests
    assert run.outcome == "finished"
    errors = {e["url"].rsplit("/", 1)[1]: e for e in run.errors}
    assert {name for name, e in errors.items() if e["kind"] == "bad_media"} == {
        "silence.mp3", "broken.mp3"}
    assert "silence only" in errors["silence.mp3"]["message"]
    with db.session() as session:
        hits = {h.url.rsplit("/", 1)[1]: h for h in session.scalars(select(Hit))}
        assert set(hits) == {"harbour.mp3", "night-train"}
        assert hits["harbour.mp3"].work.title == "Harbour Song"
        assert hits["harbour.mp3"].algorithm == "chromaprint"
        work_start, _ = hits["harbour.mp3"].detail["work_range"]
        copy_start, _ = hits["harbour.mp3"].detail["copy_range"]
        assert abs((work_start - copy_start) - 8.0) <= 1.0  # the copy starts 8 s in
        film_hit = hits["night-train"]
        assert film_hit.work.title == "Night Train" and film_hit.algorithm == "chromaprint"
        assert film_hit.detail["fraction"] > 0.8
    db.dispose()
