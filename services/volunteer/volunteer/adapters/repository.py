"""Orders, the ledger and reward stock in and out of the database, as domain objects.

Two guards live here because only the database can give them under concurrency: an order is saved only if nobody
changed it since it was read (its `version`), and a debit or a stock decrement is a conditional UPDATE that
refuses to go below zero. Whoever loses such a race gets a domain error and their transaction rolls back whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import Decimal

from sqlalchemy import and_, case, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from gridlink.runtime.db import UnitOfWork, as_utc
from volunteer.adapters.orm import (
    ledger_balances,
    ledger_postings,
    ledger_transactions,
    order_steps,
    orders,
    reward_stock,
)
from volunteer.domain.catalogue import Reward
from volunteer.domain.errors import InsufficientPoints, OrderTaken, OutOfStock
from volunteer.domain.ledger import HOURS, POINTS, Balances, Posting, Transaction, must_stay_non_negative
from volunteer.domain.model import HOLDING, Order, Step

_COLUMNS = [c.name for c in orders.columns]
_JSON_FIELDS = ("excluded", "photo_urls")
_TIMES = ("created_at", "scheduled_at", "accept_by", "confirmed_at", "completed_at", "updated_at")


def _upsert(session: Session, table):
    """The backend's INSERT that can say ON CONFLICT."""
    return (postgresql if session.get_bind().dialect.name == "postgresql" else sqlite).insert(table)


class OrderRepository:
    def __init__(self, session: Session):
        self.session = session

    def add(self, order: Order) -> None:
        self.session.execute(insert(orders).values(**_row(order)))
        self._save_steps(order)

    def save(self, order: Order) -> None:
        """Write the order back if nobody changed it since it was loaded; else OrderTaken."""
        values = _row(order)
        values["version"] = order.version + 1
        result = self.session.execute(
            update(orders)
            .where(orders.c.order_id == order.order_id, orders.c.version == order.version)
            .values(**values)
        )
        if result.rowcount != 1:
            raise OrderTaken("the order was changed by someone else at the same moment; reload it")
        order.version += 1
        self._save_steps(order)

    def _save_steps(self, order: Order) -> None:
        for step in order.steps:
            self.session.execute(
                insert(order_steps).values(
                    order_id=order.order_id, at=step.at, status=step.status, actor=step.actor, note=step.note
                )
            )
        order.steps = []

    def get(self, order_id: str) -> Order | None:
        return self._one(orders.c.order_id == order_id)

    def by_case(self, case_id: str) -> Order | None:
        return self._one(orders.c.case_id == case_id)

    def list(
        self,
        limit: int = 100,
        volunteer_id: str | None = None,
        status: str | None = None,
        unit_prefix: str | None = None,
    ) -> list[Order]:
        query = select(orders).order_by(orders.c.created_at.desc()).limit(limit)
        if volunteer_id is not None:
            query = query.where(orders.c.volunteer_id == volunteer_id)
        if status is not None:
            query = query.where(orders.c.status == status)
        if unit_prefix:
            query = query.where(orders.c.grid_code.startswith(unit_prefix))
        return [_load(r) for r in self.session.execute(query).mappings()]

    def open_for_claims(self, limit: int = 100) -> list[Order]:
        query = select(orders).where(orders.c.status == "open").order_by(orders.c.accept_by).limit(limit)
        return [_load(r) for r in self.session.execute(query).mappings()]

    def steps(self, order_id: str) -> list[Step]:
        rows = self.session.execute(
            select(order_steps).where(order_steps.c.order_id == order_id).order_by(order_steps.c.id)
        ).mappings()
        return [Step(as_utc(r["at"]), r["status"], r["actor"], r["note"]) for r in rows]

    def loads(self) -> dict[str, int]:
        """Orders each volunteer holds now (offered to them, accepted, confirmed or in service)."""
        rows = self.session.execute(
            select(orders.c.volunteer_id, func.count())
            .where(orders.c.status.in_(HOLDING), orders.c.volunteer_id.is_not(None))
            .group_by(orders.c.volunteer_id)
        )
        return {vid: count for vid, count in rows}

    def ratings(self) -> dict[str, tuple[int, int]]:
        """(count, sum) of the ratings residents gave each volunteer."""
        rows = self.session.execute(
            select(orders.c.volunteer_id, func.count(), func.sum(orders.c.rating))
            .where(orders.c.rating.is_not(None))
            .group_by(orders.c.volunteer_id)
        )
        return {vid: (count, int(total)) for vid, count, total in rows}

    def order_stats(self) -> dict[str, dict]:
        """Per volunteer: orders done, hours served, ratings received (count and sum)."""
        done = orders.c.status.in_(("completed", "closed"))
        rows = self.session.execute(
            select(
                orders.c.volunteer_id,
                func.sum(case((done, 1), else_=0)),
                func.count(orders.c.rating),
                func.sum(orders.c.rating),
            )
            .where(orders.c.volunteer_id.is_not(None))
            .group_by(orders.c.volunteer_id)
        )
        return {
            vid: {"orders": int(n or 0), "ratings": int(c or 0), "rating_sum": int(s or 0)} for vid, n, c, s in rows
        }

    def _one(self, condition) -> Order | None:
        row = self.session.execute(select(orders).where(condition)).mappings().first()
        return _load(row) if row else None


