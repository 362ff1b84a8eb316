"""dispatch's case events as intake's Open311 read model shows them, through the service layer on both backends:
a report of ours moves on and gets an update row; a report intake does not hold gets nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from functools import partial

from sqlalchemy import event, select

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


def lifecycle(event_type: str, report_id: str, unit_code: str, at: datetime, **fields):
    """A case event other than the assignment: returned (the agency left as it was) or closed."""
    payload = {
        "case_id": "c-" + report_id[:8],
        "report_id": report_id,
        "tracking_code": "GL-TEST",
        "grid_code": unit_code,
        "tier": "grid",
        "unit_code": unit_code,
        "assignee_id": None,
        **fields,
    }
    event = new_envelope(type=event_type, source="dispatch", correlation_id=report_id, occurred_at=at, payload=payload)
    return parse_envelope(event.to_wire())


def submitted(database, ref, count: int):
    grids = [ref.grid_map.grids[code] for code in sorted(ref.grid_map.grids)[:count]]
    made = []
    for grid in grids:
        lat, long = grid.centroid
        cmd = SubmitReport(channel="app", category_code="street_lamp", description="路灯不亮", lat=lat, long=long)
        made.append((handlers.submit_report(database.uow(), ref, cmd, now=NOW).report, grid.code))
    return made


def shown(database, report_id: str):
    columns = (reports.c.public_status, reports.c.status_notes, reports.c.agency_unit, reports.c.lifecycle_at)
    with database.engine.connect() as conn:
        row = conn.execute(select(*columns).where(reports.c.report_id == report_id)).one()
        history = conn.execute(
            select(request_updates.c.status).where(request_updates.c.report_id == report_id)
        ).scalars()
        return row, sorted(history)


def test_a_batch_moves_each_report_of_ours_on_and_skips_the_rest(runtime_database):
    database = runtime_database("intake", metadata, "intake", uow_class=IntakeUnitOfWork)
    ref = load_reference(DEFAULT_DATA_DIR)
    made = submitted(database, ref, 4)
    (first, first_grid), (second, second_grid), (third, third_grid), (fourth, fourth_grid) = made
    progress = partial(handlers.record_cases_progress, ref=ref)
    before = assigned(fourth.report_id, fourth_grid, NOW)
    assert database.handle("intake.on_case_assigned", before, partial(handlers.record_case_progress, ref=ref))

    batch = [
        assigned(first.report_id, first_grid, NOW),
        assigned("not-ours", first_grid, NOW),
        assigned(second.report_id, second_grid, NOW + timedelta(minutes=1)),
        lifecycle("case_closed", third.report_id, third_grid, NOW + timedelta(minutes=2), outcome="resolved"),
        before,  # handled above: the inbox passes it over
    ]
    handled = database.handle_all("intake.on_case_assigned", batch, progress, together=True)

    assert handled == [True, True, True, True, False]
    for report, grid, status in ((first, first_grid, "open"), (second, second_grid, "open")):
        row, history = shown(database, report.report_id)
        assert (row.public_status, row.agency_unit, history) == (status, grid, [status])
    row, history = shown(database, third.report_id)
    assert (row.public_status, row.status_notes, history) == ("closed", "已结案", ["closed"])
    with database.engine.connect() as conn:
        everyone = conn.execute(select(request_updates.c.report_id)).scalars().all()
    assert "not-ours" not in everyone and len(everyone) == 4


def test_a_reports_steps_in_one_batch_show_what_they_would_in_order(runtime_database):
    """Arriving out of order in one batch: the assignment (with its agency) is applied before the later return
    (which leaves the agency as it was), as if each had arrived alone and in order."""
    database = runtime_database("intake", metadata, "intake", uow_class=IntakeUnitOfWork)
    ref = load_reference(DEFAULT_DATA_DIR)
    (report, grid), (other, other_grid) = submitted(database, ref, 2)
    batch = [
        lifecycle(
            "case_returned", report.report_id, grid, NOW + timedelta(minutes=5), returned_by="gw-1", reason="不属本网格"
        ),
        assigned(report.report_id, grid, NOW),
        assigned(other.report_id, other_grid, NOW),
    ]
    database.handle_all("intake.on_case_assigned", batch, partial(handlers.record_cases_progress, ref=ref), True)

    row, history = shown(database, report.report_id)
    assert row.status_notes == "承办单位退回，正在重新派遣"
    assert row.agency_unit == grid
    assert row.lifecycle_at.replace(tzinfo=UTC) == NOW + timedelta(minutes=5)
    assert history == ["open", "open"]


def test_a_batchs_step_older_than_the_one_shown_is_recorded_but_not_shown(runtime_database):
    database = runtime_database("intake", metadata, "intake", uow_class=IntakeUnitOfWork)
    ref = load_reference(DEFAULT_DATA_DIR)
    (report, grid), (other, other_grid) = submitted(database, ref, 2)
    later = NOW + timedelta(hours=1)
    progress = partial(handlers.record_cases_progress, ref=ref)
    closed = lifecycle(
        "case_resolved",
        report.report_id,
        grid,
        later,
        resolution="已修复",
        resolved_by="gw-1",
        reporter_recipient_id="r-1",
    )
    assert database.handle("intake.on_case_resolved", closed, partial(handlers.record_case_progress, ref=ref))

    batch = [assigned(report.report_id, other_grid, NOW), assigned(other.report_id, other_grid, NOW)]
    database.handle_all("intake.on_case_assigned", batch, progress, together=True)

    row, history = shown(database, report.report_id)
    assert (row.public_status, row.agency_unit) == ("closed", grid)
    assert history == ["closed", "open"]
    assert shown(database, other.report_id)[0].public_status == "open"


def test_a_batch_closing_cases_schedules_each_reporters_erasure(runtime_database):
    database = runtime_database("intake", metadata, "intake", uow_class=IntakeUnitOfWork)
    ref = load_reference(DEFAULT_DATA_DIR)
    made = submitted(database, ref, 3)
    batch = [
        lifecycle("case_closed", report.report_id, grid, NOW + timedelta(days=1), outcome="resolved")
        for report, grid in made
    ]
    progress = partial(handlers.record_cases_progress, ref=ref, retention=timedelta(days=30))
    database.handle_all("intake.on_case_closed", batch, progress, together=True)

    timers = database.metadata.tables["timers"]
    with database.engine.connect() as conn:
        rows = conn.execute(select(timers.c.key, timers.c.due_at, timers.c.correlation_id)).all()
    assert sorted((key, due.replace(tzinfo=UTC), cid) for key, due, cid in rows) == sorted(
        (r.report_id, NOW + timedelta(days=31), r.report_id) for r, _ in made
    )


def test_a_batch_of_case_events_takes_three_statements_on_postgresql(databases):
    """The read under lock, the update rows and the statuses: the same three for ten events as for two."""
    from gridlink.runtime.db import Database

    database = Database(databases("intake_pg", "postgresql"), metadata, "intake", IntakeUnitOfWork)
    metadata.create_all(database.engine)
    ref = load_reference(DEFAULT_DATA_DIR)
    made = submitted(database, ref, 10)
    seen: list[str] = []
    event.listen(database.engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
    batch = [assigned(report.report_id, grid, NOW) for report, grid in made]
    database.handle_all("intake.on_case_assigned", batch, partial(handlers.record_cases_progress, ref=ref), True)
    database.dispose()

    touching = [sql for sql in seen if '"reports"' in sql or "reports " in sql or "request_updates" in sql]
    assert len(touching) == 3, touching
