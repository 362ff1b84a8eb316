"""A case as the command centre sees it: every recorded event of one correlation_id, folded into one summary.

The summary is the fold of all the events of its correlation_id in the order they happened (`occurred_at`), so the
events may arrive in any order, twice, or late, and the summary is the same. An event that happened after every
event already folded is folded into the stored summary alone (`advance`); only one that arrives out of order, or
that needs what the summary does not keep, makes the case refold from all its events (`project`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from console.domain.messages import CaseMessages

OPEN_STATES = (
    "reported", "assigned", "accepted", "in_progress", "returned", "escalated", "suspended", "transferred", "reopened"
)  # fmt: skip
DONE_STATES = ("resolved", "evaluated", "closed")
SATISFIED = ("satisfied", "basically_satisfied")

# Every event the console consumes, as (source, type): the subscription table of the service. A case's messages
# are notification's to tell: the case view reads them from it (console.adapters.notification) instead of
# recording each `message_sent`; a failure (`message_failed`) is still an event on the case's history.
CONSUMED: tuple[tuple[str, str], ...] = (
    ("intake", "report_accepted"),
    ("dispatch", "case_assigned"),
    ("dispatch", "case_accepted"),
    ("dispatch", "case_returned"),
    ("dispatch", "case_escalated"),
    ("dispatch", "case_due_soon"),
    ("dispatch", "case_overdue"),
    ("dispatch", "case_resolved"),
    ("dispatch", "case_evaluated"),
    ("dispatch", "case_closed"),
    ("dispatch", "case_started"),
    ("dispatch", "case_suspended"),
    ("dispatch", "case_resumed"),
    ("dispatch", "case_transferred"),
    ("dispatch", "case_supervised"),
    ("dispatch", "case_reopened"),
    ("dispatch", "case_referred_to_mediation"),
    ("dispatch", "case_referred_to_volunteers"),
    ("mediation", "dispute_case_opened"),
    ("mediation", "session_scheduled"),
    ("mediation", "agreement_reached"),
    ("mediation", "mediation_failed"),
    ("mediation", "mediation_transferred"),
    ("volunteer", "order_created"),
    ("volunteer", "order_dispatched"),
    ("volunteer", "order_completed"),
    ("volunteer", "order_rated"),
    ("notification", "message_failed"),
)


@dataclass(frozen=True)
class RecordedEvent:
    """One consumed event as the console keeps it; `seq` orders the live board and resumes a browser's stream
    (None while the event is being recorded: the database numbers it as it stores it)."""

    seq: int | None
    event_id: str
    type: str
    source: str
    correlation_id: str
    occurred_at: datetime
    payload: dict[str, Any]
    grid_code: str | None = None


@dataclass
class CaseSummary:
    correlation_id: str
    report_id: str | None = None
    tracking_code: str | None = None
    case_id: str | None = None
    category_code: str | None = None
    category_kind: str | None = None
    urgency: str | None = None
    channel: str | None = None
    description: str | None = None
    grid_code: str | None = None
    community_code: str | None = None
    sub_centre_code: str | None = None
    tier: str | None = None
    unit_code: str | None = None
    assignee_id: str | None = None
    state: str = "reported"
    deadline_at: datetime | None = None
    reported_at: datetime | None = None
    assigned_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    due_soon: bool = False
    overdue: bool = False
    was_overdue: bool = False
    resolved_on_time: bool | None = None
    rating: str | None = None
    escalations: int = 0
    supervisions: int = 0
    dispute_code: str | None = None
    order_id: str | None = None
    last_event_type: str | None = None
    last_event_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def unit_path(self) -> dict[str, str | None]:
        return {"grid": self.grid_code, "community": self.community_code, "sub_centre": self.sub_centre_code}


def _code_prefixes(grid_code: str | None) -> tuple[str | None, str | None]:
    """(community, sub-centre) codes of a grid: codes nest 9 → 12 → 15 digits."""
    if not grid_code or len(grid_code) != 15:
        return None, None
    return grid_code[:12], grid_code[:9]


def project(correlation_id: str, events: list[RecordedEvent]) -> CaseSummary:
    """Fold every event of one correlation_id, oldest first, into the case's summary."""
    case = CaseSummary(correlation_id=correlation_id)
    before_suspension = "accepted"
    for event in sorted(events, key=lambda e: (e.occurred_at, e.seq)):
        if event.type == "case_suspended" and case.state != "suspended":
            before_suspension = case.state
        _apply(case, event)
        if event.type == "case_resumed":
            case.state = before_suspension
        case.last_event_type, case.last_event_at = event.type, event.occurred_at
    _fill_units(case)
    return case


