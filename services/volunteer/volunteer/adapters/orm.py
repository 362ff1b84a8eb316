"""volunteer's tables: orders and their steps, the double-entry ledger, and reward stock."""

from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
)
from sqlalchemy.types import TypeDecorator

from gridlink.runtime.tables import add_messaging_tables

metadata = MetaData()

_ID = BigInteger().with_variant(Integer(), "sqlite")


class Money(TypeDecorator):
    """Points and hours to two places, exact on both backends.

    PostgreSQL keeps NUMERIC(14, 2). SQLite has no exact decimal type (NUMERIC becomes a float there), so it keeps
    whole hundredths in an INTEGER; SQL arithmetic and comparisons on the column stay exact either way.
    """

    impl = Numeric(14, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(14, 2, asdecimal=True))

    def process_bind_param(self, value, dialect):
        if value is None or dialect.name != "sqlite":
            return value
        cents = Decimal(value) * 100
        if cents != cents.to_integral_value():
            raise ValueError(f"{value} has more than two decimal places")
        return int(cents)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if dialect.name == "sqlite":
            return (Decimal(int(value)) / 100).quantize(Decimal("0.01"))
        return Decimal(value).quantize(Decimal("0.01"))


orders = Table(
    "orders",
    metadata,
    Column("order_id", String(36), primary_key=True),
    Column("correlation_id", String(128), nullable=False),
    Column("case_id", String(36), unique=True),
    Column("report_id", String(36)),
    Column("tracking_code", String(32)),
    Column("service_code", String(64), nullable=False),
    Column("description", Text, nullable=False),
    Column("grid_code", String(15), nullable=False),
    Column("community_code", String(12), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("origin", String(16), nullable=False, server_default="referral"),
    Column("resident_token_hash", String(64)),
    Column("scheduled_at", DateTime(timezone=True)),
    Column("mode", String(16)),
    Column("volunteer_id", String(16)),
    Column("team_code", String(16)),
    Column("accept_by", DateTime(timezone=True)),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("excluded", Text, nullable=False, server_default="[]"),  # JSON list of volunteer ids
    Column("confirmed_at", DateTime(timezone=True)),
    Column("completed_at", DateTime(timezone=True)),
    Column("hours", Money),
    Column("note", Text),
    Column("photo_urls", Text, nullable=False, server_default="[]"),  # JSON list
    Column("rating", Integer),
    Column("comment", Text),
    Column("updated_at", DateTime(timezone=True)),
    Column("version", Integer, nullable=False, server_default="0"),  # optimistic concurrency: claim races
    Index("ix_orders_volunteer_status", "volunteer_id", "status"),
    Index("ix_orders_status", "status"),
)

order_steps = Table(
    "order_steps",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("order_id", String(36), ForeignKey("orders.order_id"), nullable=False, index=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("status", String(16), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("note", Text, nullable=False),
)

ledger_transactions = Table(
    "ledger_transactions",
    metadata,
    Column("seq", _ID, primary_key=True, autoincrement=True),  # posting order, for statements
    Column("transaction_id", String(36), nullable=False, unique=True),
    Column("key", String(160), nullable=False, unique=True),  # idempotency: a replay finds it
    Column("kind", String(32), nullable=False),
    Column("volunteer_id", String(16), nullable=False, index=True),
    Column("order_id", String(36)),
    Column("reward_code", String(64)),
    Column("memo", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)

ledger_postings = Table(
    "ledger_postings",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column(
        "transaction_id",
        String(36),
        ForeignKey("ledger_transactions.transaction_id"),
        nullable=False,
        index=True,
    ),
    Column("account", String(64), nullable=False, index=True),
    Column("unit", String(8), nullable=False),
    Column("amount", Money, nullable=False),
)

ledger_balances = Table(
    "ledger_balances",
    metadata,
    Column("account", String(64), primary_key=True),
    Column("unit", String(8), primary_key=True),
    Column("balance", Money, nullable=False),
    # The database refuses an overdraft even if a code path forgot to check.
    CheckConstraint("balance >= 0 OR account NOT LIKE 'volunteer:%'", name="ck_ledger_balances_volunteer_non_negative"),
)

reward_stock = Table(
    "reward_stock",
    metadata,
    Column("code", String(64), primary_key=True),
    Column("stock", Integer, nullable=False),
    Column("redeemed", Integer, nullable=False, server_default="0"),
    CheckConstraint("stock >= 0", name="ck_reward_stock_non_negative"),
)

add_messaging_tables(metadata)
