"""advisor attribution

Distribution rules, the advisor bindings learned from identity's events (each one kept, so a
sale is attributed to the advisor as of its time) and the attributed lines of sales and refunds.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 06:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id(name: str, length: int = 36) -> sa.Column[str]:
    return sa.Column(name, sqlmodel.sql.sqltypes.AutoString(length=length), nullable=False)


def upgrade() -> None:
    op.create_table(
        "attribution_rule",
        _id("rule_id"),
        _id("store_id"),
        _id("scope", 16),
        _id("key", 100),
        sa.Column("channel", sa.Integer(), nullable=False),
        sa.Column("rate_bp", sa.Integer(), nullable=False),
        sa.Column("window_s", sa.BigInteger(), nullable=False),
        sa.Column("shared_line_share_bp", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        _id("created_by"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("rule_id"),
    )
    op.create_table(
        "member_advisor",
        _id("member_id"),
        sa.Column("bound_at", sa.DateTime(timezone=True), nullable=False),
        _id("staff_id"),
        _id("store_id"),
        sa.Column("last_served_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("member_id", "bound_at"),
    )
    op.create_table(
        "attribution",
        _id("receipt_id"),
        sa.Column("line_number", sa.Integer(), nullable=False),
        _id("original_receipt_id"),
        sa.Column("original_line_number", sa.Integer(), nullable=False),
        _id("advisor_id"),
        _id("advisor_store_id"),
        _id("selling_store_id"),
        _id("member_id"),
        sa.Column("channel", sa.Integer(), nullable=False),
        _id("sku", 64),
        _id("currency_code", 3),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("rate_bp", sa.Integer(), nullable=False),
        sa.Column("earned_minor", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["receipt_id"], ["receipt.receipt_id"]),
        sa.PrimaryKeyConstraint("receipt_id", "line_number"),
    )
    with op.batch_alter_table("attribution", schema=None) as batch_op:
        batch_op.create_index("ix_attribution_advisor_time", ["advisor_id", "occurred_at"], unique=False)
        batch_op.create_index("ix_attribution_advisor_store_time", ["advisor_store_id", "occurred_at"], unique=False)
        batch_op.create_index("ix_attribution_selling_store_time", ["selling_store_id", "occurred_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("attribution", schema=None) as batch_op:
        batch_op.drop_index("ix_attribution_selling_store_time")
        batch_op.drop_index("ix_attribution_advisor_store_time")
        batch_op.drop_index("ix_attribution_advisor_time")
    op.drop_table("attribution")
    op.drop_table("member_advisor")
    op.drop_table("attribution_rule")
