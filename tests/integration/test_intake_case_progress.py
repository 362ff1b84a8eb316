"""dispatch's case events as intake's Open311 read model shows them, through the service layer on both backends:
a report of ours moves on and gets an update row; a report intake does not hold gets nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from functools import partial

from sqlalchemy import select

from gridlink.contracts import new_envelope, parse_envelope
from gridlink.refdata import DEFAULT_DATA_DIR
from intake import handlers
from intake.adapters.orm import metadata, reports, request_updates
from intake.adapters.reference import load_reference
from intake.adapters.repository import IntakeUnitOfWork
from intake.domain.commands import SubmitReport

NOW = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)


def assigned(report_id: str, unit_code: str, at: datetime):
    event = new_envelope(
        type="case_assigned",
        source="dispatch",
        correlation_id=report_id,
        occurred_at=at,
        payload={
            "case_id": str(uuid.uuid4()),
            "report_id": report_id,
            "tracking_code": "GL-TEST",
            "grid_code": unit_code,
            "tier": "grid",
            "unit_code": unit_code,
            "assignee_id": "gw-1",
            "assignee_role": "grid_worker",
            "category_code": "street_lamp",
            "urgency": "normal",
            "summary": "路灯不亮",
            "deadline_at": at + timedelta(days=2),
        },
    )
    return parse_envelope(event.to_wire())


def test_only_a_report_of_ours_gets_the_status_and_an_update(runtime_database):
    database = runtime_database("intake", metadata, "intake", uow_class=IntakeUnitOfWork)
    ref = load_reference(DEFAULT_DATA_DIR)
    grid = ref.grid_map.grids[sorted(ref.grid_map.grids)[3]]
    lat, long = grid.centroid
    cmd = SubmitReport(channel="app", category_code="street_lamp", description="路灯不亮", lat=lat, long=long)
    ours = handlers.submit_report(database.uow(), ref, cmd, now=NOW).report
    progress = partial(handlers.record_case_progress, ref=ref)

    assert database.handle("intake.on_case_assigned", assigned("not-ours", grid.code, NOW), progress)
    assert database.handle("intake.on_case_assigned", assigned(ours.report_id, grid.code, NOW), progress)

    with database.engine.connect() as conn:
        updates = conn.execute(select(request_updates.c.report_id, request_updates.c.status)).all()
        status = conn.execute(select(reports.c.public_status, reports.c.agency_unit, reports.c.lifecycle_at)).one()
    assert updates == [(ours.report_id, "open")]
    assert status.agency_unit == grid.code and status.lifecycle_at is not None
