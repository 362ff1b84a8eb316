"""Opening a case from report_accepted, straight through the service layer on both backends: one case per
report, whatever event_id announces it, with its history, period, events and deadline timers written together."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from functools import partial

from sqlalchemy import event, func, select

from dispatch import handlers
from dispatch.adapters.orm import case_history, case_periods, cases, metadata
from dispatch.adapters.reference import load_reference
from dispatch.adapters.repository import DispatchUnitOfWork
from dispatch.domain.model import Case
from gridlink.contracts import new_envelope
from gridlink.refdata import DEFAULT_DATA_DIR
from gridlink.runtime.auth import Principal
from tests.integration.test_dispatch_lifecycle import report

NOW = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)


def counts(database) -> dict[str, int]:
    tables = {"cases": cases, "history": case_history, "periods": case_periods, **metadata.tables}
    names = ("cases", "history", "periods", "outbox", "timers")
    with database.engine.connect() as conn:
        return {n: conn.execute(select(func.count()).select_from(tables[n])).scalar_one() for n in names}


def test_a_report_re_announced_under_a_new_event_id_still_has_one_case(runtime_database):
    database = runtime_database("dispatch", metadata, "dispatch", uow_class=DispatchUnitOfWork)
    open_case = partial(handlers.open_case, ref=load_reference(DEFAULT_DATA_DIR), now=NOW)
    fields = report()

    def announce():
        event = new_envelope(type="report_accepted", source="intake", payload=fields, correlation_id=str(uuid.uuid4()))
        assert database.handle("dispatch.on_report_accepted", event, open_case)

    announce()
    first = counts(database)
    assert first["cases"] == 1 and first["periods"] == 1 and first["outbox"] >= 1 and first["timers"] >= 1
    assert first["history"] == 2  # received, then assigned by the rules

    announce()
    assert counts(database) == first  # nothing more: no second case, no second case_assigned, no timers re-armed
    case = handlers.get_case(database.uow(), _only_case_id(database))
    assert [e.action for e in case.history] == ["receive", "assign"]
    assert [p.no for p in case.periods] == [1]


def _only_case_id(database) -> str:
    with database.engine.connect() as conn:
        return conn.execute(select(cases.c.case_id)).scalar_one()


def accepted_report():
    return new_envelope(type="report_accepted", source="intake", payload=report(), correlation_id=str(uuid.uuid4()))


def test_a_batch_of_new_cases_writes_their_history_and_periods_at_its_commit_in_one_statement_each(runtime_database):
    database = runtime_database("dispatch", metadata, "dispatch", uow_class=DispatchUnitOfWork)
    open_case = partial(handlers.open_case, ref=load_reference(DEFAULT_DATA_DIR), now=NOW)
    sent: list[str] = []
    event.listen(database.engine, "before_cursor_execute", lambda *args: sent.append(args[2]))
    events = [accepted_report() for _ in range(4)]
    assert database.handle_all("dispatch.on_report_accepted", events, open_case) == [True] * 4
    for table in ("case_history", "case_periods"):
        assert len([s for s in sent if s.startswith(f'INSERT INTO "{table}"')]) == 1
    found = counts(database)
    assert (found["cases"], found["history"], found["periods"]) == (4, 8, 4)


def test_a_case_added_and_changed_in_one_unit_of_work_keeps_every_history_entry_once(runtime_database):
    database = runtime_database("dispatch", metadata, "dispatch", uow_class=DispatchUnitOfWork)
    ref, admin = load_reference(DEFAULT_DATA_DIR), Principal("U1", "admin", "", 0)
    with database.uow() as uow:
        uow.cause = accepted_report()
        case = Case.open_from_report(uow.cause.payload, uow.cause.correlation_id, NOW)
        case.assign(ref.routing.route(case.category_code, case.urgency, case.place, ref.directory)[1], ref.policy,
                    ref.calendar, NOW, reason="test")  # fmt: skip
        assert uow.cases.add(case)  # its history and period wait for the commit...
        loaded = uow.cases.get(case.case_id, for_update=True)  # ...or for a read of the case, which writes them
        assert [e.action for e in loaded.history] == ["receive", "assign"] and len(loaded.periods) == 1
        loaded.accept(admin, NOW)
        uow.cases.save(loaded)
        uow.commit()
    stored = handlers.get_case(database.uow(), case.case_id)
    assert [e.action for e in stored.history] == ["receive", "assign", "accept"]
    assert [p.no for p in stored.periods] == [1] and counts(database)["history"] == 3
