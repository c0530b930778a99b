"""Evidence bundles: one zip per case that a third party can verify offline.

A bundle holds the WARC files behind the case's captures (whole files, so their WARC-Date
and WARC-IP-Address headers are covered too; a recheck that got the same body again is a
``revisit`` record there, pointing at the earlier record), the captured media and
screenshots as plain files (each distinct payload once), the custody log
(``custody.jsonl``), the case as data (``case.json``), a readable ``report.html``, and
``manifest.json`` listing the sha256 and size of every other file, signed with the
instance's Ed25519 key (``manifest.sig``, key in ``public_key.pem``). The
manifest also carries the custody log's signed head as the database held it.

:func:`verify_bundle` checks all of it without the database: paths, signature and signing
key, the zip's directory (no duplicate, colliding or undeclared entry, no bomb), every file
against the manifest (sizes before reading, then sha256), the custody chain and its signed
head, and every WARC record's digests. docs/evidence.md does the same by hand.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session
from warcio.archiveiterator import ArchiveIterator

from casefiles.captures import capture_record, hit_captures, warc_path
from casefiles.custody import (
    GENESIS_HASH,
    CustodyBroken,
    append_event,
    canonical_json,
    event_hash,
    head_statement,
    log_problem,
)
from casefiles.lifecycle import case_sites
from casefiles.templates import render_report
from casefiles.zipcheck import entry_problems, shown
from swordnet.core.errors import BadInput
from swordnet.core.models import (
    Capture,
    Case,
    CaseEvent,
    CaseExport,
    CustodyHead,
    Hit,
    Notice,
    NoticeUrl,
    RecheckResult,
)
from swordnet.core.signing import fingerprint, load_public_pem, public_pem, sign, signature_valid
from swordnet.core.timeutil import utcnow
from swordnet.evidence.store import EvidenceStore
from swordnet.works.metadata import registration_facts

FORMAT = "swordnet-evidence-bundle/2"  # /2: the manifest carries the custody log's signed head
FORMAT_V1 = "swordnet-evidence-bundle/1"
MANIFEST, SIGNATURE, PUBLIC_KEY = "manifest.json", "manifest.sig", "public_key.pem"
CUSTODY = "custody.jsonl"
_EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif",
               "image/webp": ".webp", "text/html": ".html"}


def _event_line(event: CaseEvent) -> dict[str, Any]:
    return {"case_id": event.case_id, "seq": event.seq, "type": event.type,
            "payload": event.payload, "actor": event.actor, "at": event.at.isoformat(),
            "prev_hash": event.prev_hash, "hash": event.hash}


def _capture_data(capture: Capture, files: dict[int, str]) -> dict[str, Any]:
    return {"id": capture.id, "kind": capture.kind, "url": capture.url,
            "fetched_at": capture.fetched_at.isoformat(), "ip": capture.ip,
            "http_status": capture.http_status, "sha256": capture.sha256, "size": capture.size,
            "content_type": capture.content_type, "title": capture.title,
            "warc_file": f"warc/{capture.warc_file}" if capture.warc_file else None,
            "warc_offset": capture.warc_offset, "file": files.get(capture.id)}


def _payload_name(capture: Capture) -> str:
    content_type = (capture.content_type or "").split(";")[0].strip().lower()
    folder = "screenshots" if capture.kind == "screenshot" else capture.kind
    return f"{folder}/{capture.id}-{capture.sha256[:16]}{_EXTENSIONS.get(content_type, '.bin')}"


@dataclass
class _Contents:
    files: dict[str, bytes] = field(default_factory=dict)  # small files, in memory
    warcs: dict[str, Path] = field(default_factory=dict)   # bundle path -> stored WARC file


def _collect(session: Session, store: EvidenceStore,
             case: Case) -> tuple[_Contents, dict[str, Any]]:
    contents = _Contents()
    hits = session.scalars(select(Hit).where(Hit.case_id == case.id, Hit.status == "confirmed")
                           .order_by(Hit.id)).all()
    recheck_rows = session.execute(
        select(RecheckResult, NoticeUrl).join(NoticeUrl,
                                              RecheckResult.notice_url_id == NoticeUrl.id)
        .join(Notice, NoticeUrl.notice_id == Notice.id).where(Notice.case_id == case.id)
        .order_by(RecheckResult.id)).all()
    captures_of = {hit.id: hit_captures(session, hit) for hit in hits}
    captures: dict[int, Capture] = {c.id: c for found in captures_of.values() for c in found}
    for result, _url in recheck_rows:
        if result.capture_id is not None:
            capture = session.get(Capture, result.capture_id)
            assert capture is not None
            captures[capture.id] = capture
    for capture in list(captures.values()):  # the records revisits refer to, too
        if capture.revisit_of is not None and capture.revisit_of not in captures:
            original = session.get(Capture, capture.revisit_of)
            assert original is not None
            captures[original.id] = original
    payload_files: dict[int, str] = {}
    by_digest: dict[str, str] = {}  # each payload once, however often it was captured
    for capture in captures.values():
        if capture.warc_file is None:
            continue
        contents.warcs[f"warc/{capture.warc_file}"] = warc_path(session, store,
                                                                capture.warc_file)
        if capture.kind in ("media", "screenshot") and capture.http_status < 400:
            name = by_digest.get(capture.sha256)
            if name is None:
                view = capture_record(session, store, capture, check_file=False)
                name = by_digest[capture.sha256] = _payload_name(capture)
                contents.files[name] = view.payload
            payload_files[capture.id] = name
    notices = session.scalars(select(Notice).where(Notice.case_id == case.id)
                              .order_by(Notice.id)).all()
    works = {h.work_id: {"id": h.work_id, "title": h.work.title, "holder": h.work.holder.name,
                         "kind": h.work.kind, **registration_facts(h.work)} for h in hits}
    data = {
        "case": {"id": case.id, "status": case.status,
                 "opened_at": case.opened_at.isoformat(),
                 "closed_at": case.closed_at.isoformat() if case.closed_at else None,
                 "sites": [{"domain": s.domain, "ips": s.ips} for s in case_sites(session, case)]},
        "works": list(works.values()),
        "hits": [{"id": h.id, "work": works[h.work_id],
                  "url": h.url, "page_url": h.page_url, "algorithm": h.algorithm,
                  "stage": h.stage, "score": h.score, "variant": h.variant,
                  "reviewer": h.reviewer,
                  "reviewed_at": h.reviewed_at.isoformat() if h.reviewed_at else None,
                  "captures": [_capture_data(c, payload_files)
                               for c in captures_of[h.id]]} for h in hits],
        "notices": [{"id": n.id, "template": n.template, "recipient": n.recipient,
                     "sent_at": n.sent_at.isoformat() if n.sent_at else None,
                     "body": n.body} for n in notices],
        "rechecks": [{"url": u.url, "checked_at": r.checked_at.isoformat(),
                      "outcome": r.outcome, "reason": r.reason,
                      "capture": _capture_data(captures[r.capture_id], payload_files)
                      if r.capture_id else None} for r, u in recheck_rows],
    }
    events = [_event_line(e) for e in case.events]
    contents.files[CUSTODY] = b"".join(canonical_json(e) + b"\n" for e in events)
    contents.files["case.json"] = json.dumps(data, indent=2, ensure_ascii=False).encode()
    return contents, {**data, "events": events}


def _file_sha256(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def export_bundle(session: Session, store: EvidenceStore, case: Case, output: Path,
                  key: Ed25519PrivateKey, templates: Path | None, actor: str) -> CaseExport:
    """Write the case's bundle to ``output`` (atomically) and record the export; a case whose
    custody log is broken or misses its signed head is refused (CustodyBroken)."""
    signed = session.get(CustodyHead, case.id)
    problem = log_problem(case.events, signed, key.public_key())
    if problem is not None:
        raise CustodyBroken(f"case {case.id}: custody log {problem}; not exported")
    contents, data = _collect(session, store, case)
    created = utcnow()
    public = key.public_key()
    contents.files["report.html"] = render_report(templates, {
        **data, "created_at": created.isoformat(timespec="seconds"),
        "key_fingerprint": fingerprint(public)}).encode()
    entries = {name: {"sha256": hashlib.sha256(body).hexdigest(), "size": len(body)}
               for name, body in contents.files.items()}
    for name, path in contents.warcs.items():
        digest, size = _file_sha256(path)
        entries[name] = {"sha256": digest, "size": size}
    head = data["events"][-1]["hash"] if data["events"] else GENESIS_HASH
    custody: dict[str, Any] = {"events": len(data["events"]), "head": head}
    if signed is not None:  # verification compares the bundled log's end with it
        custody["signed_head"] = {"seq": signed.seq, "hash": signed.hash,
                                  "signature": signed.signature}
    manifest = json.dumps({
        "format": FORMAT, "case_id": case.id, "created_at": created.isoformat(),
        "custody": custody,
        # What each work's copyright registration says, under the signature too.
        "works": [{k: work[k] for k in ("id", "title", "holder", "category",
                                        "registration_number", "registration_date",
                                        "registering_authority", "author", "first_published",
                                        "licence_territories")} for work in data["works"]],
        "signing_key_sha256": fingerprint(public),
        "files": dict(sorted(entries.items()))}, indent=2).encode()
    temporary = output.with_name(f".{output.name}.partial")
    with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr(MANIFEST, manifest)
        bundle.writestr(SIGNATURE, sign(key, manifest))
        bundle.writestr(PUBLIC_KEY, public_pem(public))
        for name, body in sorted(contents.files.items()):
            bundle.writestr(name, body)
        for name, path in sorted(contents.warcs.items()):
            bundle.write(path, name, compress_type=zipfile.ZIP_STORED)  # already gzip
    os.replace(temporary, output)
    digest, size = _file_sha256(output)
    export = CaseExport(case_id=case.id, filename=output.name, sha256=digest, size=size,
                        created_at=created)
    session.add(export)
    session.flush()
    append_event(session, case, "bundle_exported", {
        "sha256": digest, "size": size, "manifest_sha256": hashlib.sha256(manifest).hexdigest(),
        "files": len(entries)}, actor)
    return export


# --- verification ------------------------------------------------------------------------------

_CHUNK = 1 << 20
_META_LIMITS = {MANIFEST: 32 * 1024 * 1024, SIGNATURE: 1024, PUBLIC_KEY: 4096}
_MAX_LINE = 16 * 1024 * 1024  # one custody event
_CUSTODY_LIMIT = 256 * 1024 * 1024
_MAX_PROBLEMS = 20
# What reading a hostile zip entry can raise: bad CRC or header, broken deflate stream,
# JSON nested too deep.
_READ_ERRORS = (OSError, EOFError, ValueError, NotImplementedError, RecursionError,
                zipfile.BadZipFile, zlib.error)


class BundleRefused(BadInput):
    """A bundle that cannot be extracted where asked; nothing was written."""


def _why(exc: BaseException) -> str:
    """An exception as a short, one-line reason (never the data it choked on in full)."""
    return f"{type(exc).__name__}: {shown(str(exc))}"


def _read_small(bundle: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    limit = _META_LIMITS[info.filename]
    if info.file_size > limit:
        raise ValueError(f"{info.filename} is {info.file_size} bytes (at most {limit})")
    return bundle.read(info)


def _declared_files(manifest: Any) -> dict[str, dict[str, Any]]:
    """The manifest's ``files``, checked to map names to a sha256 and a size."""
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict) or not isinstance(manifest.get("case_id"), int) or not all(
            isinstance(entry, dict) and isinstance(entry.get("sha256"), str)
            and isinstance(entry.get("size"), int) for entry in files.values()):
        raise ValueError("it does not give a case_id and a sha256 and size for every file")
    return files


