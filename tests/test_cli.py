"""The swordnet CLI as a user drives it: registration, watchlist, review, match, bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from PIL import Image
from sqlalchemy import delete

from swordnet.cli.main import COMMANDS, main
from swordnet.core.config import Settings
from swordnet.core.db import open_database
from swordnet.core.models import Fingerprint
from swordnet.demo.samples import sample_files
from swordnet.demo.site import ALTERATIONS
from tests.conftest import run_cli
from tests.images import NOT_AN_IMAGE, jpeg_bytes, png_header_claiming, truncated_jpeg


def works_json() -> list[dict[str, object]]:
    return json.loads(run_cli("works", "list", "--json").output)


@pytest.fixture
def sample_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "works"
    directory.mkdir()
    for path, _ in sample_files():
        shutil.copy(path, directory / path.name)
    return directory


def test_works_add_and_list(home: Settings) -> None:
    path, title = sample_files()[0]
    result = run_cli("works", "add", str(path), "--title", title, "--holder", "Studio A")
    assert result.exit_code == 0, result.output
    assert "Registered work 1" in result.output
    again = run_cli("works", "add", str(path), "--title", title, "--holder", "Studio A")
    assert again.exit_code == 0 and "already registered as work 1" in again.output
    [work] = works_json()
    assert (work["title"], work["holder"], work["kind"], work["fingerprints"]) == (
        title, "Studio A", "image", 4)  # phash, mirrored phash, orb, the title for links


def test_registering_a_work_again_adds_the_fingerprints_it_lacks(home: Settings) -> None:
    """A work registered before stage 2 existed gains its ORB fingerprint on re-registration."""
    path, title = sample_files()[0]
    assert run_cli("works", "add", str(path), "--title", title, "--holder", "H").exit_code == 0
    db = open_database(home)
    with db.session() as session:
        session.execute(delete(Fingerprint).where(Fingerprint.algorithm == "orb"))
    db.dispose()
    assert works_json()[0]["fingerprints"] == 3
    again = run_cli("works", "add", str(path), "--title", title, "--holder", "H")
    assert again.exit_code == 0
    assert f"already registered as work 1 '{title}'; added 1 missing fingerprint." in again.output
    assert works_json()[0]["fingerprints"] == 4
    unchanged = run_cli("works", "add", str(path), "--title", title, "--holder", "H")
    assert f"already registered as work 1 '{title}'." in unchanged.output


@pytest.mark.parametrize(("content", "message"), [
    (NOT_AN_IMAGE, "not a recognised image format"),
    (truncated_jpeg(), "truncated or corrupt image data"),
    (png_header_claiming(20000, 20000), "decompression bomb"),
])
def test_works_add_refuses_bad_files_and_stores_nothing(
    home: Settings, tmp_path: Path, content: bytes, message: str
) -> None:
    bad = tmp_path / "upload.jpg"
    bad.write_bytes(content)
    result = run_cli("works", "add", str(bad), "--title", "X", "--holder", "Studio A")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and str(bad) in lines[0] and message in lines[0]
    assert works_json() == []


def test_works_add_unknown_kind_is_refused(home: Settings) -> None:
    path, _ = sample_files()[0]
    result = run_cli("works", "add", str(path), "--title", "T", "--holder", "H",
                     "--kind", "sculpture")
    assert result.exit_code == 2
    assert "'sculpture' is not one of" in result.output
    assert works_json() == []


def test_works_import_directory_with_a_bad_file(
    home: Settings, sample_dir: Path
) -> None:
    (sample_dir / "broken.jpg").write_bytes(truncated_jpeg())
    result = run_cli("works", "import", str(sample_dir), "--holder", "Studio B")
    assert result.exit_code == 1
    assert "6 works registered, 0 already registered, 1 failed." in result.output
    assert "broken.jpg: truncated or corrupt image data" in result.output
    assert len(works_json()) == 6
    rerun = run_cli("works", "import", str(sample_dir), "--holder", "Studio B")
    assert "0 works registered, 6 already registered, 1 failed." in rerun.output
    assert len(works_json()) == 6


def test_works_import_empty_directory_is_not_an_error(home: Settings, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_cli("works", "import", str(empty), "--holder", "Studio B")
    assert result.exit_code == 0
    assert "has no files: 0 works registered" in result.output


@pytest.mark.parametrize("url", ["ftp://pirate.example/", "pirate.example/films", "http://"])
def test_sites_add_refuses_non_http_urls(home: Settings, url: str) -> None:
    result = run_cli("sites", "add", url)
    assert result.exit_code == 2 and "not an http(s) URL" in result.output
    assert json.loads(run_cli("sites", "list", "--json").output) == []


def test_sites_add_and_list(home: Settings) -> None:
    result = run_cli("sites", "add", "https://Pirate.Example/films", "--depth", "3",
                     "--max-pages", "40", "--every", "6h")
    assert result.exit_code == 0, result.output
    assert run_cli("sites", "add", "https://pirate.example/films").exit_code == 1
    assert run_cli("sites", "add", "https://x.example/", "--every", "often").exit_code == 2
    [site] = json.loads(run_cli("sites", "list", "--json").output)
    assert (site["domain"], site["depth"], site["max_pages"], site["every_seconds"]) == (
        "pirate.example", 3, 40, 21600)


def test_crawl_unknown_site_id(home: Settings) -> None:
    result = run_cli("crawl", "42")
    assert result.exit_code == 1 and "no site with id 42" in result.output


def test_match_reports_matches_misses_and_unreadable_files(
    home: Settings, tmp_path: Path, sample_dir: Path
) -> None:
    run_cli("works", "import", str(sample_dir), "--holder", "Studio C")
    path, title = sample_files()[2]
    copy = tmp_path / "copy.jpg"
    copy.write_bytes(ALTERATIONS["watermarked"](Image.open(path)))
    unrelated = tmp_path / "unrelated.jpg"
    unrelated.write_bytes(jpeg_bytes(5001))
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(NOT_AN_IMAGE)
    screenshot = tmp_path / "screenshot.jpg"
    screenshot.write_bytes(ALTERATIONS["in-a-screenshot"](Image.open(path)))
    result = run_cli("match", str(copy), str(unrelated), str(bad), str(tmp_path / "gone.jpg"),
                     str(screenshot), "--json")
    assert result.exit_code == 1
    entries = json.loads(result.output)
    assert [e["file"] for e in entries] == [str(copy), str(unrelated), str(bad),
                                            str(tmp_path / "gone.jpg"), str(screenshot)]
    [m] = entries[0]["matches"]
    assert m["work_title"] == path.stem.replace("_", " ")
    assert set(m) >= {"work_id", "work_title", "algorithm", "score", "method"}
    [found] = entries[4]["matches"]  # the work inside a larger screenshot: stage 2
    assert found["work_title"] == m["work_title"]
    assert (found["stage"], found["algorithm"]) == (2, "orb")
    assert found["method"] == f"orb {found['score']:g} inliers"
    assert 0.4 < found["detail"]["scale"] < 1.0
    assert entries[1]["matches"] == [] and "error" not in entries[1]
    assert "not a recognised image format" in entries[2]["error"]
    assert entries[3]["error"].startswith("cannot read ")


def test_init_twice_is_a_no_op(home: Settings) -> None:
    first = run_cli("init")
    second = run_cli("init")
    assert first.exit_code == second.exit_code == 0
    assert first.output == second.output


def test_unreachable_database_is_a_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWORDNET_HOME", str(tmp_path))
    monkeypatch.setenv("SWORDNET_DATABASE_URL",
                       "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    result = run_cli("works", "list")
    assert result.exit_code == 1
    assert result.output.startswith("Error: cannot open database postgresql+psycopg://nobody@")
    assert len(result.output.strip().splitlines()) == 1


def one_line_error(result: Result) -> str:
    """The failure's message: exit status 1, no traceback, one line."""
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


