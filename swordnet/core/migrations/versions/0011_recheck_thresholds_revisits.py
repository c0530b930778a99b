"""confirm-time thresholds on hits, revisit captures

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 10:00:00

A confirmed hit keeps the thresholds its work's signals had when it was confirmed
(``hits.confirmed_thresholds``), so rechecks judge it by them rather than by whatever is in
force later. Hits already confirmed get the thresholds in force at this upgrade: the work's
overrides over the signals' defaults as of this revision (the value they were last judged
by; when they were really confirmed is not known). A capture recorded as a WARC ``revisit``
(the same body as an earlier capture) names the capture holding the payload
(``captures.revisit_of``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# The signals' default thresholds per work kind, frozen as of this revision ("link" is
# registered for every work from its names).
DEFAULTS: dict[str, dict[str, float]] = {
    "image": {"phash": 12, "orb": 10},
    "text": {"text": 0.2},
    "video": {"video": 8},
    "software": {"sha256": 0, "tlsh": 35},
}
NAME_SIGNALS: dict[str, float] = {"link": 1}


def upgrade() -> None:
    # Plain ADD COLUMN, not a batch table copy: other tables refer to hits and captures.
    op.add_column("hits", sa.Column("confirmed_thresholds", sa.JSON(), nullable=True))
    if op.get_bind().dialect.name == "sqlite":  # which adds a reference only inline
        op.execute("ALTER TABLE captures ADD COLUMN revisit_of INTEGER REFERENCES captures (id)")
    else:
        op.add_column("captures", sa.Column("revisit_of", sa.Integer(), nullable=True))
        op.create_foreign_key("fk_captures_revisit_of", "captures", "captures", ["revisit_of"],
                              ["id"])
    hits = sa.table("hits", sa.column("id", sa.Integer()), sa.column("work_id", sa.Integer()),
                    sa.column("status", sa.String()), sa.column("confirmed_thresholds", sa.JSON()))
    works = sa.table("works", sa.column("id", sa.Integer()), sa.column("kind", sa.String()),
                     sa.column("thresholds", sa.JSON()))
    bind = op.get_bind()
    rows = bind.execute(sa.select(hits.c.id, works.c.kind, works.c.thresholds)
                        .join(works, works.c.id == hits.c.work_id)
                        .where(hits.c.status.in_(("confirmed", "auto_confirmed")))).all()
    for hit_id, kind, overrides in rows:
        in_force = {**DEFAULTS.get(kind, {}), **NAME_SIGNALS}
        in_force.update({k: v for k, v in (overrides or {}).items() if k in in_force})
        bind.execute(sa.update(hits).where(hits.c.id == hit_id)
                     .values(confirmed_thresholds=in_force))


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN rather than a batch table copy: other tables refer to
    # hits and captures, and SQLite refuses to drop a table they point at.
    op.execute("ALTER TABLE hits DROP COLUMN confirmed_thresholds")
    op.execute("ALTER TABLE captures DROP COLUMN revisit_of")