def _entry_sha256(bundle: zipfile.ZipFile, info: zipfile.ZipInfo) -> str:
    digest = hashlib.sha256()
    with bundle.open(info) as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _warc_problems(name: str, stream: IO[bytes]) -> list[str]:
    problems = []
    try:
        for record in ArchiveIterator(stream, check_digests=True):
            content = record.content_stream()
            while content.read(_CHUNK):
                pass
            if record.digest_checker.problems:
                record_id = record.rec_headers.get_header("WARC-Record-ID") or "?"
                problems.append(f"{name}: record {shown(record_id)} fails its digest check")
                if len(problems) == _MAX_PROBLEMS:
                    break
    except Exception as exc:  # noqa: BLE001 (any unreadable WARC is a finding, not a crash)
        problems.append(f"{name}: not a readable WARC file ({_why(exc)})")
    return problems


def _custody_lines(stream: IO[bytes]) -> Iterator[bytes]:
    while line := stream.readline(_MAX_LINE):
        if len(line) == _MAX_LINE and not line.endswith(b"\n"):
            raise ValueError(f"a line is longer than {_MAX_LINE} bytes")
        if line.strip():
            yield line


def _custody_problems(stream: IO[bytes], manifest: dict[str, Any],
                      key: Ed25519PublicKey) -> list[str]:
    """The custody log chains, belongs to the manifest's case, and ends where both the
    manifest and (format 2) the custody log's signed head say it ends."""
    case_id, expected = manifest["case_id"], manifest.get("custody") or {}
    prev_hash, seq = GENESIS_HASH, 0
    try:
        for seq, line in enumerate(_custody_lines(stream), start=1):
            try:
                event = json.loads(line)
                recomputed = event_hash(prev_hash, event["case_id"], event["seq"],
                                        event["type"], event["payload"], event["actor"],
                                        datetime.fromisoformat(event["at"]))
                linked = (event["seq"], event["prev_hash"], event["hash"]) == \
                    (seq, prev_hash, recomputed)
            except (ValueError, KeyError, TypeError, RecursionError):
                return [f"{CUSTODY}: line {seq} is not a custody event"]
            if not linked:
                return [f"{CUSTODY}: chain broken at event {seq}"]
            if event["case_id"] != case_id:
                return [f"{CUSTODY}: event {seq} is about another case than {MANIFEST}'s"]
            prev_hash = event["hash"]
    except _READ_ERRORS as exc:
        return [f"{CUSTODY}: unreadable ({_why(exc)})"]
    if (seq, prev_hash) != (expected.get("events"), expected.get("head")):
        return [f"{CUSTODY}: holds {seq} events ending in {prev_hash[:12]}, the manifest says "
                f"{shown(str(expected.get('events')), 12)} ending in "
                f"{shown(str(expected.get('head')), 12)} (truncated or extended)"]
    if manifest.get("format") == FORMAT_V1:
        return []
    signed = expected.get("signed_head")
    if not isinstance(signed, dict) or not isinstance(signed.get("seq"), int) or \
            not isinstance(signed.get("hash"), str) or not isinstance(signed.get("signature"), str):
        return [f"{MANIFEST}: no signed head of the custody log"]
    if not signature_valid(key, head_statement(case_id, signed["seq"], signed["hash"]),
                           signed["signature"].encode()):
        return [f"{MANIFEST}: the custody log's signed head has an invalid signature"]
    if (signed["seq"], signed["hash"]) != (seq, prev_hash):
        return [f"{CUSTODY}: ends at event {seq}, but the custody log's signed head is event "
                f"{signed['seq']} (events deleted before export)"]
    return []


