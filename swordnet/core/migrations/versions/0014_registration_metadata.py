"""registration metadata: a work's copyright category and what its registration says

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 12:45:00

``works.category`` is the copyright class a work is registered as (text, music, audiovisual,
film, photography, fine_art, software), filled for existing works from their media kind
(image: photography, video: audiovisual, audio: music). Beside ``registration_number``
(there since 0001): the registration's date and authority, the author, the date of first
publication and the territories the work is licensed in (ISO 3166-1 alpha-2 codes, or
``worldwide``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

CATEGORIES = ("text", "music", "audiovisual", "film", "photography", "fine_art", "software")
DEFAULT_CATEGORY = {"image": "photography", "video": "audiovisual", "audio": "music",
                    "text": "text", "software": "software"}


def upgrade() -> None:
    # Plain ADD COLUMN (the category's check attached to it), never a batch rebuild: on SQLite a
    # rebuild drops and recreates ``works``, which the foreign keys of existing hits and
    # fingerprints refuse.
    quoted = ", ".join(f"'{c}'" for c in CATEGORIES)
    op.execute("ALTER TABLE works ADD COLUMN category VARCHAR(20) NOT NULL DEFAULT 'text' "
               f"CONSTRAINT ck_works_category CHECK (category IN ({quoted}))")
    op.add_column("works", sa.Column("registration_date", sa.Date(), nullable=True))
    op.add_column("works", sa.Column("registering_authority", sa.String(length=200),
                                     nullable=True))
    op.add_column("works", sa.Column("author", sa.String(length=500), nullable=True))
    op.add_column("works", sa.Column("first_published", sa.Date(), nullable=True))
    op.add_column("works", sa.Column("licence_territories", sa.JSON(), nullable=False,
                                     server_default="[]"))
    cases = " ".join(f"WHEN '{kind}' THEN '{category}'"
                     for kind, category in DEFAULT_CATEGORY.items())
    op.execute(f"UPDATE works SET category = CASE kind {cases} ELSE 'text' END")


def downgrade() -> None:
    for column in ("licence_territories", "first_published", "author",
                   "registering_authority", "registration_date", "category"):
        op.execute(f"ALTER TABLE works DROP COLUMN {column}")  # the check goes with category
