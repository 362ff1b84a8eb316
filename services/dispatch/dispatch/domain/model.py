"""The case aggregate. It guards its own transitions (by state, role and tier), keeps its history, and records the
events it raises and the timers it needs; the service layer writes both in the same transaction.

Main line: received → assigned → accepted (签收) → in_progress → resolved (办结) → feedback (反馈, the reporter is
asked to rate) → evaluated (评价) → closed. Side lines: returned (退回) and re-dispatched, escalated (上报),
transferred (转办), suspended and resumed (挂起), reopened after an unsatisfied rating. The grid five-step method maps
onto it: 走 visit = accept, 议 discuss and 办 handle = in_progress, 回 report back = resolved/feedback, 评 = evaluated.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from dispatch.domain.deadlines import STAGES, DeadlinePolicy, WorkingCalendar
from dispatch.domain.errors import CannotEscalate, InvalidInput, InvalidTransition, NotAllowed
from dispatch.domain.routing import NEXT_TIER, ROLE_FOR_TIER, Assignment, Directory, Place

SYSTEM_ACTOR = "system:dispatch"
RATINGS = ("satisfied", "basically_satisfied", "unsatisfied")
OPEN_WORK = ("assigned", "accepted", "in_progress")
TIMER_KINDS = ("case_due_soon", "case_overdue", "case_escalation", "evaluation_timeout")
# Who may return a case to whom: the unit that dispatched it, one tier up.
RETURN_TO = {"grid": "community", "community": "sub_centre", "sub_centre": "district", "department": "district"}
TRANSFER_TIERS = ("sub_centre", "district", "department")
# A higher tier may press (督办) or pull up (上报) a case held below it: the rank of each tier and operator role.
TIER_RANK = {"grid": 0, "community": 1, "sub_centre": 2, "department": 2, "district": 3}
OPERATOR_RANK = {"community_operator": 1, "sub_centre_operator": 2, "district_operator": 3}


class Actor(Protocol):
    """A signed-in member of staff (the runtime's Principal fits)."""

    user_id: str
    role: str

    def covers(self, unit_code: str | None) -> bool: ...


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    action: str
    from_state: str | None
    to_state: str
    actor: str
    reason: str | None = None


@dataclass
class Period:
    """One stint of a case with one unit: what performance figures are counted from."""

    no: int
    tier: str
    unit_code: str
    assignee_id: str
    assigned_at: datetime
    acceptance_due: datetime
    resolution_due: datetime
    accepted_at: datetime | None = None
    resolved_at: datetime | None = None
    ended_at: datetime | None = None
    end_reason: str | None = None
    acceptance_overdue: bool = False
    resolution_overdue: bool = False
    rating: str | None = None
    reopened: bool = False


@dataclass(frozen=True)
class Supervision:
    """督办: opened when a deadline passes, naming the late assignee and the supervisor told about it."""

    supervision_id: str
    case_id: str
    period_no: int
    stage: str
    unit_code: str
    assignee_id: str | None
    supervisor_id: str | None
    deadline_at: datetime
    opened_at: datetime
    escalate_at: datetime


@dataclass(frozen=True)
class TimerOp:
    kind: str
    key: str
    due_at: datetime | None = None  # None: cancel
    payload: dict = field(default_factory=dict)


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
    deadline_at: datetime | None  # the resolution deadline
    opened_at: datetime
    department_code: str | None = None
    handling_class: str | None = None
    supervisor_id: str | None = None
    acceptance_deadline_at: datetime | None = None
    suspended_at: datetime | None = None
    suspended_from: str | None = None
    resolution: str | None = None
    rating: str | None = None
    rating_comment: str | None = None
    outcome: str | None = None
    closed_at: datetime | None = None
    reopen_count: int = 0
    history: list[HistoryEntry] = field(default_factory=list)
    periods: list[Period] = field(default_factory=list)
    supervisions: list[Supervision] = field(default_factory=list)
    events: list[tuple[str, dict]] = field(default_factory=list)
    timer_ops: list[TimerOp] = field(default_factory=list)

    # ---- opening and assignment ----------------------------------------------------------------------------

    @classmethod
    def open_from_report(cls, report: dict, correlation_id: str, now: datetime, department_code: str | None = None):
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
            department_code=department_code,
        )
        case.history.append(
            HistoryEntry(now, "receive", None, "received", SYSTEM_ACTOR, f"report {report['tracking_code']}")
        )
        return case

    @property
    def place(self) -> Place:
        return Place(self.grid_code, self.community_code, self.sub_centre_code, self.department_code)

    @property
    def period(self) -> Period | None:
        return self.periods[-1] if self.periods else None

    def assign(
        self,
        assignment: Assignment,
        policy: DeadlinePolicy,
        calendar: WorkingCalendar,
        now: datetime,
        actor: str = SYSTEM_ACTOR,
        reason: str | None = None,
    ) -> None:
        """The first assignment, by the routing rules; later ones go through `_reassign`."""
        if self.state != "received":
            raise InvalidTransition(f"case {self.case_id} cannot be assigned from state {self.state}")
        self._reassign(assignment, policy, calendar, now, "assign", actor, reason or f"{assignment.tier}")
        self.events.append(("case_assigned", self._assigned_payload()))
        self._refer_if_needed()

    def _reassign(self, a: Assignment, policy, calendar, now, action, actor, reason) -> None:
        self._end_period(now, action)
        deadlines = policy.deadlines(self.category_code, self.urgency, now, calendar)
        self._hold(a)
        self.handling_class = deadlines.handling_class
        self.acceptance_deadline_at, self.deadline_at = deadlines.acceptance_at, deadlines.resolution_at
        self.suspended_at = self.suspended_from = None
        self._cancel_timers()  # the ending period's
        self.periods.append(
            Period(
                len(self.periods) + 1,
                a.tier,
                a.unit_code,
                a.assignee_id,
                now,
                deadlines.acceptance_at,
                deadlines.resolution_at,
            )
        )
        self._move(action, "assigned", now, actor, f"{reason} → {a.tier} {a.unit_code}")
        for stage in STAGES:
            self._arm(stage, policy, now)

    def _hold(self, a: Assignment) -> None:
        self.tier, self.unit_code, self.assignee_id, self.assignee_role = (
            a.tier,
            a.unit_code,
            a.assignee_id,
            a.assignee_role,
        )
        self.supervisor_id = a.supervisor_id

    def _end_period(self, now: datetime, reason: str) -> None:
        if self.period and self.period.ended_at is None:
            self.period.ended_at, self.period.end_reason = now, reason

    # ---- the main line --------------------------------------------------------------------------------------

    def accept(self, actor: Actor, now: datetime) -> None:
        self._require_holder(actor, "accept")
        self._require_state("accept", "assigned")
        self.period.accepted_at = now
        self._move("accept", "accepted", now, actor.user_id)
        self._cancel_timers("acceptance")
        self.events.append(
            ("case_accepted", {**self._fact(), "accepted_by": actor.user_id, "deadline_at": self.deadline_at})
        )

    def start(self, actor: Actor, now: datetime, note: str | None = None) -> None:
        """走访 and 议: the assignee has been to the site and is working on it."""
        self._require_holder(actor, "start")
        self._require_state("start", "accepted")
        self._move("start", "in_progress", now, actor.user_id, note)
        self.events.append(("case_started", {**self._fact(), "started_by": actor.user_id, "note": note}))

    def resolve(self, actor: Actor, resolution: str, policy: DeadlinePolicy, now: datetime) -> None:
        self._require_holder(actor, "resolve")
        self._require_state("resolve", "accepted", "in_progress")
        resolution = _required(resolution, "resolution", 2000)
        self.resolution = resolution
        self.period.resolved_at = now
        self._move("resolve", "resolved", now, actor.user_id, resolution)
        self._cancel_timers()
        self.events.append(
            (
                "case_resolved",
                {
                    **self._fact(),
                    "resolved_by": actor.user_id,
                    "resolution": resolution,
                    "reporter_recipient_id": f"reporter:{self.report_id}",
                },
            )
        )
        # 回: the resolution goes back to the reporter (case_resolved reaches them through notification).
        self._move("feedback", "feedback", now, SYSTEM_ACTOR, "the reporter is asked to rate the resolution")
        due = policy.evaluation_due(now)
        self.timer_ops.append(TimerOp("evaluation_timeout", self.case_id, due, {"case_id": self.case_id}))

    def evaluate(
        self,
        rating: str,
        comment: str | None,
        directory: Directory,
        policy: DeadlinePolicy,
        calendar: WorkingCalendar,
        now: datetime,
        by_default: bool = False,
    ) -> None:
        """评: satisfied closes; unsatisfied reopens once, then goes up to the sub-centre."""
        self._require_state("evaluate", "feedback")
        if rating not in RATINGS:
            raise InvalidInput(f"rating must be one of {', '.join(RATINGS)}")
        if comment is not None and len(comment) > 1000:
            raise InvalidInput("comment is longer than 1000 characters")
        actor = SYSTEM_ACTOR if by_default else f"reporter:{self.report_id}"
        self.rating, self.rating_comment = rating, comment
        resolved_in = next((p for p in reversed(self.periods) if p.resolved_at), None)
        if resolved_in:
            resolved_in.rating = rating
        self._move("evaluate", "evaluated", now, actor, "no answer in time: satisfied" if by_default else rating)
        self.timer_ops.append(TimerOp("evaluation_timeout", self.case_id))
        self.events.append(
            ("case_evaluated", {**self._fact(), "rating": rating, "comment": comment, "by_default": by_default})
        )
        if rating != "unsatisfied":
            self._close("resolved", now)
        elif self.reopen_count < policy.evaluation.reopen_limit:
            self.reopen_count += 1
            if resolved_in:
                resolved_in.reopened = True
            again = Assignment(
                self.tier, self.unit_code, self.assignee_id, self.assignee_role, self.supervisor_id
            )  # back to whoever resolved it
            self._reassign(again, policy, calendar, now, "reopen", actor, "unsatisfied rating")
            self.events.append(("case_reopened", {**self._fact(), "reopen_count": self.reopen_count}))
            self.events.append(("case_assigned", self._assigned_payload()))
        else:
            target = directory.assignment(policy.evaluation.escalate_to, self.place)
            self._escalate_to(target, policy, calendar, now, actor, "unsatisfied again after reopening", True)

    def _close(self, outcome: str, now: datetime, actor: str = SYSTEM_ACTOR) -> None:
        self._end_period(now, "closed")
        self._cancel_timers()
        self.timer_ops.append(TimerOp("evaluation_timeout", self.case_id))
        self.outcome, self.closed_at = outcome, now
        self._move("close", "closed", now, actor, outcome)
        self.events.append(("case_closed", {**self._fact(), "outcome": outcome}))

    # ---- side lines -----------------------------------------------------------------------------------------

    def return_case(self, actor: Actor, reason: str, directory: Directory, now: datetime) -> None:
        """退回: the assignee says the case is not theirs; it goes back to the unit above to be re-dispatched."""
        self._require_holder(actor, "return")
        self._require_state("return", "assigned")
        reason = _required(reason, "reason", 500)
        if self.tier not in RETURN_TO:
            raise InvalidTransition(f"a case at the {self.tier} tier has nobody to return it to")
        self.events.append(("case_returned", {**self._fact(), "returned_by": actor.user_id, "reason": reason}))
        back = directory.assignment(RETURN_TO[self.tier], self.place)
        self._end_period(now, "returned")
        self._hold(back)
        self._move("return", "returned", now, actor.user_id, reason)
        self._cancel_timers()

    def redispatch(
        self,
        actor: Actor,
        unit_code: str,
        reason: str | None,
        directory: Directory,
        policy: DeadlinePolicy,
        calendar: WorkingCalendar,
        now: datetime,
    ) -> None:
        """The unit a case was returned to sends it on again: to the right grid, unit or department."""
        self._require_holder(actor, "redispatch")
        self._require_state("redispatch", "returned")
        target = directory.assignment_to_unit(_required(unit_code, "unit_code", 64), self.place)
        self._reassign(target, policy, calendar, now, "redispatch", actor.user_id, reason or "re-dispatched")
        self.events.append(("case_assigned", self._assigned_payload()))

    def escalate(
        self,
        actor: Actor | None,
        reason: str,
        directory: Directory,
        policy: DeadlinePolicy,
        calendar: WorkingCalendar,
        now: datetime,
    ) -> None:
        """上报: one tier up, by the assignee (actor) or automatically (actor None) when overdue past the grace."""
        if actor is not None and not self._is_superior(actor):
            self._require_holder(actor, "escalate")
        self._require_state("escalate", *OPEN_WORK)
        reason = _required(reason, "reason", 500)
        target = directory.next_up(self.tier, self.place)
        who = actor.user_id if actor is not None else SYSTEM_ACTOR
        self._escalate_to(target, policy, calendar, now, who, reason, actor is None)

    def _escalate_to(self, target: Assignment, policy, calendar, now, who: str, reason: str, automatic: bool):
        from_tier, from_unit = self.tier, self.unit_code
        self._reassign(target, policy, calendar, now, "escalate", who, reason)
        self.events.append(
            (
                "case_escalated",
                {
                    **self._fact(),
                    "from_tier": from_tier,
                    "from_unit_code": from_unit,
                    "reason": reason,
                    "automatic": automatic,
                    "deadline_at": self.deadline_at,
                },
            )
        )

    def transfer(
        self,
        actor: Actor,
        department_code: str,
        reason: str,
        directory: Directory,
        policy: DeadlinePolicy,
        calendar: WorkingCalendar,
        now: datetime,
    ) -> None:
        """转办: the command side or a department hands the case to another department."""
        self._require_holder(actor, "transfer")
        self._require_state("transfer", *OPEN_WORK)
        if self.tier not in TRANSFER_TIERS:
            raise NotAllowed(f"a case at the {self.tier} tier is escalated, not transferred")
        reason = _required(reason, "reason", 500)
        target = directory.assignment("department", self.place, _required(department_code, "department", 64))
        if target.unit_code == self.unit_code:
            raise InvalidInput(f"the case is already with {department_code}")
        from_unit = self.unit_code
        self._reassign(target, policy, calendar, now, "transfer", actor.user_id, reason)
        self.events.append(
            (
                "case_transferred",
                {**self._fact(), "from_unit_code": from_unit, "reason": reason, "transferred_by": actor.user_id},
            )
        )
        self.events.append(("case_assigned", self._assigned_payload()))

    def suspend(self, actor: Actor, reason: str, now: datetime) -> None:
        """挂起: the clock stops (e.g. waiting for a court ruling or for the season); timers are cancelled."""
        self._require_holder(actor, "suspend")
        self._require_state("suspend", "accepted", "in_progress")
        reason = _required(reason, "reason", 500)
        self.suspended_at, self.suspended_from = now, self.state
        self._move("suspend", "suspended", now, actor.user_id, reason)
        self._cancel_timers()
        self.events.append(("case_suspended", {**self._fact(), "suspended_by": actor.user_id, "reason": reason}))

    def resume(self, actor: Actor, policy: DeadlinePolicy, now: datetime, reason: str | None = None) -> None:
        """The deadlines move on by the time the case was suspended."""
        self._require_holder(actor, "resume")
        self._require_state("resume", "suspended")
        paused = now - self.suspended_at
        self.deadline_at += paused
        self.period.resolution_due = self.deadline_at
        previous = self.suspended_from or "accepted"
        self.suspended_at = self.suspended_from = None
        self._move("resume", previous, now, actor.user_id, reason)
        self._arm("resolution", policy, now)
        self.events.append(
            ("case_resumed", {**self._fact(), "resumed_by": actor.user_id, "deadline_at": self.deadline_at})
        )

    # ---- deadlines and supervision (driven by timers) ------------------------------------------------------

    def _arm(self, stage: str, policy: DeadlinePolicy, now: datetime) -> None:
        due = self.acceptance_deadline_at if stage == "acceptance" else self.deadline_at
        payload = {"case_id": self.case_id, "stage": stage, "period": self.period.no, "deadline_at": due.isoformat()}
        key = self._timer_key(stage)
        self.timer_ops.append(TimerOp("case_due_soon", key, policy.due_soon_at(now, due), payload))
        self.timer_ops.append(TimerOp("case_overdue", key, due, payload))

    def _timer_key(self, stage: str) -> str:
        """One key per period and stage, so a timer row fires once and is never re-armed for a later period."""
        return f"{self.case_id}:{self.period.no}:{stage}"

    def _cancel_timers(self, *stages: str) -> None:
        if self.period is None:
            return
        for stage in stages or STAGES:
            for kind in ("case_due_soon", "case_overdue", "case_escalation"):
                self.timer_ops.append(TimerOp(kind, self._timer_key(stage)))

    def stage_pending(self, stage: str, period_no: int) -> bool:
        """Whether a timer for this stage of this period still matters (nothing has moved the case on)."""
        if self.period is None or period_no != self.period.no:
            return False
        if stage == "acceptance":
            return self.state == "assigned"
        return self.state in OPEN_WORK

    def warn_due_soon(self, stage: str, period_no: int, now: datetime) -> bool:
        if not self.stage_pending(stage, period_no):
            return False
        self.events.append(("case_due_soon", self._deadline_payload(stage)))
        return True

    def supervise(self, stage: str, period_no: int, policy: DeadlinePolicy, calendar, now: datetime) -> bool:
        """督办: a deadline passed. Record it, tell the assignee and their supervisor, and arm the escalation."""
        if not self.stage_pending(stage, period_no):
            return False
        due = self.acceptance_deadline_at if stage == "acceptance" else self.deadline_at
        escalate_at = policy.escalation_at(self.handling_class, due, calendar)
        record = self._open_supervision(stage, self.supervisor_id, due, now, escalate_at)
        setattr(self.period, f"{stage}_overdue", True)
        self._move("supervise", self.state, now, SYSTEM_ACTOR, f"{stage} overdue since {due.isoformat()}")
        self.events.append(("case_overdue", {**self._deadline_payload(stage), "supervision_id": record.supervision_id}))
        payload = {"case_id": self.case_id, "stage": stage, "period": period_no, "deadline_at": due.isoformat()}
        self.timer_ops.append(TimerOp("case_escalation", self._timer_key(stage), escalate_at, payload))
        return True

    def press(self, actor: Actor, reason: str, now: datetime) -> Supervision:
        """督办 by a person: a higher tier presses the unit holding the case, before or after its deadline."""
        if not self._is_superior(actor):
            raise NotAllowed(f"only a tier above {self.tier} that covers the case may supervise it")
        self._require_state("supervise", *OPEN_WORK, "suspended")
        reason = _required(reason, "reason", 500)
        stage = "acceptance" if self.state == "assigned" else "resolution"
        due = self.acceptance_deadline_at if stage == "acceptance" else self.deadline_at
        record = self._open_supervision(stage, actor.user_id, due, now, due)
        self._move("supervise", self.state, now, actor.user_id, reason)
        self.events.append(
            (
                "case_supervised",
                {
                    **self._fact(),
                    "supervision_id": record.supervision_id,
                    "supervised_by": actor.user_id,
                    "stage": stage,
                    "deadline_at": due,
                    "reason": reason,
                },
            )
        )
        return record

    def _open_supervision(self, stage: str, supervisor_id, due: datetime, now: datetime, escalate_at) -> Supervision:
        record = Supervision(
            str(uuid.uuid4()),
            self.case_id,
            self.period.no,
            stage,
            self.unit_code,
            self.assignee_id,
            supervisor_id,
            due,
            now,
            escalate_at,
        )
        self.supervisions.append(record)
        return record

    def escalate_overdue(self, stage: str, period_no: int, directory, policy, calendar, now: datetime) -> bool:
        """Still overdue after the grace period: up one tier. At the top, supervision simply continues."""
        if not self.stage_pending(stage, period_no):
            return False
        if self.tier not in NEXT_TIER:
            self._move("supervise", self.state, now, SYSTEM_ACTOR, f"still {stage} overdue at the top tier")
            return False
        try:
            self.escalate(None, f"{stage} overdue past the grace period", directory, policy, calendar, now)
        except CannotEscalate:
            return False
        return True

    # ---- links to mediation and volunteers ------------------------------------------------------------------

    def close_by_referral(self, outcome: str, note: str, now: datetime, actor: str) -> bool:
        """Mediation reached an agreement, or the volunteer service was done: the case closes with that outcome."""
        if self.state == "closed":
            self.note(note, now, actor)
            return False
        if self.period and self.period.resolved_at is None:
            self.period.resolved_at = now
        self.resolution = self.resolution or note[:2000]
        self._move("referral_outcome", self.state, now, actor, note)
        self._close(outcome, now, actor)
        return True

    def note(self, text: str, now: datetime, actor: str) -> None:
        """A fact on the record that does not move the case (mediation failed, a volunteer's rating)."""
        self._move("note", self.state, now, actor, text[:2000])

    # ---- guards and payloads --------------------------------------------------------------------------------

    def _require_state(self, action: str, *states: str) -> None:
        if self.state not in states:
            raise InvalidTransition(f"cannot {action} a case that is {self.state} (needs {' or '.join(states)})")

    def _require_holder(self, actor: Actor, action: str) -> None:
        """Only the tier's own role, within the unit that holds the case, acts on it."""
        if actor.role == "admin":
            return
        role = ROLE_FOR_TIER.get(self.tier or "")
        if actor.role != role:
            raise NotAllowed(f"{action}: the case is at the {self.tier} tier, which the {role} works, not {actor.role}")
        if not actor.covers(self.unit_code):
            raise NotAllowed(f"{action}: the case is with {self.unit_code}, outside your unit")

    def _is_superior(self, actor: Actor) -> bool:
        if actor.role == "admin":
            return True
        rank = OPERATOR_RANK.get(actor.role, -1)
        return rank > TIER_RANK.get(self.tier or "", 99) and actor.covers(self.grid_code)

    def visible_to(self, actor: Actor) -> bool:
        """A grid worker sees their grid, an operator their area, a department what it holds or has held."""
        if actor.role == "admin" or actor.covers(self.unit_code):
            return True
        if actor.role == "department":
            return any(actor.covers(p.unit_code) for p in self.periods)
        return actor.role.endswith("_operator") and actor.covers(self.grid_code)

    def _move(self, action: str, to_state: str, now: datetime, actor: str, reason: str | None = None) -> None:
        self.history.append(HistoryEntry(now, action, self.state, to_state, actor, reason))
        self.state = to_state

    def _fact(self) -> dict:
        return {
            "case_id": self.case_id,
            "report_id": self.report_id,
            "tracking_code": self.tracking_code,
            "grid_code": self.grid_code,
            "tier": self.tier,
            "unit_code": self.unit_code,
            "assignee_id": self.assignee_id,
        }

    def _deadline_payload(self, stage: str) -> dict:
        due = self.acceptance_deadline_at if stage == "acceptance" else self.deadline_at
        return {**self._fact(), "stage": stage, "deadline_at": due, "supervisor_id": self.supervisor_id}

    def _assigned_payload(self) -> dict:
        return {
            "case_id": self.case_id,
            "report_id": self.report_id,
            "tracking_code": self.tracking_code,
            "category_code": self.category_code,
            "urgency": self.urgency,
            "grid_code": self.grid_code,
            "tier": self.tier,
            "unit_code": self.unit_code,
            "assignee_id": self.assignee_id,
            "assignee_role": self.assignee_role,
            "deadline_at": self.deadline_at,
            "summary": self.description[:200],
            "accept_by": self.acceptance_deadline_at,
            "supervisor_id": self.supervisor_id,
        }

    def _refer_if_needed(self) -> None:
        """Disputes also go to mediation and service requests to volunteers; the assignee keeps the case."""
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


def _required(value, name: str, max_length: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{name} is required")
    if len(value) > max_length:
        raise InvalidInput(f"{name} is longer than {max_length} characters")
    return value.strip()
