"""live events: registered events, their feed's gaps, candidate restreams and their checks,
the blocking list, and CDN/cloud ranges

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 15:40:00

``live_events`` (an event's work, feed, campaign, window, auto-confirm rule and feed health),
``live_feed_gaps``, ``live_streams`` (a candidate restream and its state), ``live_checks``
(one sample of a stream), ``block_entries`` (an FQDN or IP of the blocking list) and
``infrastructure_ranges`` (networks of CDN and cloud providers: shared infrastructure).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "infrastructure_ranges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=100), nullable=False),
        sa.Column("network", sa.String(length=49), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("loaded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("provider", "network", name="uq_infrastructure_ranges"),
    )
    op.create_table(
        "live_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("work_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("starts_at", sa.DateTime(), nullable=False),
        sa.Column("ends_at", sa.DateTime(), nullable=False),
        sa.Column("feed_url", sa.Text(), nullable=True),
        sa.Column("window_s", sa.Integer(), nullable=False),
        sa.Column("check_every_s", sa.Integer(), nullable=False),
        sa.Column("auto_confirm_score", sa.Float(), nullable=True),
        sa.Column("auto_confirm_set_by", sa.String(length=200), nullable=True),
        sa.Column("feed_state", sa.String(length=10), nullable=False),
        sa.Column("feed_checked_at", sa.DateTime(), nullable=True),
        sa.Column("feed_last_segment_at", sa.DateTime(), nullable=True),
        sa.Column("feed_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "feed_state IN ('waiting', 'live', 'dropped', 'ended')",
            name="ck_live_events_feed_state",
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
        ),
        sa.ForeignKeyConstraint(
            ["work_id"],
            ["works.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("work_id"),
    )
    op.create_table(
        "live_feed_gaps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["live_events.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_live_feed_gaps_event_id"), "live_feed_gaps", ["event_id"], unique=False
    )

    op.create_table(
        "live_streams",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("page_url", sa.Text(), nullable=True),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("found_by", sa.String(length=10), nullable=False),
        sa.Column("found_at", sa.DateTime(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("page_capture_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("next_check_at", sa.DateTime(), nullable=True),
        sa.Column("last_checked_at", sa.DateTime(), nullable=True),
        sa.Column("checks", sa.Integer(), nullable=False),
        sa.Column("last_outcome", sa.String(length=20), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("hit_id", sa.Integer(), nullable=True),
        sa.Column("matched_at", sa.DateTime(), nullable=True),
        sa.Column("delay_s", sa.Float(), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("listed_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(
            "found_by IN ('crawl', 'search', 'tip', 'staff')", name="ck_live_streams_found_by"
        ),
        sa.CheckConstraint(
            "state IN ('checking', 'matched', 'listed', 'unmatched', 'offline', 'encrypted', 'refused', 'withdrawn')",
            name="ck_live_streams_state",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["live_events.id"],
        ),
        sa.ForeignKeyConstraint(
            ["hit_id"],
            ["hits.id"],
        ),
        sa.ForeignKeyConstraint(
            ["page_capture_id"],
            ["captures.id"],
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["crawl_runs.id"],
        ),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id", "url", name="uq_live_streams_event_url"),
    )
    op.create_index(op.f("ix_live_streams_event_id"), "live_streams", ["event_id"], unique=False)
    op.create_index(op.f("ix_live_streams_site_id"), "live_streams", ["site_id"], unique=False)

    op.create_table(
        "block_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("stream_id", sa.Integer(), nullable=True),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=5), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("listed_at", sa.DateTime(), nullable=True),
        sa.Column("listed_by", sa.String(length=200), nullable=True),
        sa.Column("shared_infrastructure", sa.Boolean(), nullable=False),
        sa.Column("shared_reason", sa.Text(), nullable=True),
        sa.Column("override_reason", sa.Text(), nullable=True),
        sa.Column("override_by", sa.String(length=200), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(), nullable=True),
        sa.Column("withdrawn_by", sa.String(length=200), nullable=True),
        sa.Column("withdraw_reason", sa.Text(), nullable=True),
        sa.Column("changed_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("kind IN ('fqdn', 'ipv4', 'ipv6')", name="ck_block_entries_kind"),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["live_events.id"],
        ),
        sa.ForeignKeyConstraint(
            ["stream_id"],
            ["live_streams.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id", "kind", "value", name="uq_block_entries_event_value"),
    )
    op.create_index(op.f("ix_block_entries_event_id"), "block_entries", ["event_id"], unique=False)

    op.create_table(
        "live_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("stream_id", sa.Integer(), nullable=False),
        sa.Column("checked_at", sa.DateTime(), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("delay_s", sa.Float(), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("playlist_capture_id", sa.Integer(), nullable=True),
        sa.Column("segment_capture_id", sa.Integer(), nullable=True),
        sa.Column("cpu_s", sa.Float(), nullable=True),
        sa.CheckConstraint(
            "outcome IN ('matched', 'no_match', 'no_reference', 'offline', 'not_found', 'encrypted', 'refused', 'too_large', 'looping', 'bad_playlist', 'failed')",
            name="ck_live_checks_outcome",
        ),
        sa.ForeignKeyConstraint(
            ["playlist_capture_id"],
            ["captures.id"],
        ),
        sa.ForeignKeyConstraint(
            ["segment_capture_id"],
            ["captures.id"],
        ),
        sa.ForeignKeyConstraint(
            ["stream_id"],
            ["live_streams.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_live_checks_stream_id"), "live_checks", ["stream_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_live_checks_stream_id"), table_name="live_checks")

    op.drop_table("live_checks")
    op.drop_index(op.f("ix_block_entries_event_id"), table_name="block_entries")

    op.drop_table("block_entries")
    op.drop_index(op.f("ix_live_streams_site_id"), table_name="live_streams")
    op.drop_index(op.f("ix_live_streams_event_id"), table_name="live_streams")

    op.drop_table("live_streams")
    op.drop_index(op.f("ix_live_feed_gaps_event_id"), table_name="live_feed_gaps")

    op.drop_table("live_feed_gaps")
    op.drop_table("live_events")
    op.drop_table("infrastructure_ranges")
