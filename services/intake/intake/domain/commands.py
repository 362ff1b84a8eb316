"""What intake is asked to do."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from intake.domain.model import Reporter


@dataclass(frozen=True)
class SubmitReport:
    channel: str
    category_code: str | None  # None: classified from the description
    description: str
    lat: float | None = None
    long: float | None = None
    address_id: str | None = None
    address: str | None = None
    reporter_name: str | None = None
    reporter_phone: str | None = None
    reporter: Reporter | None = None
    urgency: str | None = None  # what the reporter asked for; the text and category may raise it
    media_urls: tuple[str, ...] = ()
    involved: dict = field(default_factory=dict)
    attributes: dict[str, list[str]] | None = None  # raw Open311 answers, checked against the service definition
    client: str | None = None
    scope_unit: str | None = None  # a staff reporter's organisation unit: the grid must lie inside it
    link_duplicates: bool = True  # link a repeat to its open original instead of opening a second case


@dataclass(frozen=True)
class ReceiveAlarm:
    device_id: str
    alarm_id: str
    alarm_type: str
    occurred_at: datetime
    description: str | None = None