def advance(case: CaseSummary | None, event: RecordedEvent) -> CaseSummary | None:
    """The summary after one more event, folded into the summary of the events before it (None: no case yet).

    This is what `project` gives when the event is the case's newest one (it happened no earlier than the last
    folded event, and was recorded after it), except for a resumption, which restores the state from before the
    suspension that the summary does not keep. For those it returns None: refold the case with `project`.
    """
    if event.type == "case_resumed" or (
        case is not None and (case.last_event_at is None or event.occurred_at < case.last_event_at)
    ):
        return None
    case = replace(case) if case else CaseSummary(correlation_id=event.correlation_id)
    _apply(case, event)
    case.last_event_type, case.last_event_at = event.type, event.occurred_at
    _fill_units(case)
    return case


def _fill_units(case: CaseSummary) -> None:
    """A case known only from events after the report takes its community and sub-centre from its grid."""
    if case.grid_code and not case.sub_centre_code:
        case.community_code, case.sub_centre_code = _code_prefixes(case.grid_code)


def _apply(case: CaseSummary, event: RecordedEvent) -> None:
    p = event.payload
    at = event.occurred_at
    for name in ("case_id", "report_id", "tracking_code", "category_code", "urgency", "tier", "unit_code"):
        if p.get(name):
            setattr(case, name, p[name])
    if p.get("grid_code") and not case.grid_code:
        case.grid_code = p["grid_code"]
    kind = event.type
    if kind == "report_accepted":
        case.reported_at = p.get("submitted_at") or at
        case.category_kind = p.get("category_kind")
        case.channel = p.get("channel")
        case.description = p.get("description")
        case.grid_code = p.get("grid_code") or case.grid_code
        case.community_code = p.get("community_code")
        case.sub_centre_code = p.get("sub_centre_code")
    elif kind in ("case_assigned", "case_escalated"):
        case.state = "assigned" if kind == "case_assigned" else "escalated"
        case.assignee_id = p.get("assignee_id")
        case.deadline_at = p.get("deadline_at")
        case.due_soon = case.overdue = False
        if kind == "case_assigned":
            case.assigned_at = case.assigned_at or at
        else:
            case.escalations += 1
    elif kind == "case_accepted":
        case.state = "accepted"
        case.deadline_at = p.get("deadline_at") or case.deadline_at
        case.due_soon = case.overdue = False
    elif kind == "case_returned":
        case.state = "returned"
    elif kind == "case_started":
        case.state = "in_progress"
    elif kind == "case_suspended":
        case.state = "suspended"
        case.due_soon = case.overdue = False  # the clock stopped
    elif kind == "case_resumed":
        case.deadline_at = p.get("deadline_at") or case.deadline_at
    elif kind == "case_transferred":
        case.state = "transferred"
    elif kind == "case_supervised":
        case.supervisions += 1
    elif kind == "case_reopened":
        case.state = "reopened"
        case.resolved_at = case.resolved_on_time = None
    elif kind == "case_due_soon":
        case.due_soon = case.is_open
        case.deadline_at = p.get("deadline_at") or case.deadline_at
    elif kind == "case_overdue":
        case.overdue = case.was_overdue = case.is_open
        case.deadline_at = p.get("deadline_at") or case.deadline_at
    elif kind == "case_resolved":
        case.state = "resolved"
        case.resolved_at = at
        case.resolved_on_time = case.deadline_at is None or at <= case.deadline_at
        case.due_soon = case.overdue = False
    elif kind == "case_evaluated":
        case.state = "evaluated"
        case.rating = p.get("rating")
    elif kind == "case_closed":
        case.state = "closed"
        case.closed_at = at
        case.due_soon = case.overdue = False
    elif kind == "dispute_case_opened":
        case.dispute_code = p.get("case_code")
    elif kind.startswith("order_"):
        case.order_id = p.get("order_id") or case.order_id


