"""Message templates, in Chinese, with the variables each needs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from notification.domain.errors import UnknownTemplate

CST = timezone(timedelta(hours=8), "CST")

URGENCY_LABELS = {"low": "一般", "normal": "普通", "high": "紧急", "critical": "特急"}


@dataclass(frozen=True)
class Template:
    code: str
    text: str


TEMPLATES = {
    "case_assigned": Template(
        "case_assigned",
        "【网格通】您有新的网格案件 {tracking_code}（{urgency_label}）：{summary}。请于 {deadline} 前办结。",
    ),
}


def render(template_code: str, variables: dict) -> str:
    template = TEMPLATES.get(template_code)
    if template is None:
        raise UnknownTemplate(f"no template {template_code!r}")
    values = dict(variables)
    values.setdefault("urgency_label", URGENCY_LABELS.get(values.get("urgency", ""), ""))
    deadline = values.get("deadline_at")
    if isinstance(deadline, datetime):
        values["deadline"] = deadline.astimezone(CST).strftime("%Y-%m-%d %H:%M")
    return template.text.format_map(values)
