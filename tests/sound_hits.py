"""Sound matches to review: audio works with stored previews and captured copies, made by ffmpeg.

Two holders each own an audio work (a two-minute generated chirp, every second sounding
different); a crawl run captured, in a real WARC file, an MP3 and a video whose soundtrack are
30-second pieces of holder A's work, and an MP3 of holder B's. Hits found by the
``chromaprint`` signal point at those captures with the segments the signal reports. Until
that signal is registered here, a stand-in of the same name (previewed as sound, as the real
one is) takes its place for these tests.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from matching.registry import SIGNAL_TYPES
from matching.signal import SignalType
from swordnet.accounts.users import add_user
from swordnet.core.config import Settings
from swordnet.core.db import open_database
from swordnet.core.models import Capture, CrawlRun, Hit, RightsHolder, WarcFile, Work
from swordnet.core.timeutil import utcnow
from swordnet.evidence.store import EvidenceStore
from swordnet.evidence.warc import WarcRecorder
from swordnet.watch.targets import site_for_url
from swordnet.works.previews import store_work_preview

PASSWORD = "lanterns over the harbour at dusk"
HOLDER_A, HOLDER_B = "North Records", "Harbour Sound"
SITE = "http://tunes.pirate.example/"
WORK_SECONDS = 120.0
# The copies: 30 seconds of the work from 1:10 (an MP3, and a video's soundtrack).
WORK_RANGE, COPY_RANGE = (70.0, 100.0), (0.0, 30.0)


class StandInChromaprint(SignalType):
    """Only what the console asks of a sound signal: its name, kind and preview."""

    name = "chromaprint"
    work_kind = "audio"
    default_threshold = 0.5
    higher_is_closer = True
    score_unit = "of the copy"
    preview = "audio"

    @classmethod
    def fingerprint(cls, content: Any) -> str:
        raise NotImplementedError("a stand-in: it fingerprints nothing")

    @classmethod
    def score(cls, a: str, b: str) -> float:
        raise NotImplementedError("a stand-in: it scores nothing")

    @classmethod
    def validate(cls, value: str) -> str:
        raise NotImplementedError("a stand-in: it validates nothing")

    @classmethod
    def new_index(cls) -> Any:
        raise NotImplementedError("a stand-in: it indexes nothing")


def sound_signal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make sure a ``chromaprint`` signal is registered (the stand-in if the real one is not)."""
    if "chromaprint" not in SIGNAL_TYPES:
        monkeypatch.setitem(SIGNAL_TYPES, "chromaprint", StandInChromaprint)


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args],
                   check=True, timeout=120)


def chirp(path: Path, seconds: float = WORK_SECONDS, base: float = 200.0) -> Path:
    """A stereo WAV whose pitch rises and wobbles, so every second sounds different."""
    tone = f"0.4*sin(2*PI*({base}+20*t)*t)|0.4*sin(2*PI*({base}+20*t)*t+sin(3*t))"
    ffmpeg("-f", "lavfi", "-i", f"aevalsrc={tone}:s=44100:d={seconds}", str(path))
    return path


def cut_mp3(source: Path, path: Path, start: float, seconds: float) -> Path:
    ffmpeg("-ss", str(start), "-t", str(seconds), "-i", str(source), "-c:a", "libmp3lame",
           "-b:a", "96k", str(path))
    return path


def cut_video(source: Path, path: Path, start: float, seconds: float) -> Path:
    """An MP4 (small moving picture) whose soundtrack is the source's piece."""
    ffmpeg("-f", "lavfi", "-i", f"testsrc=size=160x90:rate=10:duration={seconds}",
           "-ss", str(start), "-t", str(seconds), "-i", str(source), "-map", "0:v", "-map",
           "1:a", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path))
    return path


def probe_seconds(content: bytes, directory: Path) -> float:
    """The duration ffprobe reads from an audio file's bytes."""
    path = directory / "probed"
    path.write_bytes(content)
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration:stream="
                          "codec_type", "-of", "json", str(path)], capture_output=True,
                         check=True, timeout=60)
    found = json.loads(out.stdout)
    assert [s["codec_type"] for s in found["streams"]] == ["audio"]
    return float(found["format"]["duration"])


def assert_serves_byte_ranges(client: TestClient, path: str) -> bytes:
    """An excerpt is served whole, and as the byte ranges a player asks for (a middle part, the
    tail, 416 past the end); returns the whole."""
    whole = client.get(path)
    assert whole.status_code == 200, whole.text
    assert whole.headers["content-type"] == "audio/ogg"
    assert whole.headers["accept-ranges"] == "bytes"
    size = len(whole.content)
    part = client.get(path, headers={"Range": "bytes=100-299"})
    assert part.status_code == 206 and part.content == whole.content[100:300]
    assert part.headers["content-range"] == f"bytes 100-299/{size}"
    tail = client.get(path, headers={"Range": "bytes=-64"})
    assert tail.status_code == 206 and tail.content == whole.content[-64:]
    past = client.get(path, headers={"Range": f"bytes={size}-"})
    assert past.status_code == 416 and past.headers["content-range"] == f"bytes */{size}"
    return whole.content


