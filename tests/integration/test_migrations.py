"""Each service's Alembic migrations build exactly the schema its tables declare, on both backends."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from gridlink.runtime.migrations import upgrade

SERVICES = ["intake", "dispatch", "mediation", "volunteer", "notification", "console"]


@pytest.mark.parametrize("service", SERVICES)
def test_migrations_match_the_declared_tables(service, new_database, backend):
    url = new_database(service)
    migrations = Path(importlib.import_module(f"{service}.adapters").__file__).parent / "migrations"
    upgrade(migrations, url)
    upgrade(migrations, url)  # a second run is a no-op, as on every restart
    metadata = importlib.import_module(f"{service}.adapters.orm").metadata
    engine = create_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
        tables = set(inspect(conn).get_table_names())
    engine.dispose()
    assert diff == []
    assert {"outbox", "processed_events", "alembic_version"} <= tables


def test_notification_swaps_its_recipient_index_on_a_table_with_messages_and_back(new_database, backend):
    """0003 replaces the index on a person alone with one on (person, channel, time), keeping the rows; on
    PostgreSQL outside a transaction (CONCURRENTLY), which a migration must ask for explicitly."""
    from alembic import command

    from gridlink.runtime.migrations import _config

    url = new_database("notification_0003")
    migrations = Path(importlib.import_module("notification.adapters").__file__).parent / "migrations"
    upgrade(migrations, url, "0002")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO messages (message_id, recipient_id, channel, template_code, body, trigger_event_id,"
            " correlation_id, status, created_at) VALUES ('m1', 'S0001', 'inbox', 'case_assigned', 'b', 'e1', 'c1',"
            " 'delivered', '2026-11-30 08:00:00+00')"
        )

    def indexes() -> dict[str, list[str]]:
        with engine.connect() as conn:
            return {i["name"]: i["column_names"] for i in inspect(conn).get_indexes("messages")}

    upgrade(migrations, url)
    after = indexes()
    assert after["ix_messages_recipient_channel_created"] == ["recipient_id", "channel", "created_at"]
    assert "ix_messages_recipient_id" not in after
    command.downgrade(_config(migrations, url), "0002")
    before = indexes()
    assert before["ix_messages_recipient_id"] == ["recipient_id"]
    assert "ix_messages_recipient_channel_created" not in before
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM messages").scalar_one() == 1
    engine.dispose()


@pytest.mark.parametrize("backend", ["postgresql"])  # only PostgreSQL builds indexes concurrently
def test_notification_rebuilds_a_recipient_index_an_interrupted_concurrent_build_left_invalid(new_database, backend):
    from sqlalchemy.exc import IntegrityError

    url = new_database("notification_invalid")
    migrations = Path(importlib.import_module("notification.adapters").__file__).parent / "migrations"
    upgrade(migrations, url, "0002")
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for n in (1, 2):  # two rows the same on the index's columns, so that a unique build fails half-way
            conn.exec_driver_sql(
                "INSERT INTO messages (message_id, recipient_id, channel, template_code, body, trigger_event_id,"
                f" correlation_id, status, created_at) VALUES ('m{n}', 'S0001', 'inbox', 'case_assigned', 'b',"
                f" 'e{n}', 'c{n}', 'delivered', '2026-11-30 08:00:00+00')"
            )
        with pytest.raises(IntegrityError):
            conn.exec_driver_sql(
                "CREATE UNIQUE INDEX CONCURRENTLY ix_messages_recipient_channel_created"
                " ON messages (recipient_id, channel, created_at)"
            )
    valid = (
        "SELECT i.indisvalid, i.indisunique FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
        " WHERE c.relname = 'ix_messages_recipient_channel_created'"
    )
    with engine.connect() as conn:
        assert conn.exec_driver_sql(valid).all() == [(False, True)]  # left behind, invalid
    upgrade(migrations, url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql(valid).all() == [(True, False)]  # built again, as declared
    engine.dispose()


@pytest.mark.parametrize("backend", ["postgresql"])  # the pattern index is PostgreSQL's; SQLite's LIKE uses none
def test_console_serves_a_quiet_scopes_board_from_its_grid_prefix_index(new_database, backend):
    """0002 indexes the events' grid codes with text_pattern_ops, so a scope's board (LIKE prefix, newest first)
    reads the scope's events by the index instead of walking back through everyone's; it keeps the rows."""
    from alembic import command

    from gridlink.runtime.migrations import _config

    url = new_database("console_0002")
    migrations = Path(importlib.import_module("console.adapters").__file__).parent / "migrations"
    upgrade(migrations, url, "0001")
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:  # 20,000 events, one in 1,000 in the quiet community 150302007009
        conn.exec_driver_sql(
            "INSERT INTO events (event_id, type, version, source, correlation_id, occurred_at, received_at,"
            " grid_code, payload) SELECT 'e' || n, 'case_assigned', 1, 'dispatch', 'c' || n, now(), now(),"
            " CASE WHEN mod(n, 1000) = 0 THEN '150302007009001'"
            " ELSE '150302001' || lpad(mod(n, 900)::text, 6, '0') END,"
            " '{}' FROM generate_series(1, 20000) AS n"
        )
    board = (
        "EXPLAIN SELECT seq FROM events WHERE grid_code LIKE '150302007009' || '%%' ESCAPE '/'"
        " ORDER BY seq DESC LIMIT 50"
    )

    def plan() -> str:
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE events")
            return "\n".join(row[0] for row in conn.exec_driver_sql(board))

    assert "ix_events_grid_code" not in plan()  # the plain index cannot serve the prefix
    upgrade(migrations, url)
    assert "ix_events_grid_code_prefix" in plan()
    with engine.connect() as conn:
        opclass = conn.exec_driver_sql(
            "SELECT o.opcname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " JOIN pg_opclass o ON o.oid = i.indclass[0] WHERE c.relname = 'ix_events_grid_code_prefix'"
        ).scalar_one()
        assert opclass in ("text_pattern_ops", "varchar_pattern_ops")
        assert conn.exec_driver_sql("SELECT count(*) FROM events").scalar_one() == 20000
    command.downgrade(_config(migrations, url), "0001")
    with engine.connect() as conn:
        names = {i["name"] for i in inspect(conn).get_indexes("events")}
    assert "ix_events_grid_code" in names and "ix_events_grid_code_prefix" not in names
    engine.dispose()
