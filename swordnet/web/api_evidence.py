"""``/signing-key`` and ``/evidence/check``: the public key that signs custody logs and
evidence bundles (``swordnet keys show``, for verifiers), and the evidence store's
integrity check (``swordnet evidence check``, staff only).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from casefiles.captures import evidence_problems, recorded_captures
from swordnet.accounts.access import require_staff
from swordnet.core.signing import fingerprint, load_or_create_key, public_pem
from swordnet.web.deps import Caller, DbSession, Store
from swordnet.web.errors import ERROR_RESPONSES

router = APIRouter(tags=["evidence"], responses=ERROR_RESPONSES)


class SigningKeyOut(BaseModel):
    public_key_pem: str = Field(description="The Ed25519 public key, PEM (SubjectPublicKeyInfo).")
    fingerprint: str = Field(description="sha256 of the raw 32-byte key, hex: how bundles "
                             "and messages name it.")


class EvidenceCheckOut(BaseModel):
    intact: bool
    captures_checked: int = Field(description="Captures whose WARC record was read back.")
    problems: list[str] = Field(description="Everything wrong, one line each.")


@router.get("/signing-key", response_model=SigningKeyOut, summary="The signing key")
def signing_key(request: Request, caller: Caller) -> SigningKeyOut:
    """The public key that signs custody logs and evidence bundles; publish it so that
    others can verify a bundle (``swordnet evidence verify --key``)."""
    key = load_or_create_key(request.app.state.settings.home).public_key()
    return SigningKeyOut(public_key_pem=public_pem(key).decode(), fingerprint=fingerprint(key))


@router.get("/evidence/check", response_model=EvidenceCheckOut,
            summary="Check the evidence store")
def check_evidence(session: DbSession, store: Store, caller: Caller) -> EvidenceCheckOut:
    """Re-hash every stored file and read back every capture's WARC record, digests
    checked. Reads the whole store: slow on a large one. Staff only."""
    require_staff(caller)
    problems = evidence_problems(session, store)
    return EvidenceCheckOut(intact=not problems, captures_checked=recorded_captures(session),
                            problems=problems)
