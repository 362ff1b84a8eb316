"""dispatch's service layer: load, call the domain, commit. No HTTP and no nameko here.

Every change writes the case, its events (outbox) and its timers in one transaction. `now` is a parameter
everywhere, so tests drive the clock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from dispatch.adapters.reference import DispatchReference
from dispatch.adapters.repository import DispatchUnitOfWork
from dispatch.domain import performance
from dispatch.domain.errors import CaseNotFound, NotAllowed
from dispatch.domain.model import Actor, Case
from gridlink.contracts import Envelope
from gridlink.runtime.timers import Timer


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def _flush(uow: DispatchUnitOfWork, case: Case) -> None:
    """Store the case, then its raised events and timer changes, all in the open transaction."""
    uow.cases.save(case)
    _raise(uow, case)


def _raise(uow: DispatchUnitOfWork, case: Case) -> None:
    for event_type, payload in case.events:
        uow.publish(event_type, payload, correlation_id=case.correlation_id)
    for op in case.timer_ops:
        if op.due_at is None:
            uow.cancel_timer(op.kind, op.key)
        else:
            uow.schedule(op.kind, op.key, op.due_at, op.payload, correlation_id=case.correlation_id)
    case.events.clear()
    case.timer_ops.clear()


def open_case(uow: DispatchUnitOfWork, event: Envelope, ref: DispatchReference, now: datetime | None = None) -> None:
    """report_accepted → a case, routed by the rules and assigned at once, with its deadlines armed."""
    report = event.payload
    now = _now(now)
    case = Case.open_from_report(
        report, event.correlation_id, now, department_code=ref.category_departments.get(report["category_code"])
    )
    rule, assignment = ref.routing.route(case.category_code, case.urgency, case.place, ref.directory)
    case.assign(assignment, ref.policy, ref.calendar, now, reason=f"rule: {rule.name}")
    # Not added when the same report was re-announced under a new event_id (a partner resend): still one case.
    # The report's unique key decides, in the insert itself, rather than a lookup before it.
    if uow.cases.add(case):
        _raise(uow, case)
    uow.commit()


def _act(uow: DispatchUnitOfWork, case_id: str, change: Callable[[Case], None]) -> Case:
    with uow:
        case = uow.cases.get(case_id, for_update=True)
        if case is None:
            raise CaseNotFound(f"no case {case_id!r}")
        change(case)
        _flush(uow, case)
        uow.commit()
    return case


def accept(uow, case_id: str, who: Actor, now: datetime | None = None) -> Case:
    return _act(uow, case_id, lambda c: c.accept(who, _now(now)))


def start(uow, case_id: str, who: Actor, note: str | None = None, now: datetime | None = None) -> Case:
    return _act(uow, case_id, lambda c: c.start(who, _now(now), note))


def resolve(uow, case_id: str, who: Actor, resolution: str, ref: DispatchReference, now=None) -> Case:
    return _act(uow, case_id, lambda c: c.resolve(who, resolution, ref.policy, _now(now)))


def return_case(uow, case_id: str, who: Actor, reason: str, ref: DispatchReference, now=None) -> Case:
    return _act(uow, case_id, lambda c: c.return_case(who, reason, ref.directory, _now(now)))


def redispatch(uow, case_id: str, who: Actor, unit_code: str, reason, ref: DispatchReference, now=None) -> Case:
    return _act(
        uow,
        case_id,
        lambda c: c.redispatch(who, unit_code, reason, ref.directory, ref.policy, ref.calendar, _now(now)),
    )


def escalate(uow, case_id: str, who: Actor, reason: str, ref: DispatchReference, now=None) -> Case:
    return _act(uow, case_id, lambda c: c.escalate(who, reason, ref.directory, ref.policy, ref.calendar, _now(now)))


def transfer(uow, case_id: str, who: Actor, department: str, reason: str, ref: DispatchReference, now=None) -> Case:
    return _act(
        uow,
        case_id,
        lambda c: c.transfer(who, department, reason, ref.directory, ref.policy, ref.calendar, _now(now)),
    )


def suspend(uow, case_id: str, who: Actor, reason: str, now: datetime | None = None) -> Case:
    return _act(uow, case_id, lambda c: c.suspend(who, reason, _now(now)))


def resume(uow, case_id: str, who: Actor, ref: DispatchReference, reason=None, now=None) -> Case:
    return _act(uow, case_id, lambda c: c.resume(who, ref.policy, _now(now), reason))


def press(uow, case_id: str, who: Actor, reason: str, now: datetime | None = None) -> Case:
    return _act(uow, case_id, lambda c: c.press(who, reason, _now(now)))


def evaluate(uow, tracking_code: str, rating: str, comment, ref: DispatchReference, now=None) -> Case:
    """The reporter's rating, found by the tracking code they were given (it is their receipt)."""
    with uow:
        case = uow.cases.by_tracking_code(tracking_code)
        if case is None:
            raise CaseNotFound(f"no case with tracking code {tracking_code!r}")
    return _act(
        uow,
        case.case_id,
        lambda c: c.evaluate(rating, comment, ref.directory, ref.policy, ref.calendar, _now(now)),
    )


