"""What a long history costs the reads that must not grow with it: `python -m bench.history`.

The sweep and the drain start on empty tables, so a read whose cost grows with what the platform has recorded
never shows in them. Two databases are filled and their reads timed on one connection:

- notification's, with `--messages` messages over 90 days, a quarter of them for one busy recipient (a department
  desk), the rest spread over 900 grid workers: the compose read (run for every person an event reaches: its
  rate-limit count scans the person's messages on a channel since a moment) and the inbox's newest 100, at the
  schema's head and, with `--before`, at an earlier migration, so an index's effect is measured, not assumed;
- the console's, with `--cases` cases over a year: the grid map's figures and this month's performance report,
  as the console computes them (the database tallies alike cases; the report selects the period's cases) and as
  it did before (every case in scope loaded and folded), with a check that both give the same figures;
- the console's events, with `--events` events: the live board's newest 50 for the district, a busy sub-centre and
  a quiet community (one in 5,000 events), at the console schema's head and, with `--console-before`, at an
  earlier migration.

    .venv/bin/python -m bench.history --messages 40000 --before 0002 --cases 100000
    .venv/bin/python -m bench.history --messages 0 --cases 0 --events 300000 --console-before 0001
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, insert, text

from bench.infra import Resources
from gridlink.runtime.migrations import upgrade

BUSY, ORDINARY = "desk:fire", "S0042"
CHANNELS = ("inbox", "email", "file_drop", "sms")
RUNS, WARM = 300, 50


def _notification():
    # Imported late: the service's package is on the path only once the venv's editable install is.
    import notification.adapters as adapters
    from notification.adapters.orm import messages

    return Path(adapters.__file__).parent / "migrations", messages


def fill(url: str, count: int, now: datetime, seed: int = 7) -> None:
    _, messages = _notification()
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
    _load(url, messages, rows)


def _load(url: str, table, rows: list[dict]) -> None:
    """Insert the rows in chunks, then ANALYZE, so that the plans timed are those of a table that size."""
    engine = create_engine(url)
    with engine.begin() as conn:
        for start in range(0, len(rows), 5000):
            conn.execute(insert(table), rows[start : start + 5000])
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"ANALYZE {table.name}"))
    engine.dispose()


def _timed(run, runs: int = RUNS, warm: int = WARM) -> dict[str, float]:
    for _ in range(warm):
        run()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {"median_ms": round(statistics.median(times), 3), "p99_ms": round(times[int(len(times) * 0.99)], 3)}


def measure(url: str, now: datetime) -> dict[str, dict[str, float]]:
    """The reads as notification runs them: through its repository, on one session."""
    from sqlalchemy.orm import Session

    from notification.adapters.repository import MessageRepository

    engine = create_engine(url)
    with Session(engine) as session:
        # No messages are held back for the commit here, so nothing has to be written before a read.
        repo = MessageRepository(session, at_commit=lambda *_: None, write_held=lambda _: None)

        def compose(recipient: str):
            return lambda: repo.compose_reads(
                str(uuid.uuid4()),
                recipient,
                "case_assigned",
                [uuid.uuid4().hex for _ in range(3)],
                now - timedelta(minutes=10),
                ["email", "sms"],
                now - timedelta(hours=1),
            )

        result = {
            f"compose read, {BUSY}": _timed(compose(BUSY)),
            f"compose read, {ORDINARY}": _timed(compose(ORDINARY)),
            f"inbox's newest 100, {BUSY}": _timed(lambda: repo.inbox(BUSY)),
        }
    engine.dispose()
    return result


def fill_console(url: str, count: int, now: datetime, seed: int = 3) -> None:
    from console.adapters.orm import cases, metadata

    engine = create_engine(url)
    metadata.create_all(engine)
    engine.dispose()
    rnd = random.Random(seed)
    rows = []
    for n in range(count):
        grid = f"150302{rnd.randint(1, 7):03d}{rnd.randint(1, 9):03d}{rnd.randint(1, 9):03d}"
        state = "closed" if rnd.random() < 0.95 else rnd.choice(["assigned", "in_progress", "escalated"])
        reported = now - timedelta(minutes=rnd.randint(0, 365 * 24 * 60))
        rows.append(
            {
                "correlation_id": f"r{n}",
                "grid_code": grid,
                "community_code": grid[:12],
                "sub_centre_code": grid[:9],
                "state": state,
                "reported_at": reported,
                "resolved_at": reported + timedelta(hours=rnd.randint(1, 72)) if state == "closed" else None,
                "due_soon": False,
                "overdue": state != "closed" and rnd.random() < 0.2,
                "was_overdue": rnd.random() < 0.1,
                "rating": rnd.choice([None, "satisfied", "basically_satisfied", "dissatisfied"]),
                "escalations": 0,
                "supervisions": 0,
            }
        )
    _load(url, cases, rows)


def measure_console(url: str, today: date) -> dict[str, dict[str, float]]:
    from sqlalchemy.orm import Session

    from console.adapters.repository import CaseRepository
    from console.domain import figures

    period = figures.Period(today.replace(day=1), today)
    engine = create_engine(url)
    with Session(engine) as session:
        repo = CaseRepository(session)

        def map_of_every_case():
            alike = (figures.CaseTally(c.grid_code, c.state, c.overdue, c.due_soon, c.rating) for c in repo.find(None))
            return figures.grid_figures(alike)

        def report(found):
            return figures.performance(found, "sub_centre", period, {})

        if map_of_every_case() != figures.grid_figures(repo.tallies(None)):
            raise AssertionError("the tallies' map differs from every case's")
        if report(repo.find(None)) != report(repo.find(None, reported=period.bounds())):
            raise AssertionError("the period's selection gives another report than every case")
        result = {
            "grid map, every case loaded": _timed(map_of_every_case, runs=5, warm=1),
            "grid map, the database's tallies": _timed(lambda: figures.grid_figures(repo.tallies(None)), 20, 2),
            "month's report, every case loaded": _timed(lambda: report(repo.find(None)), runs=5, warm=1),
            "month's report, the month's cases": _timed(
                lambda: report(repo.find(None, reported=period.bounds())), runs=20, warm=2
            ),
        }
    engine.dispose()
    return result


QUIET_COMMUNITY, BUSY_SUB_CENTRE = "150302007009", "150302001"


def _console():
    import console.adapters

    return Path(console.adapters.__file__).parent / "migrations"


def fill_events(url: str, count: int, now: datetime, seed: int = 5) -> None:
    """`count` events over 90 days, oldest first (as `seq` numbers them); one in 5,000 in the quiet community."""
    from console.adapters.orm import events

    rnd = random.Random(seed)
    rows = []
    for n in range(count):
        if rnd.random() < 1 / 5000:
            grid = QUIET_COMMUNITY + f"{rnd.randint(1, 9):03d}"
        else:
            grid = f"150302{rnd.randint(1, 7):03d}{rnd.randint(1, 8):03d}{rnd.randint(1, 9):03d}"
        at = now - timedelta(days=90) + timedelta(days=90) * n / count
        payload = {
            "case_id": f"C{n}",
            "report_id": f"r{n}",
            "tracking_code": f"HB-{n:09d}",
            "category_code": "street_lamp",
            "urgency": "normal",
            "grid_code": grid,
            "tier": "grid",
            "unit_code": grid,
            "assignee_id": "S0042",
            "assignee_role": "full_time_worker",
            "deadline_at": (at + timedelta(days=1)).isoformat(),
            "summary": "路灯不亮",
        }
        rows.append(
            {
                "event_id": str(uuid.UUID(int=rnd.getrandbits(128))),
                "type": "case_assigned",
                "version": 1,
                "source": "dispatch",
                "correlation_id": f"r{n // 3}",
                "occurred_at": at,
                "received_at": at,
                "grid_code": grid,
                "payload": json.dumps(payload),
            }
        )
    _load(url, events, rows)


def measure_board(url: str) -> dict[str, dict[str, float]]:
    """The live board's read, through the console's repository: the newest 50 events in a scope."""
    from sqlalchemy.orm import Session

    from console.adapters.repository import EventRepository

    scopes = {"district": None, "busy sub-centre": BUSY_SUB_CENTRE, "quiet community": QUIET_COMMUNITY}
    engine = create_engine(url)
    result = {}
    with Session(engine) as session:
        repo = EventRepository(session)
        for label, scope in scopes.items():
            if len(repo.recent(scope)) != 50:
                raise AssertionError(f"the {label}'s board has not 50 events")
            result[f"board's newest 50, {label}"] = _timed(lambda s=scope: repo.recent(s), runs=30, warm=3)
    engine.dispose()
    return result


def _print(label: str, measured: dict[str, dict[str, float]]) -> None:
    for read, timing in measured.items():
        print(f"{label:>5}  {read:<36} median {timing['median_ms']:.2f} ms, p99 {timing['p99_ms']:.2f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.history", description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=40000, help="messages in the history (default: %(default)s)")
    parser.add_argument("--before", help="also measure at this earlier migration of notification, e.g. 0002")
    parser.add_argument("--cases", type=int, default=100000, help="the console's cases (default: %(default)s)")
    parser.add_argument("--events", type=int, default=0, help="the console's events (default: %(default)s)")
    parser.add_argument("--console-before", help="also measure the board at this earlier console migration")
    args = parser.parse_args(argv)
    migrations, _ = _notification()
    res = Resources()
    now = datetime.now(UTC)
    try:
        for revision in [r for r in (args.before, "head") if r and args.messages]:
            url = res.database(f"history_{revision}")
            upgrade(migrations, url, revision)
            fill(url, args.messages, now)
            _print(revision, measure(url, now))
        if args.cases:
            url = res.database("history_console")
            fill_console(url, args.cases, now)
            _print("head", measure_console(url, now.date()))
        for revision in [r for r in (args.console_before, "head") if r and args.events]:
            url = res.database(f"history_events_{revision}")
            upgrade(_console(), url, revision)
            fill_events(url, args.events, now)
            _print(revision, measure_board(url))
    finally:
        left = res.cleanup()
        if left:
            print(f"could not drop: {', '.join(left)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
