"""A service killed between its commit and its publish loses nothing, and a redelivered event has no second
effect: every accepted report ends as exactly one case and one message to the grid worker."""

from __future__ import annotations

import json
import re
import time

import requests
from sqlalchemy import create_engine, text

from gridlink.devstack import SERVICES, sample_request
from gridlink.runtime.bus import Bus
from tests.e2e.conftest import make_stack
from tests.polling import wait_for


def consumed(stack, service: str, event_type: str, outcome: str) -> float:
    metrics = requests.get(stack.url(service, "/metrics"), timeout=5).text
    pattern = rf'gridlink_events_consumed_total{{event_type="{event_type}",outcome="{outcome}"}} ([0-9.e+]+)'
    match = re.search(pattern, metrics)
    return float(match.group(1)) if match else 0.0


def test_killed_between_commit_and_publish_then_redelivered(new_vhost, databases, tmp_path):
    amqp_uri = new_vhost()  # its own broker space: the shared stack's consumers must not take these events
    stack = make_stack(amqp_uri, databases, tmp_path)
    try:
        for service in SERVICES:
            # intake commits reports but, with its relay off, never publishes them: the instant before a publish.
            stack.start(service, {"OUTBOX_RELAY_ENABLED": "false"} if service == "intake" else None)
        stack.wait_ready(timeout=90)

        body, worker = sample_request()
        reports = [requests.post(stack.url("intake", "/reports"), json=body, timeout=10).json() for _ in range(3)]
        codes = {r["tracking_code"] for r in reports}
        assert len(codes) == 3

        intake_db = create_engine(stack.database_urls["intake"])
        with intake_db.connect() as conn:
            # The reports' own events: intake also registers each reporter's contact, for notification.
            pending_sql = (
                "SELECT body FROM outbox WHERE published_at IS NULL AND event_type = 'report_accepted' ORDER BY id"
            )
            pending = conn.execute(text(pending_sql)).scalars().all()
        assert len(pending) == 3
        time.sleep(1.0)
        assert requests.get(stack.url("dispatch", "/cases"), timeout=5).json()["cases"] == []

        stack.kill("intake")  # SIGKILL: no shutdown hooks, no chance to flush anything
        stack.start("intake")
        stack.wait_ready(["intake"], timeout=60)

        def delivered():
            messages = requests.get(stack.url("notification", f"/inbox/{worker}"), timeout=5).json()["messages"]
            return [m for m in messages if any(c in m["body"] for c in codes)]

        wait_for(lambda: len(delivered()) == 3, timeout=30, what="three assignment messages after the restart")
        with intake_db.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM outbox WHERE published_at IS NULL")).scalar_one() == 0
        intake_db.dispose()

        # The broker may deliver again (a relay that died after publishing, a partner's resend): no second effect.
        bus = Bus(amqp_uri)
        for raw in pending:
            envelope = json.loads(raw)
            for _ in range(2):
                bus.publish_event(
                    "intake.events", "report_accepted", raw.encode(), envelope["event_id"], envelope["correlation_id"]
                )
        wait_for(lambda: consumed(stack, "dispatch", "report_accepted", "duplicate") >= 6, what="six duplicates seen")

        cases = requests.get(stack.url("dispatch", "/cases"), timeout=5).json()["cases"]
        assert sorted(c["tracking_code"] for c in cases) == sorted(codes)
        assert len(delivered()) == 3
        print(f"\n  reports accepted: 3, cases: {len(cases)}, messages: {len(delivered())}, duplicates absorbed: 6")
    finally:
        stack.stop_all()
