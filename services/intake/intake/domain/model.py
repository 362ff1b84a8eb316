"""The report aggregate: what a resident (or a patrol, a sensor, a partner) told us, and where it belongs."""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime

# Unambiguous for reading aloud on the phone: no 0/O or 1/I.
_TRACKING_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
# Mainland mobile numbers and landlines with an area code, as people type them into free text.
# 18-character resident ID: 6-digit region, birth date 19xx/20xx, 3-digit sequence, check digit (0-9 or X).
_ID_NUMBER_IN_TEXT = re.compile(
    r"(?<![0-9A-Za-z])[1-9]\d{5}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![0-9A-Za-z])"
)
_PHONE_IN_TEXT = re.compile(r"(?<!\d)(1[3-9]\d[ -]?\d{4}[ -]?\d{4}|0\d{2,3}-?\d{7,8})(?!\d)")


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


def redact_personal(text: str | None) -> str | None:
    """Residents often type their phone or ID-card number (身份证号) into the description: public answers and
    events show the phone masked and the ID number reduced to its last four characters."""
    if not text:
        return text
    text = _ID_NUMBER_IN_TEXT.sub(lambda m: "*" * 14 + m.group(0)[-4:], text)
    return _PHONE_IN_TEXT.sub(lambda m: mask_phone(m.group(0)) or "****", text)


def reporter_recipient(report_id: str) -> str:
    """How notification knows a report's reporter (never their name or number)."""
    return f"reporter:{report_id}"


@dataclass(frozen=True)
class Placement:
    grid_code: str
    community_code: str
    sub_centre_code: str
    lat: float
    long: float
    address: str | None
    address_id: str | None = None

    def located(self) -> dict:
        """Where the report is, as the event, the API and the table all name it."""
        return {
            "grid_code": self.grid_code,
            "community_code": self.community_code,
            "sub_centre_code": self.sub_centre_code,
            "lat": self.lat,
            "long": self.long,
            "address": self.address,
        }


@dataclass(frozen=True)
class Reporter:
    """Who reported, kept inside intake. Every field may be empty: anonymous reports are allowed."""

    name: str | None = None
    phone: str | None = None
    email: str | None = None
    wechat_openid: str | None = None
    role: str | None = None  # for staff channels: the reporter's role (grid worker, hotline operator…)

    @property
    def reachable(self) -> bool:
        return bool(self.phone or self.email or self.wechat_openid)


@dataclass(frozen=True)
class Classification:
    """What the report is about, and how sure we are; below the threshold a person at the receiving tier triages it."""

    category_code: str
    confidence: float
    needs_triage: bool
    matched: tuple[str, ...] = ()


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
    status: str = "accepted"  # accepted, or merged into an earlier open report (duplicate_of)
    reporter_email: str | None = None
    reporter_wechat: str | None = None
    reporter_role: str | None = None
    confidence: float = 1.0
    needs_triage: bool = False
    media_urls: tuple[str, ...] = ()
    involved: dict = field(default_factory=dict)  # 人、地、物: people, places, things
    attributes: dict = field(default_factory=dict)  # Open311 attribute[code] answers
    client: str | None = None  # the API client or device that sent it
    duplicate_of: str | None = None
    co_reporters: int = 0
    alarm_count: int = 0
    # the public face of dispatch's case lifecycle (Open311 status), kept as intake's own read model
    public_status: str = "open"
    status_notes: str | None = None
    agency_unit: str | None = None
    expected_at: datetime | None = None
    updated_at: datetime | None = None
    events: list[tuple[str, dict]] = field(default_factory=list)

    @classmethod
    def accept(
        cls,
        *,
        channel: str,
        category: object,
        description: str,
        placement: Placement,
        reporter_name: str | None = None,
        reporter_phone: str | None = None,
        now: datetime,
        reporter: Reporter | None = None,
        classification: Classification | None = None,
        urgency: str | None = None,
        media_urls: tuple[str, ...] = (),
        involved: dict | None = None,
        attributes: dict | None = None,
        client: str | None = None,
    ) -> Report:
        reporter = reporter or Reporter(name=reporter_name, phone=reporter_phone)
        report = cls(
            report_id=str(uuid.uuid4()),
            tracking_code=new_tracking_code(now),
            channel=channel,
            category_code=category.code,
            category_kind=category.kind,
            urgency=urgency or category.urgency,
            description=description,
            placement=placement,
            reporter_name=reporter.name,
            reporter_phone=reporter.phone,
            reporter_email=reporter.email,
            reporter_wechat=reporter.wechat_openid,
            reporter_role=reporter.role,
            submitted_at=now,
            confidence=classification.confidence if classification else 1.0,
            needs_triage=classification.needs_triage if classification else False,
            media_urls=tuple(media_urls),
            involved=involved or {},
            attributes=attributes or {},
            client=client,
        )
        report.events.append(("report_accepted", report.accepted_payload()))
        report._register_contact()
        return report

    def merge_into(self, original: Report) -> None:
        """This report repeats `original` (same category, near, recent): link it instead of opening a second case."""
        self.status = "merged"
        self.duplicate_of = original.report_id
        original.co_reporters += 1
        self.events = [("report_merged", self.merged_payload(original))]
        self._register_contact()

    def _register_contact(self) -> None:
        if not (self.reporter_phone or self.reporter_email or self.reporter_wechat):
            return
        self.events.append(
            (
                "reporter_contact_registered",
                {
                    "recipient_id": reporter_recipient(self.report_id),
                    "report_id": self.report_id,
                    "tracking_code": self.tracking_code,
                    "name": self.reporter_name,
                    "phone": self.reporter_phone,
                    "email": self.reporter_email,
                    "wechat_openid": self.reporter_wechat,
                },
            )
        )

    @property
    def reporter_ref(self) -> str | None:
        reachable = self.reporter_phone or self.reporter_email or self.reporter_wechat
        return reporter_recipient(self.report_id) if reachable else None

    def accepted_payload(self) -> dict:
        p = self.placement
        return {
            "report_id": self.report_id,
            "tracking_code": self.tracking_code,
            "channel": self.channel,
            "category_code": self.category_code,
            "category_kind": self.category_kind,
            "urgency": self.urgency,
            # a number typed into the text leaves intake masked, like the reporter's own
            "description": redact_personal(self.description),
            **p.located(),
            "reporter_phone_masked": mask_phone(self.reporter_phone),
            "submitted_at": self.submitted_at,
            "reporter_ref": self.reporter_ref,
            "reporter_role": self.reporter_role,
            "classification_confidence": round(self.confidence, 3),
            "needs_triage": self.needs_triage,
            "photo_urls": list(self.media_urls),
        }

    def merged_payload(self, original: Report) -> dict:
        return {
            "report_id": self.report_id,
            "tracking_code": self.tracking_code,
            "original_report_id": original.report_id,
            "original_tracking_code": original.tracking_code,
            "channel": self.channel,
            "category_code": self.category_code,
            "grid_code": self.placement.grid_code,
            "co_reporters": original.co_reporters,
            "reporter_phone_masked": mask_phone(self.reporter_phone),
            "reporter_ref": self.reporter_ref,
            "submitted_at": self.submitted_at,
        }
