"""match stages, scores and details on hits; per-algorithm work thresholds; work quarantine

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 10:05:00

Hits now record which matching stage found them and a score in the algorithm's own units
(``distance`` becomes ``score``: Hamming bits for phash, verified keypoints for orb), the
method's evidence (``detail``), and whether they were held by a work's quarantine. A work's
single ``threshold`` becomes ``thresholds`` by algorithm, since bits and inliers differ.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("works", schema=None) as batch_op:
        batch_op.add_column(sa.Column("quarantined_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("quarantine_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("thresholds", sa.JSON(), nullable=False,
                                      server_default="{}"))
        batch_op.drop_column("threshold")
    with op.batch_alter_table("hits", schema=None) as batch_op:
        batch_op.alter_column("distance", new_column_name="score",
                              existing_type=sa.Float(), existing_nullable=False)
        batch_op.add_column(sa.Column("stage", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("detail", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.add_column(sa.Column("quarantined", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("hits", schema=None) as batch_op:
        batch_op.drop_column("quarantined")
        batch_op.drop_column("detail")
        batch_op.drop_column("stage")
        batch_op.alter_column("score", new_column_name="distance",
                              existing_type=sa.Float(), existing_nullable=False)
    with op.batch_alter_table("works", schema=None) as batch_op:
        batch_op.add_column(sa.Column("threshold", sa.Float(), nullable=True))
        batch_op.drop_column("thresholds")
        batch_op.drop_column("quarantine_reason")
        batch_op.drop_column("quarantined_at")
