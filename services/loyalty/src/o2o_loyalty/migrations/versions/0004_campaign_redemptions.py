"""campaigns count the coupons of their offers used at a till

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 13:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("campaign", schema=None) as batch_op:
        batch_op.add_column(sa.Column("redeemed_count", sa.BigInteger(), server_default=sa.text("0"), nullable=False))
    with op.batch_alter_table("coupon", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("campaign_id", sa.String(length=36), server_default=sa.text("''"), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("coupon", schema=None) as batch_op:
        batch_op.drop_column("campaign_id")
    with op.batch_alter_table("campaign", schema=None) as batch_op:
        batch_op.drop_column("redeemed_count")
