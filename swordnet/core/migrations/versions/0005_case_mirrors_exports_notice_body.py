"""case mirrors, evidence-bundle exports, rendered notice bodies

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 15:00:00

A known mirror site can be linked to an existing case (its confirmed hits join that case).
Every exported evidence bundle is recorded with its sha256, which shutdown lists carry.
Notices keep the text rendered from their template.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_mirrors",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"]),
        sa.PrimaryKeyConstraint("case_id", "site_id"),
        sa.UniqueConstraint("site_id"),
    )
    op.create_table(
        "case_exports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_case_exports_case_id", "case_exports", ["case_id"], unique=False)
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("body", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.drop_column("body")
    op.drop_index("ix_case_exports_case_id", table_name="case_exports")
    op.drop_table("case_exports")
    op.drop_table("case_mirrors")
