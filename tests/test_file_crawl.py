"""Crawls that fetch files: software (binaries, zip archives) found and matched, and bad
files (a zip bomb, a truncated archive, a file over the download cap) recorded without
stopping the crawl."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from matching import software
from swordnet.config import Settings
from swordnet.db import open_database
from swordnet.demo_site import DemoSite, serve_site
from swordnet.models import Hit
from tests.conftest import run_cli
from tests.pirate_sites import add_watch_target, crawl_target, page
from tests.test_software_signal import make_zip, patched, real_binaries, zeros_bomb

HTML = "text/html; charset=utf-8"


@pytest.fixture(autouse=True)
def fresh_scans() -> None:
    software._cache.clear()


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
