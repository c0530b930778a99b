"""Crawls that fetch files: software (binaries, zip archives) and videos found and matched,
and bad files (a zip bomb, a truncated archive, empty, truncated and audio-only videos)
recorded without stopping the crawl."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from bench.video import ALTERATIONS, alter, write_work
from matching.video import VideoSignal
from swordnet.core.config import Settings
from swordnet.core.db import open_database
from swordnet.core.models import Hit
from swordnet.demo.site import DemoSite, serve_site
from tests.conftest import run_cli
from tests.pirate_sites import add_watch_target, crawl_target, page
from tests.test_software_signal import make_zip, patched, real_binaries, zeros_bomb
from tests.test_video_signal import wav_bytes

HTML = "text/html; charset=utf-8"


def test_a_crawl_matches_binaries_and_archive_members_and_records_bad_archives(
        sqlite_home: Settings, tmp_path: Path) -> None:
    tool, other = real_binaries()[:2]
    work = tmp_path / "tool.so"
    work.write_bytes(tool)
    assert run_cli("works", "add", str(work), "--kind", "software", "--title", "Tool Pro 3",
                   "--holder", "Vendor").exit_code == 0
    archive = make_zip([("Tool Pro 3/readme.txt", b"cracked by nobody " * 100),
                        ("Tool Pro 3/bin/tool.so", patched(tool))])
    whole = make_zip([("tool.so", tool)])
    site = DemoSite()
    links = "".join(f'<li><a href="/dl/{name}">{name}</a></li>' for name in (
        "repack.zip", "tool-setup.exe", "bomb.zip", "broken.zip", "other.exe", "exact.zip"))
    site.add("/", page("Warez", f"<ul>{links}</ul>"), HTML)
    site.add("/dl/repack.zip", archive, "application/zip")
    site.add("/dl/tool-setup.exe", tool, "application/octet-stream")
    site.add("/dl/bomb.zip", zeros_bomb(1024), "application/zip")
    site.add("/dl/broken.zip", whole[: len(whole) // 2], "application/zip")
    site.add("/dl/other.exe", other, "application/octet-stream")
    site.add("/dl/exact.zip", whole, "application/zip")
    db = open_database(sqlite_home)
    with serve_site(site) as running:
        run = crawl_target(db, sqlite_home, add_watch_target(db, running.url))
        assert {f"/dl/{n}" for n in ("repack.zip", "bomb.zip", "broken.zip", "other.exe")} \
            <= set(running.requests)
    assert run.outcome == "finished"
    errors = {e["url"].rsplit("/", 1)[1]: e for e in run.errors}
    assert errors["broken.zip"]["kind"] == "bad_media"
    assert "zip" in errors["broken.zip"]["message"]
    assert "bomb.zip" not in errors  # read as far as is safe: nothing to match there
    with db.session() as session:
        hits = {h.url.rsplit("/", 1)[1]: h for h in session.scalars(select(Hit))}
    assert set(hits) == {"repack.zip", "tool-setup.exe", "exact.zip"}
    assert hits["tool-setup.exe"].algorithm == "sha256"
    assert hits["exact.zip"].algorithm == "sha256"
    assert hits["exact.zip"].detail["copy_member"] == "tool.so"
    assert hits["repack.zip"].algorithm == "tlsh"
    assert hits["repack.zip"].detail["copy_member"] == "Tool Pro 3/bin/tool.so"
    shown = json.loads(run_cli("hits", "list", "--json").output)
    assert any("Tool Pro 3/bin/tool.so" in h["method"] for h in shown)
    db.dispose()


def test_a_crawl_matches_a_pirated_video_with_its_segment_and_records_bad_videos(
        sqlite_home: Settings, tmp_path: Path) -> None:
    work = write_work(tmp_path / "film.mp4", 201, 24.0, 10, (320, 180))
    copy = alter(work, tmp_path / "copy.avi", ALTERATIONS["combined"])  # trimmed 7.3 s
    unrelated = write_work(tmp_path / "other.mp4", 202, 12.0, 10, (320, 180))
    assert run_cli("works", "add", str(work), "--kind", "video", "--title", "Night Train",
                   "--holder", "Studio").exit_code == 0
    site = DemoSite()
    player = ('<video controls><source src="/v/stream-1080p" type="video/mp4"></video>'
              '<a href="/v/trailer.mp4">trailer</a><a href="/v/empty.mp4">cam</a>'
              '<a href="/v/broken.mp4">hd</a><a href="/v/audio.mp4">soundtrack</a>')
    site.add("/", page("Night Train (2026) watch online", player), HTML)
    site.add("/v/stream-1080p", copy.read_bytes(), "video/x-msvideo")
    site.add("/v/trailer.mp4", unrelated.read_bytes(), "video/mp4")
    site.add("/v/empty.mp4", b"", "video/mp4")
    site.add("/v/broken.mp4", work.read_bytes()[: work.stat().st_size // 2], "video/mp4")
    site.add("/v/audio.mp4", wav_bytes(), "video/mp4")
    db = open_database(sqlite_home)
    with serve_site(site) as running:
        run = crawl_target(db, sqlite_home, add_watch_target(db, running.url))
    assert run.outcome == "finished"
    errors = {e["url"].rsplit("/", 1)[1]: e for e in run.errors}
    assert {name for name, e in errors.items() if e["kind"] == "bad_media"} == {
        "empty.mp4", "broken.mp4", "audio.mp4"}
    with db.session() as session:
        [hit] = session.scalars(select(Hit)).all()
        assert hit.url.endswith("/v/stream-1080p") and hit.algorithm == "video"
        assert hit.score >= VideoSignal.default_threshold
        work_start, _ = hit.detail["work_range"]
        copy_start, _ = hit.detail["copy_range"]
        assert abs((work_start - copy_start) - 7.3) < 1.0  # the copy starts 7.3 s in
    db.dispose()


def test_precomputed_video_and_software_fingerprints_register_and_match(
        sqlite_home: Settings, tmp_path: Path) -> None:
    """A rights holder sends only fingerprint lines; staff's `match` finds the files."""
    tool = tmp_path / "tool.so"
    tool.write_bytes(real_binaries()[0])
    film = write_work(tmp_path / "film.mp4", 203, 12.0, 10, (320, 180))
    lines = []
    for path, kind in ((tool, "software"), (film, "video")):
        result = run_cli("fingerprint", str(path), "--kind", kind, "--title", f"My {kind}")
        assert result.exit_code == 0, result.output
        lines.append(result.output.strip())
    sent = tmp_path / "fingerprints.jsonl"
    sent.write_text("\n".join(lines) + "\n")
    result = run_cli("works", "import-fingerprints", str(sent), "--holder", "Vendor")
    assert result.exit_code == 0 and "2 works registered" in result.output
    found = json.loads(run_cli("match", "--kind", "software", "--json", str(tool)).output)
    assert [m["work_title"] for m in found[0]["matches"]] == ["My software"]
    found = json.loads(run_cli("match", "--kind", "video", "--json", str(film)).output)
    assert [m["work_title"] for m in found[0]["matches"]] == ["My video"]
