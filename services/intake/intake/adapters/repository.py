"""Reports in and out of the database, as domain objects; the Open311 read model; IoT alarms."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, bindparam, exists, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gridlink.runtime.db import UnitOfWork, as_utc, insert_all, update_all
from intake.adapters.orm import iot_alarms, reports, request_updates
from intake.domain.duplicates import Candidate, search_box
from intake.domain.errors import TrackingCodeTaken
from intake.domain.model import Placement, Report
from intake.domain.open311 import PublicProgress, StatusChange

# The statements of every report and every consumed case event, built once and executed with params dicts, so
# SQLAlchemy reuses their cache keys and compiled forms instead of building both again per call.
_ADD_REPORT = insert(reports)
_REPORT_BY_ID = select(reports).where(reports.c.report_id == bindparam("report_id"))
_OPEN_ORIGINALS = select(reports.c.report_id, reports.c.lat, reports.c.long, reports.c.submitted_at).where(
    reports.c.category_code == bindparam("category_code"),
    reports.c.submitted_at >= bindparam("since"),
    reports.c.duplicate_of.is_(None),
    reports.c.public_status == "open",
    reports.c.lat.between(bindparam("min_lat"), bindparam("max_lat")),
    reports.c.long.between(bindparam("min_long"), bindparam("max_long")),
)
# The SET clause is the params dict's column keys; the where clause's parameters are named apart from them.
_APPLY_STATUS = update(reports).where(
    reports.c.report_id == bindparam("_report_id"),
    or_(reports.c.lifecycle_at.is_(None), reports.c.lifecycle_at <= bindparam("_occurred_at")),
)
# An update is stored only for a report of ours: the existence check rides in the insert, not a lookup before it.
_UPDATE_COLUMNS = ("update_id", "report_id", "status", "description", "updated_at")
_UPDATE_VALUES = {name: bindparam(name, type_=request_updates.c[name].type) for name in _UPDATE_COLUMNS}
_ADD_UPDATE = insert(request_updates).from_select(
    _UPDATE_COLUMNS,
    select(*_UPDATE_VALUES.values()).where(exists().where(reports.c.report_id == _UPDATE_VALUES["report_id"])),
)
# A batch of case events: the reports' shown status read under lock, in one order (two replicas' batches then wait
# for each other rather than deadlock), and written back together.
_PROGRESS = {
    "public_status": "status",
    "status_notes": "notes",
    "agency_unit": "agency_unit",
    "expected_at": "expected_at",
    "lifecycle_at": "lifecycle_at",
    "updated_at": "updated_at",
}
_PROGRESS_OF = (
    select(reports.c.report_id, *(reports.c[column] for column in _PROGRESS))
    .where(reports.c.report_id.in_(bindparam("report_ids", expanding=True)))
    .order_by(reports.c.report_id)
    .with_for_update()
)
_SAVE_PROGRESS = update(reports).where(reports.c.report_id == bindparam("_report_id"))


@dataclass(frozen=True)
class RequestQuery:
    """GET requests: a list of ids overrides every other filter, as the Open311 specification says."""

    ids: tuple[str, ...] = ()
    service_codes: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    page: int = 1
    page_size: int = 50


class ReportRepository:
    def __init__(self, session: Session):
        self.session = session

    def add(self, report: Report) -> None:
        """Store a new report; `TrackingCodeTaken` (the unit of work must then roll back) when its code is
        another report's."""
        try:
            self._insert(report)
        except IntegrityError as exc:
            if "tracking_code" in str(exc.orig):
                raise TrackingCodeTaken(report.tracking_code) from exc
            raise

    def _insert(self, report: Report) -> None:
        p = report.placement
        self.session.execute(
            _ADD_REPORT,
            {
                "report_id": report.report_id,
                "tracking_code": report.tracking_code,
                "channel": report.channel,
                "category_code": report.category_code,
                "category_kind": report.category_kind,
                "urgency": report.urgency,
                "description": report.description,
                **p.located(),
                "address_id": p.address_id,
                "reporter_name": report.reporter_name,
                "reporter_phone": report.reporter_phone,
                "reporter_email": report.reporter_email,
                "reporter_wechat": report.reporter_wechat,
                "reporter_role": report.reporter_role,
                "status": report.status,
                "submitted_at": report.submitted_at,
                "confidence": report.confidence,
                "needs_triage": report.needs_triage,
                "media_urls": list(report.media_urls),
                "involved": report.involved,
                "attributes": report.attributes,
                "client": report.client,
                "duplicate_of": report.duplicate_of,
                "co_reporters": report.co_reporters,
                "alarm_count": report.alarm_count,
                "public_status": report.public_status,
                "status_notes": report.status_notes,
                "updated_at": report.submitted_at,
            },
        )

    def save_counts(self, report: Report) -> None:
        self.session.execute(
            update(reports)
            .where(reports.c.report_id == report.report_id)
            .values(co_reporters=report.co_reporters, alarm_count=report.alarm_count)
        )

    def get(self, report_id: str) -> Report | None:
        row = self.session.execute(_REPORT_BY_ID, {"report_id": report_id}).mappings().first()
        return _to_report(row) if row else None

    def by_tracking_code(self, code: str) -> Report | None:
        row = self.session.execute(select(reports).where(reports.c.tracking_code == code)).mappings().first()
        return _to_report(row) if row else None

    def open_originals(
        self, category_code: str, lat: float, long: float, radius_m: float, since: datetime
    ) -> list[Candidate]:
        """Open, non-duplicate reports of the category in a box around the point since a time (pre-filter)."""
        min_lat, max_lat, min_long, max_long = search_box(lat, long, radius_m)
        rows = self.session.execute(
            _OPEN_ORIGINALS,
            {
                "category_code": category_code,
                "since": since,
                "min_lat": min_lat,
                "max_lat": max_lat,
                "min_long": min_long,
                "max_long": max_long,
            },
        ).all()
        return [Candidate(r.report_id, r.lat, r.long, as_utc(r.submitted_at)) for r in rows]

    def anonymise_reporter(self, report_id: str) -> None:
        self.session.execute(
            update(reports)
            .where(reports.c.report_id == report_id)
            .values(reporter_name=None, reporter_phone=None, reporter_email=None, reporter_wechat=None)
        )

    def apply_status(self, report_id: str, change: StatusChange, occurred_at: datetime) -> bool:
        """Move the public status on, unless a later step is already shown (events may arrive out of order)."""
        values = {"public_status": change.status, "status_notes": change.notes, "updated_at": occurred_at}
        values["lifecycle_at"] = occurred_at
        if change.agency_unit is not None:
            values["agency_unit"] = change.agency_unit
        if change.expected_at is not None or change.status == "closed":
            values["expected_at"] = change.expected_at
        result = self.session.execute(_APPLY_STATUS, {"_report_id": report_id, "_occurred_at": occurred_at, **values})
        return result.rowcount == 1

    def add_update(self, update_id: str, report_id: str, status: str, description: str, at: datetime) -> bool:
        """False, and nothing written, when there is no such report (not one of ours)."""
        params = {"update_id": update_id, "report_id": report_id, "status": status, "description": description}
        return self.session.execute(_ADD_UPDATE, {**params, "updated_at": at}).rowcount == 1

    def progress_of(self, report_ids: set[str]) -> dict[str, PublicProgress]:
        """The shown status of those of `report_ids` that are reports of ours, locked until the transaction ends."""
        rows = self.session.execute(_PROGRESS_OF, {"report_ids": sorted(report_ids)}).mappings()
        return {
            row["report_id"]: PublicProgress(
                status=row["public_status"],
                notes=row["status_notes"],
                agency_unit=row["agency_unit"],
                expected_at=as_utc(row["expected_at"]),
                lifecycle_at=as_utc(row["lifecycle_at"]),
                updated_at=as_utc(row["updated_at"]),
            )
            for row in rows
        }

    def save_progress(self, progress: dict[str, PublicProgress]) -> None:
        """Write each report's new shown status: on PostgreSQL in one statement, elsewhere a statement each."""
        rows = [
            {"_report_id": report_id, **{column: getattr(shown, field) for column, field in _PROGRESS.items()}}
            for report_id, shown in progress.items()
        ]
        if len(rows) > 1 and self.session.get_bind().dialect.name == "postgresql":
            update_all(self.session, reports, "report_id", tuple(_PROGRESS), rows)
        else:
            for row in rows:
                self.session.execute(_SAVE_PROGRESS, row)

    def add_updates(self, rows: list[dict]) -> None:
        """Update history rows (`request_updates`' columns) of reports known to be ours, in one statement."""
        insert_all(self.session, request_updates, rows)

    def updates(
        self, report_ids: tuple[str, ...], start: datetime | None, end: datetime | None, page: int, page_size: int
    ) -> list[dict]:
        query = select(request_updates)
        if report_ids:
            query = query.where(request_updates.c.report_id.in_(report_ids))
        if start is not None:
            query = query.where(request_updates.c.updated_at >= start)
        if end is not None:
            query = query.where(request_updates.c.updated_at <= end)
        query = query.order_by(request_updates.c.updated_at, request_updates.c.update_id)
        rows = self.session.execute(query.offset((page - 1) * page_size).limit(page_size)).mappings().all()
        return [{**row, "updated_at": as_utc(row["updated_at"])} for row in rows]

    def search(self, q: RequestQuery) -> list[Report]:
        """Originals only: a merged duplicate is answered by its original's id."""
        query = select(reports).where(reports.c.duplicate_of.is_(None))
        if q.ids:
            query = query.where(or_(reports.c.report_id.in_(q.ids), reports.c.tracking_code.in_(q.ids)))
        else:
            conditions = []
            if q.service_codes:
                conditions.append(reports.c.category_code.in_(q.service_codes))
            if q.statuses:
                conditions.append(reports.c.public_status.in_(q.statuses))
            if q.start is not None:
                conditions.append(reports.c.submitted_at >= q.start)
            if q.end is not None:
                conditions.append(reports.c.submitted_at <= q.end)
            if conditions:
                query = query.where(and_(*conditions))
        query = query.order_by(reports.c.submitted_at.desc(), reports.c.report_id)
        rows = self.session.execute(query.offset((q.page - 1) * q.page_size).limit(q.page_size)).mappings().all()
        return [_to_report(row) for row in rows]

    def count(self) -> int:
        return self.session.execute(select(func.count()).select_from(reports)).scalar_one()

    # IoT alarms

    def record_alarm(self, device_id: str, alarm_id: str, alarm_type: str, at: datetime, report_id: str) -> bool:
        """False when this device already sent this alarm id (a retried batch): nothing is recorded twice."""
        try:
            with self.session.begin_nested():
                self.session.execute(
                    insert(iot_alarms).values(
                        device_id=device_id,
                        alarm_id=alarm_id,
                        alarm_type=alarm_type,
                        occurred_at=at,
                        report_id=report_id,
                    )
                )
        except IntegrityError:
            return False
        return True

    def alarm(self, device_id: str, alarm_id: str) -> str | None:
        return self.session.execute(
            select(iot_alarms.c.report_id).where(iot_alarms.c.device_id == device_id, iot_alarms.c.alarm_id == alarm_id)
        ).scalar_one_or_none()

    def last_alarm(self, device_id: str, alarm_type: str, before: datetime) -> tuple[datetime, str] | None:
        row = self.session.execute(
            select(iot_alarms.c.occurred_at, iot_alarms.c.report_id)
            .where(
                iot_alarms.c.device_id == device_id,
                iot_alarms.c.alarm_type == alarm_type,
                iot_alarms.c.occurred_at <= before,
            )
            .order_by(iot_alarms.c.occurred_at.desc())
            .limit(1)
        ).first()
        return (as_utc(row.occurred_at), row.report_id) if row else None


