"""signed custody-log heads

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 04:10:00

Every append to a case's custody log signs the log's head (last seq and hash) with the
instance's Ed25519 key, so deleting the newest events is detected. The upgrade signs the
head of every existing log as it stands (with the key swordnet.core.db hands over).
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import context, op

from swordnet.core.signing import fingerprint, sign
from swordnet.core.timeutil import utcnow

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def head_statement(case_id: int, seq: int, hash_: str) -> bytes:
    """The bytes a head signature covers, frozen as of this revision (custody.head_statement)."""
    return json.dumps({"case_id": case_id, "format": "swordnet-custody-head/1", "hash": hash_,
                       "seq": seq}, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()


def upgrade() -> None:
    heads = op.create_table(
        "custody_heads",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("signed_at", sa.DateTime(), nullable=False),
        sa.Column("key_sha256", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("case_id"),
    )
    events = sa.table("case_events", sa.column("case_id", sa.Integer()),
                      sa.column("seq", sa.Integer()), sa.column("hash", sa.String()))
    last = sa.select(events.c.case_id, sa.func.max(events.c.seq).label("seq")) \
        .group_by(events.c.case_id).subquery()
    rows = op.get_bind().execute(
        sa.select(events.c.case_id, events.c.seq, events.c.hash)
        .join(last, sa.and_(events.c.case_id == last.c.case_id, events.c.seq == last.c.seq))
    ).all()
    load_key = context.config.attributes.get("custody_signing_key")
    if not rows or load_key is None:
        return  # without a key, existing logs show "no signed head" until re-signed
    key = load_key()
    signed_at = utcnow().replace(tzinfo=None)
    op.bulk_insert(heads, [
        {"case_id": row.case_id, "seq": row.seq, "hash": row.hash, "signed_at": signed_at,
         "key_sha256": fingerprint(key.public_key()),
         "signature": sign(key, head_statement(row.case_id, row.seq, row.hash)).decode().strip()}
        for row in rows])


def downgrade() -> None:
    op.drop_table("custody_heads")
