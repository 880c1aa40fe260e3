"""footfall by quarter hour

Visitors are counted per store and UTC quarter hour instead of per store day, so that counting
a visit needs no time zone. Daily counts recorded before are kept at noon UTC of their day,
which lies inside that store day for every zone from UTC-12 to UTC+11.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 14:00:00.000000
"""

from collections.abc import Sequence
from datetime import UTC, date, datetime, time

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

slots = sa.table(
    "footfall_slot",
    sa.column("store_id", sa.String()),
    sa.column("slot_start", sa.DateTime(timezone=True)),
    sa.column("visitors", sa.Integer()),
)
days = sa.table(
    "footfall",
    sa.column("store_id", sa.String()),
    sa.column("business_date", sa.Date()),
    sa.column("visitors", sa.Integer()),
)


def upgrade() -> None:
    op.create_table(
        "footfall_slot",
        sa.Column("store_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("slot_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("visitors", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("store_id", "slot_start"),
    )
    counted = op.get_bind().execute(sa.select(days.c.store_id, days.c.business_date, days.c.visitors)).all()
    if counted:
        op.bulk_insert(
            slots,
            [
                {
                    "store_id": store_id,
                    "slot_start": datetime.combine(date.fromisoformat(str(day)), time(12), UTC),
                    "visitors": visitors,
                }
                for store_id, day, visitors in counted
            ],
        )
    op.drop_table("footfall")


def downgrade() -> None:
    op.create_table(
        "footfall",
        sa.Column("store_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("visitors", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("store_id", "business_date"),
    )
    op.drop_table("footfall_slot")
