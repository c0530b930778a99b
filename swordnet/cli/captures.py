"""The ``captures`` commands: the captured responses (WARC records) behind a hit."""

from __future__ import annotations

from pathlib import Path

import click

from casefiles.captures import capture_record, capture_row, hit_captures
from swordnet.cli.util import ID, console, database, emit, evidence_store, fail, json_option
from swordnet.core.models import Capture, Hit


@click.group()
def captures() -> None:
    """The captured responses (WARC records) behind hits."""


@captures.command("list")
@click.argument("hit_id", type=ID)
@json_option
def captures_list(hit_id: int, as_json: bool) -> None:
    """List a hit's captures: its page, its media file and any page screenshot."""
    store = evidence_store()
    with database() as db, db.session() as session:
        hit = session.get(Hit, hit_id)
        if hit is None:
            fail(f"no hit with id {hit_id}")
        data = [capture_row(session, store, c) for c in hit_captures(session, hit)]
    emit(data, as_json, f"Captures of hit {hit_id}",
         ["id", "kind", "url", "fetched_at", "ip", "http_status", "size", "warc_file",
          "warc_offset"])


@captures.command("extract")
@click.argument("capture_id", type=ID)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="File to write the captured body to.")
def captures_extract(capture_id: int, output: Path) -> None:
    """Write a capture's body, as recorded in its WARC file, to OUTPUT (digests checked)."""
    store = evidence_store()
    with database() as db, db.session() as session:
        capture = session.get(Capture, capture_id)
        if capture is None:
            fail(f"no capture with id {capture_id}")
        view = capture_record(session, store, capture)
    if output.exists():
        fail(f"{output} already exists; choose another --output")
    output.write_bytes(view.payload)
    headers = view.headers
    console().print(f"Wrote {len(view.payload)} bytes of {headers.get('WARC-Target-URI')} to "
                    f"{output} (captured {headers.get('WARC-Date')} from "
                    f"{headers.get('WARC-IP-Address', 'unknown IP')}, "
                    f"{headers.get('WARC-Payload-Digest')}).")
