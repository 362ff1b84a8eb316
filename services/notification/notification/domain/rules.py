"""Which events become messages, for whom, on which channels and how urgently: read from data, not code paths."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from notification.domain.errors import RulesError

PRIORITIES = ("low", "normal", "high", "urgent")
CHANNELS = ("inbox", "sms", "wechat", "wecom", "push", "email", "webhook", "file")


@dataclass(frozen=True)
class RecipientSpec:
    field: str | None = None  # a payload field holding one recipient id or a list of them
    format: str | None = None  # a recipient id built from payload fields, e.g. "reporter:{report_id}"
    otherwise: str | None = None  # used when `field` is empty, e.g. "unit:{unit_code}"

    def resolve(self, payload: dict[str, Any]) -> list[str]:
        if self.format:
            return [_fill(self.format, payload)]
        value = payload.get(self.field) if self.field else None
        if isinstance(value, list | tuple):
            return [str(v) for v in value if v]
        if value:
            return [str(value)]
        return [_fill(self.otherwise, payload)] if self.otherwise else []


@dataclass(frozen=True)
class Deferral:
    """Send at `minutes_before` the datetime in `field` (a reminder) rather than at once."""

    field: str
    minutes_before: int

    def due(self, payload: dict[str, Any]) -> datetime | None:
        value = payload.get(self.field)
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value - timedelta(minutes=self.minutes_before) if isinstance(value, datetime) else None


@dataclass(frozen=True)
class Rule:
    index: int
    source: str
    event: str
    template: str
    category: str
    priority: str
    recipients: tuple[RecipientSpec, ...]
    channels: tuple[str, ...]
    priority_by: tuple[str, dict[str, str]] | None = None
    when: dict[str, tuple[str, ...]] = field(default_factory=dict)
    at: Deferral | None = None

    def applies_to(self, payload: dict[str, Any]) -> bool:
        return all(str(payload.get(name)) in allowed for name, allowed in self.when.items())

    def recipients_of(self, payload: dict[str, Any]) -> list[str]:
        found: list[str] = []
        for spec in self.recipients:
            found += spec.resolve(payload)
        return list(dict.fromkeys(found))  # one message per person, however often the event names them

    def priority_of(self, payload: dict[str, Any]) -> str:
        if self.priority_by:
            name, values = self.priority_by
            return values.get(str(payload.get(name)), self.priority)
        return self.priority


@dataclass(frozen=True)
class RuleBook:
    rules: tuple[Rule, ...]
    categories: dict[str, str]
    policy: dict[str, Any]

    def for_event(self, source: str, event_type: str) -> list[Rule]:
        return [r for r in self.rules if r.source == source and r.event == event_type]

    def subscriptions(self) -> list[tuple[str, str]]:
        """Every (source, event type) some rule listens to, in the order first named."""
        return list(dict.fromkeys((r.source, r.event) for r in self.rules))


def load_rules(data: dict[str, Any]) -> RuleBook:
    """Build the rule book from the parsed rules file; any mistake names the rule it is in."""
    categories = dict(data.get("categories", {}))
    rules = []
    for index, raw in enumerate(data.get("rules", [])):
        where = f"rule {index} ({raw.get('source')}/{raw.get('event')})"
        try:
            rule = _rule(index, raw)
        except (KeyError, TypeError, ValueError) as exc:
            raise RulesError(f"{where}: {exc}") from exc
        if rule.priority not in PRIORITIES:
            raise RulesError(f"{where}: priority {rule.priority!r} is not one of {', '.join(PRIORITIES)}")
        unknown = set(rule.channels) - set(CHANNELS)
        if unknown:
            raise RulesError(f"{where}: unknown channels {sorted(unknown)}")
        if rule.category not in categories:
            raise RulesError(f"{where}: category {rule.category!r} is not declared")
        rules.append(rule)
    return RuleBook(tuple(rules), categories, dict(data.get("policy", {})))


def _rule(index: int, raw: dict[str, Any]) -> Rule:
    priority_by = None
    if "priority_by" in raw:
        priority_by = (raw["priority_by"]["field"], dict(raw["priority_by"]["values"]))
    at = Deferral(raw["at"]["field"], int(raw["at"]["minutes_before"])) if "at" in raw else None
    if not raw["recipients"]:
        raise ValueError("names no recipients")
    return Rule(
        index=index,
        source=raw["source"],
        event=raw["event"],
        template=raw["template"],
        category=raw["category"],
        priority=raw.get("priority", "normal"),
        recipients=tuple(RecipientSpec(**spec) for spec in raw["recipients"]),
        channels=tuple(raw["channels"]),
        priority_by=priority_by,
        when={k: tuple(str(v) for v in vs) for k, vs in raw.get("when", {}).items()},
        at=at,
    )


def _fill(pattern: str, payload: dict[str, Any]) -> str:
    try:
        return pattern.format_map(payload)
    except KeyError as exc:
        raise RulesError(f"recipient pattern {pattern!r} needs payload field {exc}") from None