def get_case(uow: DispatchUnitOfWork, case_id: str, who: Actor | None = None) -> Case:
    with uow:
        case = uow.cases.get(case_id)
    if case is None:
        raise CaseNotFound(f"no case {case_id!r}")
    if who is not None and not case.visible_to(who):
        raise NotAllowed(f"case {case_id} is outside your unit {who.unit}")
    return case


def list_cases(uow: DispatchUnitOfWork, **filters) -> list[Case]:
    with uow:
        return uow.cases.list(**filters)


# ---- timers: each fires once, in its own transaction with the "fired" mark --------------------------------


def on_timer(uow: DispatchUnitOfWork, timer: Timer, ref: DispatchReference) -> None:
    """A deadline timer: warn (case_due_soon), supervise (case_overdue), or escalate. The clock is the due time."""
    now = timer.due_at
    case = uow.cases.get(timer.payload["case_id"], for_update=True)
    if case is not None:
        stage, period = timer.payload.get("stage"), timer.payload.get("period")
        if timer.kind == "case_due_soon":
            case.warn_due_soon(stage, period, now)
        elif timer.kind == "case_overdue":
            case.supervise(stage, period, ref.policy, ref.calendar, now)
        elif timer.kind == "case_escalation":
            case.escalate_overdue(stage, period, ref.directory, ref.policy, ref.calendar, now)
        elif timer.kind == "evaluation_timeout" and case.state == "feedback":
            case.evaluate("satisfied", None, ref.directory, ref.policy, ref.calendar, now, by_default=True)
        _flush(uow, case)
    uow.commit()


# ---- links: outcomes from mediation and volunteers -------------------------------------------------------

CLOSING_OUTCOMES = {
    "agreement_reached": ("mediated", lambda p: f"mediation agreement {p['agreement_id']}: {p['summary']}"),
    "order_completed": ("volunteer_service_completed", lambda p: f"volunteer order {p['order_id']}: {p['note']}"),
}
NOTES = {
    "mediation_failed": lambda p: f"mediation {p['case_code']} failed: {p['reason']}",
    "mediation_transferred": lambda p: f"mediation {p['case_code']} moved to {p['to_channel_code']}: {p['reason']}",
    "order_rated": lambda p: f"volunteer order {p['order_id']} rated {p['rating']}/5",
}


def on_outcome(uow: DispatchUnitOfWork, event: Envelope, now: datetime | None = None) -> None:
    """A referred case closes when mediation agrees or the volunteer is done; other outcomes go on its record."""
    case_id = event.payload.get("case_id")
    case = uow.cases.get(case_id, for_update=True) if case_id else None
    if case is not None:
        actor = f"{event.source}:{event.type}"
        if event.type in CLOSING_OUTCOMES:
            outcome, describe = CLOSING_OUTCOMES[event.type]
            case.close_by_referral(outcome, describe(event.payload), _now(now), actor)
        else:
            case.note(NOTES[event.type](event.payload), _now(now), actor)
        _flush(uow, case)
    uow.commit()


# ---- performance -----------------------------------------------------------------------------------------


def performance_report(
    uow: DispatchUnitOfWork, level: str, start: datetime, end: datetime, who: Actor, now=None
) -> list[performance.Figures]:
    with uow:
        periods = uow.cases.periods_between(start, end)
    rows = performance.by_unit(periods, level, _now(now))
    return [r for r in rows if who.role == "admin" or who.covers(r.unit_code) or who.role == "district_operator"]
