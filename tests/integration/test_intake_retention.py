"""Retention of reporters' personal data: once a case closes, the reporter's name and contacts are erased after
the configured period, on a clock the test controls; the report itself stays, masked."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from sqlalchemy import select

from gridlink.contracts import new_envelope, parse_envelope
from gridlink.refdata import DEFAULT_DATA_DIR
from gridlink.runtime.db import Database
from gridlink.runtime.migrations import upgrade
from gridlink.runtime.timers import TimerScanner
from intake import handlers
from intake.adapters.orm import metadata, reports
from intake.adapters.reference import load_reference
from intake.adapters.repository import IntakeUnitOfWork
from intake.domain.commands import SubmitReport
from intake.domain.model import Reporter

NOW = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)


def test_a_closed_cases_reporter_is_erased_after_the_retention_period(new_database, backend):
    url = new_database("intake")
    upgrade(Path(importlib.import_module("intake.adapters").__file__).parent / "migrations", url)
    database = Database(url, metadata, "intake", IntakeUnitOfWork)
    ref = load_reference(DEFAULT_DATA_DIR)
    grid = ref.grid_map.grids[sorted(ref.grid_map.grids)[3]]
    lat, long = grid.centroid
    cmd = SubmitReport(
        channel="app",
        category_code="street_lamp",
        description="路灯不亮",
        lat=lat,
        long=long,
        reporter=Reporter(name="王测试", phone="13900009999", email="w@example.cn"),
    )
    report = handlers.submit_report(database.uow(), ref, cmd, now=NOW).report
    closed = new_envelope(
        type="case_closed",
        source="dispatch",
        correlation_id=report.report_id,
        occurred_at=NOW + timedelta(days=3),
        payload={
            "case_id": "c-1",
            "report_id": report.report_id,
            "tracking_code": report.tracking_code,
            "grid_code": grid.code,
            "tier": "grid",
            "unit_code": grid.code,
            "assignee_id": None,
            "outcome": "resolved",
        },
    )
    closed = parse_envelope(closed.to_wire())
    handle = partial(handlers.record_case_progress, ref=ref, retention=timedelta(days=30))
    assert database.handle("intake.on_case_closed", closed, handle)

    scanner = TimerScanner(database, {handlers.PURGE_REPORTER: handlers.purge_reporter}, "test")

    def reporter_row():
        with database.engine.connect() as conn:
            return conn.execute(
                select(
                    reports.c.reporter_name, reports.c.reporter_phone, reports.c.reporter_email, reports.c.description
                ).where(reports.c.report_id == report.report_id)
            ).one()

    assert scanner.fire_due(NOW + timedelta(days=32)) == 0  # 29 days after closure: kept
    assert reporter_row()[:3] == ("王测试", "13900009999", "w@example.cn")
    assert scanner.fire_due(NOW + timedelta(days=33, minutes=1)) == 1
    assert reporter_row() == (None, None, None, "路灯不亮")
    database.dispose()
