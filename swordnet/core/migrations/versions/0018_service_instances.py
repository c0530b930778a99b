"""one instance per database of the live service too: scheduler_instances becomes
service_instances, with the service each row is of

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 17:00:00

The scheduler's lock (``scheduler/lock.py``) became ``swordnet.core.service_lock``, which the
live service takes as well; the rows recording who holds a lock say which service it is.
Existing rows are the scheduler's.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.rename_table("scheduler_instances", "service_instances")
    with op.batch_alter_table("service_instances", schema=None) as batch_op:
        batch_op.add_column(sa.Column("service", sa.String(length=20), nullable=False,
                                      server_default="scheduler"))


def downgrade() -> None:
    op.execute("DELETE FROM service_instances WHERE service <> 'scheduler'")
    with op.batch_alter_table("service_instances", schema=None) as batch_op:
        batch_op.drop_column("service")
    op.rename_table("service_instances", "scheduler_instances")
