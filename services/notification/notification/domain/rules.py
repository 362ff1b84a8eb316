"""Which events become messages, for whom, with which template: data, not code paths."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    event_type: str
    template_code: str
    recipient_field: str  # the payload field that names the recipient
    channel: str = "inbox"


RULES = [Rule("case_assigned", "case_assigned", "assignee_id")]


def rules_for(event_type: str) -> list[Rule]:
    return [rule for rule in RULES if rule.event_type == event_type]
