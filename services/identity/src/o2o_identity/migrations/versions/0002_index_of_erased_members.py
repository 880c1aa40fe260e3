"""index of erased members

Start-up reads the members erased within the last token lifetime; a partial index of erased
members by update time keeps that read from scanning the whole member table.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 19:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_member_erased_updated_at",
        "member",
        ["updated_at"],
        postgresql_where=sa.text("erased"),
        sqlite_where=sa.text("erased = 1"),
    )


def downgrade() -> None:
    op.drop_index("ix_member_erased_updated_at", table_name="member")
