"""The ``evidence`` commands: the integrity of the evidence store, and evidence bundles
checked and unpacked offline."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from casefiles.bundle import extract_bundle, verify_bundle
from casefiles.captures import evidence_problems, recorded_captures
from swordnet.cli.util import RegularFile, console, current_settings, database, evidence_store
from swordnet.core.signing import key_path, load_or_create_key, load_public_pem


@click.group()
def evidence() -> None:
    """The evidence store: WARC files and screenshots, content-addressed by sha256."""


@evidence.command("check")
def evidence_check() -> None:
    """Re-hash every stored file and re-read every capture's record; exit 1 naming problems."""
    store = evidence_store()
    with database() as db, db.session() as session:
        problems = evidence_problems(session, store)
        count = recorded_captures(session)
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        sys.exit(1)
    console().print(f"Evidence store intact ({count} captures checked).")


@evidence.command("verify")
@click.argument("bundle", type=RegularFile())
@click.option("--key", "key_file", type=RegularFile(),
              help="The trusted public key (PEM); default: this instance's key, if any.")
@click.option("--trust-embedded-key", is_flag=True,
              help="With no trusted key, accept whichever key the bundle carries (checks "
                   "integrity only, not who signed it).")
def evidence_verify(bundle: Path, key_file: Path | None, trust_embedded_key: bool) -> None:
    """Check an evidence bundle offline; exit 1 naming every problem, or if no trusted key
    vouches for its signer."""
    settings = current_settings()
    trusted = None
    if key_file is not None:
        trusted = load_public_pem(key_file.read_bytes(), str(key_file))
    elif key_path(settings.home).exists():
        trusted = load_or_create_key(settings.home).public_key()
    result = verify_bundle(bundle, trusted, trust_embedded_key=trust_embedded_key)
    for problem in result.problems:
        click.echo(f"{bundle}: {problem}", err=True)
    if result.problems:
        sys.exit(1)
    if not result.trusted and not trust_embedded_key:
        click.echo(f"{bundle}: intact, but its signer (key {result.key_fingerprint}) is not "
                   "trusted: pass --key with the instance's published key, or "
                   "--trust-embedded-key", err=True)
        sys.exit(1)
    how = "the trusted key" if result.trusted else "the bundle's own key (not checked against " \
        "a trusted one)"
    console().print(f"{bundle}: intact. Case {result.case_id}, {result.files} files, signature "
                    f"valid for {how} {result.key_fingerprint}.")


@evidence.command("extract")
@click.argument("bundle", type=RegularFile())
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory to extract into.")
def evidence_extract(bundle: Path, output: Path) -> None:
    """Unpack a bundle into a directory (refused whole if any path is unsafe)."""
    written = extract_bundle(bundle, output)
    console().print(f"Extracted {len(written)} files into {output}.")
