"""deliveries listed by time

A subscription's deliveries are paged newest first by (created_at, delivery_id); that index
also serves every lookup by subscription the single-column one served.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 14:00:03.243245
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_delivery_subscription_id"))
        batch_op.create_index("ix_delivery_listing", ["subscription_id", "created_at", "delivery_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_index("ix_delivery_listing")
        batch_op.create_index(batch_op.f("ix_delivery_subscription_id"), ["subscription_id"], unique=False)
