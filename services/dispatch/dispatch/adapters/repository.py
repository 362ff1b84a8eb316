"""Cases in and out of the database, as domain objects."""

from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from dispatch.adapters.orm import case_history, cases
from dispatch.domain.model import Case, HistoryEntry
from gridlink.runtime.db import UnitOfWork, as_utc

_CASE_FIELDS = [c.name for c in cases.columns]


class CaseRepository:
    def __init__(self, session: Session):
        self.session = session
        self._saved_history: dict[str, int] = {}

    def add(self, case: Case) -> None:
        self.session.execute(insert(cases).values(**{f: getattr(case, f) for f in _CASE_FIELDS}))
        self._write_history(case, 0)

    def save(self, case: Case) -> None:
        values = {f: getattr(case, f) for f in _CASE_FIELDS if f != "case_id"}
        self.session.execute(update(cases).where(cases.c.case_id == case.case_id).values(**values))
        self._write_history(case, self._saved_history.get(case.case_id, 0))

    def _write_history(self, case: Case, already: int) -> None:
        for entry in case.history[already:]:
            self.session.execute(insert(case_history).values(case_id=case.case_id, **entry.__dict__))
        self._saved_history[case.case_id] = len(case.history)

    def get(self, case_id: str) -> Case | None:
        return self._one(cases.c.case_id == case_id)

    def by_report(self, report_id: str) -> Case | None:
        return self._one(cases.c.report_id == report_id)

    def list(self, *, tracking_code: str | None = None, grid_code: str | None = None, limit: int = 100) -> list[Case]:
        query = select(cases).order_by(cases.c.opened_at.desc()).limit(limit)
        if tracking_code:
            query = query.where(cases.c.tracking_code == tracking_code)
        if grid_code:
            query = query.where(cases.c.grid_code == grid_code)
        return [self._load(row) for row in self.session.execute(query).mappings()]

    def _one(self, condition) -> Case | None:
        row = self.session.execute(select(cases).where(condition)).mappings().first()
        return self._load(row) if row else None

    def _load(self, row) -> Case:
        values = dict(row)
        values["deadline_at"] = as_utc(values["deadline_at"])
        values["opened_at"] = as_utc(values["opened_at"])
        entries = self.session.execute(
            select(case_history).where(case_history.c.case_id == row["case_id"]).order_by(case_history.c.id)
        ).mappings()
        history = [
            HistoryEntry(as_utc(e["at"]), e["action"], e["from_state"], e["to_state"], e["actor"], e["reason"])
            for e in entries
        ]
        case = Case(**values, history=history)
        self._saved_history[case.case_id] = len(history)
        return case


class DispatchUnitOfWork(UnitOfWork):
    cases: CaseRepository

    def _open_repositories(self, session: Session) -> None:
        self.cases = CaseRepository(session)
