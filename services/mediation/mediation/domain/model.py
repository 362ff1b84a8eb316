"""The dispute case: one code (一案一码) that survives every referral and transfer."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from mediation.domain.channels import Channel


def new_case_code(now: datetime) -> str:
    return f"MD-{now:%Y%m%d}-{secrets.token_hex(3).upper()}"


@dataclass
class DisputeCase:
    dispute_id: str
    case_code: str
    correlation_id: str
    case_id: str | None
    report_id: str | None
    tracking_code: str | None
    category_code: str
    description: str
    grid_code: str | None
    community_code: str | None
    channel_code: str
    state: str
    opened_at: datetime
    deadline_at: datetime
    events: list[tuple[str, dict]] = field(default_factory=list)

    @classmethod
    def open_from_referral(cls, referral: dict, channel: Channel, correlation_id: str, now: datetime) -> DisputeCase:
        dispute = cls(
            dispute_id=str(uuid.uuid4()),
            case_code=new_case_code(now),
            correlation_id=correlation_id,
            case_id=referral["case_id"],
            report_id=referral["report_id"],
            tracking_code=referral["tracking_code"],
            category_code=referral["category_code"],
            description=referral["description"],
            grid_code=referral["grid_code"],
            community_code=referral["community_code"],
            channel_code=channel.code,
            state="accepted",
            opened_at=now,
            deadline_at=now + timedelta(days=channel.limit_days),
        )
        dispute.events.append(
            (
                "dispute_case_opened",
                {
                    "dispute_id": dispute.dispute_id,
                    "case_code": dispute.case_code,
                    "case_id": dispute.case_id,
                    "category_code": dispute.category_code,
                    "channel_code": dispute.channel_code,
                    "grid_code": dispute.grid_code,
                    "deadline_at": dispute.deadline_at,
                },
            )
        )
        return dispute
