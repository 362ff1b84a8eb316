"""The audit trail: who changed what, or read what is confidential, when and from where.

Rows are only ever inserted; no endpoint updates or deletes them, and on PostgreSQL the table refuses UPDATE and
DELETE outright (see `protect_audit_table`), so the record cannot be altered through the platform.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import select

from gridlink.runtime.auth import TokenError, bearer_token, verify_token
from gridlink.runtime.db import insert_all

log = logging.getLogger(__name__)


def actor_of(authorization: str | None, secret: str) -> tuple[str, str | None, str | None]:
    """(user, role, unit) of a verified token; callers without one are recorded as such, not refused here."""
    try:
        principal = verify_token(secret, bearer_token(authorization))
    except TokenError:
        return ("unauthenticated", None, None)
    return (principal.user_id, principal.role, principal.unit)


class AuditTrail:
    def __init__(self, secret: str, database: Callable):
        self.secret = secret
        self._database = database

    def record(self, request, status: int) -> None:
        database = self._database()
        if database is None:
            return
        user, role, unit = actor_of(request.headers.get("Authorization"), self.secret)
        source = request.headers.get("X-Forwarded-For", request.remote_addr or "")
        row = {
            "at": datetime.now(UTC),
            "actor": user,
            "role": role,
            "unit": unit,
            "action": f"{request.method} {request.path}"[:256],
            "status": status,
            "source": source[:128],
            "user_agent": (request.headers.get("User-Agent") or "")[:256],
        }
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
