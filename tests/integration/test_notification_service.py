"""The notification service as nameko runs it, on the real broker: events published on the bus become messages,
a redelivered event sends nothing twice, providers are called from the delivery timers, email reaches a real
SMTP server, and the HTTP API shows a case's messages with statuses and attempts, refusing bad requests with 4xx."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import requests

import notification.adapters
from gridlink.runtime.auth import DEFAULT_SECRET, issue_token
from gridlink.runtime.bus import Bus
from gridlink.runtime.config import load_settings
from gridlink.runtime.migrations import upgrade
from notification.entrypoints.service import RECEIPT_TOKEN_HEADER, NotificationService
from tests.integration.test_notification_delivery import case_assigned as delivery_case_assigned
from tests.integration.test_notification_providers import ProviderDouble, SmtpServer, channel_env, free_port
from tests.polling import wait_for

MIGRATIONS = Path(notification.adapters.__file__).parent / "migrations"
GRID = "150302001001001"


def token(user="S9000", role="district_operator", unit="150302") -> dict:
    return {"Authorization": f"Bearer {issue_token(DEFAULT_SECRET, user, role, unit)}"}


def publish(amqp: str, envelope) -> None:
    body = json.dumps(envelope.to_wire()).encode()
    Bus(amqp).publish_event(
        f"{envelope.source}.events", envelope.type, body, envelope.event_id, envelope.correlation_id
    )


@pytest.fixture
def service(container_factory, new_vhost, new_database, tmp_path):
    double, smtp = ProviderDouble(), SmtpServer(tmp_path / "maildir")
    amqp, url, port = new_vhost(), new_database("notification"), free_port()
    upgrade(MIGRATIONS, url)
    env = {
        **channel_env(double, smtp.port, tmp_path / "out.jsonl", "inbox,sms,wecom,email,file"),
        "AMQP_URI": amqp,
        "DATABASE_URL": url,
        "HTTP_PORT": str(port),
        "RETRY_DELAYS": "0.2,0.4",
        "TIMER_INTERVAL": "0.2",
        "NOTIFICATION_RECEIPT_TOKEN": "receipt-token",
    }
    container = container_factory(NotificationService, load_settings("notification", port, env).nameko_config())
    container.start()
    yield {"amqp": amqp, "base": f"http://127.0.0.1:{port}", "double": double, "smtp": smtp}
    container.stop()
    double.close()
    smtp.stop()


def case_assigned(tracking_code: str):
    # Urgent: no quiet hours hold it, whatever the hour this test runs at.
    return delivery_case_assigned(tracking_code, urgency="critical")


def case_view(svc, correlation_id: str, headers=None) -> requests.Response:
    return requests.get(f"{svc['base']}/cases/{correlation_id}/messages", headers=headers or token(), timeout=10)


def settled(svc, correlation_id: str) -> dict | None:
    view = case_view(svc, correlation_id).json()
    statuses = {m["channel"]: m["status"] for m in view.get("messages", [])}
    return view if len(statuses) == 5 and "pending" not in statuses.values() else None


def test_a_published_event_is_delivered_on_every_channel_once_and_shown_over_http(service):
    event = case_assigned("HB-SVC-000001")
    publish(service["amqp"], event)
    publish(service["amqp"], event)  # a redelivery: the same event id
    view = wait_for(lambda: settled(service, event.correlation_id), timeout=60, what="every channel settled")
    by_channel = {m["channel"]: m for m in view["messages"]}
    assert {c: m["status"] for c, m in by_channel.items()} == {
        "inbox": "delivered",
        "sms": "sent",
        "wecom": "delivered",
        "email": "sent",
        "file": "delivered",
    }
    assert by_channel["sms"]["attempts"][0]["provider"] == "sms_aliyun"
    assert by_channel["sms"]["attempts"][0]["outcome"] == "sent"
    assert len(service["double"].calls("/aliyun")) == 1 and len(service["double"].calls("/wecom")) == 1
    [mail] = wait_for(service["smtp"].messages, what="the email at the SMTP server")
    assert "HB-SVC-000001" in mail.get_payload(decode=True).decode()
    inbox = requests.get(f"{service['base']}/inbox/S0100", timeout=10).json()["messages"]
    assert [m["status"] for m in inbox if "HB-SVC-000001" in m["body"]] == ["delivered"]

    receipt = requests.post(
        f"{service['base']}/receipts/sms_aliyun",
        json=[{"biz_id": by_channel["sms"]["attempts"][0]["detail"].split()[-1], "success": True}],
        headers={RECEIPT_TOKEN_HEADER: "receipt-token"},
        timeout=10,
    )
    assert receipt.status_code == 200 and receipt.json() == {"updated": 1, "unknown": []}
    sms = requests.get(f"{service['base']}/messages/{by_channel['sms']['message_id']}", headers=token(), timeout=10)
    assert sms.json()["status"] == "delivered"


def test_bad_requests_get_precise_4xx_answers(service):
    event = case_assigned("HB-SVC-000002")
    publish(service["amqp"], event)
    wait_for(lambda: case_view(service, event.correlation_id).status_code == 200, timeout=60, what="the messages")
    base = service["base"]
    assert case_view(service, event.correlation_id, headers={"X": "none"}).status_code == 401
    other_grid = token("S0200", "grid_worker", "150302002001001")
    assert case_view(service, event.correlation_id, headers=other_grid).status_code == 403
    assert case_view(service, str(uuid.uuid4())).status_code == 404
    assert requests.get(f"{base}/messages/nope", headers=token(), timeout=10).status_code == 404
    answers = [
        requests.post(f"{base}/receipts/sms_aliyun", json=[], headers={RECEIPT_TOKEN_HEADER: "wrong"}, timeout=10),
        requests.post(f"{base}/receipts/pigeon", json={}, headers={RECEIPT_TOKEN_HEADER: "receipt-token"}, timeout=10),
        requests.post(
            f"{base}/receipts/sms_aliyun", json=[{"x": 1}], headers={RECEIPT_TOKEN_HEADER: "receipt-token"}, timeout=10
        ),
        requests.put(f"{base}/recipients/S0100/preferences", json={"opt_out": ["x"]}, headers=token(), timeout=10),
        requests.put(
            f"{base}/recipients/S0100/preferences",
            json={"opt_out": ["gossip"]},
            headers=token("S0100", "grid_worker", GRID),
            timeout=10,
        ),
        requests.put(
            f"{base}/recipients/S0100/contact", data="not json", headers=token("S0100", "grid_worker", GRID), timeout=10
        ),
    ]
    assert [(a.status_code, a.json()["error"]["code"]) for a in answers] == [
        (401, "unauthorized"),
        (404, "not_found"),
        (400, "bad_request"),
        (403, "forbidden"),
        (400, "bad_request"),
        (400, "bad_request"),
    ]
    saved = requests.put(
        f"{base}/recipients/S0100/preferences",
        json={"opt_out": ["feedback"], "quiet_hours": {"start": "21:00", "end": "07:30"}},
        headers=token("S0100", "grid_worker", GRID),
        timeout=10,
    )
    assert saved.status_code == 200
    assert saved.json()["preferences"]["quiet_hours"] == {"start": "21:00", "end": "07:30"}
