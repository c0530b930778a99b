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
    with op.batch_alter_table("works", schema=None) as batch_op:
        batch_op.add_column(sa.Column("category", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("registration_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("registering_authority", sa.String(length=200),
                                      nullable=True))
        batch_op.add_column(sa.Column("author", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("first_published", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("licence_territories", sa.JSON(), nullable=True))
    cases = " ".join(f"WHEN '{kind}' THEN '{category}'"
                     for kind, category in DEFAULT_CATEGORY.items())
    op.execute(f"UPDATE works SET category = CASE kind {cases} ELSE 'text' END, "
               "licence_territories = '[]'")
    quoted = ", ".join(f"'{c}'" for c in CATEGORIES)
    with op.batch_alter_table("works", schema=None) as batch_op:
        batch_op.alter_column("category", existing_type=sa.String(length=20), nullable=False)
        batch_op.alter_column("licence_territories", existing_type=sa.JSON(), nullable=False)
        batch_op.create_check_constraint("ck_works_category", f"category IN ({quoted})")


def downgrade() -> None:
    with op.batch_alter_table("works", schema=None) as batch_op:
        batch_op.drop_constraint("ck_works_category", type_="check")
        for column in ("licence_territories", "first_published", "author",
                       "registering_authority", "registration_date", "category"):
            batch_op.drop_column(column)
