"""Housekeeping of the runtime's tables on both backends: rows past the retention period that no guarantee needs
are deleted in batches; unpublished outbox rows and unfired timers are kept whatever their age."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select

from gridlink.runtime import metrics
from gridlink.runtime.housekeeping import prune
from tests.integration.messaging_service import metadata

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
OLD, RECENT = NOW - timedelta(days=45), NOW - timedelta(days=3)


def outbox_row(event_id: str, published_at):
    return {
        "event_id": event_id,
        "event_type": "case_assigned",
        "exchange": "dispatch.events",
        "correlation_id": "c",
        "body": "{}",
        "created_at": OLD,
        "published_at": published_at,
        "attempts": 0,
        "unroutable": False,
    }


def timer_row(key: str, due_at, fired_at):
    return {"kind": "deadline", "key": key, "due_at": due_at, "payload": "{}", "fired_at": fired_at, "attempts": 0}


def test_rows_past_the_retention_are_pruned_in_batches_and_rows_still_needed_are_kept(runtime_database):
    database = runtime_database("housekeeping", metadata, "dispatch")
    tables = metadata.tables
    with database.engine.begin() as conn:
        conn.execute(
            insert(tables["outbox"]),
            [outbox_row(f"old-{n}", OLD) for n in range(5)]
            + [outbox_row("recent", RECENT), outbox_row("never-published", None)],
        )
        conn.execute(
            insert(tables["processed_events"]),
            [{"consumer": "c", "event_id": f"old-{n}", "event_type": "t", "processed_at": OLD} for n in range(3)]
            + [{"consumer": "c", "event_id": "recent", "event_type": "t", "processed_at": RECENT}],
        )
        conn.execute(
            insert(tables["timers"]),
            [
                timer_row("fired-long-ago", OLD, OLD),
                timer_row("fired-lately", RECENT, RECENT),
                timer_row("never-fired", OLD, None),  # an old deadline still waiting to fire
            ],
        )
    before = metrics.PRUNED_ROWS.labels("outbox")._value.get()

    # Batches of 2: five old outbox rows take three deletes, the last one short.
    assert prune(database, NOW, timedelta(days=30), batch=2) == {"outbox": 5, "processed_events": 3, "timers": 1}

    with database.engine.connect() as conn:
        assert sorted(conn.execute(select(tables["outbox"].c.event_id)).scalars()) == ["never-published", "recent"]
        assert list(conn.execute(select(tables["processed_events"].c.event_id)).scalars()) == ["recent"]
        assert sorted(conn.execute(select(tables["timers"].c.key)).scalars()) == ["fired-lately", "never-fired"]
    assert metrics.PRUNED_ROWS.labels("outbox")._value.get() - before == 5
    # A second pass finds nothing more.
    assert prune(database, NOW, timedelta(days=30)) == {"outbox": 0, "processed_events": 0, "timers": 0}


def test_a_running_service_prunes_on_its_interval(container_factory, amqp_uri, new_database):
    from sqlalchemy import create_engine

    from gridlink.runtime.config import load_settings
    from tests.integration.messaging_service import MessagingTestService
    from tests.polling import wait_for

    url = new_database("housekeeping_service")
    engine = create_engine(url)
    metadata.create_all(engine)
    old = datetime.now(UTC) - timedelta(days=45)
    with engine.begin() as conn:
        conn.execute(
            insert(metadata.tables["processed_events"]),
            [{"consumer": "c", "event_id": "old", "event_type": "t", "processed_at": old}],
        )
    env = {
        "AMQP_URI": amqp_uri,
        "DATABASE_URL": url,
        "HTTP_PORT": "0",
        "RUNTIME_RETENTION_DAYS": "30",
        "HOUSEKEEPING_INTERVAL": "0.2",
    }
    container = container_factory(MessagingTestService, load_settings("rhouse", 0, env).nameko_config())
    container.start()

    def inbox_rows() -> int:
        with engine.connect() as conn:
            return len(conn.execute(select(metadata.tables["processed_events"].c.event_id)).all())

    try:
        wait_for(lambda: inbox_rows() == 0, what="the old inbox row pruned")
    finally:
        container.stop()
        engine.dispose()
