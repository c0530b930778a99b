"""Evidence bundles: a clean bundle verifies; every kind of tampering is caught and named;
unsafe bundles are never extracted. Built once from the demo database, as a user would."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tracemalloc
import warnings
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from markupsafe import escape

from casefiles.bundle import extract_bundle, verify_bundle
from casefiles.custody import head_statement
from swordnet.cli.main import main
from swordnet.core.signing import load_or_create_key, load_public_pem, public_pem, sign
from tests.conftest import built_once, demo_port_lock

Files = dict[str, bytes]


@dataclass(frozen=True)
class Ran:
    """What a ``swordnet`` command said, and its exit status."""

    returncode: int
    stdout: str
    stderr: str


# Warnings a fresh interpreter does not show (its default filters).
HIDDEN_WARNINGS = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)


def swordnet(home: Path, *args: str) -> Ran:
    """``swordnet ARGS`` with ``home`` as SWORDNET_HOME and its default database, run
    in-process: its exit status, stdout, and stderr with what a shell would see there too,
    the warnings it raised and the log records of WARNING and above (which a process with
    no logging set up prints through logging's last-resort handler)."""
    shown = io.StringIO()
    handler = logging.StreamHandler(shown)
    handler.setLevel(logging.WARNING)
    logging.getLogger().addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            result = CliRunner().invoke(main, list(args), catch_exceptions=False, env={
                "SWORDNET_HOME": str(home), "SWORDNET_DATABASE_URL": None})
    finally:
        logging.getLogger().removeHandler(handler)
    for warning in caught:
        if not issubclass(warning.category, HIDDEN_WARNINGS):
            shown.write(warnings.formatwarning(warning.message, warning.category,
                                               warning.filename, warning.lineno))
    return Ran(result.exit_code, result.stdout, result.stderr + shown.getvalue())


def swordnet_demo(home: Path) -> subprocess.CompletedProcess[str]:
    """``swordnet demo`` as a process of its own (it serves its site while it runs)."""
    env = {**os.environ, "SWORDNET_HOME": str(home)}
    env.pop("SWORDNET_DATABASE_URL", None)
    with demo_port_lock():
        return subprocess.run([sys.executable, "-m", "swordnet", "demo"], env=env,
                              capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(home, bundle): the demo's first three pending hits confirmed, a notice sent, their
    case exported, once per test run (tests only read them) with the public key of
    `swordnet keys show` saved as the file a recipient trusts (``trusted.pem`` in the home)."""

    def build(directory: Path) -> dict[str, str]:
        home = directory / "home"
        demo = swordnet_demo(home)
        assert demo.returncode == 0, demo.stdout + demo.stderr
        # the demo confirmed one hit itself, into the case it published (closed by now)
        pending = swordnet(home, "hits", "list", "--status", "pending", "--json")
        assert pending.returncode == 0, pending.stdout + pending.stderr
        first = [str(i) for i in sorted(row["id"] for row in json.loads(pending.stdout))[:3]]
        confirmed = swordnet(home, "hits", "confirm", *first)
        assert confirmed.returncode == 0, confirmed.stdout + confirmed.stderr
        case = re.search(rf"Hit {first[0]} confirmed \(case (\d+)\)", confirmed.stdout)
        assert case is not None, confirmed.stdout
        for args in (["notices", "record", case[1], "--recipient", "abuse@pirate.example"],
                     ["cases", "export", case[1], "-o", str(home / "case.zip")]):
            result = swordnet(home, *args)
            assert result.returncode == 0, result.stdout + result.stderr
        key = swordnet(home, "keys", "show")
        assert key.returncode == 0, key.stdout + key.stderr
        (home / "trusted.pem").write_text(key.stdout.split("sha256 of")[0])
        return {}

    directory, _ = built_once(tmp_path_factory, "bundle_demo", build)
    return directory / "home", directory / "home" / "case.zip"


@pytest.fixture(scope="module")
def trusted(exported: tuple[Path, Path]) -> Path:
    """The public key a recipient trusts."""
    return exported[0] / "trusted.pem"


def read_all(path: Path) -> Files:
    with zipfile.ZipFile(path) as bundle:
        return {name: bundle.read(name) for name in bundle.namelist()}


def write_all(path: Path, files: Files) -> Path:
    with zipfile.ZipFile(path, "w") as bundle:
        for name, body in files.items():
            bundle.writestr(name, body)
    return path


def tampered(exported: tuple[Path, Path], tmp_path: Path, edit: Callable[[Files], None]) -> Path:
    files = read_all(exported[1])
    edit(files)
    return write_all(tmp_path / "tampered.zip", files)


def problems(path: Path, trusted: Path) -> list[str]:
    return verify_bundle(path, load_public_pem(trusted.read_bytes(), "key")).problems


def warc_name(files: Files) -> str:
    return next(n for n in files if n.startswith("warc/"))


def gzip_members(data: bytes) -> list[bytes]:
    """The decompressed gzip members of a WARC file: one record each."""
    members = []
    while data:
        inflater = zlib.decompressobj(wbits=31)
        members.append(inflater.decompress(data))
        data = inflater.unused_data
    return members


def edit_warc(files: Files, change: Callable[[bytes], bytes]) -> None:
    """Apply ``change`` to the first record it changes, recompressing record by record."""
    name = warc_name(files)
    members = gzip_members(files[name])
    for index, member in enumerate(members):
        if change(member) != member:
            members[index] = change(member)
            break
    else:
        raise AssertionError("the edit changed no record")
    files[name] = b"".join(gzip.compress(m) for m in members)


def test_clean_bundle_verifies(exported: tuple[Path, Path], trusted: Path) -> None:
    home, bundle = exported
    result = swordnet(home, "evidence", "verify", str(bundle), "--key", str(trusted))
    assert result.returncode == 0, result.stderr
    files = read_all(bundle)
    manifest = json.loads(files["manifest.json"])
    assert f"intact. Case {manifest['case_id']}," in result.stdout
    assert {n for n in files if n.startswith("media/")} and warc_name(files) in manifest["files"]
    assert "report.html" in manifest["files"] and "custody.jsonl" in manifest["files"]
    report = files["report.html"].decode()
    case = json.loads(files["case.json"])
    assert len(case["hits"]) == 3 and "abuse@pirate.example" in report
    for hit in case["hits"]:
        assert str(escape(hit["work"]["title"])) in report and hit["url"] in report
        assert all(c["sha256"] in report and c["fetched_at"] in report for c in hit["captures"])


def test_one_byte_changed_in_a_warc_payload(exported: tuple[Path, Path], tmp_path: Path,
                                           trusted: Path) -> None:
    def flip(record: bytes) -> bytes:
        if b"\xff\xd8\xff" not in record:
            return record
        at = record.index(b"\xff\xd8\xff") + 200  # inside the JPEG payload
        return record[:at] + bytes([record[at] ^ 1]) + record[at + 1:]

    found = problems(tampered(exported, tmp_path, lambda f: edit_warc(f, flip)), trusted)
    name = warc_name(read_all(exported[1]))
    assert any(p.startswith(f"{name}: altered") for p in found), found

    def flip_and_relist(files: Files, key: Ed25519PrivateKey | None) -> None:
        edit_warc(files, flip)
        manifest = json.loads(files["manifest.json"])
        manifest["files"][name] = {"sha256": hashlib.sha256(files[name]).hexdigest(),
                                   "size": len(files[name])}
        files["manifest.json"] = json.dumps(manifest, indent=2).encode()
        if key is not None:
            files["manifest.sig"] = sign(key, files["manifest.json"])

    # changed on the instance before export: the signature holds, the record digests do not
    insider = load_or_create_key(exported[0])
    found = problems(tampered(exported, tmp_path, lambda f: flip_and_relist(f, insider)),
                     trusted)
    assert len(found) == 1 and "fails its digest check" in found[0], found
    # without the key, the signature fails and the WARC is not parsed at all
    found = problems(tampered(exported, tmp_path, lambda f: flip_and_relist(f, None)), trusted)
    assert len(found) == 1 and "manifest.sig: the signature does not match" in found[0], found


def test_only_the_warc_date_header_changed(exported: tuple[Path, Path], tmp_path: Path,
                                           trusted: Path) -> None:
    def redate(record: bytes) -> bytes:
        if not record.startswith(b"WARC/1.1\r\nWARC-Type: response"):
            return record
        return re.sub(rb"WARC-Date: 2\d{3}", b"WARC-Date: 1999", record, count=1)

    found = problems(tampered(exported, tmp_path, lambda f: edit_warc(f, redate)), trusted)
    name = warc_name(read_all(exported[1]))
    assert [p for p in found if p.startswith(name)] == [
        p for p in found if p.startswith(f"{name}: altered")] != []  # the digests still pass
    assert not any("digest check" in p for p in found)


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda f: f.__setitem__("notes.txt", b"x"), ["notes.txt: not in the manifest"]),
    (lambda f: f.pop("report.html"), ["report.html: listed in the manifest but missing"]),
    (lambda f: f.__setitem__("media/renamed.jpg", f.pop(next(n for n in f
                                                             if n.startswith("media/")))),
     ["media/renamed.jpg: not in the manifest", "listed in the manifest but missing"]),
], ids=["added", "removed", "renamed"])
def test_files_added_removed_or_renamed(exported: tuple[Path, Path], tmp_path: Path,
                                        trusted: Path, edit: Callable[[Files], None],
                                        expected: list[str]) -> None:
    found = problems(tampered(exported, tmp_path, edit), trusted)
    for text in expected:
        assert any(text in p for p in found), (text, found)


def _rewrite_consistently(files: Files, key: Ed25519PrivateKey | None) -> None:
    """Change case.json, fix its manifest entry, re-sign (if a key is given)."""
    files["case.json"] = files["case.json"].replace(b"abuse@pirate.example",
                                                    b"nobody@elsewhere.example")
    manifest = json.loads(files["manifest.json"])
    manifest["files"]["case.json"] = {"sha256": hashlib.sha256(files["case.json"]).hexdigest(),
                                      "size": len(files["case.json"])}
    if key is not None:  # a thorough forger re-signs the custody log's head as well
        head = manifest["custody"]["signed_head"]
        head["signature"] = sign(key, head_statement(manifest["case_id"], head["seq"],
                                                     head["hash"])).decode().strip()
    files["manifest.json"] = json.dumps(manifest, indent=2).encode()
    if key is not None:
        files["manifest.sig"] = sign(key, files["manifest.json"])
        files["public_key.pem"] = public_pem(key.public_key())


def test_manifest_and_files_rewritten_without_the_key(exported: tuple[Path, Path],
                                                     tmp_path: Path, trusted: Path) -> None:
    unsigned = problems(tampered(exported, tmp_path, lambda f: _rewrite_consistently(f, None)),
                        trusted)
    assert any("manifest.sig: the signature does not match" in p for p in unsigned), unsigned
    other_key = Ed25519PrivateKey.generate()
    resigned = problems(tampered(exported, tmp_path,
                                 lambda f: _rewrite_consistently(f, other_key)), trusted)
    assert len(resigned) == 1 and "not by the trusted key" in resigned[0], resigned


def _custody(files: Files, change: Callable[[list[bytes]], list[bytes]]) -> None:
    lines = files["custody.jsonl"].splitlines(keepends=True)
    files["custody.jsonl"] = b"".join(change(lines))


@pytest.mark.parametrize(("change", "expected"), [
    (lambda ls: [ls[0], ls[1].replace(b'"actor":"', b'"actor":"x'), *ls[2:]],
     "chain broken at event 2"),
    (lambda ls: [ls[0], ls[2], ls[1], *ls[3:]], "chain broken at event 2"),
    (lambda ls: [ls[0], ls[1], *ls[3:]], "chain broken at event 3"),
    (lambda ls: ls[:-2], "truncated or extended"),
], ids=["edited", "reordered", "deleted", "truncated"])
def test_custody_log_tampering(exported: tuple[Path, Path], tmp_path: Path, trusted: Path,
                               change: Callable[[list[bytes]], list[bytes]],
                               expected: str) -> None:
    found = problems(tampered(exported, tmp_path, lambda f: _custody(f, change)), trusted)
    assert any(p.startswith("custody.jsonl: altered") for p in found), found
    assert any(expected in p for p in found), found


def test_cli_names_each_problem_and_exits_1(exported: tuple[Path, Path], tmp_path: Path,
                                            trusted: Path) -> None:
    home, _ = exported
    path = tampered(exported, tmp_path, lambda f: f.pop("report.html"))
    result = swordnet(home, "evidence", "verify", str(path), "--key", str(trusted))
    assert result.returncode == 1
    assert f"{path}: report.html: listed in the manifest but missing" in result.stderr


def _zip_with(path: Path, name: str, *, symlink: bool = False) -> Path:
    with zipfile.ZipFile(path, "w") as bundle:
        bundle.writestr("manifest.json", b"{}")
        info = zipfile.ZipInfo(name)
        if symlink:
            info.external_attr = (0o120777 << 16)
        bundle.writestr(info, b"/etc/passwd" if symlink else b"owned")
    return path


@pytest.mark.parametrize(("name", "symlink", "reason"), [
    ("../escaped.txt", False, "leaves the bundle's directory"),
    ("warc/../../escaped.txt", False, "leaves the bundle's directory"),
    ("/tmp/escaped-absolute.txt", False, "is an absolute path"),
    ("link", True, "is a symbolic link"),
])
def test_unsafe_bundles_are_refused_and_nothing_is_written(
    exported: tuple[Path, Path], tmp_path: Path, name: str, symlink: bool, reason: str
) -> None:
    home, _ = exported
    bundle = _zip_with(tmp_path / "evil.zip", name, symlink=symlink)
    target = tmp_path / "out" / "case"
    result = swordnet(home, "evidence", "extract", str(bundle), "-o", str(target))
    assert result.returncode == 1
    assert reason in result.stderr and "refused, nothing extracted" in result.stderr
    assert not target.exists()
    assert not (tmp_path / "out" / "escaped.txt").exists()
    assert not Path("/tmp/escaped-absolute.txt").exists()
    verify = swordnet(home, "evidence", "verify", str(bundle))
    assert verify.returncode == 1 and reason in verify.stderr


def test_a_clean_bundle_extracts_and_still_verifies(exported: tuple[Path, Path],
                                                    tmp_path: Path) -> None:
    home, bundle = exported
    target = tmp_path / "case1"
    assert swordnet(home, "evidence", "extract", str(bundle), "-o", str(target)).returncode == 0
    manifest = json.loads((target / "manifest.json").read_text())
    assert all((target / name).is_file() for name in manifest["files"])
    shutil.rmtree(target)


# --- hostile zips (issue 20) --------------------------------------------------------------------

def _with_entry_first(bundle: Path, path: Path, name: str, body: bytes) -> Path:
    """The bundle with one more entry, ``name``, placed before all the others (where
    ``unzip`` finds it first, whatever Python finds later under the same name)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Duplicate name"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
            out.writestr(name, body)
            for entry, content in read_all(bundle).items():
                out.writestr(entry, content)
    return path


def _media(files: Files) -> str:
    return next(n for n in files if n.startswith("media/"))


@pytest.mark.parametrize(("entry", "reason"), [
    ("custody.jsonl", "custody.jsonl is a second entry for the file custody.jsonl"),
    ("case.json", "case.json is a second entry for the file case.json"),
    ("./case.json", "case.json is a second entry for the file ./case.json"),
    ("CASE.JSON", "case.json is a second entry for the file CASE.JSON"),
    ("media\\{media}", "is a second entry for the file media\\"),
    ("manifest.json", "manifest.json is a second entry for the file manifest.json"),
    ("media/", "media/ is a directory entry"),
])
def test_duplicate_colliding_and_directory_entries_fail_and_are_never_extracted(
        exported: tuple[Path, Path], tmp_path: Path, trusted: Path, entry: str,
        reason: str) -> None:
    home, bundle = exported
    files = read_all(bundle)
    name = entry.format(media=_media(files).removeprefix("media/"))
    body = b"" if name.endswith("/") else files.get(name.replace("\\", "/").lower().lstrip(
        "./"), b"{}")[:-40] + b"(tampered)"
    evil = _with_entry_first(bundle, tmp_path / "dup.zip", name, body)
    found = problems(evil, trusted)
    assert any(reason in p for p in found), found
    target = tmp_path / "out"
    with pytest.raises(ValueError, match="refused, nothing extracted") as refused:
        extract_bundle(evil, target)
    assert reason in str(refused.value)
    assert not target.exists() and os.listdir(tmp_path) == ["dup.zip"]
    if entry == "custody.jsonl":  # the same through the CLI, once
        verify = swordnet(home, "evidence", "verify", str(evil), "--key", str(trusted))
        assert verify.returncode == 1 and reason in verify.stderr and verify.stdout == ""
        extract = swordnet(home, "evidence", "extract", str(evil), "-o", str(target))
        assert extract.returncode == 1 and reason in extract.stderr
        assert extract.stderr.count("\n") == 1 and not target.exists()


def _zeros_entry(out: zipfile.ZipFile, name: str, size: int) -> None:
    """A genuinely deflated run of zeros, written in chunks (fast, small in memory)."""
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    with out.open(info, "w", force_zip64=True) as sink:
        chunk = bytes(1 << 20)
        for _ in range(size >> 20):
            sink.write(chunk)


def _claim_size(path: Path, name: str, size: int) -> None:
    """Rewrite the uncompressed size the zip's headers give for ``name`` (central
    directory and local header), leaving the data as it is."""
    data = bytearray(path.read_bytes())
    encoded = name.encode()
    for signature, size_at, name_at in ((b"PK\x01\x02", 24, 46), (b"PK\x03\x04", 22, 30)):
        at = data.find(signature)
        while at != -1:
            if data[at + name_at:at + name_at + len(encoded)] == encoded:
                data[at + size_at:at + size_at + 4] = size.to_bytes(4, "little")
            at = data.find(signature, at + 4)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(("variant", "reason"), [
    ("zeros-as-report", "report.html unpacks"),
    ("zeros-undeclared", "zeros.bin unpacks"),
    ("claims-3-gib", "report.html unpacks"),
    ("claims-declared-size", "report.html: "),
])
def test_zip_bombs_are_refused_with_bounded_memory_and_short_messages(
        exported: tuple[Path, Path], tmp_path: Path, trusted: Path, variant: str,
        reason: str) -> None:
    files = read_all(exported[1])
    declared = json.loads(files["manifest.json"])["files"]["report.html"]["size"]
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as out:
        for name, body in files.items():
            if name == "report.html" and variant != "zeros-undeclared":
                _zeros_entry(out, name, 64 << 20)
            else:
                out.writestr(name, body)
        if variant == "zeros-undeclared":
            _zeros_entry(out, "zeros.bin", 64 << 20)
    if variant == "claims-3-gib":
        _claim_size(bomb, "report.html", 3 << 30)
    elif variant == "claims-declared-size":  # passes the size checks; reading stops there
        _claim_size(bomb, "report.html", declared)
    assert bomb.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        found = problems(bomb, trusted)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert any(reason in p for p in found), found
    assert peak < 8 << 20, peak
    assert all(len(p) < 200 and "\n" not in p for p in found), found


def test_cli_output_stays_short_for_a_bomb(exported: tuple[Path, Path], tmp_path: Path,
                                           trusted: Path) -> None:
    home, bundle = exported
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as out:
        for name, body in read_all(bundle).items():
            out.writestr(name, body)
        for number in range(50):  # many problems: the list is cut, each line is short
            _zeros_entry(out, f"warc/{'x' * 300}-{number}.warc.gz", 2 << 20)
    result = swordnet(home, "evidence", "verify", str(bomb), "--key", str(trusted))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 20 and lines[-1].endswith("… and 31 more problems"), lines
    assert all(len(line) < 300 for line in lines), lines


def test_without_a_trusted_key_an_intact_bundle_is_not_enough(exported: tuple[Path, Path],
                                                              tmp_path: Path) -> None:
    _, bundle = exported
    verifier = tmp_path / "verifier"  # a third party's home: no instance key
    plain = swordnet(verifier, "evidence", "verify", str(bundle))
    assert plain.returncode == 1
    assert "intact, but its signer (key " in plain.stderr and "is not trusted" in plain.stderr
    assert plain.stderr.count("\n") == 1 and plain.stdout == ""
    embedded = swordnet(verifier, "evidence", "verify", str(bundle), "--trust-embedded-key")
    case_id = json.loads(read_all(bundle)["manifest.json"])["case_id"]
    assert embedded.returncode == 0 and f"intact. Case {case_id}," in embedded.stdout
    resigned = tampered(exported, tmp_path, lambda f: _rewrite_consistently(
        f, Ed25519PrivateKey.generate()))
    forged = swordnet(verifier, "evidence", "verify", str(resigned))
    assert forged.returncode == 1 and "is not trusted" in forged.stderr


def test_extract_refuses_an_existing_folder_and_a_non_zip(exported: tuple[Path, Path],
                                                          tmp_path: Path) -> None:
    home, bundle = exported
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "notes.txt").write_text("mine")
    result = swordnet(home, "evidence", "extract", str(bundle), "-o", str(existing))
    assert result.returncode == 1 and result.stderr == (
        f"Error: {existing} already exists and is not empty; extract into a new folder\n")
    assert os.listdir(existing) == ["notes.txt"]
    not_zip = tmp_path / "notes.zip"
    not_zip.write_bytes(b"just text\n" * 100)
    result = swordnet(home, "evidence", "extract", str(not_zip), "-o", str(tmp_path / "new"))
    assert result.returncode == 1 and result.stderr.startswith(
        f"Error: {not_zip}: not a readable zip file (BadZipFile") and \
        result.stderr.count("\n") == 1
    assert not (tmp_path / "new").exists()


def test_a_bundle_carries_the_signed_head_of_its_custody_log(exported: tuple[Path, Path],
                                                             tmp_path: Path,
                                                             trusted: Path) -> None:
    manifest = json.loads(read_all(exported[1])["manifest.json"])
    assert manifest["format"] == "swordnet-evidence-bundle/2"
    signed = manifest["custody"]["signed_head"]
    assert (signed["seq"], signed["hash"]) == (manifest["custody"]["events"],
                                               manifest["custody"]["head"])

    def truncate_consistently(files: Files) -> None:  # the log and its manifest line agree
        _custody(files, lambda lines: lines[:-1])
        last = json.loads(files["custody.jsonl"].splitlines()[-1])
        manifest = json.loads(files["manifest.json"])
        manifest["custody"].update(events=last["seq"], head=last["hash"])
        manifest["files"]["custody.jsonl"] = {
            "sha256": hashlib.sha256(files["custody.jsonl"]).hexdigest(),
            "size": len(files["custody.jsonl"])}
        files["manifest.json"] = json.dumps(manifest, indent=2).encode()

    found = problems(tampered(exported, tmp_path, truncate_consistently), trusted)
    assert f"custody.jsonl: ends at event {signed['seq'] - 1}, but the custody log's signed " \
        f"head is event {signed['seq']} (events deleted before export)" in found, found


def _manual_steps() -> tuple[list[str], str]:
    """The shell blocks and the Python block of docs/evidence.md's "Verifying by hand"."""
    doc = (Path(__file__).parents[1] / "docs" / "evidence.md").read_text()
    section = doc.split("## Verifying by hand")[1].split("\n## ")[0]
    return (re.findall(r"```sh\n(.*?)```", section, re.S),
            re.findall(r"```python\n(.*?)```", section, re.S)[0])


@pytest.mark.skipif(not all(shutil.which(tool) for tool in ("zipinfo", "unzip", "jq",
                                                              "openssl", "sha256sum")),
                    reason="the manual steps need zipinfo, unzip, jq, openssl, sha256sum")
def test_the_manual_steps_in_the_docs_pass_a_clean_bundle_and_catch_duplicates(
        exported: tuple[Path, Path], trusted: Path, tmp_path: Path) -> None:
    home, bundle = exported
    shell, python = _manual_steps()
    clean = tmp_path / "clean"
    clean.mkdir()
    shutil.copy(bundle, clean / "case.zip")
    steps = subprocess.run(["bash", "-c", "\n".join(shell)], cwd=clean, capture_output=True,
                           text=True, timeout=60, stdin=subprocess.DEVNULL)
    fingerprint = swordnet(home, "keys", "show").stdout.split("sha256 of the raw key: ")[1][:64]
    assert steps.stdout.splitlines() == [f"{fingerprint}  -", "Signature Verified Successfully",
                                         "Signature Verified Successfully"], steps
    chain = subprocess.run([sys.executable, "-c", python], cwd=clean / "case",
                           capture_output=True, text=True, timeout=60)
    assert chain.returncode == 0 and chain.stdout.startswith("custody log intact:"), chain
    for name in ("custody.jsonl", "./case.json", "Report.html"):
        doctored = tmp_path / name.strip("./")
        doctored.mkdir()
        _with_entry_first(bundle, doctored / "case.zip", name, b"tampered")
        step_0 = subprocess.run(["bash", "-c", shell[0]], cwd=doctored, capture_output=True,
                                text=True, timeout=60)
        assert {line.lower() for line in step_0.stdout.split()} == {name.strip("./").lower()}, \
            step_0
