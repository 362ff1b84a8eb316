"""The report aggregate: what a resident (or a patrol, a sensor, a partner) told us, and where it belongs."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime

# Unambiguous for reading aloud on the phone: no 0/O or 1/I.
_TRACKING_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def new_tracking_code(now: datetime) -> str:
    """A code a resident can quote: HB-<yymmdd>-<6 characters>."""
    suffix = "".join(secrets.choice(_TRACKING_ALPHABET) for _ in range(6))
    return f"HB-{now:%y%m%d}-{suffix}"


def mask_phone(phone: str | None) -> str | None:
    """Keep the first 3 and last 4 digits: enough to recognise, not enough to call."""
    if not phone:
        return None
    digits = "".join(ch for ch in phone if ch.isdigit())
    if len(digits) < 7:
        return "****"
    return f"{digits[:3]}****{digits[-4:]}"


@dataclass(frozen=True)
class Placement:
    grid_code: str
    community_code: str
    sub_centre_code: str
    lat: float
    long: float
    address: str | None


@dataclass
class Report:
    report_id: str
    tracking_code: str
    channel: str
    category_code: str
    category_kind: str
    urgency: str
    description: str
    placement: Placement
    reporter_name: str | None
    reporter_phone: str | None
    submitted_at: datetime
    status: str = "accepted"
    events: list[tuple[str, dict]] = field(default_factory=list)

    @classmethod
    def accept(
        cls,
        *,
        channel: str,
        category: object,
        description: str,
        placement: Placement,
        reporter_name: str | None,
        reporter_phone: str | None,
        now: datetime,
    ) -> Report:
        report = cls(
            report_id=str(uuid.uuid4()),
            tracking_code=new_tracking_code(now),
            channel=channel,
            category_code=category.code,
            category_kind=category.kind,
            urgency=category.urgency,
            description=description,
            placement=placement,
            reporter_name=reporter_name,
            reporter_phone=reporter_phone,
            submitted_at=now,
        )
        report.events.append(("report_accepted", report.accepted_payload()))
        return report

    def accepted_payload(self) -> dict:
        p = self.placement
        return {
            "report_id": self.report_id,
            "tracking_code": self.tracking_code,
            "channel": self.channel,
            "category_code": self.category_code,
            "category_kind": self.category_kind,
            "urgency": self.urgency,
            "description": self.description,
            "grid_code": p.grid_code,
            "community_code": p.community_code,
            "sub_centre_code": p.sub_centre_code,
            "lat": p.lat,
            "long": p.long,
            "address": p.address,
            "reporter_phone_masked": mask_phone(self.reporter_phone),
            "submitted_at": self.submitted_at,
        }
