"""volunteer: the order loop's columns, order steps, the double-entry ledger and reward stock.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from volunteer.adapters.orm import Money

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

ORDER_COLUMNS = [
    sa.Column("origin", sa.String(16), nullable=False, server_default="referral"),
    sa.Column("resident_token_hash", sa.String(64)),
    sa.Column("scheduled_at", sa.DateTime(timezone=True)),
    sa.Column("mode", sa.String(16)),
    sa.Column("volunteer_id", sa.String(16)),
    sa.Column("team_code", sa.String(16)),
    sa.Column("accept_by", sa.DateTime(timezone=True)),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("excluded", sa.Text, nullable=False, server_default="[]"),
    sa.Column("confirmed_at", sa.DateTime(timezone=True)),
    sa.Column("completed_at", sa.DateTime(timezone=True)),
    sa.Column("hours", Money),
    sa.Column("note", sa.Text),
    sa.Column("photo_urls", sa.Text, nullable=False, server_default="[]"),
    sa.Column("rating", sa.Integer),
    sa.Column("comment", sa.Text),
    sa.Column("updated_at", sa.DateTime(timezone=True)),
    sa.Column("version", sa.Integer, nullable=False, server_default="0"),
]


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        for column in ORDER_COLUMNS:
            batch.add_column(column)
        batch.create_index("ix_orders_volunteer_status", ["volunteer_id", "status"])
        batch.create_index("ix_orders_status", ["status"])
    op.create_table(
        "order_steps",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("order_id", sa.String(36), sa.ForeignKey("orders.order_id"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
    )
    op.create_index("ix_order_steps_order_id", "order_steps", ["order_id"])
    op.create_table(
        "ledger_transactions",
        sa.Column("seq", _ID, primary_key=True, autoincrement=True),
        sa.Column("transaction_id", sa.String(36), nullable=False, unique=True),
        sa.Column("key", sa.String(160), nullable=False, unique=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("volunteer_id", sa.String(16), nullable=False),
        sa.Column("order_id", sa.String(36)),
        sa.Column("reward_code", sa.String(64)),
        sa.Column("memo", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_ledger_transactions_volunteer_id", "ledger_transactions", ["volunteer_id"])
    op.create_table(
        "ledger_postings",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column(
            "transaction_id",
            sa.String(36),
            sa.ForeignKey("ledger_transactions.transaction_id"),
            nullable=False,
        ),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("unit", sa.String(8), nullable=False),
        sa.Column("amount", Money, nullable=False),
    )
    op.create_index("ix_ledger_postings_transaction_id", "ledger_postings", ["transaction_id"])
    op.create_index("ix_ledger_postings_account", "ledger_postings", ["account"])
    op.create_table(
        "ledger_balances",
        sa.Column("account", sa.String(64), primary_key=True),
        sa.Column("unit", sa.String(8), primary_key=True),
        sa.Column("balance", Money, nullable=False),
        sa.CheckConstraint(
            "balance >= 0 OR account NOT LIKE 'volunteer:%'", name="ck_ledger_balances_volunteer_non_negative"
        ),
    )
    op.create_table(
        "reward_stock",
        sa.Column("code", sa.String(64), primary_key=True),
        sa.Column("stock", sa.Integer, nullable=False),
        sa.Column("redeemed", sa.Integer, nullable=False, server_default="0"),
        sa.CheckConstraint("stock >= 0", name="ck_reward_stock_non_negative"),
    )


def downgrade() -> None:
    op.drop_table("reward_stock")
    op.drop_table("ledger_balances")
    op.drop_table("ledger_postings")
    op.drop_table("ledger_transactions")
    op.drop_table("order_steps")
    with op.batch_alter_table("orders") as batch:
        batch.drop_index("ix_orders_status")
        batch.drop_index("ix_orders_volunteer_status")
        for column in reversed(ORDER_COLUMNS):
            batch.drop_column(column.name)
