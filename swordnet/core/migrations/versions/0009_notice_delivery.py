"""notices delivered by email, and abuse contacts found over RDAP

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 10:00:00

A notice is queued, claimed by a sender (``sending``), then ``sent`` or ``failed``; a sender
that died while it held the notice after handing it to the server leaves it ``uncertain``
for staff to settle. The notice keeps how it goes out (email, or recorded as sent by
staff's own channel), its sender address and Message-ID (fixed when it is queued), its
attempts, when it is next tried, who claimed it, when it was handed to the server, the
server's answer and the last error. Sites get their abuse contacts (from RDAP or staff).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_OLD = "status IN ('draft', 'sent', 'answered', 'bounced')"
_NEW = ("status IN ('draft', 'queued', 'sending', 'sent', 'failed', 'uncertain', 'answered', "
        "'bounced')")


def upgrade() -> None:
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.drop_constraint("ck_notices_status", type_="check")
        batch_op.create_check_constraint("ck_notices_status", _NEW)
        batch_op.add_column(sa.Column("delivery", sa.String(length=20), nullable=False,
                                      server_default="manual"))
        batch_op.add_column(sa.Column("sender", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("message_id", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False,
                                      server_default="0"))
        batch_op.add_column(sa.Column("next_attempt_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("claimed_by", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("claimed_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("handed_over_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("server_answer", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("last_error", sa.Text(), nullable=True))
        batch_op.create_check_constraint("ck_notices_delivery", "delivery IN ('manual', 'email')")
        batch_op.create_unique_constraint("uq_notices_message_id", ["message_id"])
        batch_op.create_index("ix_notices_status_next", ["status", "next_attempt_at"])
    op.create_table(
        "abuse_contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("looked_up_at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.CheckConstraint("source IN ('rdap-domain', 'rdap-ip', 'staff')",
                           name="ck_abuse_contacts_source"),
        sa.CheckConstraint("outcome IN ('found', 'none', 'failed', 'set')",
                           name="ck_abuse_contacts_outcome"),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("site_id", "source", "subject", name="uq_abuse_contacts_lookup"),
    )
    op.create_index("ix_abuse_contacts_site_id", "abuse_contacts", ["site_id"])


def downgrade() -> None:
    op.drop_index("ix_abuse_contacts_site_id", table_name="abuse_contacts")
    op.drop_table("abuse_contacts")
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.drop_index("ix_notices_status_next")
        batch_op.drop_constraint("uq_notices_message_id", type_="unique")
        batch_op.drop_constraint("ck_notices_delivery", type_="check")
        for column in ("last_error", "server_answer", "handed_over_at", "claimed_at",
                       "claimed_by", "next_attempt_at", "attempts", "message_id", "sender",
                       "delivery"):
            batch_op.drop_column(column)
        batch_op.drop_constraint("ck_notices_status", type_="check")
        batch_op.create_check_constraint("ck_notices_status", _OLD)
