"""works keep their soundtrack: a video work's sound beside its key frames

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 17:00:00

``works.sound_sha256``: the evidence-store object holding a work's sound as mono Opus when
its preview is something else (a video work's preview is its key frames), so a match through
its soundtrack can be heard and drawn in review. An audio work's sound stays its preview.
Works registered before have none until the same file is registered again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("works", sa.Column("sound_sha256", sa.String(length=64), nullable=True))


def downgrade() -> None:
    # In place, as 0014 does: a batch rebuild of works fails on SQLite under hits' foreign keys.
    op.execute("ALTER TABLE works DROP COLUMN sound_sha256")
