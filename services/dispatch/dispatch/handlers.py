"""dispatch's service layer: load, call the domain, commit. No HTTP and no nameko here."""

from __future__ import annotations

from datetime import UTC, datetime

from dispatch.adapters.reference import DispatchReference
from dispatch.adapters.repository import DispatchUnitOfWork
from dispatch.domain.deadlines import deadline_for
from dispatch.domain.errors import CaseNotFound
from dispatch.domain.model import Case
from dispatch.domain.routing import first_assignment
from gridlink.contracts import Envelope


def open_case(uow: DispatchUnitOfWork, event: Envelope, ref: DispatchReference, now: datetime | None = None) -> None:
    """report_accepted → a case, assigned at once to the grid's full-time worker."""
    report = event.payload
    if uow.cases.by_report(report["report_id"]) is not None:
        # The same report re-announced under a new event_id (a partner resend): still one case.
        uow.commit()
        return
    now = now or datetime.now(UTC)
    case = Case.open_from_report(report, event.correlation_id, now)
    case.assign(first_assignment(case.grid_code, ref.grid_handlers), deadline_for(case.urgency, now), now)
    uow.cases.add(case)
    for event_type, payload in case.events:
        uow.publish(event_type, payload)
    uow.commit()


def get_case(uow: DispatchUnitOfWork, case_id: str) -> Case:
    with uow:
        case = uow.cases.get(case_id)
    if case is None:
        raise CaseNotFound(f"no case {case_id!r}")
    return case


def list_cases(uow: DispatchUnitOfWork, **filters) -> list[Case]:
    with uow:
        return uow.cases.list(**filters)
