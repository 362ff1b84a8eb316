"""Under a steady load of reports, kill -9 each service in turn, cut the broker's connections and the database's,
then count: every accepted report has exactly one case, one assignment and one assignment notification, no outbox
row is left behind, and nothing sits in dead-letter without a reason.

`make chaos` runs the same with more reports and real broker and PostgreSQL restarts (CHAOS=1)."""

from __future__ import annotations

import os
import time

from gridlink.devstack import SERVICES
from tests.e2e.conftest import make_stack
from tests.e2e.faults import (
    Load,
    drop_broker_connections,
    drop_database_connections,
    kill_and_restart,
    restart_broker,
    restart_postgres,
    settle,
)

CHAOS = os.environ.get("CHAOS") == "1"
RATE = float(os.environ.get("CHAOS_RATE", "20" if CHAOS else "6"))
SPACING = 6.0 if CHAOS else 2.0  # seconds of load between faults


def faults(stack, amqp_uri):
    for service in SERVICES:
        yield f"kill -9 {service}", lambda s=service: kill_and_restart(stack, s)
    yield "broker connections dropped", lambda: drop_broker_connections(amqp_uri)
    yield "database connections dropped", lambda: drop_database_connections(stack)
    if CHAOS:
        yield "RabbitMQ restarted", restart_broker
        yield "PostgreSQL restarted", restart_postgres


def test_nothing_is_lost_and_nothing_doubled_under_faults(new_vhost, databases, tmp_path):
    amqp_uri = new_vhost()
    stack = make_stack(amqp_uri, databases, tmp_path)
    # All the load comes from one address, above intake's per-address limit at the chaos rate: a 429 would be a
    # refusal the faults did not cause.
    stack.env["INTAKE_RATE_PER_ADDRESS"] = "0"
    stack.start_all()
    try:
        stack.wait_ready(timeout=90)
        applied = []
        with Load(stack, RATE) as load:
            time.sleep(SPACING)
            for name, inject in faults(stack, amqp_uri):
                hit = inject()
                applied.append(f"{name} ({hit})" if isinstance(hit, int) else name)
                time.sleep(SPACING)
        for service in SERVICES:  # a fault may have taken one down for good: that would be a finding
            assert stack.processes[service].poll() is None, f"{service} died"
        tally = settle(stack, amqp_uri, load)
        print(f"\n  faults, in turn: {', '.join(applied)}\n  {tally.line('total')}\n  answers: {dict(load.answers)}")
        # A refusal must say so: 503 (unavailable, retry) or no answer while intake is down, never a 500.
        assert load.answers.get(500, 0) == 0, load.answers
        assert tally.accepted > 0
        assert tally.lost == 0
        assert tally.duplicates == 0
        assert tally.cases == tally.assignments == tally.notifications == tally.accepted
        assert tally.outbox_pending == 0
        assert tally.dead_letters_without_reason == 0
        assert tally.sent_twice == 0  # a delivery pass cut short (handed off or timed) never records a second send
    finally:
        stack.stop_all()
