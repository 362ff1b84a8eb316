"""Every statement a service sends is counted on /metrics (gridlink_db_statements_total), which the benchmark reads
to cost a report in statements per process."""

from sqlalchemy import text

from gridlink.runtime import metrics
from gridlink.runtime.db import make_engine


def test_each_statement_is_counted_once(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'count.sqlite3'}")
    before = metrics.DB_STATEMENTS._value.get()
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (v INTEGER)"))
        conn.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": 1}, {"v": 2}])  # one executemany
        conn.execute(text("SELECT count(*) FROM t")).scalar_one()
    engine.dispose()
    assert metrics.DB_STATEMENTS._value.get() - before == 3
