"""IoT sensors of the smart fire-safety community: who may send alarms, what each alarm means, and folding a
burst of repeated alarms of one device and type into one report."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from intake.domain.errors import UnknownAlarmType, UnknownDevice


@dataclass(frozen=True)
class AlarmType:
    category_code: str
    fold_window: timedelta
    urgency: str | None = None


@dataclass(frozen=True)
class Device:
    device_id: str
    type: str
    lat: float
    long: float
    address_id: str | None
    key_sha256: str


@dataclass(frozen=True)
class Sensors:
    devices: dict[str, Device]
    alarm_types: dict[str, dict[str, AlarmType]]  # device type -> alarm type -> meaning

    def authenticate(self, device_id: str | None, key: str | None) -> Device:
        device = self.devices.get(device_id or "")
        digest = hashlib.sha256((key or "").encode()).hexdigest()
        # compare in constant time, and give the same answer for an unknown device as for a wrong key
        if device is None or not hmac.compare_digest(digest, device.key_sha256):
            raise UnknownDevice("unknown device or wrong device key")
        return device

    def meaning(self, device: Device, alarm_type: str) -> AlarmType:
        known = self.alarm_types.get(device.type, {})
        if alarm_type not in known:
            raise UnknownAlarmType(f"a {device.type} sends {', '.join(sorted(known))}, not {alarm_type!r}")
        return known[alarm_type]


def folds_into(previous: tuple[datetime, str] | None, occurred_at: datetime, window: timedelta) -> str | None:
    """The report an alarm joins: that of the device's previous alarm of the same type, when it came within the
    window before this one. The window slides, so a sensor that keeps alarming stays one report."""
    if previous is None:
        return None
    last_at, report_id = previous
    return report_id if timedelta(0) <= occurred_at - last_at <= window else None