@dataclass
class Verification:
    problems: list[str]
    case_id: int | None = None
    files: int = 0
    key_fingerprint: str | None = None
    trusted: bool = False  # signed by the trusted key given


def _capped(problems: list[str]) -> list[str]:
    if len(problems) <= _MAX_PROBLEMS:
        return problems
    return [*problems[:_MAX_PROBLEMS - 1],
            f"… and {len(problems) - _MAX_PROBLEMS + 1} more problems"]


def verify_bundle(path: Path, trusted_key: Ed25519PublicKey | None, *,
                  trust_embedded_key: bool = False) -> Verification:
    """Check a bundle offline; every problem found is named (an empty list: intact).

    The zip's directory is checked first (:func:`casefiles.zipcheck.entry_problems`), and
    each entry's size against the manifest before any of it is read; entries are hashed in
    chunks, so time and memory stay bounded whatever the zip claims. WARC records are parsed
    only in files a trusted signature vouches for (the trusted key's, or with no trusted key
    and ``trust_embedded_key``, the bundle's own): a WARC parser is no place for a
    stranger's gzip bomb."""
    try:
        bundle = zipfile.ZipFile(path)
    except _READ_ERRORS as exc:
        return Verification([f"not a readable zip file ({_why(exc)})"])
    with bundle:
        result = _verify_open(bundle, trusted_key, trust_embedded_key)
    result.problems = _capped(result.problems)
    return result


