"""The district's volunteer data as the domain sees it: services, points and timing rules, rewards."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from volunteer.domain.errors import UnknownReward, UnknownService


@dataclass(frozen=True)
class Service:
    code: str
    name: str
    name_en: str
    multiplier: Decimal
    max_hours: Decimal


@dataclass(frozen=True)
class Reward:
    code: str
    name: str
    name_en: str
    points: Decimal
    initial_stock: int


@dataclass(frozen=True)
class PointsRules:
    base_per_hour: Decimal
    rating_bonus: dict[int, Decimal]  # rating → fraction of the service's points added as a bonus


@dataclass(frozen=True)
class Timing:
    accept_within: timedelta  # a volunteer offered an order answers within this
    claim_within: timedelta  # an order opened for claiming (抢单) waits this long before automatic dispatch
    max_dispatch_attempts: int  # offers made automatically before the coordinator must step in
    reminder_before: timedelta
    confirm_before: timedelta  # a volunteer who has not confirmed by then is replaced


@dataclass(frozen=True)
class Catalogue:
    services: dict[str, Service]
    rewards: dict[str, Reward]
    points: PointsRules
    timing: Timing

    def service(self, code: str) -> Service:
        try:
            return self.services[code]
        except KeyError:
            raise UnknownService(f"unknown service {code!r}; one of {', '.join(sorted(self.services))}") from None

    def reward(self, code: str) -> Reward:
        try:
            return self.rewards[code]
        except KeyError:
            raise UnknownReward(f"unknown reward {code!r}") from None