@pytest.mark.parametrize(("title", "problem"), [
    ("Night\x00Train", "must not contain NUL characters"),
    ("Night\ud800Train", "must not contain lone surrogates"),
])
def test_import_fingerprints_refuses_unusable_text_naming_the_line(
        home: Settings, tmp_path: Path, title: str, problem: str) -> None:
    """These were tracebacks; a lone surrogate alias was stored and broke `works list`."""
    good = {"title": "Still", "kind": "image",
            "fingerprints": [{"algorithm": "phash", "value": "0123456789abcdef"}]}
    lines = tmp_path / "works.jsonl"
    lines.write_text(json.dumps(good) + "\n" + json.dumps({**good, "title": title}) + "\n"
                     + json.dumps({**good, "aliases": ["\udcff"]}) + "\n")
    result = CliRunner().invoke(main, ["works", "import-fingerprints", str(lines),
                                       "--holder", "H"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert f'{lines}: line 2: "title" {problem}' in result.output
    assert f'{lines}: line 3: "aliases" must not contain lone surrogates' in result.output
    assert works_json() == []


@pytest.mark.parametrize("args", [
    ["works", "add", "{image}", "--title", "Bad\udcff", "--holder", "H"],
    ["works", "add", "{image}", "--title", "T", "--holder=H\x00"],
    ["sites", "add", "http://pirate.example/\udcff"],
])
def test_command_line_arguments_that_are_not_text_are_refused(
        home: Settings, args: list[str]) -> None:
    """Bytes that are not UTF-8 reach Python as lone surrogates; a NUL cannot be stored."""
    image = str(sample_files()[0][0])
    result = CliRunner().invoke(main, [a.replace("{image}", image) for a in args])
    message = one_line_error(result)
    assert ("option --title" in message or "option --holder" in message
            or "argument 3" in message)
    assert works_json() == []


def test_works_added_with_a_lone_surrogate_alias_are_refused_and_listing_works(
        home: Settings) -> None:
    path, title = sample_files()[0]
    bad = run_cli("works", "add", str(path), "--title", title, "--holder", "H",
                  "--alias", "\ud800")
    assert "option --alias must not contain lone surrogates" in one_line_error(bad)
    assert run_cli("works", "list").exit_code == 0 and works_json() == []


def test_special_files_are_refused_before_reading(tmp_path: Path) -> None:
    """`works add /dev/zero` and `match /dev/zero` read until MemoryError; so did `evidence
    verify` and `evidence extract`. (Run in a process whose address space is capped, so
    that a regression fails instead of eating the machine's memory.)"""
    commands = [["works", "add", "/dev/zero", "--title", "Z", "--holder", "H"],
                ["match", "/dev/zero"], ["fingerprint", "/dev/zero"],
                ["works", "import-fingerprints", "/dev/zero", "--holder", "H"],
                ["evidence", "verify", "/dev/zero"],
                ["evidence", "extract", "/dev/zero", "-o", str(tmp_path / "out")]]
    script = ("import json, resource, sys\n"
              "resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))\n"
              "from click.testing import CliRunner\n"
              "from swordnet.cli.main import main\n"
              "for args in json.loads(sys.argv[1]):\n"
              "    result = CliRunner().invoke(main, args)\n"
              "    crash = None if isinstance(result.exception, (SystemExit, type(None))) \\\n"
              "        else repr(result.exception)\n"
              "    print(json.dumps([result.exit_code, result.output, crash]))\n")
    env = {**os.environ, "SWORDNET_HOME": str(tmp_path / "home")}
    env.pop("SWORDNET_DATABASE_URL", None)
    done = subprocess.run([sys.executable, "-c", script, json.dumps(commands)], env=env,
                          timeout=300, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(results) == len(commands)
    for args, (code, output, crash) in zip(commands, results, strict=True):
        assert code in (1, 2) and crash is None and "Traceback" not in output, (args, output)
        last = output.strip().splitlines()[-1]  # after click's usage lines for an argument
        assert "/dev/zero" in last and "not a regular file" in last, (args, output)


@pytest.mark.parametrize("args", [["cases", "show", "99999999999999999999"],
                                  ["hits", "confirm", "9223372036854775808"],
                                  ["runs", "list", "--target", "2147483648"],
                                  ["works", "delete", "0"]])
def test_ids_out_of_the_database_range_are_refused(home: Settings, args: list[str]) -> None:
    """Were OverflowError tracebacks on SQLite (and a database error on PostgreSQL)."""
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
    assert "is not in the range 1<=x<=2147483647" in result.output.strip().splitlines()[-1]


def test_an_output_file_in_a_missing_folder_is_a_one_line_error(home: Settings,
                                                                tmp_path: Path) -> None:
    """Was a FileNotFoundError traceback (any command writing a file the user names)."""
    assert run_cli("sites", "add", "http://127.0.0.1:9/a/").exit_code == 0
    assert run_cli("campaigns", "create", "Push", "--from", "2099-01-01", "--to", "2099-02-01",
                   "--targets", "1").exit_code == 0
    target = tmp_path / "missing" / "list.csv"
    result = CliRunner().invoke(main, ["campaigns", "shutdown-list", "Push", "-o", str(target)])
    assert one_line_error(result) == f"Error: {target}: No such file or directory"


def test_works_import_lists_a_file_whose_name_is_not_text_as_failed(
        home: Settings, tmp_path: Path) -> None:
    """A file name that is not UTF-8 becomes a title with lone surrogates: that file fails,
    the others are registered."""
    folder = tmp_path / "works"
    folder.mkdir()
    path, _title = sample_files()[0]
    shutil.copy(path, folder / "good.jpg")
    shutil.copy(sample_files()[1][0], os.fsencode(folder) + b"/bad\xff.jpg")
    result = run_cli("works", "import", str(folder), "--holder", "H")
    assert result.exit_code == 1
    assert "1 works registered, 0 already registered, 1 failed." in result.output
    assert "title must not contain lone surrogates" in result.output
    assert [w["title"] for w in works_json()] == ["good"]


HEAVY = ("fastapi", "openpyxl", "scrapy", "swordnet.live", "swordnet.web", "swordnet.cli.hits",
         "swordnet.cli.works", "swordnet.cli.notices", "rich.console")


@pytest.mark.parametrize(("args", "needed"), [(["keys", "--help"], ()), (["--help"], ()),
                                              (["live", "run", "--help"], ("swordnet.live",))])
def test_a_command_imports_its_own_group_only_and_the_help_lists_every_group(
        tmp_path: Path, args: list[str], needed: tuple[str, ...]) -> None:
    """`swordnet keys ...` starts without importing the web API, the crawler, the live service,
    the console or another command's module (the root group loads a command's module when it
    is asked for), `swordnet live run` without the web API, and `swordnet --help` lists
    every command without importing any command's module."""
    script = ("import sys\n"
              "from click.testing import CliRunner\n"
              "from swordnet.cli.main import main\n"
              f"result = CliRunner().invoke(main, {args!r})\n"
              "assert result.exit_code == 0, result.output\n"
              f"print(sorted(name for name in {HEAVY!r}\n"
              f"             if name in sys.modules and name not in {needed!r}))\n")
    env = {**os.environ, "SWORDNET_HOME": str(tmp_path / "home")}
    done = subprocess.run([sys.executable, "-c", script], env=env, timeout=300,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "[]"
    listed = CliRunner().invoke(main, ["--help"])
    assert listed.exit_code == 0, listed.output
    commands = listed.output.split("Commands:")[1]
    for name in ("allowlist", "blocklist", "captures", "cases", "demo", "fingerprint", "hits",
                 "init", "live", "match", "scheduler", "serve", "tokens", "users", "works"):
        assert f"\n  {name} " in commands, name


def test_the_root_help_lists_each_command_with_its_own_summary() -> None:
    """What `swordnet --help` lists for a command (without importing it) is what the command's
    own help says, at any terminal width."""
    root = click.Context(main)
    for name, (_module, summary) in COMMANDS.items():
        command = main.get_command(root, name)
        assert command is not None, name
        for limit in (30, 45, 60, 80, 120, 200):
            listed = click.Command(name, help=summary).get_short_help_str(limit)
            assert listed == command.get_short_help_str(limit), (name, limit)
