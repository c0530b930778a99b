"""automatic notices: the instance's policy and what its last run did

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 11:20:00

One row (``auto_notice_settings``, id 1; absent means off): whether the scheduler's sender
queues a first notice for open cases by itself, with which template, how long after a case
opened, and the outcome of its last run (notices queued, cases skipped and why).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "auto_notice_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("template", sa.String(length=100), nullable=False),
        sa.Column("after_hours", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.Column("last_run_at", sa.DateTime(), nullable=True),
        sa.Column("last_queued", sa.JSON(), nullable=True),
        sa.Column("last_skipped", sa.JSON(), nullable=True),
        sa.CheckConstraint("id = 1", name="ck_auto_notice_settings_one_row"),
        sa.CheckConstraint("after_hours >= 0", name="ck_auto_notice_settings_after"),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("auto_notice_settings")
