"""The order aggregate: a resident's request for volunteer service, from review to rating."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class Order:
    order_id: str
    correlation_id: str
    case_id: str | None
    report_id: str | None
    tracking_code: str | None
    service_code: str
    description: str
    grid_code: str
    community_code: str
    status: str
    created_at: datetime
    events: list[tuple[str, dict]] = field(default_factory=list)

    @classmethod
    def from_case_referral(cls, referral: dict, correlation_id: str, now: datetime) -> Order:
        """A referral from dispatch is an order like a resident's own: it waits for the centre's review."""
        order = cls(
            order_id=str(uuid.uuid4()),
            correlation_id=correlation_id,
            case_id=referral["case_id"],
            report_id=referral["report_id"],
            tracking_code=referral["tracking_code"],
            service_code=referral["service_code"],
            description=referral["description"],
            grid_code=referral["grid_code"],
            community_code=referral["community_code"],
            status="pending_review",
            created_at=now,
        )
        order.events.append(
            (
                "order_created",
                {
                    "order_id": order.order_id,
                    "case_id": order.case_id,
                    "service_code": order.service_code,
                    "grid_code": order.grid_code,
                    "status": order.status,
                },
            )
        )
        return order