@dataclass(frozen=True)
class SoundHits:
    settings: Settings
    mp3_hit: int      # holder A's work, copied as an MP3
    video_hit: int    # holder A's work, the soundtrack of a video
    other_hit: int    # holder B's work
    missing_hit: int  # holder A's work; its WARC file is gone
    corrupt_hit: int  # holder A's work; the captured file holds no sound


def build_sound_hits(directory: Path) -> SoundHits:
    """A home with the works, users, captures and hits the module docstring describes."""
    home = directory / "home"
    settings = Settings(home=home, database_url=f"sqlite:///{home / 'swordnet.db'}")
    db = open_database(settings)
    store = EvidenceStore(settings.evidence_dir)
    made = directory / "made"
    made.mkdir()
    work_a, work_b = chirp(made / "a.wav"), chirp(made / "b.wav", base=500.0)
    copies = {"song.mp3": cut_mp3(work_a, made / "song.mp3", WORK_RANGE[0], 30).read_bytes(),
              "clip.mp4": cut_video(work_a, made / "clip.mp4", WORK_RANGE[0], 30).read_bytes(),
              "other.mp3": cut_mp3(work_b, made / "other.mp3", 10, 30).read_bytes(),
              "noise.mp3": b"ID3" + bytes(4096)}
    try:
        with db.session() as session:
            works = {}
            for holder, path in ((HOLDER_A, work_a), (HOLDER_B, work_b)):
                owner = RightsHolder(name=holder)
                work = Work(holder=owner, title=f"{holder} theme", kind="audio")
                session.add(work)
                store_work_preview(store, work, path.read_bytes())
                assert work.preview_type == "audio"
                works[holder] = work
            add_user(session, "reviewer", PASSWORD, "staff")
            add_user(session, "north", PASSWORD, "rights_holder", HOLDER_A)
            add_user(session, "harbour", PASSWORD, "rights_holder", HOLDER_B)
            site = site_for_url(session, SITE)
            run = CrawlRun(site_id=site.id, start_url=SITE, outcome="finished")
            session.add(run)
            session.flush()
            captures = _captured(session, store, run, copies)
            captures["gone.mp3"] = _missing_capture(session, run, copies["song.mp3"])
            ids = [_hit(session, works[holder], site.id, run.id, captures[name])
                   for holder, name in ((HOLDER_A, "song.mp3"), (HOLDER_A, "clip.mp4"),
                                        (HOLDER_B, "other.mp3"), (HOLDER_A, "gone.mp3"),
                                        (HOLDER_A, "noise.mp3"))]
    finally:
        db.dispose()
    return SoundHits(settings, *ids)


def _captured(session: Any, store: EvidenceStore, run: CrawlRun,
              copies: dict[str, bytes]) -> dict[str, Capture]:
    captures = {}
    with WarcRecorder(store, f"run-{run.id}", {}) as recorder:
        for name, body in copies.items():
            url = f"{SITE}files/{name}"
            kind = "video/mp4" if name.endswith(".mp4") else "audio/mpeg"
            ref = recorder.record_exchange(
                url=url, method="GET", request_headers=[("Host", "tunes.pirate.example")],
                status=200, reason="OK", response_headers=[("Content-Type", kind)], body=body,
                ip="203.0.113.9", fetched_at=utcnow())
            captures[name] = _capture(session, run, url, body, ref.filename, ref.offset)
    for sealed in recorder.take_sealed():
        row = session.scalar(select(WarcFile).where(WarcFile.filename == sealed.filename)) \
            or WarcFile(filename=sealed.filename, run_id=run.id)
        row.sha256, row.size, row.sealed_at = sealed.sha256, sealed.size, utcnow()
        session.add(row)
    return captures


def _missing_capture(session: Any, run: CrawlRun, body: bytes) -> Capture:
    return _capture(session, run, f"{SITE}files/gone.mp3", body, "run-gone-00000.warc.gz", 0)


def _capture(session: Any, run: CrawlRun, url: str, body: bytes, warc_file: str,
             offset: int) -> Capture:
    capture = Capture(run_id=run.id, kind="media", url=url, fetched_at=utcnow(),
                      http_status=200, sha256=hashlib.sha256(body).hexdigest(), size=len(body),
                      warc_file=warc_file, warc_offset=offset)
    session.add(capture)
    session.flush()
    return capture


def _hit(session: Any, work: Work, site_id: int, run_id: int, capture: Capture) -> int:
    hit = Hit(work_id=work.id, site_id=site_id, run_id=run_id, url=capture.url,
              page_url=f"{SITE}album.html", media_capture_id=capture.id,
              algorithm="chromaprint", score=0.83,
              detail={"work_range": list(WORK_RANGE), "copy_range": list(COPY_RANGE),
                      "fraction": 0.83})
    session.add(hit)
    session.flush()
    return hit.id
