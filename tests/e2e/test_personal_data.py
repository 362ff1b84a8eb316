"""A resident's name, phone and ID-card number never leave intake in the clear: not in any event on the bus (every
service's outbox is checked), not in any log line, not in any metric label."""

from __future__ import annotations

import requests
from sqlalchemy import create_engine, text

from gridlink.devstack import SERVICES, sample_request
from tests.polling import wait_for

NAME = "欧阳测试者"
PHONE = "13712345678"
ID_NUMBER = "150302198807150021"  # a resident ID typed into the description, as people do


def test_personal_data_stays_in_intake(stack):
    body, worker = sample_request()
    body["reporter"] = {"name": NAME, "phone": PHONE}
    body["description"] = f"路灯坏了，我的身份证号{ID_NUMBER}，有事打{PHONE}"
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
                if any(secret in event_body for secret in (NAME, PHONE, ID_NUMBER)):
                    leaks.append(f"{service} outbox: {event_body[:200]}")
        engine.dispose()
        log = (stack.log_dir / f"{service}.log").read_text(errors="replace")
        if any(secret in log for secret in (NAME, PHONE, ID_NUMBER)):
            leaks.append(f"{service} log")
        metrics = requests.get(stack.url(service, "/metrics"), timeout=5).text
        if any(secret in metrics for secret in (NAME, PHONE, ID_NUMBER)):
            leaks.append(f"{service} metrics")
    assert leaks == []
    # Intake itself keeps them, masked on the way out of its API.
    assert report["reporter_phone"] == "137****5678"
    assert ID_NUMBER not in report["description"] and PHONE not in report["description"]
