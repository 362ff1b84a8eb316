"""Cases in and out of the database, as domain objects, with their history, periods and supervision records."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Table, bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from dispatch.adapters.orm import case_history, case_periods, cases, supervisions
from dispatch.domain.model import Case, HistoryEntry, Period, Supervision
from gridlink.runtime.db import AtCommit, UnitOfWork, WriteHeld, as_utc, insert_all, upsert

_CASE_FIELDS = [c.name for c in cases.columns]

# Built once and executed with params dicts (lists of them for child rows, one executemany each): SQLAlchemy then
# reuses their cache keys and compiled forms, where a statement built per call costs its construction and cache key.
# The unique report_id decides whether a case is new: a report re-announced under a new event_id inserts nothing.
_ADD_CASE = upsert(cases, ("report_id",))
_SAVE_CASE = update(cases).where(cases.c.case_id == bindparam("_case_id"))
_DROP_PERIODS = delete(case_periods).where(case_periods.c.case_id == bindparam("case_id"))
_CASE_BY = {
    column: select(cases).where(cases.c[column] == bindparam("value")) for column in ("case_id", "tracking_code")
}
_CASE_FOR_UPDATE_BY = {column: query.with_for_update() for column, query in _CASE_BY.items()}
_HISTORY_OF = select(case_history).where(case_history.c.case_id == bindparam("case_id")).order_by(case_history.c.id)
_PERIODS_OF = select(case_periods).where(case_periods.c.case_id == bindparam("case_id")).order_by(case_periods.c.no)
_SUPERVISIONS_OF = (
    select(supervisions).where(supervisions.c.case_id == bindparam("case_id")).order_by(supervisions.c.opened_at)
)


def _utc_all(values: dict) -> dict:
    return {k: as_utc(v) if isinstance(v, datetime) else v for k, v in values.items()}


class CaseRepository:
    """`at_commit` and `write_held` are the unit of work's (`insert_at_commit`, `write_held`): a new case's history
    and periods are inserted when the work commits, with a consumed batch's other new cases' in one statement
    each, and written before anything here reads or changes a case."""

    def __init__(self, session: Session, at_commit: AtCommit, write_held: WriteHeld):
        self.session = session
        self._at_commit = at_commit
        self._write_held = write_held
        self._saved: dict[str, tuple[int, int]] = {}  # case → (history rows, supervision rows) already stored

    def add(self, case: Case) -> bool:
        """False, and nothing written, when its report already has a case."""
        if self.session.execute(_ADD_CASE, {f: getattr(case, f) for f in _CASE_FIELDS}).rowcount != 1:
            return False
        for table, rows in self._children(case, (0, 0)):
            self._at_commit(table, rows, {case.case_id})
        self._saved[case.case_id] = (len(case.history), len(case.supervisions))
        return True

    def save(self, case: Case) -> None:
        self._write_held(case.case_id)
        values = {f: getattr(case, f) for f in _CASE_FIELDS if f != "case_id"}
        self.session.execute(_SAVE_CASE, {"_case_id": case.case_id, **values})
        self._write_children(case, self._saved.get(case.case_id, (0, 0)))

    def _write_children(self, case: Case, saved: tuple[int, int]) -> None:
        for table, rows in self._children(case, saved):
            if table is case_periods:  # few per case, and the open one changes: rewritten
                self.session.execute(_DROP_PERIODS, {"case_id": case.case_id})
            insert_all(self.session, table, rows)
        self._saved[case.case_id] = (len(case.history), len(case.supervisions))

    @staticmethod
    def _children(case: Case, saved: tuple[int, int]) -> list[tuple[Table, list[dict]]]:
        """The rows to write of a case's history and supervision records after the `saved` ones, and of all its
        periods. The domain's records hold flat values: a shallow copy of each is its row (`asdict` deep-copied
        every datetime, a tenth of dispatch's CPU in a profile)."""
        return [
            (case_history, [{"case_id": case.case_id, **entry.__dict__} for entry in case.history[saved[0] :]]),
            (supervisions, [dict(record.__dict__) for record in case.supervisions[saved[1] :]]),
            (case_periods, [{"case_id": case.case_id, **period.__dict__} for period in case.periods]),
        ]

    def get(self, case_id: str, for_update: bool = False) -> Case | None:
        return self._one("case_id", case_id, for_update)

    def by_tracking_code(self, tracking_code: str) -> Case | None:
        return self._one("tracking_code", tracking_code)

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
        self._write_held(None)
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

    def _one(self, column: str, value: str, for_update: bool = False) -> Case | None:
        self._write_held(value if column == "case_id" else None)
        query = _CASE_BY[column]
        if for_update:
            # Two workers acting on one case (a person and a timer) take turns, so neither overwrites the other.
            query = _CASE_FOR_UPDATE_BY[column]
        row = self.session.execute(query, {"value": value}).mappings().first()
        return self._load(row) if row else None

    def _load(self, row) -> Case:
        values = _utc_all(dict(row))
        key = {"case_id": row["case_id"]}
        history = [
            HistoryEntry(as_utc(e["at"]), e["action"], e["from_state"], e["to_state"], e["actor"], e["reason"])
            for e in self.session.execute(_HISTORY_OF, key).mappings()
        ]
        periods = [
            Period(**_utc_all({k: v for k, v in p.items() if k != "case_id"}))
            for p in self.session.execute(_PERIODS_OF, key).mappings()
        ]
        records = [Supervision(**_utc_all(dict(s))) for s in self.session.execute(_SUPERVISIONS_OF, key).mappings()]
        case = Case(**values, history=history, periods=periods, supervisions=records)
        self._saved[row["case_id"]] = (len(history), len(records))
        return case

    def periods_between(self, start: datetime, end: datetime) -> list[dict]:
        """Assignment periods that began in [start, end), with the case's category, for performance figures."""
        self._write_held(None)
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
        self.cases = CaseRepository(session, self.insert_at_commit, self.write_held)
