"""Reports in and out of the database, as domain objects."""

from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from gridlink.runtime.db import UnitOfWork, as_utc
from intake.adapters.orm import reports
from intake.domain.model import Placement, Report


class ReportRepository:
    def __init__(self, session: Session):
        self.session = session

    def add(self, report: Report) -> None:
        p = report.placement
        self.session.execute(
            insert(reports).values(
                report_id=report.report_id,
                tracking_code=report.tracking_code,
                channel=report.channel,
                category_code=report.category_code,
                category_kind=report.category_kind,
                urgency=report.urgency,
                description=report.description,
                grid_code=p.grid_code,
                community_code=p.community_code,
                sub_centre_code=p.sub_centre_code,
                lat=p.lat,
                long=p.long,
                address=p.address,
                reporter_name=report.reporter_name,
                reporter_phone=report.reporter_phone,
                status=report.status,
                submitted_at=report.submitted_at,
            )
        )

    def get(self, report_id: str) -> Report | None:
        row = self.session.execute(select(reports).where(reports.c.report_id == report_id)).mappings().first()
        return _to_report(row) if row else None

    def by_tracking_code(self, code: str) -> Report | None:
        row = self.session.execute(select(reports).where(reports.c.tracking_code == code)).mappings().first()
        return _to_report(row) if row else None


def _to_report(row) -> Report:
    submitted = row["submitted_at"]
    return Report(
        report_id=row["report_id"],
        tracking_code=row["tracking_code"],
        channel=row["channel"],
        category_code=row["category_code"],
        category_kind=row["category_kind"],
        urgency=row["urgency"],
        description=row["description"],
        placement=Placement(
            row["grid_code"], row["community_code"], row["sub_centre_code"], row["lat"], row["long"], row["address"]
        ),
        reporter_name=row["reporter_name"],
        reporter_phone=row["reporter_phone"],
        submitted_at=as_utc(submitted),
        status=row["status"],
    )


class IntakeUnitOfWork(UnitOfWork):
    reports: ReportRepository

    def _open_repositories(self, session: Session) -> None:
        self.reports = ReportRepository(session)
