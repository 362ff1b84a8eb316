"""What a long history costs notification's per-person reads: `python -m bench.history`.

The sweep and the drain start on empty tables, so a read whose cost grows with what a person has received never
shows in them. Here notification's database is filled with `--messages` messages over 90 days, a quarter of them
for one busy recipient (a department desk), the rest spread over 900 grid workers, and two reads are timed on one
connection: the compose read (run for every person an event reaches: its rate-limit count scans the person's
messages on a channel since a moment) and the inbox's newest 100. Each is timed at the schema's head and, with
`--before`, at an earlier migration, so an index's effect is measured rather than assumed.

    .venv/bin/python -m bench.history --messages 40000 --before 0002
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, insert, select, text

from bench.infra import Resources
from gridlink.runtime.migrations import upgrade

BUSY, ORDINARY = "desk:fire", "S0042"
CHANNELS = ("inbox", "email", "file_drop", "sms")
RUNS, WARM = 300, 50


def _notification():
    # Imported late: the service's package is on the path only once the venv's editable install is.
    import notification.adapters as adapters
    from notification.adapters.orm import messages
    from notification.adapters.repository import _COMPOSE_READS

    return Path(adapters.__file__).parent / "migrations", messages, _COMPOSE_READS


def fill(url: str, count: int, now: datetime, seed: int = 7) -> None:
    _, messages, _ = _notification()
    rnd = random.Random(seed)
    rows = [
        {
            "message_id": str(uuid.UUID(int=rnd.getrandbits(128))),
            "recipient_id": BUSY if i % 4 == 0 else f"S{rnd.randint(1, 900):04d}",
            "channel": rnd.choice(CHANNELS),
            "template_code": "case_assigned",
            "body": "【网格通】您有新的网格案件" * 8,
            "trigger_event_id": str(uuid.UUID(int=rnd.getrandbits(128))),
            "correlation_id": str(uuid.UUID(int=rnd.getrandbits(128))),
            "status": "delivered",
            "created_at": now - timedelta(minutes=rnd.randint(0, 60 * 24 * 90)),
            "dedup_key": f"{rnd.getrandbits(160):040x}",
        }
        for i in range(count)
    ]
    engine = create_engine(url)
    with engine.begin() as conn:
        for start in range(0, len(rows), 5000):
            conn.execute(insert(messages), rows[start : start + 5000])
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE messages"))
    engine.dispose()


def _timed(run) -> dict[str, float]:
    for _ in range(WARM):
        run()
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {"median_ms": round(statistics.median(times), 3), "p99_ms": round(times[int(len(times) * 0.99)], 3)}


def measure(url: str, now: datetime) -> dict[str, dict[str, float]]:
    _, messages, compose_reads = _notification()
    engine = create_engine(url)

    def compose(recipient: str):
        params = {
            "trigger_event_id": str(uuid.uuid4()),
            "recipient_id": recipient,
            "template_code": "case_assigned",
            "dedup_keys": [uuid.uuid4().hex for _ in range(3)],
            "since": now - timedelta(minutes=10),
            "channels": ["email", "sms"],
            "rate_since": now - timedelta(hours=1),
        }
        return lambda: conn.execute(compose_reads, params).all()

    inbox = (
        select(messages)
        .where(messages.c.recipient_id == BUSY, messages.c.channel == "inbox")
        .order_by(messages.c.created_at.desc())
        .limit(100)
    )
    with engine.connect() as conn:
        result = {
            f"compose read, {BUSY}": _timed(compose(BUSY)),
            f"compose read, {ORDINARY}": _timed(compose(ORDINARY)),
            f"inbox's newest 100, {BUSY}": _timed(lambda: conn.execute(inbox).all()),
        }
    engine.dispose()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.history", description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=40000, help="messages in the history (default: %(default)s)")
    parser.add_argument("--before", help="also measure at this earlier migration of notification, e.g. 0002")
    args = parser.parse_args(argv)
    migrations, _, _ = _notification()
    res = Resources()
    now = datetime.now(UTC)
    try:
        for revision in [r for r in (args.before, "head") if r]:
            url = res.database(f"history_{revision}")
            upgrade(migrations, url, revision)
            fill(url, args.messages, now)
            for read, figures in measure(url, now).items():
                print(f"{revision:>5}  {read:<36} median {figures['median_ms']:.2f} ms, p99 {figures['p99_ms']:.2f} ms")
    finally:
        left = res.cleanup()
        if left:
            print(f"could not drop: {', '.join(left)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
