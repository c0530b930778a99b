"""Evidence bundles: one zip per case that a third party can verify offline.

A bundle holds the WARC files behind the case's captures (whole files, so their WARC-Date
and WARC-IP-Address headers are covered too), the captured media and screenshots as plain
files, the custody log (``custody.jsonl``), the case as data (``case.json``), a readable
``report.html``, and ``manifest.json`` listing the sha256 and size of every other file,
signed with the instance's Ed25519 key (``manifest.sig``, key in ``public_key.pem``).

:func:`verify_bundle` checks all of it without the database: paths, signature and signing
key, every file against the manifest (nothing added, removed or renamed), the custody chain
and its head, and every WARC record's digests. docs/evidence.md does the same by hand.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session
from warcio.archiveiterator import ArchiveIterator

from casefiles.captures import capture_record, hit_captures, warc_path
from casefiles.custody import GENESIS_HASH, append_event, canonical_json, event_hash
from casefiles.evidence import EvidenceStore
from casefiles.lifecycle import case_sites
from casefiles.signing import fingerprint, load_public_pem, public_pem, sign, signature_valid
from casefiles.templates import render_report
from swordnet.models import (
    Capture,
    Case,
    CaseEvent,
    CaseExport,
    Hit,
    Notice,
    NoticeUrl,
    RecheckResult,
)
from swordnet.timeutil import utcnow

FORMAT = "swordnet-evidence-bundle/1"
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


def _collect(session: Session, store: EvidenceStore, case: Case) -> tuple[_Contents, dict]:
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
    payload_files: dict[int, str] = {}
    for capture in captures.values():
        if capture.warc_file is None:
            continue
        contents.warcs[f"warc/{capture.warc_file}"] = warc_path(session, store,
                                                                capture.warc_file)
        if capture.kind in ("media", "screenshot") and capture.http_status < 400:
            view = capture_record(session, store, capture, check_file=False)
            payload_files[capture.id] = _payload_name(capture)
            contents.files[payload_files[capture.id]] = view.payload
    notices = session.scalars(select(Notice).where(Notice.case_id == case.id)
                              .order_by(Notice.id)).all()
    data = {
        "case": {"id": case.id, "status": case.status,
                 "opened_at": case.opened_at.isoformat(),
                 "closed_at": case.closed_at.isoformat() if case.closed_at else None,
                 "sites": [{"domain": s.domain, "ips": s.ips} for s in case_sites(session, case)]},
        "hits": [{"id": h.id, "work": {"id": h.work_id, "title": h.work.title,
                                       "holder": h.work.holder.name},
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
    """Write the case's bundle to ``output`` (atomically) and record the export."""
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
    manifest = json.dumps({
        "format": FORMAT, "case_id": case.id, "created_at": created.isoformat(),
        "custody": {"events": len(data["events"]), "head": head},
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

def unsafe_member(info: zipfile.ZipInfo) -> str | None:
    """Why a zip member must not be extracted (absolute, ``..``, a link), or None.

    >>> unsafe_member(zipfile.ZipInfo("warc/a.warc.gz")) is None
    True
    >>> unsafe_member(zipfile.ZipInfo("../../etc/passwd"))
    "'../../etc/passwd' leaves the bundle's directory"
    """
    name = info.filename
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return f"{name!r} is an absolute path"
    if ".." in path.parts:
        return f"{name!r} leaves the bundle's directory"
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return f"{name!r} is a symbolic link"
    return None


def _warc_problems(name: str, data: bytes) -> list[str]:
    problems = []
    try:
        for record in ArchiveIterator(io.BytesIO(data), check_digests=True):
            record.content_stream().read()
            if record.digest_checker.problems:
                problems.append(f"{name}: record {record.rec_headers.get_header('WARC-Record-ID')}"
                                f" fails its digest check")
    except Exception as exc:  # noqa: BLE001 (any unreadable WARC is a finding, not a crash)
        problems.append(f"{name}: not a readable WARC file ({type(exc).__name__}: {exc})")
    return problems


def _custody_problems(data: bytes, expected: dict[str, Any]) -> list[str]:
    prev_hash = GENESIS_HASH
    lines = [line for line in data.split(b"\n") if line]
    for number, line in enumerate(lines, start=1):
        try:
            event = json.loads(line)
            recomputed = event_hash(prev_hash, event["case_id"], event["seq"], event["type"],
                                    event["payload"], event["actor"],
                                    datetime.fromisoformat(event["at"]))
        except (ValueError, KeyError, TypeError):
            return [f"{CUSTODY}: line {number} is not a custody event"]
        if event["seq"] != number or event["prev_hash"] != prev_hash or \
                event["hash"] != recomputed:
            return [f"{CUSTODY}: chain broken at event {number} (seq {event['seq']})"]
        prev_hash = event["hash"]
    problems = []
    if len(lines) != expected.get("events") or prev_hash != expected.get("head"):
        problems.append(f"{CUSTODY}: holds {len(lines)} events ending in {prev_hash[:12]}, the "
                        f"manifest says {expected.get('events')} ending in "
                        f"{str(expected.get('head'))[:12]} (truncated or extended)")
    return problems


@dataclass
class Verification:
    problems: list[str]
    case_id: int | None = None
    files: int = 0
    key_fingerprint: str | None = None


def verify_bundle(path: Path, trusted_key: Ed25519PublicKey | None) -> Verification:
    """Check a bundle offline; every problem found is named (an empty list: intact)."""
    try:
        bundle = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        return Verification([f"{path}: not a readable zip file ({exc})"])
    with bundle:
        infos = bundle.infolist()
        problems = [reason for info in infos if (reason := unsafe_member(info))]
        names = [info.filename for info in infos if not info.is_dir()]
        for required in (MANIFEST, SIGNATURE, PUBLIC_KEY):
            if required not in names:
                problems.append(f"{required} is missing")
        if problems:
            return Verification(problems)
        manifest_bytes = bundle.read(MANIFEST)
        try:
            bundled_key = load_public_pem(bundle.read(PUBLIC_KEY), PUBLIC_KEY)
            manifest = json.loads(manifest_bytes)
            files: dict[str, dict[str, Any]] = manifest["files"]
        except (ValueError, KeyError, TypeError) as exc:
            return Verification([f"{MANIFEST} or {PUBLIC_KEY} is unreadable ({exc})"])
        result = Verification([], manifest.get("case_id"), len(files),
                              fingerprint(bundled_key))
        if not signature_valid(bundled_key, manifest_bytes, bundle.read(SIGNATURE)):
            result.problems.append(f"{SIGNATURE}: the signature does not match {MANIFEST} "
                                   "(manifest altered, or signed with another key)")
        if trusted_key is not None and fingerprint(trusted_key) != fingerprint(bundled_key):
            result.problems.append(
                f"{PUBLIC_KEY}: signed by key {fingerprint(bundled_key)[:16]}…, not by the "
                f"trusted key {fingerprint(trusted_key)[:16]}…")
        present = set(names) - {MANIFEST, SIGNATURE, PUBLIC_KEY}
        for name in sorted(set(files) - present):
            result.problems.append(f"{name}: listed in the manifest but missing (removed or "
                                   "renamed)")
        for name in sorted(present - set(files)):
            result.problems.append(f"{name}: not in the manifest (added or renamed)")
        for name in sorted(set(files) & present):
            data = bundle.read(name)
            digest = hashlib.sha256(data).hexdigest()
            if digest != files[name].get("sha256") or len(data) != files[name].get("size"):
                result.problems.append(f"{name}: altered (sha256 {digest}, the manifest says "
                                       f"{files[name].get('sha256')})")
            if name.startswith("warc/"):
                result.problems.extend(_warc_problems(name, data))
        if CUSTODY in present:
            result.problems.extend(_custody_problems(bundle.read(CUSTODY),
                                                     manifest.get("custody", {})))
        return result


def extract_bundle(path: Path, target: Path) -> list[str]:
    """Extract a bundle into ``target`` after refusing it whole if any member is unsafe;
    returns the names written."""
    with zipfile.ZipFile(path) as bundle:
        refusals = [reason for info in bundle.infolist() if (reason := unsafe_member(info))]
        if refusals:
            raise ValueError(f"{path}: refused, nothing extracted: {'; '.join(refusals)}")
        target.mkdir(parents=True, exist_ok=True)
        root = target.resolve()
        written = []
        for info in bundle.infolist():
            destination = (root / info.filename).resolve()
            if not destination.is_relative_to(root):
                raise ValueError(f"{path}: refused {info.filename!r} (outside {target})")
            if info.is_dir():
                destination.mkdir(parents=True, exist_ok=True)
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            with bundle.open(info) as source, destination.open("xb") as sink:
                while chunk := source.read(1 << 20):
                    sink.write(chunk)
            written.append(info.filename)
        return written
