"""The ``keys`` commands: the instance's key that signs custody logs and evidence bundles."""

from __future__ import annotations

import click

from swordnet.cli.util import current_settings
from swordnet.core.signing import fingerprint, key_path, load_or_create_key, public_pem


@click.group()
def keys() -> None:
    """The instance's signing key."""


@keys.command("show")
def keys_show() -> None:
    """Print the public key that signs evidence bundles (publish it for verifiers)."""
    settings = current_settings()
    key = load_or_create_key(settings.home).public_key()
    click.echo(public_pem(key).decode(), nl=False)
    click.echo(f"sha256 of the raw key: {fingerprint(key)}")
    click.echo(f"private key: {key_path(settings.home)}", err=True)
