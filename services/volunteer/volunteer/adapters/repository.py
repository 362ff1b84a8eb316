"""Orders in and out of the database, as domain objects."""

from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from gridlink.runtime.db import UnitOfWork, as_utc
from volunteer.adapters.orm import orders
from volunteer.domain.model import Order

_FIELDS = [c.name for c in orders.columns]


class OrderRepository:
    def __init__(self, session: Session):
        self.session = session

    def add(self, order: Order) -> None:
        self.session.execute(insert(orders).values(**{f: getattr(order, f) for f in _FIELDS}))

    def get(self, order_id: str) -> Order | None:
        return self._one(orders.c.order_id == order_id)

    def by_case(self, case_id: str) -> Order | None:
        return self._one(orders.c.case_id == case_id)

    def list(self, limit: int = 100) -> list[Order]:
        rows = self.session.execute(select(orders).order_by(orders.c.created_at.desc()).limit(limit)).mappings()
        return [_load(r) for r in rows]

    def _one(self, condition) -> Order | None:
        row = self.session.execute(select(orders).where(condition)).mappings().first()
        return _load(row) if row else None


def _load(row) -> Order:
    values = dict(row)
    values["created_at"] = as_utc(values["created_at"])
    return Order(**values)


class VolunteerUnitOfWork(UnitOfWork):
    orders: OrderRepository

    def _open_repositories(self, session: Session) -> None:
        self.orders = OrderRepository(session)
