"""Text works end to end: registering (files and precomputed fingerprints, good and bad),
crawling a pirate novel site, and the hits a reviewer sees."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from sqlalchemy import select

from swordnet.core.config import Settings
from swordnet.core.db import open_database
from swordnet.core.models import Capture, Hit, Work
from swordnet.demo.site import DemoSite, serve_site
from tests.conftest import run_cli
from tests.pirate_sites import add_watch_target, crawl_target
from tests.texts import as_document, chinese_novel, english_topic, mangle, pirate_page, story

HTML = "text/html; charset=utf-8"


def works_json() -> list[dict[str, object]]:
    return json.loads(run_cli("works", "list", "--json").output)


def one_error_line(result: object, *needles: str) -> None:
    assert result.exit_code == 1, result.output  # type: ignore[attr-defined]
    lines = result.output.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and lines[0].startswith("Error:"), lines
    for needle in needles:
        assert needle in lines[0]


@pytest.fixture
def novel_files(tmp_path: Path) -> dict[str, Path]:
    simple, traditional = chinese_novel(11)
    files = {
        "gbk": (as_document(simple, "星河旅人").encode("gbk")),
        "story": as_document(story(), "The Lamplighter's Almanac").encode(),
        "junk": os.urandom(64 * 1024),
        "empty": b"",
    }
    paths = {}
    for name, content in files.items():
        paths[name] = tmp_path / f"{name}.txt"
        paths[name].write_bytes(content)
    return paths


def test_text_works_register_from_any_encoding_and_bad_files_store_nothing(
        sqlite_home: Settings, novel_files: dict[str, Path], tmp_path: Path) -> None:
    for name, needle in (("junk", "binary content, not text"), ("empty", "empty document")):
        result = run_cli("works", "add", str(novel_files[name]), "--kind", "text",
                         "--title", "X", "--holder", "H")
        one_error_line(result, str(novel_files[name]), needle)
    huge = tmp_path / "huge.txt"
    with huge.open("wb") as handle:  # 2 GB, sparse: refused by its size before any read
        handle.truncate(2 * 1024**3)
    result = run_cli("works", "add", str(huge), "--kind", "text", "--title", "X", "--holder", "H")
    one_error_line(result, "file is 2,048 MB; a text work can be at most 64 MB")
    assert works_json() == []

    result = run_cli("works", "add", str(novel_files["gbk"]), "--kind", "text", "--title",
                     "星河旅人", "--alias", "Star River Traveller", "--holder", "H")
    assert result.exit_code == 0, result.output
    [work] = works_json()
    assert (work["kind"], work["aliases"], work["fingerprints"]) == (
        "text", "Star River Traveller", 2)  # the text, and its names for link hits


def test_precomputed_fingerprints_single_and_bulk_are_validated_line_by_line(
        sqlite_home: Settings, novel_files: dict[str, Path], tmp_path: Path) -> None:
    result = run_cli("fingerprint", str(novel_files["story"]), "--kind", "text",
                     "--title", "The Lamplighter's Almanac")
    assert result.exit_code == 0, result.output
    line = json.loads(result.output)
    assert line["kind"] == "text" and line["fingerprints"][0]["algorithm"] == "text"

    single = tmp_path / "one.json"
    single.write_text(json.dumps(line, indent=2))
    result = run_cli("works", "import-fingerprints", str(single), "--holder", "Press")
    assert result.exit_code == 0 and "1 works registered" in result.output

    gbk = json.loads(run_cli("fingerprint", str(novel_files["gbk"]), "--kind", "text").output)
    bad_value = {**gbk, "title": "Broken", "fingerprints": [
        {"algorithm": "text", "value": '{"v": 1}'}]}
    lines = [json.dumps(gbk), "", "{not json", json.dumps({**gbk, "kind": "sculpture"}),
             json.dumps(bad_value), json.dumps({**gbk, "title": "X", "colour": "red"}),
             json.dumps({**gbk, "fingerprints": [{"algorithm": "phash", "value": "00"}]})]
    bulk = tmp_path / "bulk.jsonl"
    bulk.write_text("\n".join(lines) + "\n")
    result = run_cli("works", "import-fingerprints", str(bulk), "--holder", "Press")
    assert result.exit_code == 1
    output = result.output
    assert "line 3: not JSON" in output
    assert "line 4: kind 'sculpture' is not one of" in output
    assert "line 5: fingerprints[0]: text fingerprint made with gram None" in output
    assert "line 6: unknown keys: colour" in output
    assert "line 7: fingerprints[0]: algorithm 'phash' is not one of a text work's (text)" \
        in output
    assert "5 bad lines; nothing registered" in output
    assert [w["title"] for w in works_json()] == ["The Lamplighter's Almanac"]

    bulk.write_text(json.dumps(gbk) + "\n" + json.dumps({**line, "title": "Almanac (copy)"})
                    + "\n")
    result = run_cli("works", "import-fingerprints", str(bulk), "--holder", "Press")
    assert result.exit_code == 0 and "1 works registered" in result.output
    assert "1 already registered" in result.output  # same fingerprints as the first one
    assert len(works_json()) == 2


def pirate_novel_site(title: str) -> tuple[DemoSite, list[tuple[str, list[str]]]]:
    simple, traditional = chinese_novel(11)
    site = DemoSite()
    chapters = "".join(f'<li><a href="/book/{n}.html">chapter {n}</a></li>' for n in (2, 5))
    site.add("/", pirate_page("小说网", [], links=f"<ul>{chapters}<li><a href='/junk.html'>x"
                              f"</a></li><li><a href='/dl.html'>dl</a></li><li><a href="
                              f"'/other.html'>o</a></li></ul>"), HTML)
    site.add("/book/2.html", pirate_page(simple[1][0], mangle(simple[1][1], 1)), HTML)
    site.add("/book/5.html", pirate_page(traditional[4][0], mangle(traditional[4][1], 2),
                                         encoding="gbk"), "text/html; charset=gbk")
    site.add("/junk.html", os.urandom(20000), "text/html")
    site.add("/dl.html", pirate_page(f"{title} 全集 TXT 下载", ["好书推荐"], links=(
        '<ul><li><a href="magnet:?xt=urn:btih:9a8b7c">磁力链接</a></li>'
        '<li><a href="https://pan.baidu.com/s/1abc">百度网盘</a></li></ul>')), HTML)
    other = english_topic("formatstrings").split("\n\n")
    site.add("/other.html", pirate_page("Format strings", other), HTML)
    return site, simple


def test_a_crawl_finds_chapters_and_download_pages_and_survives_junk(
        sqlite_home: Settings, tmp_path: Path) -> None:
    title = "星河旅人"
    site, simple = pirate_novel_site(title)
    path = tmp_path / "novel.txt"
    path.write_bytes(as_document(simple, title).encode("utf-8"))
    assert run_cli("works", "add", str(path), "--kind", "text", "--title", title,
                   "--holder", "Press").exit_code == 0
    db = open_database(sqlite_home)
    with serve_site(site) as running:
        run = crawl_target(db, sqlite_home, add_watch_target(db, running.url))
        assert "/junk.html" in running.requests and "/other.html" in running.requests
    assert run.outcome == "finished" and run.healthy
    with db.session() as session:
        hits = {h.url.split("/", 3)[3]: h for h in session.scalars(select(Hit))}
        assert set(hits) == {"book/2.html", "book/5.html", "dl.html"}
        for path_, heading in (("book/2.html", simple[1][0]), ("book/5.html", simple[4][0])):
            hit = hits[path_]
            assert hit.algorithm == "text" and hit.detail["chapters"] == [heading]
            assert hit.score >= 0.6 and hit.page_capture_id == hit.media_capture_id
            capture = session.get(Capture, hit.page_capture_id)
            assert capture is not None and capture.kind == "page"
        link = hits["dl.html"]
        assert link.algorithm == "link" and link.detail["links"] == [
            "magnet:?xt=urn:btih:9a8b7c", "https://pan.baidu.com/s/1abc"]
        assert session.scalar(select(Work.title).where(Work.id == link.work_id)) == title
    shown = run_cli("hits", "list", "--json")
    methods = sorted(h["method"].split()[0] for h in json.loads(shown.output))
    assert methods == ["link", "text", "text"]
    db.dispose()


def test_match_command_reads_text_files_and_pages(sqlite_home: Settings, tmp_path: Path) -> None:
    chapters = story()
    work = tmp_path / "story.txt"
    work.write_text(as_document(chapters))
    run_cli("works", "add", str(work), "--kind", "text", "--title", "Almanac", "--holder", "H")
    page = tmp_path / "page.html"
    page.write_bytes(pirate_page("ch", mangle(chapters[2][1], 8)))
    unrelated = tmp_path / "other.html"
    unrelated.write_bytes(pirate_page("x", english_topic("debugger").split("\n\n")))
    result = run_cli("match", "--kind", "text", "--json", str(page), str(unrelated))
    first, second = json.loads(result.output)
    assert [m["work_title"] for m in first["matches"]] == ["Almanac"]
    assert first["matches"][0]["detail"]["chapters"] == [chapters[2][0]]
    assert second["matches"] == []