def _row(order: Order) -> dict:
    values = {c: getattr(order, c) for c in _COLUMNS}
    for name in _JSON_FIELDS:
        values[name] = json.dumps(values[name])
    return values


def _load(row) -> Order:
    values = dict(row)
    for name in _TIMES:
        values[name] = as_utc(values[name])
    for name in _JSON_FIELDS:
        values[name] = json.loads(values[name])
    return Order(**values)


class LedgerRepository:
    def __init__(self, session: Session):
        self.session = session

    def post(self, transaction: Transaction) -> bool:
        """Record a transaction and move the balances; False when its key was already posted (a replay).

        Debits of volunteers' accounts are conditional, so two concurrent spends can never overdraw: the second
        finds the balance already lower and raises InsufficientPoints.
        """
        t = ledger_transactions
        inserted = self.session.execute(
            _upsert(self.session, t)
            .values(
                transaction_id=transaction.transaction_id,
                key=transaction.key,
                kind=transaction.kind,
                volunteer_id=transaction.volunteer_id,
                order_id=transaction.order_id,
                reward_code=transaction.reward_code,
                memo=transaction.memo,
                at=transaction.at,
            )
            .on_conflict_do_nothing(index_elements=["key"])
        )
        if inserted.rowcount == 0:
            return False
        for p in transaction.postings:
            self.session.execute(
                insert(ledger_postings).values(
                    transaction_id=transaction.transaction_id, account=p.account, unit=p.unit, amount=p.amount
                )
            )
        # A fixed order of row locks, so two transactions touching the same accounts cannot deadlock.
        for p in sorted(transaction.postings, key=lambda p: (p.account, p.unit)):
            self._move(p)
        return True

    def _move(self, posting: Posting) -> None:
        b = ledger_balances
        here = and_(b.c.account == posting.account, b.c.unit == posting.unit)
        if posting.amount < 0 and must_stay_non_negative(posting.account):
            result = self.session.execute(
                update(b).where(here, b.c.balance + posting.amount >= 0).values(balance=b.c.balance + posting.amount)
            )
            if result.rowcount != 1:
                raise InsufficientPoints(f"{posting.account} does not hold {-posting.amount} {posting.unit}")
            return
        statement = _upsert(self.session, b).values(account=posting.account, unit=posting.unit, balance=posting.amount)
        self.session.execute(
            statement.on_conflict_do_update(
                index_elements=["account", "unit"], set_={"balance": b.c.balance + statement.excluded.balance}
            )
        )

    def by_key(self, key: str) -> Transaction | None:
        row = self.session.execute(select(ledger_transactions).where(ledger_transactions.c.key == key)).mappings()
        found = self._with_postings(list(row))
        return found[0] if found else None

    def of_volunteer(self, volunteer_id: str) -> list[Transaction]:
        rows = self.session.execute(
            select(ledger_transactions)
            .where(ledger_transactions.c.volunteer_id == volunteer_id)
            .order_by(ledger_transactions.c.seq)
        ).mappings()
        return self._with_postings(list(rows))

    def _with_postings(self, rows: list) -> list[Transaction]:
        if not rows:
            return []
        ids = [r["transaction_id"] for r in rows]
        postings: dict[str, list[Posting]] = {i: [] for i in ids}
        for p in self.session.execute(
            select(ledger_postings).where(ledger_postings.c.transaction_id.in_(ids)).order_by(ledger_postings.c.id)
        ).mappings():
            postings[p["transaction_id"]].append(Posting(p["account"], p["unit"], p["amount"]))
        return [
            Transaction(
                key=r["key"],
                kind=r["kind"],
                volunteer_id=r["volunteer_id"],
                at=as_utc(r["at"]),
                postings=tuple(postings[r["transaction_id"]]),
                order_id=r["order_id"],
                reward_code=r["reward_code"],
                memo=r["memo"],
                transaction_id=r["transaction_id"],
            )
            for r in rows
        ]

    def balances(self, accounts: Iterable[str] | None = None) -> Balances:
        query = select(ledger_balances)
        if accounts is not None:
            query = query.where(ledger_balances.c.account.in_(list(accounts)))
        return Balances({(r["account"], r["unit"]): r["balance"] for r in self.session.execute(query).mappings()})

    def totals_by_volunteer(self) -> dict[str, dict[str, Decimal]]:
        """Per volunteer: points earned, points spent and hours credited, from the postings."""
        t, p = ledger_transactions, ledger_postings
        rows = self.session.execute(
            select(t.c.volunteer_id, t.c.kind, p.c.unit, func.sum(p.c.amount))
            .join(p, p.c.transaction_id == t.c.transaction_id)
            .where(p.c.account == "volunteer:" + t.c.volunteer_id)
            .group_by(t.c.volunteer_id, t.c.kind, p.c.unit)
        )
        totals: dict[str, dict[str, Decimal]] = {}
        zero = Decimal("0.00")
        for vid, kind, unit, amount in rows:
            entry = totals.setdefault(vid, {"points_earned": zero, "points_spent": zero, "hours": zero})
            amount = _money(amount)
            if unit == HOURS:
                entry["hours"] += amount
            elif kind == "redemption":
                entry["points_spent"] -= amount
            else:
                entry["points_earned"] += amount
        return totals

    def trial_balance(self) -> dict:
        """The audit: sums per unit over all postings and all balances (both zero), and any unbalanced transaction."""
        p = ledger_postings
        postings = {
            u: _money(s) for u, s in self.session.execute(select(p.c.unit, func.sum(p.c.amount)).group_by(p.c.unit))
        }
        balances = {
            u: _money(s)
            for u, s in self.session.execute(
                select(ledger_balances.c.unit, func.sum(ledger_balances.c.balance)).group_by(ledger_balances.c.unit)
            )
        }
        unbalanced = list(
            self.session.scalars(
                select(p.c.transaction_id).group_by(p.c.transaction_id, p.c.unit).having(func.sum(p.c.amount) != 0)
            )
        )
        negative = list(
            self.session.scalars(
                select(ledger_balances.c.account).where(
                    ledger_balances.c.account.startswith("volunteer:"), ledger_balances.c.balance < 0
                )
            )
        )
        count = self.session.scalar(select(func.count()).select_from(ledger_transactions))
        return {
            "transactions": count,
            "postings_sum": {u: postings.get(u, Decimal("0.00")) for u in (POINTS, HOURS)},
            "balances_sum": {u: balances.get(u, Decimal("0.00")) for u in (POINTS, HOURS)},
            "unbalanced_transactions": unbalanced,
            "negative_volunteer_balances": negative,
        }


