"""blocking list: providers' read-only clients, and where each infrastructure range comes from

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 16:00:00

``blocklist_clients`` (a blocking platform's named read-only token: it reads the blocking list
and nothing else), ``infrastructure_ranges.source`` (the URL the provider publishes its list
at), and an index of captures by IP (which sites an address serves). The ranges shipped in
``swordnet/data/infrastructure_ranges.json`` are loaded, so a new database knows them before
anyone refreshes them.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from importlib.resources import files

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "blocklist_clients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_by", sa.String(length=200), nullable=True),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_captures_ip", "captures", ["ip"], unique=False)
    op.add_column("infrastructure_ranges",
                  sa.Column("source", sa.Text(), nullable=False, server_default=""))
    shipped = json.loads((files("swordnet") / "data" / "infrastructure_ranges.json")
                         .read_text(encoding="utf-8"))
    ranges = sa.table("infrastructure_ranges", sa.column("provider", sa.String),
                      sa.column("network", sa.String), sa.column("as_of", sa.Date),
                      sa.column("loaded_at", sa.DateTime), sa.column("source", sa.Text))
    now = datetime.now(UTC).replace(tzinfo=None)
    op.bulk_insert(ranges, [
        {"provider": p["provider"], "network": network, "as_of": date.fromisoformat(p["as_of"]),
         "loaded_at": now, "source": p["source"]}
        for p in shipped["providers"] for network in p["networks"]])


def downgrade() -> None:
    op.execute("DELETE FROM infrastructure_ranges")
    with op.batch_alter_table("infrastructure_ranges") as batch_op:
        batch_op.drop_column("source")
    op.drop_index("ix_captures_ip", table_name="captures")
    op.drop_table("blocklist_clients")
