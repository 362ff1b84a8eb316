"""The audit trail: who changed what, or read what is confidential, when and from where.

Rows are only ever inserted; no endpoint updates or deletes them, and on PostgreSQL the table refuses UPDATE and
DELETE outright (see `protect_audit_table`), so the record cannot be altered through the platform.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from gridlink.runtime.auth import TokenError, bearer_token, verify_token
from gridlink.runtime.db import insert_all

log = logging.getLogger(__name__)
# Where a request carries its pending audit row (`PendingAudit`) to the unit of work that commits its change.
PENDING_KEY = "gridlink.pending_audit"


def actor_of(authorization: str | None, secret: str) -> tuple[str, str | None, str | None]:
    """(user, role, unit) of a verified token; callers without one are recorded as such, not refused here."""
    try:
        principal = verify_token(secret, bearer_token(authorization))
    except TokenError:
        return ("unauthenticated", None, None)
    return (principal.user_id, principal.role, principal.unit)


@dataclass
class PendingAudit:
    """A request's audit row, written by the unit of work that commits the request's change, in that transaction.

    A change is then never committed without its record, and the request costs no transaction of its own for it
    (one in every report's three). `status` is what the route answers when its work is committed; an answer that
    differs is recorded again, in its own transaction, by the entrypoint.
    """

    row: dict
    status: int
    written: bool = False

    def final_row(self) -> dict:
        return {**self.row, "at": datetime.now(UTC), "status": self.status}


def pending_audit(worker_ctx) -> PendingAudit | None:
    """The pending audit row of the HTTP request a worker handles, if its route writes one with its change."""
    environ = getattr(worker_ctx.args[0], "environ", None) if worker_ctx.args else None
    return environ.get(PENDING_KEY) if isinstance(environ, dict) else None


class AuditTrail:
    def __init__(self, secret: str, database: Callable):
        self.secret = secret
        self._database = database

    def row(self, request) -> dict:
        """Who did what from where: the record of `request` without its time and status."""
        user, role, unit = actor_of(request.headers.get("Authorization"), self.secret)
        source = request.headers.get("X-Forwarded-For", request.remote_addr or "")
        return {
            "actor": user,
            "role": role,
            "unit": unit,
            "action": f"{request.method} {request.path}"[:256],
            "source": source[:128],
            "user_agent": (request.headers.get("User-Agent") or "")[:256],
        }

    def pend(self, request, status: int) -> PendingAudit:
        """Hand `request`'s row to the unit of work that will commit its change (see `PendingAudit`)."""
        pending = PendingAudit(self.row(request), status)
        request.environ[PENDING_KEY] = pending
        return pending

    def record(self, request, status: int) -> None:
        """Write `request`'s row in a transaction of its own: a refused request has no change to join."""
        database = self._database()
        if database is None:
            return
        row = {**self.row(request), "at": datetime.now(UTC), "status": status}
        try:
            # A statement built once and run on the service's own session (straight to the driver after its first
            # use): built and compiled for every request, it was 18 % of intake's request path in a py-spy profile.
            with database.session_factory() as session, session.begin():
                insert_all(session, database.metadata.tables["audit_log"], [row])
        except Exception:
            # The answer has been given; losing its audit row must at least be loud.
            log.exception("could not write the audit record")


def query(database, actor: str | None = None, since: datetime | None = None, limit: int = 200) -> list[dict]:
    table = database.metadata.tables["audit_log"]
    q = select(table).order_by(table.c.id.desc()).limit(limit)
    if actor:
        q = q.where(table.c.actor == actor)
    if since:
        q = q.where(table.c.at >= since)
    with database.engine.connect() as conn:
        return [dict(r) for r in conn.execute(q).mappings()]


def protect_audit_table(op) -> None:
    """On PostgreSQL, make the audit table append-only at the database level."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE RULE audit_log_no_update AS ON UPDATE TO audit_log DO INSTEAD NOTHING")
        op.execute("CREATE RULE audit_log_no_delete AS ON DELETE TO audit_log DO INSTEAD NOTHING")
