"""Dispute cases in and out of the database, as domain objects."""

from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from gridlink.runtime.db import UnitOfWork, as_utc
from mediation.adapters.orm import disputes
from mediation.domain.model import DisputeCase

_FIELDS = [c.name for c in disputes.columns]


class DisputeRepository:
    def __init__(self, session: Session):
        self.session = session

    def add(self, dispute: DisputeCase) -> None:
        self.session.execute(insert(disputes).values(**{f: getattr(dispute, f) for f in _FIELDS}))

    def get(self, dispute_id: str) -> DisputeCase | None:
        return self._one(disputes.c.dispute_id == dispute_id)

    def by_case(self, case_id: str) -> DisputeCase | None:
        return self._one(disputes.c.case_id == case_id)

    def list(self, limit: int = 100) -> list[DisputeCase]:
        rows = self.session.execute(select(disputes).order_by(disputes.c.opened_at.desc()).limit(limit)).mappings()
        return [_load(r) for r in rows]

    def _one(self, condition) -> DisputeCase | None:
        row = self.session.execute(select(disputes).where(condition)).mappings().first()
        return _load(row) if row else None


def _load(row) -> DisputeCase:
    values = dict(row)
    values["opened_at"] = as_utc(values["opened_at"])
    values["deadline_at"] = as_utc(values["deadline_at"])
    return DisputeCase(**values)


class MediationUnitOfWork(UnitOfWork):
    disputes: DisputeRepository

    def _open_repositories(self, session: Session) -> None:
        self.disputes = DisputeRepository(session)