def _verify_open(bundle: zipfile.ZipFile, trusted_key: Ed25519PublicKey | None,
                 trust_embedded_key: bool) -> Verification:
    infos = bundle.infolist()
    problems = entry_problems(infos)
    if problems:
        return Verification(problems)
    entries = {info.filename: info for info in infos}
    missing = [f"{name} is missing" for name in (MANIFEST, SIGNATURE, PUBLIC_KEY)
               if name not in entries]
    if missing:
        return Verification(missing)
    try:
        manifest_bytes = _read_small(bundle, entries[MANIFEST])
        signature = _read_small(bundle, entries[SIGNATURE])
        bundled_key = load_public_pem(_read_small(bundle, entries[PUBLIC_KEY]), PUBLIC_KEY)
        manifest = json.loads(manifest_bytes)
        files = _declared_files(manifest)
    except _READ_ERRORS as exc:
        return Verification([f"{MANIFEST} or {PUBLIC_KEY} is unreadable ({_why(exc)})"])
    result = Verification([], manifest["case_id"], len(files), fingerprint(bundled_key))
    if manifest.get("format") not in (FORMAT, FORMAT_V1):
        result.problems.append(f"{MANIFEST}: unknown format {shown(str(manifest.get('format')))}")
    signed = signature_valid(bundled_key, manifest_bytes, signature)
    if not signed:
        result.problems.append(f"{SIGNATURE}: the signature does not match {MANIFEST} "
                               "(manifest altered, or signed with another key)")
    if trusted_key is not None:
        result.trusted = fingerprint(trusted_key) == fingerprint(bundled_key)
        if not result.trusted:
            result.problems.append(
                f"{PUBLIC_KEY}: signed by key {fingerprint(bundled_key)[:16]}…, not by the "
                f"trusted key {fingerprint(trusted_key)[:16]}…")
    vouched = signed and (result.trusted or (trusted_key is None and trust_embedded_key))
    present = set(entries) - {MANIFEST, SIGNATURE, PUBLIC_KEY}
    result.problems.extend(f"{shown(name)}: listed in the manifest but missing (removed or "
                           "renamed)" for name in sorted(set(files) - present))
    result.problems.extend(f"{shown(name)}: not in the manifest (added or renamed)"
                           for name in sorted(present - set(files)))
    for name in sorted(set(files) & present):
        result.problems.extend(_file_problems(bundle, entries[name], files[name], vouched))
    if CUSTODY in present and entries[CUSTODY].file_size <= _CUSTODY_LIMIT:
        # read even if altered: where the chain breaks says what was done to it
        with bundle.open(entries[CUSTODY]) as stream:
            result.problems.extend(_custody_problems(stream, manifest, bundled_key))
    return result


