"""crawl runs record their processes

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 04:10:00

A run records the process that crawls it and the process that launched it and will settle
it (host, pid and the process's start time, which tells it from a later process given the
same pid), so a run whose processes are gone is known at once to be interrupted.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("crawl_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("host", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("pid", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("pid_started_at", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("watcher_host", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("watcher_pid", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("watcher_started_at", sa.Float(), nullable=True))


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN (SQLite >= 3.35) rather than a batch table copy: other
    # tables refer to crawl_runs, and SQLite refuses to drop a table they point at.
    for column in ("watcher_started_at", "watcher_pid", "watcher_host", "pid_started_at",
                   "pid", "host"):
        op.execute(f"ALTER TABLE crawl_runs DROP COLUMN {column}")
