"""The measure to beat: the same three hops built the plain nameko way, with no outbox, idempotency or validation.

HTTP intake → `report_accepted` → dispatch → `case_assigned` → notification, three processes. Each writes one row,
commits, and publishes straight after the commit with nameko's EventDispatcher (confirms and persistent delivery,
nameko's defaults). A crash between commit and publish loses the event, which is what GridLink's outbox prevents.

    python -m bench.plain intake|dispatch|notification   (AMQP_URI, DATABASE_URL, HTTP_PORT from the environment)
"""

from __future__ import annotations

import os
import sys
import uuid

SERVICES = ("intake", "dispatch", "notification")
# The end effect the benchmark times: notification's row, keyed by the report id.
SINK_QUERY = """
    SELECT correlation_id, created_at FROM plain_messages WHERE correlation_id = ANY(:ids)
"""
TABLES = {
    "intake": "CREATE TABLE IF NOT EXISTS plain_reports (report_id varchar(36) PRIMARY KEY, body text NOT NULL,"
    " created_at timestamptz NOT NULL DEFAULT now())",
    "dispatch": "CREATE TABLE IF NOT EXISTS plain_cases (case_id varchar(36) PRIMARY KEY,"
    " report_id varchar(36) NOT NULL, created_at timestamptz NOT NULL DEFAULT now())",
    "notification": "CREATE TABLE IF NOT EXISTS plain_messages (message_id varchar(36) PRIMARY KEY,"
    " correlation_id varchar(36) NOT NULL, body text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());"
    " CREATE INDEX IF NOT EXISTS ix_plain_messages_correlation ON plain_messages (correlation_id)",
}


def _services():
    """The three nameko service classes, built only in a service process (after eventlet has patched)."""
    import json

    from nameko.events import EventDispatcher, event_handler
    from nameko.extensions import DependencyProvider
    from nameko.web.handlers import http
    from sqlalchemy import create_engine, text

    class Engine(DependencyProvider):
        def setup(self):
            self.engine = create_engine(os.environ["DATABASE_URL"], pool_size=10, max_overflow=20, pool_pre_ping=True)

        def stop(self):
            self.engine.dispose()

        def get_dependency(self, worker_ctx):
            return self.engine

    def ready(self, request):
        with self.db.connect() as conn:
            conn.execute(text("SELECT 1"))
        return 200, "ok"

    class PlainIntake:
        name = "plain_intake"
        db = Engine()
        dispatch = EventDispatcher()
        readyz = http("GET", "/readyz")(ready)

        @http("POST", "/reports")
        def post_report(self, request):
            body = json.loads(request.get_data(as_text=True))
            report_id = str(uuid.uuid4())
            with self.db.begin() as conn:
                conn.execute(
                    text("INSERT INTO plain_reports (report_id, body) VALUES (:r, :b)"),
                    {"r": report_id, "b": json.dumps(body, ensure_ascii=False)},
                )
            self.dispatch("report_accepted", {"report_id": report_id, "category": body.get("category")})
            return 201, json.dumps({"report_id": report_id})

    class PlainDispatch:
        name = "plain_dispatch"
        db = Engine()
        dispatch = EventDispatcher()
        readyz = http("GET", "/readyz")(ready)

        @event_handler("plain_intake", "report_accepted")
        def on_report_accepted(self, payload):
            case_id = str(uuid.uuid4())
            with self.db.begin() as conn:
                conn.execute(
                    text("INSERT INTO plain_cases (case_id, report_id) VALUES (:c, :r)"),
                    {"c": case_id, "r": payload["report_id"]},
                )
            self.dispatch("case_assigned", {"case_id": case_id, "report_id": payload["report_id"]})

    class PlainNotification:
        name = "plain_notification"
        db = Engine()
        readyz = http("GET", "/readyz")(ready)

        @event_handler("plain_dispatch", "case_assigned")
        def on_case_assigned(self, payload):
            with self.db.begin() as conn:
                conn.execute(
                    text("INSERT INTO plain_messages (message_id, correlation_id, body) VALUES (:m, :c, :b)"),
                    {"m": str(uuid.uuid4()), "c": payload["report_id"], "b": f"案件 {payload['case_id']} 已派给您"},
                )

    return {"intake": PlainIntake, "dispatch": PlainDispatch, "notification": PlainNotification}


def migrate(service: str, database_url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    with engine.begin() as conn:
        for statement in TABLES[service].split(";"):
            conn.execute(text(statement))
    engine.dispose()


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1] not in SERVICES:
        print(__doc__, file=sys.stderr)
        return 2
    import eventlet

    eventlet.monkey_patch()
    from psycogreen.eventlet import patch_psycopg

    patch_psycopg()
    from nameko.cli.run import run

    config = {
        "AMQP_URI": os.environ["AMQP_URI"],
        "WEB_SERVER_ADDRESS": f"127.0.0.1:{os.environ['HTTP_PORT']}",
        "max_workers": int(os.environ.get("MAX_WORKERS", "10")),
        "serializer": "json",
    }
    run([_services()[argv[1]]], config)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
