"""The runtime's per-event statements (inbox claim, outbox insert, timer upsert and cancel) hit SQLAlchemy's
compiled cache after their first use, on both backends: compiling one costs ~0.5 ms of CPU."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import event, select
from sqlalchemy.engine.default import CACHE_HIT

from gridlink.runtime.db import Database, insert_all, update_all
from tests.integration.messaging_service import metadata
from tests.integration.test_consumer import case_assigned


@pytest.fixture
def database(runtime_database):
    return runtime_database("cache", metadata, "dispatch")


def one_event(database, i: int) -> None:
    envelope = case_assigned()
    with database.uow() as uow:
        uow.claim_event("rtest.on_case_assigned", envelope)
        uow.publish("case_assigned", {**envelope.payload, "deadline_at": datetime.now(UTC)})
        uow.schedule("deadline", f"c-{i}", datetime.now(UTC), {"i": i})
        uow.cancel_timer("reminder", f"c-{i}")
        uow.commit()


def test_the_per_event_statements_are_compiled_once(database):
    # A listener keeps every statement on SQLAlchemy's path (lean_session.py), from the first event on.
    hits: list[tuple[str, bool]] = []

    @event.listens_for(database.engine, "after_execute")
    def _executed(_conn, clause, _multiparams, _params, _options, result):
        hits.append((str(clause).split("(")[0], result.context.cache_hit is CACHE_HIT))

    one_event(database, 0)
    hits.clear()
    one_event(database, 1)
    assert len(hits) == 4
    assert [statement for statement, hit in hits if not hit] == []


def test_outbox_rows_of_a_unit_of_work_are_written_in_one_statement_per_fifty(database):
    inserts: list[str] = []
    event.listen(
        database.engine,
        "before_cursor_execute",
        lambda _conn, _cursor, statement, *_: inserts.append(statement) if 'INTO "outbox"' in statement else None,
    )
    envelopes = [case_assigned() for _ in range(120)]
    with database.uow() as uow:
        now = datetime.now(UTC)
        published = [
            uow.publish("case_assigned", {**e.payload, "deadline_at": now}, e.correlation_id).event_id
            for e in envelopes
        ]
        uow.commit()

    assert [statement.count("), (") + 1 for statement in inserts] == [50, 50, 20]
    outbox = metadata.tables["outbox"]
    with database.engine.connect() as conn:
        rows = conn.execute(select(outbox).order_by(outbox.c.id)).mappings().all()
    assert [row["event_id"] for row in rows] == published
    assert {(row["event_type"], row["attempts"], row["unroutable"], row["published_at"]) for row in rows} == {
        ("case_assigned", 0, False, None)
    }
    assert [json.loads(row["body"])["correlation_id"] for row in rows] == [e.correlation_id for e in envelopes]


def test_update_all_sets_many_rows_in_one_statement_and_only_those_still_as_expected(databases):
    """`update_all` is PostgreSQL's (`UPDATE … FROM (VALUES …)`); callers on SQLite keep a statement a row."""
    pg = Database(databases("update_all", "postgresql"), metadata, "dispatch")
    metadata.create_all(pg.engine)
    effects = metadata.tables["effects"]
    with pg.uow() as uow:
        insert_all(uow.session, effects, [{"event_id": f"e-{i}", "case_id": f"c-{i}"} for i in range(60)])
        uow.commit()
    statements: list[str] = []
    event.listen(pg.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    with pg.uow() as uow:
        rows = [{"_event_id": f"e-{i}", "case_id": f"moved-{i}", "_case_id": f"c-{i}"} for i in range(60)]
        rows[7]["_case_id"] = "stale"  # no longer as this row expects: left alone
        assert update_all(uow.session, effects, "event_id", ("case_id",), rows, expect=("case_id",)) == 59
        uow.commit()
    assert len([s for s in statements if s.startswith('UPDATE "effects"')]) == 2  # 50 rows, then 10
    with pg.engine.connect() as conn:
        stored = dict(conn.execute(select(effects.c.event_id, effects.c.case_id)).all())
    assert stored["e-7"] == "c-7" and stored["e-8"] == "moved-8" and stored["e-59"] == "moved-59"
    pg.dispose()
