"""Every statement a service sends is counted on /metrics (gridlink_db_statements_total), which the benchmark reads
to cost a report in statements per process: one per round trip to the database."""

from sqlalchemy import Column, Integer, MetaData, Table, insert, text

from gridlink.runtime import metrics
from gridlink.runtime.db import make_engine


def test_each_statement_is_counted_and_an_executemany_once_per_parameter_set(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'count.sqlite3'}")
    before = metrics.DB_STATEMENTS._value.get()
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (v INTEGER)"))
        conn.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": 1}, {"v": 2}])  # psycopg2 sends each: two
        conn.execute(text("SELECT count(*) FROM t")).scalar_one()
    engine.dispose()
    assert metrics.DB_STATEMENTS._value.get() - before == 4


def test_a_multi_row_insert_is_one_statement(databases):
    # SQLAlchemy rewrites a Core INSERT with many parameter sets into one INSERT … VALUES (…), (…) on PostgreSQL.
    engine = make_engine(databases("count", "postgresql"))
    table = Table("t", MetaData(), Column("v", Integer, primary_key=True, autoincrement=False))
    table.create(engine)
    before = metrics.DB_STATEMENTS._value.get()
    with engine.begin() as conn:
        conn.execute(insert(table), [{"v": n} for n in range(5)])
    try:
        assert metrics.DB_STATEMENTS._value.get() - before == 1
    finally:
        engine.dispose()
