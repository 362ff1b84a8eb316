"""A tracking code drawn twice in a day: the second report is stored under a new one, on both backends."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from gridlink.refdata import DEFAULT_DATA_DIR
from intake import handlers
from intake.adapters.orm import metadata, reports
from intake.adapters.reference import load_reference
from intake.adapters.repository import IntakeUnitOfWork
from intake.domain import model
from intake.domain.commands import SubmitReport
from intake.domain.errors import TrackingCodeTaken

NOW = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
REF = load_reference(DEFAULT_DATA_DIR)


def report_at(grid_index: int, category: str) -> SubmitReport:
    lat, long = REF.grid_map.grids[sorted(REF.grid_map.grids)[grid_index]].centroid
    return SubmitReport(channel="app", category_code=category, description="路灯不亮", lat=lat, long=long)


def stored(database) -> list[tuple[str, str]]:
    with database.engine.connect() as conn:
        return sorted(conn.execute(select(reports.c.report_id, reports.c.tracking_code)).all())


def outbox_codes(database) -> list[str]:
    outbox = metadata.tables["outbox"]
    with database.engine.connect() as conn:
        bodies = conn.execute(select(outbox.c.body).where(outbox.c.event_type == "report_accepted")).scalars()
        return sorted(json.loads(body)["payload"]["tracking_code"] for body in bodies)


def test_a_tracking_code_already_taken_is_drawn_again_and_nothing_of_the_clash_is_kept(runtime_database, monkeypatch):
    database = runtime_database("intake", metadata, "intake", uow_class=IntakeUnitOfWork)
    codes = iter(["HB-261130-AAAAAA", "HB-261130-AAAAAA", "HB-261130-BBBBBB"])
    monkeypatch.setattr(model, "new_tracking_code", lambda _now: next(codes))
    first = handlers.submit_report(database.uow(), REF, report_at(3, "street_lamp"), now=NOW).report
    second = handlers.submit_report(database.uow(), REF, report_at(40, "noise"), now=NOW).report
    assert (first.tracking_code, second.tracking_code) == ("HB-261130-AAAAAA", "HB-261130-BBBBBB")
    assert stored(database) == sorted(
        [(first.report_id, first.tracking_code), (second.report_id, second.tracking_code)]
    )
    assert outbox_codes(database) == ["HB-261130-AAAAAA", "HB-261130-BBBBBB"]  # no event of the attempt undone


def test_after_three_clashes_the_report_is_refused_and_nothing_is_stored(runtime_database, monkeypatch):
    database = runtime_database("intake", metadata, "intake", uow_class=IntakeUnitOfWork)
    monkeypatch.setattr(model, "new_tracking_code", lambda _now: "HB-261130-AAAAAA")
    first = handlers.submit_report(database.uow(), REF, report_at(3, "street_lamp"), now=NOW).report
    with pytest.raises(TrackingCodeTaken):
        handlers.submit_report(database.uow(), REF, report_at(40, "noise"), now=NOW)
    assert stored(database) == [(first.report_id, "HB-261130-AAAAAA")]
    assert outbox_codes(database) == ["HB-261130-AAAAAA"]
