"""Open311 GeoReport v2 in the domain's terms: typed service attributes, and the public status a report shows,
projected from dispatch's case lifecycle (open/closed, notes, the agency responsible, the expected time)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from intake.domain.errors import InvalidAttributes

DATATYPES = ("string", "number", "datetime", "text", "singlevaluelist", "multivaluelist")
MAX_RANGE_DAYS = 90


@dataclass(frozen=True)
class ServiceAttribute:
    code: str
    datatype: str
    required: bool
    variable: bool
    order: int
    description: str
    datatype_description: str | None = None
    values: tuple[tuple[str, str], ...] = ()  # (key, name) for the list types


def check_attributes(definitions: list[ServiceAttribute], given: dict[str, list[str]]) -> dict[str, object]:
    """Answers that fit their definitions, typed (a number as float, a multi-value list as a list); anything else
    raises InvalidAttributes naming each attribute that is wrong and why."""
    by_code = {a.code: a for a in definitions}
    errors: dict[str, str] = {}
    clean: dict[str, object] = {}
    for code, values in given.items():
        name = f"attribute[{code}]"
        definition = by_code.get(code)
        if definition is None or not definition.variable:
            errors[name] = "not an attribute of this service"
            continue
        values = [v.strip() for v in values if v.strip()]
        if not values:
            continue
        if definition.datatype != "multivaluelist" and len(values) > 1:
            errors[name] = "takes one value"
            continue
        try:
            clean[code] = _typed(definition, values)
        except ValueError as exc:
            errors[name] = str(exc)
    for definition in definitions:
        if definition.variable and definition.required and definition.code not in clean:
            errors.setdefault(f"attribute[{definition.code}]", "is required")
    if errors:
        raise InvalidAttributes(errors)
    return clean


def _typed(definition: ServiceAttribute, values: list[str]) -> object:
    value = values[0]
    kind = definition.datatype
    if kind == "number":
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a number") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError(f"{value!r} is not a finite number")
        return number
    if kind == "datetime":
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO 8601 date-time") from None
        if moment.tzinfo is None:
            raise ValueError(f"{value!r} needs a time zone")
        return moment.isoformat()
    if kind in ("singlevaluelist", "multivaluelist"):
        keys = {key for key, _ in definition.values}
        wrong = [v for v in values if v not in keys]
        if wrong:
            raise ValueError(f"{', '.join(wrong)} not among {', '.join(sorted(keys))}")
        return values if kind == "multivaluelist" else value
    limit = 200 if kind == "string" else 4000
    if len(value) > limit:
        raise ValueError(f"longer than {limit} characters")
    return value


@dataclass(frozen=True)
class StatusChange:
    """One step of a case as the public sees it; `agency` and `expected_at` are None when the step leaves them."""

    status: str  # open or closed
    notes: str
    agency_unit: str | None = None
    expected_at: datetime | None = None


@dataclass(frozen=True)
class PublicProgress:
    """A report's public status as stored, and `lifecycle_at`: when the step it shows happened."""

    status: str
    notes: str | None
    agency_unit: str | None
    expected_at: datetime | None
    lifecycle_at: datetime | None
    updated_at: datetime | None


def progress_after(current: PublicProgress, steps: list[tuple[datetime, StatusChange]]) -> PublicProgress | None:
    """The status after `steps` (when each happened, what it shows), None when none of them moves it on.

    Steps are taken in the order they happened, whatever order they arrived in, and a step older than the one
    shown is passed over (events may arrive out of order). So a batch of a case's events shows what they would
    have shown had each arrived alone and in order.
    """
    moved = False
    for at, change in sorted(steps, key=lambda step: step[0]):
        if current.lifecycle_at is not None and at < current.lifecycle_at:
            continue
        expected_at = current.expected_at
        if change.expected_at is not None or change.status == "closed":
            expected_at = change.expected_at
        current = PublicProgress(
            status=change.status,
            notes=change.notes,
            agency_unit=change.agency_unit if change.agency_unit is not None else current.agency_unit,
            expected_at=expected_at,
            lifecycle_at=at,
            updated_at=at,
        )
        moved = True
    return current if moved else None


def status_change(event_type: str, payload: dict, unit_name: str) -> StatusChange | None:
    """What a dispatch event means for the report's public status; None for events the public does not see."""
    if event_type == "case_assigned":
        return StatusChange("open", f"已派遣至{unit_name}办理", payload["unit_code"], payload["deadline_at"])
    if event_type == "case_accepted":
        return StatusChange("open", f"{unit_name}已签收，正在办理", payload["unit_code"], payload["deadline_at"])
    if event_type == "case_returned":
        return StatusChange("open", "承办单位退回，正在重新派遣", None, None)
    if event_type == "case_escalated":
        return StatusChange("open", f"已上报至{unit_name}协调办理", payload["unit_code"], payload["deadline_at"])
    if event_type == "case_resolved":
        return StatusChange("closed", f"已办结：{payload['resolution']}", payload["unit_code"], None)
    if event_type == "case_closed":
        return StatusChange("closed", "已结案", payload["unit_code"], None)
    return None