def _file_problems(bundle: zipfile.ZipFile, info: zipfile.ZipInfo, declared: dict[str, Any],
                   vouched: bool) -> list[str]:
    """One entry against its manifest line: the size first (nothing read if it differs),
    then the sha256, then, for a WARC file whose bytes a trusted manifest vouches for,
    every record's digests."""
    name = shown(info.filename)
    if info.file_size != declared["size"]:
        return [f"{name}: altered ({info.file_size} bytes, the manifest says "
                f"{declared['size']})"]
    try:
        digest = _entry_sha256(bundle, info)
    except _READ_ERRORS as exc:
        return [f"{name}: unreadable ({_why(exc)})"]
    if digest != declared["sha256"]:
        return [f"{name}: altered (sha256 {digest}, the manifest says "
                f"{shown(declared['sha256'], 64)})"]
    if vouched and info.filename.startswith("warc/"):
        with bundle.open(info) as stream:
            return _warc_problems(name, stream)
    return []


def extract_bundle(path: Path, target: Path) -> list[str]:
    """Unpack a bundle into ``target``, a new or empty folder; returns the names written.

    The bundle is refused whole, before anything is written, if its directory has any
    problem (:func:`casefiles.zipcheck.entry_problems`: unsafe paths, links, duplicates,
    bombs). Entries go into a hidden sibling folder, renamed to ``target`` once all are out.
    """
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise BundleRefused(f"{target} already exists and is not empty; extract into a new folder")
    try:
        bundle = zipfile.ZipFile(path)
    except _READ_ERRORS as exc:
        raise BundleRefused(f"{path}: not a readable zip file ({_why(exc)})") from None
    with bundle:
        infos = bundle.infolist()
        refusals = _capped(entry_problems(infos))
        if refusals:
            raise BundleRefused(f"{path}: refused, nothing extracted: {refusals[0]}"
                             + (f" (and {len(refusals) - 1} more)" if len(refusals) > 1 else ""))
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        except OSError as exc:
            raise BundleRefused(f"cannot create {target} ({_why(exc)})") from None
        try:
            for info in infos:
                destination = partial / info.filename
                destination.parent.mkdir(parents=True, exist_ok=True)
                with bundle.open(info) as source, destination.open("xb") as sink:
                    while chunk := source.read(_CHUNK):
                        sink.write(chunk)
            os.replace(partial, target)
        except _READ_ERRORS as exc:
            raise BundleRefused(f"{path}: nothing extracted, an entry is unreadable or cannot be "
                                f"written ({_why(exc)})") from None
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        return [info.filename for info in infos]
