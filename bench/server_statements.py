"""PostgreSQL's own account of the statements a drain ran: per report, the time the server spent planning and
executing them, and the statements that cost it most, from `pg_stat_statements`.

The extension must be loaded by the server (`shared_preload_libraries = 'pg_stat_statements'`, and
`pg_stat_statements.track_planning = on` for planning times; a restart), which a fresh machine's PostgreSQL is
not: without it the account is simply left out. Two snapshots are compared rather than the counters reset, so
nobody else's figures on the same server are disturbed. Parsing is in neither figure (the extension does not time
it), nor is the work outside statements (the protocol, commits' WAL flushes, autovacuum), so the two together are
less than the PostgreSQL CPU the drain reads from /proc.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import create_engine, text

# (database, query id) -> calls, planning ms, execution ms, the query's text
Snapshot = dict[tuple[str, int], tuple[int, float, float, str]]

_LOADED = "SELECT 'pg_stat_statements' = ANY(string_to_array(current_setting('shared_preload_libraries'), ', '))"
_SNAPSHOT = """
    SELECT d.datname, s.queryid, s.calls, s.total_plan_time, s.total_exec_time, s.query
    FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
    WHERE d.datname = ANY(:names) AND s.queryid IS NOT NULL AND s.toplevel
"""
TOP = 12
QUERY_CHARS = 160


@dataclass(frozen=True)
class Costly:
    service: str
    calls_per_report: float
    plan_ms_per_report: float
    exec_ms_per_report: float
    query: str


class ServerStatements:
    """Snapshots of `pg_stat_statements` for the services' databases (service -> database URL)."""

    def __init__(self, admin_url: str, databases: dict[str, str]):
        self.engine = create_engine(admin_url, pool_size=1, max_overflow=0)
        self.services = {url.rsplit("/", 1)[-1].split("?")[0]: service for service, url in databases.items()}
        self.available = self._prepare()

    def _prepare(self) -> bool:
        with self.engine.connect() as conn:
            if not conn.execute(text(_LOADED)).scalar_one():
                return False
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))
            conn.commit()
        return True

    def snapshot(self) -> Snapshot:
        if not self.available:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(text(_SNAPSHOT), {"names": list(self.services)}).all()
        return {(db, queryid): (calls, plan, exec_, query) for db, queryid, calls, plan, exec_, query in rows}

    def dispose(self) -> None:
        self.engine.dispose()


def account(before: Snapshot, after: Snapshot, services: dict[str, str], reports: int, top: int = TOP) -> dict:
    """What the statements run between two snapshots cost the server per report: planning and execution in all,
    and the `top` costliest statements with their service (`services`: database name -> service)."""
    costly = []
    for key, (calls, plan, exec_, query) in after.items():
        calls0, plan0, exec0, _ = before.get(key, (0, 0.0, 0.0, ""))
        if calls > calls0:
            words = " ".join(query.split())
            costly.append(
                Costly(
                    service=services.get(key[0], key[0]),
                    calls_per_report=round((calls - calls0) / reports, 2),
                    plan_ms_per_report=round((plan - plan0) / reports, 3),
                    exec_ms_per_report=round((exec_ - exec0) / reports, 3),
                    query=words if len(words) <= QUERY_CHARS else words[: QUERY_CHARS - 1] + "…",
                )
            )
    costly.sort(key=lambda c: c.plan_ms_per_report + c.exec_ms_per_report, reverse=True)
    return {
        "plan_ms_per_report": round(sum(c.plan_ms_per_report for c in costly), 2),
        "exec_ms_per_report": round(sum(c.exec_ms_per_report for c in costly), 2),
        "statements_per_report": round(sum(c.calls_per_report for c in costly), 1),
        "top": [c.__dict__ for c in costly[:top]],
    }
