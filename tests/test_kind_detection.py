"""`swordnet works add`, `match` and `fingerprint` tell a file's kind from its content:
real images, chapters, EPUB books, videos, binaries and archives; `--kind` still wins."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from bench.video import write_work
from matching.registry import detect_kind
from swordnet.core.config import Settings
from swordnet.demo.samples import artwork
from tests.conftest import run_cli
from tests.images import NOT_AN_IMAGE, jpeg_bytes, png_bytes
from tests.test_software_signal import real_binaries
from tests.test_text_signal import epub
from tests.test_video_signal import wav_bytes
from tests.texts import as_document, chinese_novel, mangle, pirate_page, story


def zip_of(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One real file of every kind, named so that no name gives its kind away."""
    folder = tmp_path_factory.mktemp("kinds")
    simple, _ = chinese_novel(3)
    binary = real_binaries()[0]
    contents = {
        "photo": jpeg_bytes(7), "drawing": png_bytes(artwork(8)),
        "chapter": as_document(story(), "The Lamplighter's Almanac").encode(),
        "novel-gbk": as_document(simple, "星河旅人").encode("gbk"),
        "page": pirate_page(simple[1][0], mangle(simple[1][1], 1)),
        "book": epub(simple), "program": binary,
        "release": zip_of([("Tool/tool.so", binary), ("Tool/readme.txt", b"read me " * 200)]),
        "pdf": NOT_AN_IMAGE, "sound": wav_bytes(), "noise": bytes(range(256)) * 64,
    }
    paths = {}
    for name, content in contents.items():
        paths[name] = folder / f"{name}.bin"
        paths[name].write_bytes(content)
    write_work(folder / "film.mp4", 101, 6.0, 10, (320, 180))
    write_work(folder / "film.avi", 102, 6.0, 10, (320, 180), fourcc="MJPG")
    for name in ("film.mp4", "film.avi"):
        paths[name] = (folder / name).rename(folder / f"{name.replace('.', '-')}.bin")
    return paths


@pytest.mark.parametrize(("name", "kind"), [
    ("photo", "image"), ("drawing", "image"), ("chapter", "text"), ("novel-gbk", "text"),
    ("page", "text"), ("book", "text"), ("program", "software"), ("release", "software"),
    ("film.mp4", "video"), ("film.avi", "video"),
    ("sound", "audio"), ("pdf", None), ("noise", None),
])
def test_the_kind_is_told_from_the_content(files: dict[str, Path], name: str,
                                           kind: str | None) -> None:
    assert detect_kind(files[name].read_bytes()[:65536]) == kind


def test_unrecognised_content_is_taken_for_what_its_extension_says() -> None:
    assert detect_kind(NOT_AN_IMAGE, "upload.jpg") == "image"
    assert detect_kind(NOT_AN_IMAGE, "report.pdf") is None
    assert detect_kind(jpeg_bytes(1), "chapter.txt") == "image"  # the content wins


def test_works_add_and_match_a_chapter_without_being_told_it_is_text(
        sqlite_home: Settings, tmp_path: Path) -> None:
    chapter = tmp_path / "chapter.txt"
    simple, _ = chinese_novel(5)
    (tmp_path / "novel.txt").write_text(as_document(simple, "星河旅人"), encoding="utf-8")
    added = run_cli("works", "add", str(tmp_path / "novel.txt"), "--title", "星河旅人",
                    "--holder", "Press")
    assert added.exit_code == 0 and "(text, " in added.output, added.output
    chapter.write_bytes(pirate_page(simple[2][0], mangle(simple[2][1], 2)))
    found = json.loads(run_cli("match", "--json", str(chapter)).output)
    assert [m["work_title"] for m in found[0]["matches"]] == ["星河旅人"]
    assert found[0]["matches"][0]["algorithm"] == "text"


def test_every_kind_is_registered_as_what_it_is(sqlite_home: Settings,
                                                files: dict[str, Path]) -> None:
    for name, kind in (("photo", "image"), ("book", "text"), ("release", "software"),
                       ("film.mp4", "video")):
        added = run_cli("works", "add", str(files[name]), "--title", name, "--holder", "H")
        assert added.exit_code == 0 and f"({kind}, " in added.output, added.output
    listed = json.loads(run_cli("works", "list", "--json").output)
    assert [(w["title"], w["kind"]) for w in listed] == [
        ("photo", "image"), ("book", "text"), ("release", "software"), ("film.mp4", "video")]
    line = json.loads(run_cli("fingerprint", str(files["program"])).output)
    assert line["kind"] == "software"
    assert {f["algorithm"] for f in line["fingerprints"]} == {"sha256", "tlsh"}


def test_kind_overrides_what_the_content_says(sqlite_home: Settings,
                                             files: dict[str, Path]) -> None:
    result = run_cli("match", "--kind", "image", str(files["chapter"]))
    assert result.exit_code == 1
    assert "not a recognised image format" in result.output
    added = run_cli("works", "add", str(files["chapter"]), "--kind", "software", "--title",
                    "Almanac as bytes", "--holder", "H")
    assert added.exit_code == 0 and "(software, " in added.output


def test_a_two_second_sound_is_audio_too_short_to_register(sqlite_home: Settings,
                                                          files: dict[str, Path]) -> None:
    result = run_cli("works", "add", str(files["sound"]), "--title", "X", "--holder", "H")
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1 and "audio too short" in lines[0]


@pytest.mark.parametrize("name", ["noise", "pdf"])
def test_a_file_of_no_known_kind_is_one_line_error(sqlite_home: Settings,
                                                   files: dict[str, Path], name: str) -> None:
    result = run_cli("works", "add", str(files[name]), "--title", "X", "--holder", "H")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and str(files[name]) in lines[0]
    assert "cannot tell what kind of work this is" in lines[0] and "--kind" in lines[0]
    assert json.loads(run_cli("works", "list", "--json").output) == []
