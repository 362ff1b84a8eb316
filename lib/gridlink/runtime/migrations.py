"""Alembic, driven from code: each service keeps its own migrations folder and its own version table."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import MetaData


def _config(migrations_dir: Path, database_url: str):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(migrations_dir: Path, database_url: str, revision: str = "head") -> None:
    from alembic import command

    from gridlink.runtime.db import make_engine

    # make_engine creates the SQLite file's folder on a fresh machine.
    make_engine(database_url).dispose()
    command.upgrade(_config(migrations_dir, database_url), revision)


def run_env(metadata: MetaData) -> None:
    """The body of every service's migrations/env.py."""
    from alembic import context

    from gridlink.runtime.db import make_engine

    url = context.config.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=url.startswith("sqlite"))
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


def swap_index(op, table: str, old: str, new: str, columns: list[str], **options) -> None:
    """In a migration: build index `new`, then drop `old`.

    On PostgreSQL both happen CONCURRENTLY, outside a transaction, so that a large table keeps taking writes while
    the index is built. A concurrent build that was interrupted leaves an invalid index of that name behind; it is
    dropped and built again rather than skipped as existing. `options` go to `create_index` (e.g. `postgresql_ops`).
    """
    with op.get_context().autocommit_block():
        if _invalid_on_postgresql(op, new):
            op.drop_index(new, table_name=table, postgresql_concurrently=True)
        op.create_index(new, table, columns, postgresql_concurrently=True, if_not_exists=True, **options)
        op.drop_index(old, table_name=table, postgresql_concurrently=True, if_exists=True)


def _invalid_on_postgresql(op, name: str) -> bool:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    query = "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = %s AND NOT i.indisvalid"
    return bind.exec_driver_sql(query, (name,)).first() is not None
