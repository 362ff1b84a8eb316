"""notification's part of the district data: the event rules, the templates and the staff's addresses."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gridlink.refdata import load_staff
from gridlink.refdata.reading import read_json
from notification.domain.errors import RulesError
from notification.domain.model import Contact
from notification.domain.policy import Policy
from notification.domain.rules import RuleBook, load_rules
from notification.domain.templates import TemplateBook, load_templates

RULES_FILE = "notification-rules.json"
TEMPLATES_FILE = "notification-templates.json"


@dataclass(frozen=True)
class NotificationReference:
    rules: RuleBook
    templates: TemplateBook
    policy: Policy
    staff: dict[str, Contact]


def load_reference(data_dir: Path) -> NotificationReference:
    rules = load_rules(read_json(Path(data_dir) / RULES_FILE))
    templates = load_templates(read_json(Path(data_dir) / TEMPLATES_FILE))
    missing = sorted({r.template for r in rules.rules} - set(templates.templates))
    if missing or "digest" not in templates.templates:
        raise RulesError(f"{RULES_FILE} names templates that {TEMPLATES_FILE} lacks: {missing or ['digest']}")
    staff = {
        s.staff_id: Contact(s.staff_id, name=s.name, phone=s.phone or None, email=s.email or None)
        for s in load_staff(Path(data_dir))
    }
    return NotificationReference(rules, templates, Policy.from_data(rules.policy), staff)
