"""Claiming due rows with a lease, shared by the outbox relay and the timer scanner.

Rows are taken under `FOR UPDATE SKIP LOCKED`, so replicas never wait on each other nor take the same row, and are
leased (`claimed_by`, `claim_expires_at`) rather than locked for the work, so a replica that dies mid-work leaves
rows that any replica claims again once the lease has run out.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Table, Update, bindparam, or_, select, update


def claim_due(table: Table, due: ColumnElement[bool], order_by: ColumnElement, returning: tuple) -> Update:
    """One statement that leases up to `:batch` rows matching `due` whose lease is free or ran out at `:now`, to
    `:owner` until `:expires`, counting the attempt, and returns `returning` of each."""
    t = table
    free = select(t.c.id).where(due).where(or_(t.c.claim_expires_at.is_(None), t.c.claim_expires_at < bindparam("now")))
    candidates = free.order_by(order_by).limit(bindparam("batch")).with_for_update(skip_locked=True)
    return (
        update(t)
        .where(t.c.id.in_(candidates))
        .values(claimed_by=bindparam("owner"), claim_expires_at=bindparam("expires"), attempts=t.c.attempts + 1)
        .returning(*returning)
    )
