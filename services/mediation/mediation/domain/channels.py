"""Channels as data: who may use each channel, its time limits, extension caps, and where disputes start.

Every figure comes from the district's `mediation_channels.json` (defaults: shared/design/mediation-law.md), so a
district corrects a limit in its data file, not in code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from mediation.domain.deadlines import Period
from mediation.domain.errors import NotEligible, UnknownChannel

APPROVALS = ("all_parties", "director")
CHANNELS_FILE = "mediation_channels.json"


@dataclass(frozen=True)
class Eligibility:
    dispute_types: frozenset[str]
    max_amount_yuan: Decimal | None = None
    limitation_days: int | None = None  # how long after the party knew of the matter it may still be brought

    def check(self, channel_code: str, dispute_type: str, amount: Decimal | None, known_on: date | None, today: date):
        if dispute_type not in self.dispute_types:
            raise NotEligible(f"{channel_code} does not take {dispute_type} disputes")
        if self.max_amount_yuan is not None and amount is not None and amount > self.max_amount_yuan:
            raise NotEligible(f"{channel_code} takes disputes up to {self.max_amount_yuan} yuan, not {amount}")
        if self.limitation_days is not None and known_on is not None and (today - known_on).days > self.limitation_days:
            raise NotEligible(
                f"{channel_code}: the limitation period of {self.limitation_days} days from {known_on} has passed"
            )


@dataclass(frozen=True)
class ExtensionRule:
    max_times: int
    max_days: int
    approval: str


@dataclass(frozen=True)
class Channel:
    code: str
    name: str
    limit_days: int
    limit_unit: str = "calendar"
    partner: str | None = None  # a partner department's code when the channel runs in its own system
    room_code: str | None = None
    respond: Period | None = None  # how long a partner has to accept or decline a referral
    extension: ExtensionRule | None = None
    warn_before_days: int = 3
    eligibility: Eligibility = field(default_factory=lambda: Eligibility(frozenset()))

    @property
    def limit(self) -> Period:
        return Period(self.limit_days, self.limit_unit)


@dataclass(frozen=True)
class Mediator:
    mediator_id: str
    name: str
    channels: frozenset[str]


@dataclass(frozen=True)
class Catalogue:
    channels: dict[str, Channel]
    default_channel: str
    first_channel_by_category: dict[str, str]
    dispute_type_by_category: dict[str, str]
    dispute_types: tuple[str, ...]
    partners: dict[str, str]
    mediators: dict[str, Mediator]
    online_room: str
    slot_minutes: int

    def channel(self, code: str) -> Channel:
        try:
            return self.channels[code]
        except KeyError:
            raise UnknownChannel(f"no channel {code!r}; one of {', '.join(sorted(self.channels))}") from None

    def first_channel(self, category_code: str) -> Channel:
        return self.channel(self.first_channel_by_category.get(category_code, self.default_channel))

    def dispute_type_of(self, category_code: str) -> str:
        return self.dispute_type_by_category.get(category_code, "other")

    def channels_of_partner(self, partner: str) -> list[str]:
        return [c.code for c in self.channels.values() if c.partner == partner]


def _period(raw: dict | None) -> Period | None:
    return Period(int(raw["days"]), raw.get("unit", "calendar")) if raw else None


def _channel(raw: dict[str, Any]) -> Channel:
    rules = raw["eligibility"]
    extension = raw.get("extension")
    if extension and extension["approval"] not in APPROVALS:
        raise ValueError(f"{raw['code']}: extension approval must be one of {APPROVALS}")
    limit = _period(raw["limit"])
    return Channel(
        code=raw["code"],
        name=raw["name"],
        limit_days=limit.days,
        limit_unit=limit.unit,
        partner=raw.get("partner"),
        room_code=raw.get("room_code"),
        respond=_period(raw.get("respond")),
        extension=ExtensionRule(int(extension["max_times"]), int(extension["max_days"]), extension["approval"])
        if extension
        else None,
        warn_before_days=int(raw.get("warn_before_days", 3)),
        eligibility=Eligibility(
            frozenset(rules["dispute_types"]),
            Decimal(str(rules["max_amount_yuan"])) if rules.get("max_amount_yuan") is not None else None,
            rules.get("limitation_days"),
        ),
    )


def parse_catalogue(data: dict[str, Any]) -> Catalogue:
    """The channel catalogue from the parsed data file; every cross-reference is checked."""
    channels = {c.code: c for c in (_channel(raw) for raw in data["channels"])}
    partners = {p["code"]: p["name"] for p in data["partners"]}
    mediators = {
        m["mediator_id"]: Mediator(m["mediator_id"], m["name"], frozenset(m["channels"])) for m in data["mediators"]
    }
    catalogue = Catalogue(
        channels=channels,
        default_channel=data["default_channel"],
        first_channel_by_category=dict(data["first_channel_by_category"]),
        dispute_type_by_category=dict(data["dispute_type_by_category"]),
        dispute_types=tuple(data["dispute_types"]),
        partners=partners,
        mediators=mediators,
        online_room=data["online_room"],
        slot_minutes=int(data["slot_minutes"]),
    )
    for code in [catalogue.default_channel, *catalogue.first_channel_by_category.values()]:
        catalogue.channel(code)
    for channel in channels.values():
        if channel.partner and channel.partner not in partners:
            raise ValueError(f"channel {channel.code}: unknown partner {channel.partner!r}")
        if not channel.eligibility.dispute_types <= set(catalogue.dispute_types):
            raise ValueError(f"channel {channel.code}: unknown dispute types")
    for mediator in mediators.values():
        for code in mediator.channels:
            catalogue.channel(code)
    return catalogue


@lru_cache(maxsize=1)
def default_catalogue() -> Catalogue:
    """The shipped district's catalogue, for callers that are given none (tools, tests)."""
    from gridlink.refdata.reading import DEFAULT_DATA_DIR, read_json

    return parse_catalogue(read_json(DEFAULT_DATA_DIR / CHANNELS_FILE))


def first_channel(category_code: str, catalogue: Catalogue | None = None) -> Channel:
    return (catalogue or default_catalogue()).first_channel(category_code)


def today_local(now: datetime) -> date:
    from mediation.domain.deadlines import CST

    return now.astimezone(CST).date()
