"""A micro-benchmark of the outbox relay alone: rows written, then drained by `relay_once()` passes, on PostgreSQL.

Measures events per second for routable events (a queue is bound) and unroutable ones (nobody subscribes yet),
which is how the relay's claim/publish/mark cycle was profiled and compared before and after its optimisation.

    .venv/bin/python -m bench.relay [--events 2000] [--batch 200]
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from datetime import UTC, datetime

from kombu import Connection, Exchange, Queue
from sqlalchemy import MetaData, insert

from bench.infra import Resources
from gridlink.runtime.bus import Bus
from gridlink.runtime.db import Database
from gridlink.runtime.outbox import OutboxRelay
from gridlink.runtime.tables import add_messaging_tables


def _write(database: Database, table, n: int, event_type: str) -> None:
    now = datetime.now(UTC)
    body = json.dumps({"type": event_type, "payload": {"text": "压测" * 150}}, ensure_ascii=False)
    with database.engine.begin() as conn:
        conn.execute(
            insert(table),
            [
                {
                    "event_id": str(uuid.uuid4()),
                    "event_type": event_type,
                    "exchange": "bench.events",
                    "correlation_id": f"c-{i}",
                    "body": body,
                    "created_at": now,
                    "attempts": 0,
                    "unroutable": False,
                }
                for i in range(n)
            ],
        )


def drain_rate(database: Database, table, amqp: str, n: int, batch: int, event_type: str) -> float:
    _write(database, table, n, event_type)
    relay = OutboxRelay(database.session_factory, table, Bus(amqp), "bench-relay", batch=batch)
    start = time.perf_counter()
    handled = 0
    while handled < n:
        done = relay.relay_once()
        if done == 0:
            raise RuntimeError(f"the relay stopped after {handled} of {n} events")
        handled += done
    return n / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.relay")
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=200)
    args = parser.parse_args(argv)
    res = Resources()
    try:
        amqp = res.vhost("relay")
        metadata = MetaData()
        add_messaging_tables(metadata)
        database = Database(res.database("relay"), metadata, "bench")
        metadata.create_all(database.engine)
        table = metadata.tables["outbox"]
        with Connection(amqp) as conn:
            queue = Queue("bench-sink", Exchange("bench.events", type="topic", durable=True), routing_key="routed")
            queue(conn.default_channel).declare()
        routed = drain_rate(database, table, amqp, args.events, args.batch, "routed")
        unroutable = drain_rate(database, table, amqp, max(1, args.events // 4), args.batch, "nobody_listens")
        database.dispose()
        print(json.dumps({"routable_events_per_s": round(routed, 1), "unroutable_events_per_s": round(unroutable, 1)}))
    finally:
        res.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
