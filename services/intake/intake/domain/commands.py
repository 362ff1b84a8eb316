"""What intake is asked to do."""

from dataclasses import dataclass


@dataclass(frozen=True)
class SubmitReport:
    channel: str
    category_code: str
    description: str
    lat: float | None = None
    long: float | None = None
    address_id: str | None = None
    address: str | None = None
    reporter_name: str | None = None
    reporter_phone: str | None = None
