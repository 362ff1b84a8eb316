"""volunteer's service layer: load, call the domain, commit. No HTTP and no nameko here."""

from __future__ import annotations

from datetime import UTC, datetime

from gridlink.contracts import Envelope
from volunteer.adapters.repository import VolunteerUnitOfWork
from volunteer.domain.errors import OrderNotFound
from volunteer.domain.model import Order


def create_order(uow: VolunteerUnitOfWork, event: Envelope, now: datetime | None = None) -> None:
    """case_referred_to_volunteers → an order awaiting the centre's review."""
    if uow.orders.by_case(event.payload["case_id"]) is None:
        order = Order.from_case_referral(event.payload, event.correlation_id, now or datetime.now(UTC))
        uow.orders.add(order)
        for event_type, payload in order.events:
            uow.publish(event_type, payload)
    uow.commit()


def get_order(uow: VolunteerUnitOfWork, order_id: str) -> Order:
    with uow:
        order = uow.orders.get(order_id) or uow.orders.by_case(order_id)
    if order is None:
        raise OrderNotFound(f"no order {order_id!r}")
    return order


def list_orders(uow: VolunteerUnitOfWork, limit: int = 100) -> list[Order]:
    with uow:
        return uow.orders.list(limit)
