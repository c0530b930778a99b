"""per-target crawl settings, WARC evidence files, feed state, crawl health, site reachability

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 11:30:00

Watch targets gain the settings of the search and feed spiders (mirror domains, allow/deny
patterns, robots policy, politeness, time cap, screenshots, search template, works in
scope). WARC files of evidence are tracked until sealed under their sha256. The feed spider
remembers which entries it crawled. Runs record whether they were healthy; sites count
consecutive unreachable runs. Captures may now be screenshots.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("watch_targets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mirror_domains", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("allow_patterns", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("deny_patterns", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("obey_robots", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("delay_s", sa.Float(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("concurrency", sa.Integer(), nullable=False, server_default="8"))
        batch_op.add_column(sa.Column("time_cap_s", sa.Integer(), nullable=False, server_default="3600"))
        batch_op.add_column(sa.Column("screenshot", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("search_template", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("work_ids", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.create_check_constraint("ck_targets_spider", "spider IN ('site', 'search', 'feed')")
    with op.batch_alter_table("crawl_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("healthy", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("health_problems", sa.JSON(), nullable=False, server_default="[]"))
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unreachable_runs", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("captures", schema=None) as batch_op:
        batch_op.drop_constraint("ck_captures_kind", type_="check")
        batch_op.create_check_constraint("ck_captures_kind", "kind IN ('page', 'media', 'screenshot')")
    op.create_table(
        "warc_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sealed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["crawl_runs.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("filename"),
    )
    with op.batch_alter_table("warc_files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_warc_files_run_id"), ["run_id"], unique=False)
    op.create_table(
        "feed_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("version", sa.String(length=100), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("site_id", "url", name="uq_feed_entries_url"),
    )
    with op.batch_alter_table("feed_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_feed_entries_site_id"), ["site_id"], unique=False)


def downgrade() -> None:
    op.drop_table("feed_entries")
    op.drop_table("warc_files")
    with op.batch_alter_table("captures", schema=None) as batch_op:
        batch_op.drop_constraint("ck_captures_kind", type_="check")
        batch_op.create_check_constraint("ck_captures_kind", "kind IN ('page', 'media')")
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.drop_column("unreachable_runs")
    with op.batch_alter_table("crawl_runs", schema=None) as batch_op:
        batch_op.drop_column("health_problems")
        batch_op.drop_column("healthy")
    with op.batch_alter_table("watch_targets", schema=None) as batch_op:
        batch_op.drop_constraint("ck_targets_spider", type_="check")
        for column in ("work_ids", "search_template", "screenshot", "time_cap_s", "concurrency",
                       "delay_s", "obey_robots", "deny_patterns", "allow_patterns",
                       "mirror_domains"):
            batch_op.drop_column(column)
