"""Two dispatch processes on one PostgreSQL database: every deadline timer fires exactly once between them.

Cases are opened sixty days in the past, so each one's deadlines are all due: the two replicas race to warn,
supervise and escalate them up the tiers (grid → community → sub-centre → district). Each timer row fires once,
the two processes' fired-timer counters add up to exactly the rows fired, and no (case, period, stage) is
supervised twice.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

import dispatch.adapters
from dispatch import handlers
from dispatch.adapters.orm import metadata, supervisions
from dispatch.adapters.reference import load_reference
from dispatch.adapters.repository import DispatchUnitOfWork
from gridlink.contracts import new_envelope
from gridlink.refdata import DEFAULT_DATA_DIR
from gridlink.runtime.config import REPO_ROOT
from gridlink.runtime.db import Database
from gridlink.runtime.migrations import upgrade
from tests.integration.test_dispatch_lifecycle import free_port, report
from tests.polling import wait_for

CASES = 20
MIGRATIONS = Path(dispatch.adapters.__file__).parent / "migrations"


def fired_counter(port: int) -> int:
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return int(sum(float(v) for v in re.findall(r'^gridlink_timers_fired_total\{kind="[^"]+"\} (\S+)$', text, re.M)))


@pytest.mark.parametrize("backend", ["postgresql"])
def test_two_replicas_fire_each_deadline_exactly_once(backend, new_database, new_vhost, tmp_path):
    url, amqp = new_database("dispatch"), new_vhost()
    upgrade(MIGRATIONS, url)
    database = Database(url, metadata, "dispatch", DispatchUnitOfWork)
    ref = load_reference(DEFAULT_DATA_DIR)
    past = datetime.now(UTC) - timedelta(days=60)
    for _ in range(CASES):
        fields = report()
        event = new_envelope(type="report_accepted", source="intake", payload=fields, correlation_id=str(uuid.uuid4()))
        database.handle("dispatch.seed", event, partial(handlers.open_case, ref=ref, now=past))

    ports = [free_port(), free_port()]
    processes = []
    for i, port in enumerate(ports):
        env = {
            "AMQP_URI": amqp,
            "DATABASE_URL": url,
            "HTTP_PORT": str(port),
            "TIMER_INTERVAL": "0.1",
            "PYTHONUNBUFFERED": "1",
            "PATH": "/usr/bin:/bin",
        }
        log = open(tmp_path / f"dispatch-{i}.log", "wb")  # noqa: SIM115 - the child process owns it
        processes.append(
            subprocess.Popen([sys.executable, "-m", "dispatch", "run"], env=env, stdout=log, stderr=log, cwd=REPO_ROOT)
        )
    timers = metadata.tables["timers"]
    outbox = metadata.tables["outbox"]
    try:

        def settled():
            with database.engine.connect() as conn:
                at_district = conn.execute(
                    select(func.count())
                    .select_from(metadata.tables["cases"])
                    .where(metadata.tables["cases"].c.tier == "district")
                ).scalar_one()
                pending = conn.execute(
                    select(func.count())
                    .select_from(timers)
                    .where(timers.c.fired_at.is_(None), timers.c.due_at <= datetime.now(UTC))
                ).scalar_one()
            return at_district == CASES and pending == 0

        wait_for(settled, timeout=180, interval=0.5, what="every case escalated to the district, no due timer left")
        assert all(p.poll() is None for p in processes), "a replica died; see its log in tmp_path"
        counts = [fired_counter(port) for port in ports]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)

    with database.engine.connect() as conn:
        fired_rows = conn.execute(select(func.count()).select_from(timers).where(timers.c.fired_at.is_not(None)))
        fired_rows = fired_rows.scalar_one()
        records = conn.execute(select(supervisions.c.case_id, supervisions.c.period_no, supervisions.c.stage)).all()
        events = conn.execute(select(outbox.c.event_type, outbox.c.body)).all()
    database.dispose()

    # Each timer row fired once: what the two processes say they fired is exactly what the table says fired.
    assert sum(counts) == fired_rows and fired_rows >= CASES * 4, counts
    assert all(c > 0 for c in counts), f"both replicas should have fired timers: {counts}"
    # No deadline supervised twice, and every supervision has its one case_overdue event.
    assert len(records) == len(set(records))
    overdue = [json.loads(b)["payload"]["supervision_id"] for t, b in events if t == "case_overdue"]
    assert len(overdue) == len(set(overdue)) == len(records)
    # Exactly three automatic escalations per case: grid → community → sub-centre → district.
    escalated = Counter(json.loads(b)["payload"]["case_id"] for t, b in events if t == "case_escalated")
    assert len(escalated) == CASES and set(escalated.values()) == {3}
