"""intake's service layer: load, call the domain, commit. No HTTP and no nameko here."""

from __future__ import annotations

from datetime import UTC, datetime

from intake.adapters.repository import IntakeUnitOfWork
from intake.domain.commands import SubmitReport
from intake.domain.errors import ReportNotFound, UnknownCategory
from intake.domain.model import Report
from intake.domain.placement import IntakeReference, place


def submit_report(
    uow: IntakeUnitOfWork, ref: IntakeReference, cmd: SubmitReport, now: datetime | None = None
) -> Report:
    category = ref.categories.get(cmd.category_code)
    if category is None:
        raise UnknownCategory(f"category {cmd.category_code!r} is not in the taxonomy")
    placement = place(ref, lat=cmd.lat, long=cmd.long, address_id=cmd.address_id, address=cmd.address)
    report = Report.accept(
        channel=cmd.channel,
        category=category,
        description=cmd.description,
        placement=placement,
        reporter_name=cmd.reporter_name,
        reporter_phone=cmd.reporter_phone,
        now=now or datetime.now(UTC),
    )
    with uow:
        uow.reports.add(report)
        for event_type, payload in report.events:
            # The report is where the whole chain starts, so its id is the correlation_id of everything it causes.
            uow.publish(event_type, payload, correlation_id=report.report_id)
        uow.commit()
    return report


def get_report(uow: IntakeUnitOfWork, report_id: str) -> Report:
    with uow:
        report = uow.reports.get(report_id) or uow.reports.by_tracking_code(report_id)
    if report is None:
        raise ReportNotFound(f"no report {report_id!r}")
    return report
