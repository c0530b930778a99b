"""The instance's Ed25519 signing key, which signs evidence-bundle manifests.

The private key is created on first use in ``$SWORDNET_HOME/keys/`` (mode 0600) and never
leaves the machine; the public key is printed by ``swordnet keys show`` for publication,
so that a third party can check a bundle was signed by this instance.
"""

from __future__ import annotations

import base64
import hashlib
import os
import tempfile
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from swordnet.core.errors import BadInput

KEY_FILE = "instance-ed25519.pem"
# Session.info entry: a callable returning the instance's private key (set by open_database;
# casefiles.custody signs each custody log's head with it).
SIGNING_KEY = "custody_signing_key"


class KeyUnusable(BadInput):
    """A key file that does not hold an Ed25519 key."""


def key_path(home: Path) -> Path:
    return home / "keys" / KEY_FILE


def load_or_create_key(home: Path) -> Ed25519PrivateKey:
    """The instance's key, created (0600, published atomically) if there is none yet."""
    path = key_path(home)
    if not path.exists():
        key = Ed25519PrivateKey.generate()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        descriptor, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{KEY_FILE}.")
        try:
            with os.fdopen(descriptor, "wb") as fh:
                fh.write(pem)
                fh.flush()
                os.fsync(fh.fileno())
            os.link(partial, path)  # another process may have won the race: use its key
        except FileExistsError:
            pass
        finally:
            os.unlink(partial)
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise KeyUnusable(f"{path} is not an Ed25519 private key")
    return loaded


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def fingerprint(key: Ed25519PublicKey) -> str:
    """sha256 of the raw 32-byte public key, hex: how a key is named in messages."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def load_public_pem(data: bytes, name: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise KeyUnusable(f"{name} is not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyUnusable(f"{name} is not an Ed25519 public key")
    return key


def sign(key: Ed25519PrivateKey, data: bytes) -> bytes:
    """A base64 Ed25519 signature (with a trailing newline) over ``data``."""
    return base64.b64encode(key.sign(data)) + b"\n"


def signature_valid(key: Ed25519PublicKey, data: bytes, signature: bytes) -> bool:
    try:
        key.verify(base64.b64decode(signature.strip(), validate=True), data)
    except (InvalidSignature, ValueError):
        return False
    return True
