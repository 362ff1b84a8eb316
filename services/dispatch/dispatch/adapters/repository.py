"""Cases in and out of the database, as domain objects, with their history, periods and supervision records."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from dispatch.adapters.orm import case_history, case_periods, cases, supervisions
from dispatch.domain.model import Case, HistoryEntry, Period, Supervision
from gridlink.runtime.db import UnitOfWork, as_utc

_CASE_FIELDS = [c.name for c in cases.columns]
_PERIOD_TIMES = ("assigned_at", "acceptance_due", "resolution_due", "accepted_at", "resolved_at", "ended_at")


def _utc_all(values: dict) -> dict:
    return {k: as_utc(v) if isinstance(v, datetime) else v for k, v in values.items()}


class CaseRepository:
    def __init__(self, session: Session):
        self.session = session
        self._saved: dict[str, tuple[int, int]] = {}  # case → (history rows, supervision rows) already stored

    def add(self, case: Case) -> None:
        self.session.execute(insert(cases).values(**{f: getattr(case, f) for f in _CASE_FIELDS}))
        self._write_children(case, (0, 0))

    def save(self, case: Case) -> None:
        values = {f: getattr(case, f) for f in _CASE_FIELDS if f != "case_id"}
        self.session.execute(update(cases).where(cases.c.case_id == case.case_id).values(**values))
        self._write_children(case, self._saved.get(case.case_id, (0, 0)))

    def _write_children(self, case: Case, saved: tuple[int, int]) -> None:
        for entry in case.history[saved[0] :]:
            self.session.execute(insert(case_history).values(case_id=case.case_id, **entry.__dict__))
        for record in case.supervisions[saved[1] :]:
            self.session.execute(insert(supervisions).values(**asdict(record)))
        # Periods are few per case and their open one changes: rewrite them.
        self.session.execute(delete(case_periods).where(case_periods.c.case_id == case.case_id))
        for period in case.periods:
            self.session.execute(insert(case_periods).values(case_id=case.case_id, **asdict(period)))
        self._saved[case.case_id] = (len(case.history), len(case.supervisions))

    def get(self, case_id: str, for_update: bool = False) -> Case | None:
        return self._one(cases.c.case_id == case_id, for_update)

    def by_report(self, report_id: str) -> Case | None:
        return self._one(cases.c.report_id == report_id)

    def by_tracking_code(self, tracking_code: str) -> Case | None:
        return self._one(cases.c.tracking_code == tracking_code)

    def list(
        self,
        *,
        tracking_code: str | None = None,
        grid_code: str | None = None,
        state: str | None = None,
        scope: tuple[str, str] | None = None,
        limit: int = 100,
    ) -> list[Case]:
        """`scope` is (column, code prefix): what the caller's unit covers, e.g. ("grid_code", "150302001")."""
        query = select(cases).order_by(cases.c.opened_at.desc()).limit(limit)
        if tracking_code:
            query = query.where(cases.c.tracking_code == tracking_code)
        if grid_code:
            query = query.where(cases.c.grid_code == grid_code)
        if state:
            query = query.where(cases.c.state == state)
        if scope:
            column, prefix = scope
            query = query.where(cases.c[column].startswith(prefix, autoescape=True))
        return [self._load(row) for row in self.session.execute(query).mappings()]

    def _one(self, condition, for_update: bool = False) -> Case | None:
        query = select(cases).where(condition)
        if for_update:
            # Two workers acting on one case (a person and a timer) take turns, so neither overwrites the other.
            query = query.with_for_update()
        row = self.session.execute(query).mappings().first()
        return self._load(row) if row else None

    def _load(self, row) -> Case:
        values = _utc_all(dict(row))
        case_id = row["case_id"]
        history = [
            HistoryEntry(as_utc(e["at"]), e["action"], e["from_state"], e["to_state"], e["actor"], e["reason"])
            for e in self.session.execute(
                select(case_history).where(case_history.c.case_id == case_id).order_by(case_history.c.id)
            ).mappings()
        ]
        periods = [
            Period(**_utc_all({k: v for k, v in p.items() if k != "case_id"}))
            for p in self.session.execute(
                select(case_periods).where(case_periods.c.case_id == case_id).order_by(case_periods.c.no)
            ).mappings()
        ]
        records = [
            Supervision(**_utc_all(dict(s)))
            for s in self.session.execute(
                select(supervisions).where(supervisions.c.case_id == case_id).order_by(supervisions.c.opened_at)
            ).mappings()
        ]
        case = Case(**values, history=history, periods=periods, supervisions=records)
        self._saved[case_id] = (len(history), len(records))
        return case

    def periods_between(self, start: datetime, end: datetime) -> list[dict]:
        """Assignment periods that began in [start, end), with the case's category, for performance figures."""
        query = (
            select(case_periods, cases.c.grid_code, cases.c.category_code)
            .join(cases, cases.c.case_id == case_periods.c.case_id)
            .where(case_periods.c.assigned_at >= start, case_periods.c.assigned_at < end)
        )
        return [_utc_all(dict(r)) for r in self.session.execute(query).mappings()]

    def count_by_state_and_tier(self) -> list[tuple[str, str, int]]:
        query = select(cases.c.state, cases.c.tier, func.count()).group_by(cases.c.state, cases.c.tier)
        return [(s, t or "none", n) for s, t, n in self.session.execute(query)]


class DispatchUnitOfWork(UnitOfWork):
    cases: CaseRepository

    def _open_repositories(self, session: Session) -> None:
        self.cases = CaseRepository(session)
