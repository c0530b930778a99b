"""staydown: known copies of cases, automatic confirmation, mirror proposals

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 10:05:00

A hit names the case its copy is already confirmed in (``known_case_id``, ``known_by``);
cases may override the instance's automatic-confirmation settings (``staydown_settings``);
sites found serving a case's copies are proposed as its mirrors (``mirror_proposals``).
Captures are indexed by sha256, which is how a reappearing copy is recognised.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hits", schema=None) as batch_op:
        batch_op.add_column(sa.Column("known_case_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("known_by", sa.String(length=10), nullable=True))
        batch_op.create_foreign_key("fk_hits_known_case_id", "cases", ["known_case_id"], ["id"])
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("auto_confirm_exact", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("auto_confirm_fuzzy", sa.Boolean(), nullable=True))
    op.create_index("ix_captures_sha256", "captures", ["sha256"])
    op.create_table(
        "mirror_proposals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("status IN ('proposed', 'accepted', 'declined')",
                           name="ck_mirror_proposals_status"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "site_id", name="uq_mirror_proposals_site"),
    )
    op.create_index("ix_mirror_proposals_case_id", "mirror_proposals", ["case_id"])
    op.create_table(
        "staydown_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("auto_confirm_exact", sa.Boolean(), nullable=False),
        sa.Column("auto_confirm_fuzzy", sa.Boolean(), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("id = 1", name="ck_staydown_settings_one_row"),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("staydown_settings")
    op.drop_index("ix_mirror_proposals_case_id", table_name="mirror_proposals")
    op.drop_table("mirror_proposals")
    op.drop_index("ix_captures_sha256", table_name="captures")
    for column in ("auto_confirm_fuzzy", "auto_confirm_exact"):
        op.execute(f"ALTER TABLE cases DROP COLUMN {column}")
    with op.batch_alter_table("hits", schema=None) as batch_op:
        batch_op.drop_constraint("fk_hits_known_case_id", type_="foreignkey")
        batch_op.drop_column("known_by")
        batch_op.drop_column("known_case_id")
