"""Message templates, in Chinese, with variables and per-channel length limits; the texts themselves are data."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import Any

from notification.domain.errors import TemplateError, UnknownTemplate

CST = timezone(timedelta(hours=8), "CST")
ELLIPSIS = "…"


@dataclass(frozen=True)
class Template:
    code: str
    title: str
    text: str
    per_channel: dict[str, str] = field(default_factory=dict)

    def text_for(self, channel: str) -> str:
        return self.per_channel.get(channel, self.text)

    @cached_property
    def names(self) -> frozenset[str]:
        """The variables its texts name; a malformed text is refused (`TemplateError`)."""
        return frozenset(
            n for text in (self.title, self.text, *self.per_channel.values()) for n in _names(self.code, text)
        )


@dataclass(frozen=True)
class Rendered:
    title: str
    body: str


@dataclass(frozen=True)
class TemplateBook:
    templates: dict[str, Template]
    limits: dict[str, int]
    labels: dict[str, dict[str, str]]

    def variables(self, payload: dict[str, Any], names: frozenset[str] | None = None) -> dict[str, str]:
        """The payload as text: datetimes in Beijing time, labels for coded fields, and a few derived values; only
        those in `names` when given. An event carries a score of fields and a template uses two or three, and the
        rest (datetimes above all) cost more to write out than the message itself, once per channel."""
        values: dict[str, str] = {}
        for name, value in payload.items():
            if names is None or name in names:
                values[name] = _text(value)
        for name, labels in self.labels.items():
            if name in payload and (names is None or f"{name}_label" in names):
                values[f"{name}_label"] = labels.get(str(payload[name]), str(payload[name]))
        if "online" in payload and (names is None or "place" in names):
            values["place"] = "线上视频调解" if payload["online"] else (payload.get("room_code") or "另行通知")
        return values

    def render(self, code: str, channel: str, payload: dict[str, Any]) -> Rendered:
        template = self.templates.get(code)
        if template is None:
            raise UnknownTemplate(f"no template {code!r}")
        values = self.variables(payload, template.names)
        title = _format(template.code, template.title, values)
        body = _format(template.code, template.text_for(channel), values)
        return Rendered(title, clip(body, self.limits.get(channel)))


def clip(text: str, limit: int | None) -> str:
    """Keep a text within a channel's limit, marking the cut so that nobody mistakes it for the whole message."""
    if limit is None or len(text) <= limit:
        return text
    return text[: limit - 1] + ELLIPSIS


def load_templates(data: dict[str, Any]) -> TemplateBook:
    templates = {}
    for code, raw in data.get("templates", {}).items():
        if "text" not in raw:
            raise TemplateError(f"template {code!r} has no text")
        per_channel = {k: v for k, v in raw.items() if k not in ("title", "text")}
        template = Template(code, raw.get("title", ""), raw["text"], per_channel)
        _ = template.names  # a malformed text is refused when the templates load, not at the first message
        templates[code] = template
    return TemplateBook(templates, {k: int(v) for k, v in data.get("limits", {}).items()}, data.get("labels", {}))


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(CST).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == "T":
        try:  # a datetime as the wire carries it, before the contract loads it
            return _text(datetime.fromisoformat(value))
        except ValueError:
            return value
    return str(value)


def _format(code: str, text: str, values: dict[str, str]) -> str:
    try:
        return text.format_map(values)
    except KeyError as exc:
        raise TemplateError(f"template {code!r} needs {exc.args[0]!r}, which the event does not carry") from None


def _names(code: str, text: str) -> list[str]:
    """The variables a text names (`{deadline_at}`, `{a.b}` or `{a[0]}` by their first part, and those nested in a
    format spec, as in `{x:{width}}`), refusing a malformed text."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise TemplateError(f"template {code!r} is malformed: {exc}") from None
    names = []
    for _, name, spec, _ in parsed:
        if name is not None:
            names.append(re.split(r"[.\[]", name, maxsplit=1)[0])
        if spec and "{" in spec:
            names.extend(_names(code, spec))
    return names
