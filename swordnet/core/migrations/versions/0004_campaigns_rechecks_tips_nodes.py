"""campaign targets and frequency, rechecks of URLs under notice, tip results, run placement

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 14:00:00

Campaigns get their own crawl frequency and a list of watch targets (a target may be in the
standing watchlist and in several campaigns, so the target's single campaign column goes).
Runs record why they ran, on which scrapyd node and job, and which failed run they retry.
URLs under a notice and every recheck of them are recorded; tips record their check. One
row per scheduler process says which one runs against this database.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_PURPOSES = "purpose IN ('watch', 'campaign', 'recheck', 'tip', 'manual')"
_TIPS_NEW = "status IN ('queued', 'checking', 'checked', 'failed', 'dismissed')"
_TIPS_OLD = "status IN ('queued', 'checked', 'dismissed')"


def upgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("every_seconds", sa.Integer(), nullable=False,
                                      server_default="3600"))
        batch_op.add_column(sa.Column("stopped_at", sa.DateTime(), nullable=True))
    op.create_table(
        "campaign_targets",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"]),
        sa.ForeignKeyConstraint(["target_id"], ["watch_targets.id"]),
        sa.PrimaryKeyConstraint("campaign_id", "target_id"),
    )
    with op.batch_alter_table("watch_targets", schema=None) as batch_op:
        batch_op.drop_column("campaign_id")
    with op.batch_alter_table("crawl_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("purpose", sa.String(length=20), nullable=False,
                                      server_default="manual"))
        batch_op.add_column(sa.Column("node", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("node_job", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("retry_of", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("fk_crawl_runs_retry_of", "crawl_runs", ["retry_of"], ["id"])
        batch_op.create_check_constraint("ck_runs_purpose", _PURPOSES)
    with op.batch_alter_table("tips", schema=None) as batch_op:
        batch_op.add_column(sa.Column("run_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("checked_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("result", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.create_foreign_key("fk_tips_run_id", "crawl_runs", ["run_id"], ["id"])
        batch_op.drop_constraint("ck_tips_status", type_="check")
        batch_op.create_check_constraint("ck_tips_status", _TIPS_NEW)
    op.create_table(
        "notice_urls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notice_id", sa.Integer(), nullable=False),
        sa.Column("hit_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("last_checked_at", sa.DateTime(), nullable=True),
        sa.Column("removed_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("status IN ('unchecked', 'present', 'removed', 'reappeared')",
                           name="ck_notice_urls_status"),
        sa.ForeignKeyConstraint(["hit_id"], ["hits.id"]),
        sa.ForeignKeyConstraint(["notice_id"], ["notices.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("notice_id", "hit_id", name="uq_notice_urls_hit"),
    )
    op.create_index("ix_notice_urls_notice_id", "notice_urls", ["notice_id"], unique=False)
    op.create_table(
        "recheck_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notice_url_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("checked_at", sa.DateTime(), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("capture_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("outcome IN ('present', 'removed', 'undecided')",
                           name="ck_recheck_results_outcome"),
        sa.ForeignKeyConstraint(["capture_id"], ["captures.id"]),
        sa.ForeignKeyConstraint(["notice_url_id"], ["notice_urls.id"]),
        sa.ForeignKeyConstraint(["run_id"], ["crawl_runs.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_recheck_results_notice_url_id", "recheck_results", ["notice_url_id"],
                    unique=False)
    op.create_table(
        "scheduler_instances",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("executor", sa.String(length=300), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=False),
        sa.Column("stopped_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("scheduler_instances")
    op.drop_index("ix_recheck_results_notice_url_id", table_name="recheck_results")
    op.drop_table("recheck_results")
    op.drop_index("ix_notice_urls_notice_id", table_name="notice_urls")
    op.drop_table("notice_urls")
    with op.batch_alter_table("tips", schema=None) as batch_op:
        batch_op.drop_constraint("ck_tips_status", type_="check")
        batch_op.create_check_constraint("ck_tips_status", _TIPS_OLD)
        batch_op.drop_constraint("fk_tips_run_id", type_="foreignkey")
        batch_op.drop_column("result")
        batch_op.drop_column("checked_at")
        batch_op.drop_column("run_id")
    with op.batch_alter_table("crawl_runs", schema=None) as batch_op:
        batch_op.drop_constraint("ck_runs_purpose", type_="check")
        batch_op.drop_constraint("fk_crawl_runs_retry_of", type_="foreignkey")
        batch_op.drop_column("retry_of")
        batch_op.drop_column("node_job")
        batch_op.drop_column("node")
        batch_op.drop_column("purpose")
    with op.batch_alter_table("watch_targets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("campaign_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("fk_watch_targets_campaign_id", "campaigns",
                                    ["campaign_id"], ["id"])
    op.drop_table("campaign_targets")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("stopped_at")
        batch_op.drop_column("every_seconds")
