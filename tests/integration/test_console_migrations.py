"""The console's Alembic migrations build exactly the read model its tables declare, on both backends."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

import console.adapters
from console.adapters.orm import metadata
from gridlink.runtime.migrations import upgrade


def test_console_migrations_match_the_declared_tables(new_database, backend):
    url = new_database("console")
    migrations = Path(console.adapters.__file__).parent / "migrations"
    upgrade(migrations, url)
    upgrade(migrations, url)  # a second run is a no-op, as on every restart
    engine = create_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
        tables = set(inspect(conn).get_table_names())
    engine.dispose()
    assert diff == []
    assert {"events", "cases", "actions", "outbox", "processed_events", "alembic_version"} <= tables
