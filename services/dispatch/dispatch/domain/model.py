"""The case aggregate. It guards its own transitions, keeps its history and records the events it raises."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from dispatch.domain.routing import Assignment

SYSTEM_ACTOR = "system:dispatch"


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    action: str
    from_state: str | None
    to_state: str
    actor: str
    reason: str | None = None


@dataclass
class Case:
    case_id: str
    report_id: str
    tracking_code: str
    correlation_id: str
    category_code: str
    category_kind: str
    urgency: str
    description: str
    grid_code: str
    community_code: str
    sub_centre_code: str
    state: str
    tier: str | None
    unit_code: str | None
    assignee_id: str | None
    assignee_role: str | None
    deadline_at: datetime | None
    opened_at: datetime
    history: list[HistoryEntry] = field(default_factory=list)
    events: list[tuple[str, dict]] = field(default_factory=list)

    @classmethod
    def open_from_report(cls, report: dict, correlation_id: str, now: datetime) -> Case:
        case = cls(
            case_id=str(uuid.uuid4()),
            report_id=report["report_id"],
            tracking_code=report["tracking_code"],
            correlation_id=correlation_id,
            category_code=report["category_code"],
            category_kind=report["category_kind"],
            urgency=report["urgency"],
            description=report["description"],
            grid_code=report["grid_code"],
            community_code=report["community_code"],
            sub_centre_code=report["sub_centre_code"],
            state="received",
            tier=None,
            unit_code=None,
            assignee_id=None,
            assignee_role=None,
            deadline_at=None,
            opened_at=now,
        )
        case.history.append(
            HistoryEntry(now, "receive", None, "received", SYSTEM_ACTOR, f"report {report['tracking_code']}")
        )
        return case

    def _move(self, action: str, to_state: str, now: datetime, actor: str, reason: str | None = None) -> None:
        self.history.append(HistoryEntry(now, action, self.state, to_state, actor, reason))
        self.state = to_state

    def assign(self, assignment: Assignment, deadline_at: datetime, now: datetime, actor: str = SYSTEM_ACTOR) -> None:
        if self.state not in ("received",):
            raise ValueError(f"case {self.case_id} cannot be assigned from state {self.state}")
        self.tier = assignment.tier
        self.unit_code = assignment.unit_code
        self.assignee_id = assignment.assignee_id
        self.assignee_role = assignment.assignee_role
        self.deadline_at = deadline_at
        self._move("assign", "assigned", now, actor, f"{assignment.tier} {assignment.unit_code}")
        self.events.append(
            (
                "case_assigned",
                {
                    "case_id": self.case_id,
                    "report_id": self.report_id,
                    "tracking_code": self.tracking_code,
                    "category_code": self.category_code,
                    "urgency": self.urgency,
                    "grid_code": self.grid_code,
                    "tier": assignment.tier,
                    "unit_code": assignment.unit_code,
                    "assignee_id": assignment.assignee_id,
                    "assignee_role": assignment.assignee_role,
                    "deadline_at": deadline_at,
                    "summary": self.description[:200],
                },
            )
        )
        self._refer_if_needed()

    def _refer_if_needed(self) -> None:
        """Disputes also go to mediation and service requests to volunteers; the grid worker keeps the case."""
        common = {
            "case_id": self.case_id,
            "report_id": self.report_id,
            "tracking_code": self.tracking_code,
            "description": self.description,
            "grid_code": self.grid_code,
            "community_code": self.community_code,
        }
        if self.category_kind == "dispute":
            self.events.append(("case_referred_to_mediation", {**common, "category_code": self.category_code}))
        elif self.category_kind == "volunteer":
            self.events.append(("case_referred_to_volunteers", {**common, "service_code": self.category_code}))