def _money(value) -> Decimal:
    """Sums come back as the column type on PostgreSQL, as hundredths on SQLite (an aggregate loses the type)."""
    if value is None:
        return Decimal("0.00")
    if isinstance(value, int):
        return (Decimal(value) / 100).quantize(Decimal("0.01"))
    return Decimal(value).quantize(Decimal("0.01"))


class RewardRepository:
    def __init__(self, session: Session):
        self.session = session

    def ensure(self, rewards: Iterable[Reward]) -> None:
        """Give each catalogue reward its stock row on first use; existing stock is never reset."""
        for reward in rewards:
            self.session.execute(
                _upsert(self.session, reward_stock)
                .values(code=reward.code, stock=reward.initial_stock, redeemed=0)
                .on_conflict_do_nothing(index_elements=["code"])
            )

    def take_one(self, code: str) -> None:
        result = self.session.execute(
            update(reward_stock)
            .where(reward_stock.c.code == code, reward_stock.c.stock >= 1)
            .values(stock=reward_stock.c.stock - 1, redeemed=reward_stock.c.redeemed + 1)
        )
        if result.rowcount != 1:
            raise OutOfStock(f"reward {code!r} is out of stock")

    def stock(self) -> dict[str, tuple[int, int]]:
        rows = self.session.execute(select(reward_stock.c.code, reward_stock.c.stock, reward_stock.c.redeemed))
        return {code: (stock, redeemed) for code, stock, redeemed in rows}


class VolunteerUnitOfWork(UnitOfWork):
    orders: OrderRepository
    ledger: LedgerRepository
    rewards: RewardRepository

    def _open_repositories(self, session: Session) -> None:
        self.orders = OrderRepository(session)
        self.ledger = LedgerRepository(session)
        self.rewards = RewardRepository(session)