def describe(event: RecordedEvent) -> str:
    """One line for the live board and the case timeline."""
    p = event.payload
    lines = {
        "report_accepted": lambda: (
            f"report {p.get('tracking_code')} ({p.get('category_code')}, {p.get('urgency')}) via {p.get('channel')}"
        ),
        "case_assigned": lambda: f"assigned to {p.get('assignee_id')} at {p.get('tier')} {p.get('unit_code')}",
        "case_accepted": lambda: f"accepted (签收) by {p.get('accepted_by')}",
        "case_returned": lambda: f"returned (退回) by {p.get('returned_by')}: {p.get('reason')}",
        "case_escalated": lambda: f"escalated (上报) {p.get('from_tier')} → {p.get('tier')}: {p.get('reason')}",
        "case_due_soon": lambda: f"{p.get('stage')} deadline near ({p.get('deadline_at')})",
        "case_overdue": lambda: f"{p.get('stage')} deadline passed; supervision (督办) opened",
        "case_resolved": lambda: f"resolved (办结) by {p.get('resolved_by')}: {p.get('resolution')}",
        "case_evaluated": lambda: f"rated {p.get('rating')}" + (" (no answer in time)" if p.get("by_default") else ""),
        "case_closed": lambda: f"closed: {p.get('outcome')}",
        "case_started": lambda: f"work started by {p.get('started_by')}",
        "case_suspended": lambda: f"suspended (挂起) by {p.get('suspended_by')}: {p.get('reason')}",
        "case_resumed": lambda: f"resumed by {p.get('resumed_by')}",
        "case_transferred": lambda: f"transferred (转办) to {p.get('unit_code')}: {p.get('reason')}",
        "case_supervised": lambda: f"supervised (督办) by {p.get('supervised_by')}: {p.get('reason')}",
        "case_reopened": lambda: f"reopened after an unsatisfied rating (#{p.get('reopen_count')})",
        "case_referred_to_mediation": lambda: "referred to mediation",
        "case_referred_to_volunteers": lambda: f"referred to volunteers ({p.get('service_code')})",
        "dispute_case_opened": lambda: f"dispute case {p.get('case_code')} opened ({p.get('channel_code')})",
        "session_scheduled": lambda: f"mediation session {'online' if p.get('online') else p.get('room_code')}",
        "agreement_reached": lambda: f"agreement reached: {p.get('summary')}",
        "mediation_failed": lambda: f"mediation failed: {p.get('reason')}",
        "mediation_transferred": lambda: f"mediation moved to {p.get('to_channel_code')}",
        "order_created": lambda: f"volunteer order {p.get('order_id')} awaits review",
        "order_dispatched": lambda: f"volunteer order sent to {p.get('volunteer_id') or p.get('team_code')}",
        "order_completed": lambda: f"volunteer service done ({p.get('hours')} h)",
        "order_rated": lambda: f"volunteer service rated {p.get('rating')}/5",
        # Recorded until 2026-11-30, when the case view began to read messages from notification: older cases
        # still have these lines.
        "message_sent": lambda: f"message {p.get('template_code')} to {p.get('recipient_id')} ({p.get('channel')})",
        "message_failed": lambda: f"message {p.get('template_code')} failed: {p.get('reason')}",
    }
    line = lines.get(event.type)
    return line() if line else event.type.replace("_", " ")


@dataclass
class Timeline:
    """The case view: the summary and every event, across the services, joined on the correlation_id, and the
    messages notification sent for it (read from notification when the case is opened)."""

    case: CaseSummary
    events: list[RecordedEvent] = field(default_factory=list)
    messages: CaseMessages = field(default_factory=CaseMessages)
