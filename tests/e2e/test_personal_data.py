"""A resident's name and phone number never leave intake in the clear: not in any event on the bus (every
service's outbox is checked), not in any log line, not in any metric label."""

from __future__ import annotations

import requests
from sqlalchemy import create_engine, text

from gridlink.devstack import SERVICES, sample_request
from tests.polling import wait_for

NAME = "欧阳测试者"
PHONE = "13712345678"


def test_personal_data_stays_in_intake(stack):
    body, worker = sample_request()
    body["reporter"] = {"name": NAME, "phone": PHONE}
    report = requests.post(stack.url("intake", "/reports"), json=body, timeout=10).json()
    wait_for(
        lambda: any(
            report["tracking_code"] in m["body"]
            for m in requests.get(stack.url("notification", f"/inbox/{worker}"), timeout=5).json()["messages"]
        ),
        what="the report to reach the end of the flow",
    )
    leaks = []
    for service in SERVICES:
        engine = create_engine(stack.database_urls[service])
        with engine.connect() as conn:
            for (event_body,) in conn.execute(text("SELECT body FROM outbox")):
                if NAME in event_body or PHONE in event_body:
                    leaks.append(f"{service} outbox: {event_body[:200]}")
        engine.dispose()
        log = (stack.log_dir / f"{service}.log").read_text(errors="replace")
        if NAME in log or PHONE in log:
            leaks.append(f"{service} log")
        metrics = requests.get(stack.url(service, "/metrics"), timeout=5).text
        if NAME in metrics or PHONE in metrics:
            leaks.append(f"{service} metrics")
    assert leaks == []
    # Intake itself keeps them, masked on the way out of its API.
    assert report["reporter_phone"] == "137****5678"
