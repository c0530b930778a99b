"""published cases: the public summary and fields of a case, and holders' consent

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 12:50:00

``case_publications`` (one row per case ever published: summary, chosen public fields,
published at/by, unpublished at/by) and ``publication_consents`` (one row per case and rights
holder: who recorded the consent, when, how, the offline reference, and its withdrawal).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_publications",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("published_at", sa.DateTime(), nullable=False),
        sa.Column("published_by", sa.String(length=200), nullable=False),
        sa.Column("unpublished_at", sa.DateTime(), nullable=True),
        sa.Column("unpublished_by", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("case_id"),
    )
    op.create_table(
        "publication_consents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("holder_id", sa.Integer(), nullable=False),
        sa.Column("given_by", sa.String(length=200), nullable=False),
        sa.Column("given_at", sa.DateTime(), nullable=False),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("reference", sa.Text(), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(), nullable=True),
        sa.Column("withdrawn_by", sa.String(length=200), nullable=True),
        sa.CheckConstraint("method IN ('console', 'api', 'cli', 'offline')",
                           name="ck_publication_consents_method"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.ForeignKeyConstraint(["holder_id"], ["rights_holders.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "holder_id", name="uq_publication_consents_holder"),
    )
    op.create_index("ix_publication_consents_case_id", "publication_consents", ["case_id"])


def downgrade() -> None:
    op.drop_index("ix_publication_consents_case_id", table_name="publication_consents")
    op.drop_table("publication_consents")
    op.drop_table("case_publications")
