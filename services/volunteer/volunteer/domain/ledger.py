"""The hours and points ledger: double-entry, exact decimals, no volunteer balance below zero.

Every movement is a transaction of postings that sum to zero in each unit (points, hours). Points and hours a
volunteer earns come out of the `issued` account, which therefore carries minus everything ever credited; points a
volunteer spends go into `redeemed`. So the sum over all accounts is always zero, and a volunteer's balance is what
they earned minus what they spent. Each transaction has a key that makes it happen once: a replay finds the key.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from volunteer.domain.catalogue import PointsRules, Reward, Service
from volunteer.domain.errors import InsufficientPoints, UnbalancedTransaction

POINTS = "points"
HOURS = "hours"
UNITS = (POINTS, HOURS)
ISSUED = "issued"
REDEEMED = "redeemed"
CENT = Decimal("0.01")


def volunteer_account(volunteer_id: str) -> str:
    return f"volunteer:{volunteer_id}"


def must_stay_non_negative(account: str) -> bool:
    """Volunteers' accounts never go below zero; `issued` is a contra account and is negative by design."""
    return account.startswith("volunteer:")


def money(value: Decimal | str | int) -> Decimal:
    """Points and hours are kept to two places, rounded half up as people expect."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Posting:
    account: str
    unit: str
    amount: Decimal


@dataclass(frozen=True)
class Transaction:
    key: str  # idempotency: one transaction per key, ever
    kind: str  # service_credit | rating_bonus | redemption
    volunteer_id: str
    at: datetime
    postings: tuple[Posting, ...]
    order_id: str | None = None
    reward_code: str | None = None
    memo: str = ""
    transaction_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def __post_init__(self) -> None:
        if not self.postings:
            raise UnbalancedTransaction(f"{self.key}: a transaction needs postings")
        for p in self.postings:
            if p.unit not in UNITS or p.amount != money(p.amount) or p.amount == 0:
                raise UnbalancedTransaction(f"{self.key}: bad posting {p}")
        for unit in UNITS:
            if sum((p.amount for p in self.postings if p.unit == unit), Decimal(0)) != 0:
                raise UnbalancedTransaction(f"{self.key}: {unit} postings do not sum to zero")

    def amount(self, account: str, unit: str) -> Decimal:
        return sum((p.amount for p in self.postings if p.account == account and p.unit == unit), Decimal(0))


def _transfer(source: str, target: str, unit: str, amount: Decimal) -> tuple[Posting, Posting]:
    return Posting(source, unit, -amount), Posting(target, unit, amount)


def service_points(service: Service, hours: Decimal, rules: PointsRules) -> Decimal:
    """Hours × the base rate × the service's multiplier."""
    return money(hours * rules.base_per_hour * service.multiplier)


def service_credit(
    order_id: str, volunteer_id: str, service: Service, hours: Decimal, rules: PointsRules, at: datetime
) -> Transaction:
    """Completed service earns its hours and its points."""
    account = volunteer_account(volunteer_id)
    hours = money(hours)
    points = service_points(service, hours, rules)
    postings = _transfer(ISSUED, account, HOURS, hours)
    if points > 0:
        postings += _transfer(ISSUED, account, POINTS, points)
    return Transaction(
        key=f"service:{order_id}",
        kind="service_credit",
        volunteer_id=volunteer_id,
        at=at,
        postings=postings,
        order_id=order_id,
        memo=f"{service.code}: {hours} h × {rules.base_per_hour} × {service.multiplier}",
    )


def rating_bonus(
    order_id: str, volunteer_id: str, earned: Decimal, rating: int, rules: PointsRules, at: datetime
) -> Transaction | None:
    """A good rating adds a share of the points the service earned; None when this rating earns nothing."""
    fraction = rules.rating_bonus.get(rating, Decimal(0))
    points = money(earned * fraction)
    if points <= 0:
        return None
    return Transaction(
        key=f"bonus:{order_id}",
        kind="rating_bonus",
        volunteer_id=volunteer_id,
        at=at,
        postings=_transfer(ISSUED, volunteer_account(volunteer_id), POINTS, points),
        order_id=order_id,
        memo=f"rating {rating}: {fraction} × {earned}",
    )


def redemption_key(volunteer_id: str, request_id: str) -> str:
    return f"redeem:{volunteer_id}:{request_id}"


def redemption(volunteer_id: str, reward: Reward, request_id: str, at: datetime) -> Transaction:
    return Transaction(
        key=redemption_key(volunteer_id, request_id),
        kind="redemption",
        volunteer_id=volunteer_id,
        at=at,
        postings=_transfer(volunteer_account(volunteer_id), REDEEMED, POINTS, money(reward.points)),
        reward_code=reward.code,
        memo=reward.name,
    )


class Balances:
    """Balances by (account, unit): what applying transactions in order leaves, refusing any overdraft."""

    def __init__(self, balances: Mapping[tuple[str, str], Decimal] | None = None):
        self._balances: dict[tuple[str, str], Decimal] = dict(balances or {})

    def get(self, account: str, unit: str) -> Decimal:
        return self._balances.get((account, unit), Decimal("0.00"))

    def check(self, transaction: Transaction) -> None:
        """Raise InsufficientPoints when the transaction would take a volunteer's balance below zero."""
        for p in transaction.postings:
            after = self.get(p.account, p.unit) + transaction.amount(p.account, p.unit)
            if must_stay_non_negative(p.account) and after < 0:
                raise InsufficientPoints(
                    f"{p.account} holds {self.get(p.account, p.unit)} {p.unit}; this needs {-p.amount}"
                )

    def apply(self, transaction: Transaction) -> None:
        self.check(transaction)
        for p in transaction.postings:
            self._balances[(p.account, p.unit)] = self.get(p.account, p.unit) + p.amount

    def total(self, unit: str) -> Decimal:
        return sum((v for (_, u), v in self._balances.items() if u == unit), Decimal(0))

    def items(self) -> Iterable[tuple[tuple[str, str], Decimal]]:
        return self._balances.items()


@dataclass(frozen=True)
class StatementLine:
    at: datetime
    kind: str
    unit: str
    amount: Decimal
    balance: Decimal
    order_id: str | None
    reward_code: str | None
    memo: str
    transaction_id: str


def statement(volunteer_id: str, transactions: Iterable[Transaction]) -> list[StatementLine]:
    """Every movement on a volunteer's accounts, in the order they were posted, with the running balance."""
    account = volunteer_account(volunteer_id)
    running = {unit: Decimal("0.00") for unit in UNITS}
    lines = []
    for t in transactions:
        for unit in UNITS:
            amount = t.amount(account, unit)
            if amount:
                running[unit] += amount
                lines.append(
                    StatementLine(
                        t.at, t.kind, unit, amount, running[unit], t.order_id, t.reward_code, t.memo, t.transaction_id
                    )
                )
    return lines