def _to_report(row) -> Report:
    return Report(
        report_id=row["report_id"],
        tracking_code=row["tracking_code"],
        channel=row["channel"],
        category_code=row["category_code"],
        category_kind=row["category_kind"],
        urgency=row["urgency"],
        description=row["description"],
        placement=Placement(
            row["grid_code"],
            row["community_code"],
            row["sub_centre_code"],
            row["lat"],
            row["long"],
            row["address"],
            row["address_id"],
        ),
        reporter_name=row["reporter_name"],
        reporter_phone=row["reporter_phone"],
        submitted_at=as_utc(row["submitted_at"]),
        status=row["status"],
        reporter_email=row["reporter_email"],
        reporter_wechat=row["reporter_wechat"],
        reporter_role=row["reporter_role"],
        confidence=row["confidence"],
        needs_triage=row["needs_triage"],
        media_urls=tuple(row["media_urls"] or ()),
        involved=row["involved"] or {},
        attributes=row["attributes"] or {},
        client=row["client"],
        duplicate_of=row["duplicate_of"],
        co_reporters=row["co_reporters"],
        alarm_count=row["alarm_count"],
        public_status=row["public_status"],
        status_notes=row["status_notes"],
        agency_unit=row["agency_unit"],
        expected_at=as_utc(row["expected_at"]),
        updated_at=as_utc(row["updated_at"]),
    )


class IntakeUnitOfWork(UnitOfWork):
    reports: ReportRepository

    def _open_repositories(self, session: Session) -> None:
        self.reports = ReportRepository(session)
