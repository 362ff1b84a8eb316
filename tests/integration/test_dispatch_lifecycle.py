"""dispatch against a real RabbitMQ and a real database: a report becomes a routed case, staff walk it through
every state over HTTP with their own tokens (and are refused outside their tier or unit), deadline timers driven by
the test's clock supervise and escalate it, referred cases close on outcomes from the bus, and the performance
figures come out as JSON, CSV and Prometheus gauges that promtool accepts."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

import dispatch.adapters
from dispatch.adapters.orm import metadata
from dispatch.adapters.reference import load_reference
from dispatch.adapters.repository import DispatchUnitOfWork
from dispatch.entrypoints.service import TIMER_KINDS, DispatchService, _on_timer
from gridlink.contracts import new_envelope
from gridlink.refdata import DEFAULT_DATA_DIR
from gridlink.runtime.auth import DEFAULT_SECRET, issue_token
from gridlink.runtime.bus import Bus
from gridlink.runtime.config import load_settings
from gridlink.runtime.db import Database
from gridlink.runtime.migrations import upgrade
from gridlink.runtime.timers import TimerScanner
from tests.polling import wait_for

MIGRATIONS = Path(dispatch.adapters.__file__).parent / "migrations"
REF = load_reference(DEFAULT_DATA_DIR)
GRID = "150302001001001"
WORKER = REF.directory.grid_handlers[GRID].staff_id


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def auth(role: str, unit: str, user: str = "U1") -> dict:
    return {"Authorization": f"Bearer {issue_token(DEFAULT_SECRET, user, role, unit)}"}


GRID_WORKER = auth("grid_worker", GRID, WORKER)
NEIGHBOUR = auth("grid_worker", "150302001001002", "S9")
COMMUNITY = auth("community_operator", GRID[:12], "C1")
SUB_CENTRE = auth("sub_centre_operator", GRID[:9], "B1")
DISTRICT = auth("district_operator", "150302", "D1")
CITY = auth("department", "city_management", "CM1")


def report(category="noise", urgency="normal", kind="general") -> dict:
    return {
        "report_id": str(uuid.uuid4()),
        "tracking_code": f"HB-{uuid.uuid4().hex[:6].upper()}",
        "channel": "app",
        "category_code": category,
        "category_kind": kind,
        "urgency": urgency,
        "description": "夜间施工噪声扰民",
        "grid_code": GRID,
        "community_code": GRID[:12],
        "sub_centre_code": GRID[:9],
        "lat": 39.68,
        "long": 106.82,
        "submitted_at": datetime.now(UTC),
    }


def publish(amqp: str, source: str, event_type: str, payload: dict, correlation_id: str) -> None:
    envelope = new_envelope(type=event_type, source=source, payload=payload, correlation_id=correlation_id)
    body = json.dumps(envelope.to_wire()).encode()
    Bus(amqp).publish_event(f"{source}.events", event_type, body, envelope.event_id, envelope.correlation_id)


@pytest.fixture
def dispatch_service(container_factory, new_vhost, new_database):
    amqp, url, port = new_vhost(), new_database("dispatch"), free_port()
    upgrade(MIGRATIONS, url)
    env = {"AMQP_URI": amqp, "DATABASE_URL": url, "HTTP_PORT": str(port), "RETRY_DELAYS": "0.2,0.4"}
    container = container_factory(DispatchService, load_settings("dispatch", port, env).nameko_config())
    container.start()
    database = Database(url, metadata, "dispatch", DispatchUnitOfWork)
    yield {"amqp": amqp, "base": f"http://127.0.0.1:{port}", "db": database}
    container.stop()
    database.dispose()


def open_case(svc, **kw) -> dict:
    fields = report(**kw)
    publish(svc["amqp"], "intake", "report_accepted", fields, fields["report_id"])
    return wait_for(
        lambda: (requests.get(f"{svc['base']}/cases", params={"tracking_code": fields["tracking_code"]}).json())[
            "cases"
        ],
        timeout=30,
        what="the case opened from report_accepted",
    )[0]


def post(svc, case_id: str, action: str, headers: dict, **body) -> requests.Response:
    return requests.post(f"{svc['base']}/cases/{case_id}/{action}", json=body, headers=headers, timeout=10)


def outbox_types(svc, case_id: str) -> list[str]:
    outbox = metadata.tables["outbox"]
    with svc["db"].engine.connect() as conn:
        rows = conn.execute(select(outbox.c.event_type, outbox.c.body).order_by(outbox.c.id)).all()
    return [t for t, body in rows if json.loads(body)["payload"].get("case_id") == case_id]


def test_a_case_walks_every_state_with_each_step_authorised(dispatch_service):
    svc = dispatch_service
    case = open_case(svc)
    cid = case["case_id"]
    assert (case["state"], case["tier"], case["assignee_id"]) == ("assigned", "grid", WORKER)
    assert case["acceptance_deadline_at"] < case["deadline_at"]

    # Refused: no token, another grid's worker, a department, wrong state; each a precise 4xx.
    assert post(svc, cid, "accept", {}).status_code == 401
    assert post(svc, cid, "accept", NEIGHBOUR).status_code == 403
    assert post(svc, cid, "accept", CITY).status_code == 403
    refused = post(svc, cid, "resolve", GRID_WORKER, resolution="done")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "conflict"
    assert post(svc, cid, "return", GRID_WORKER).status_code == 400  # no reason
    assert requests.get(f"{svc['base']}/cases/{cid}", headers=NEIGHBOUR).status_code == 403

    # 退回 and re-dispatch, then the main line with a suspension and a supervisor pressing.
    returned = post(svc, cid, "return", GRID_WORKER, reason="施工许可属城管").json()
    assert (returned["state"], returned["tier"]) == ("returned", "community")
    assert post(svc, cid, "redispatch", COMMUNITY, unit_code="nowhere").status_code == 422
    assert post(svc, cid, "redispatch", COMMUNITY, unit_code=GRID, reason="夜间噪声归网格").json()["tier"] == "grid"
    assert post(svc, cid, "accept", GRID_WORKER).json()["state"] == "accepted"
    assert post(svc, cid, "supervise", COMMUNITY, reason="群众反映强烈，请加快").status_code == 200
    assert post(svc, cid, "start", GRID_WORKER, note="已走访施工方").json()["state"] == "in_progress"
    assert post(svc, cid, "suspend", GRID_WORKER, reason="等待施工方负责人").json()["state"] == "suspended"
    assert post(svc, cid, "resume", GRID_WORKER).json()["state"] == "in_progress"
    assert post(svc, cid, "escalate", GRID_WORKER, reason="需要执法").json()["tier"] == "community"
    assert post(svc, cid, "transfer", COMMUNITY, department="city_management", reason="x").status_code == 403
    assert post(svc, cid, "escalate", COMMUNITY, reason="需要街道协调").json()["tier"] == "sub_centre"
    moved = post(svc, cid, "transfer", SUB_CENTRE, department="city_management", reason="夜间施工执法").json()
    assert (moved["tier"], moved["unit_code"], moved["state"]) == ("department", "city_management", "assigned")
    assert post(svc, cid, "accept", CITY).status_code == 200
    resolved = post(svc, cid, "resolve", CITY, resolution="已责令停止夜间施工").json()
    assert resolved["state"] == "feedback"

    # The reporter rates by tracking code: unsatisfied reopens it once with the same unit, then satisfied closes.
    evaluations = f"{svc['base']}/evaluations"
    assert requests.post(evaluations, json={"tracking_code": "nope", "rating": "satisfied"}).status_code == 404
    bad = requests.post(evaluations, json={"tracking_code": case["tracking_code"], "rating": "meh"})
    assert bad.status_code == 400
    again = requests.post(evaluations, json={"tracking_code": case["tracking_code"], "rating": "unsatisfied"})
    assert again.json()["state"] == "assigned"
    post(svc, cid, "accept", CITY)
    post(svc, cid, "resolve", CITY, resolution="已复查，夜间无施工")
    done = requests.post(
        evaluations, json={"tracking_code": case["tracking_code"], "rating": "satisfied", "comment": "安静了"}
    )
    assert done.json() == {"tracking_code": case["tracking_code"], "state": "closed", "rating": "satisfied"}

    detail = requests.get(f"{svc['base']}/cases/{cid}", headers=DISTRICT).json()
    states = [h["to_state"] for h in detail["history"]]
    for state in ("received", "assigned", "returned", "accepted", "in_progress", "suspended", "resolved"):
        assert state in states
    assert states[-3:] == ["feedback", "evaluated", "closed"]
    assert all(h["actor"] for h in detail["history"])
    assert detail["supervisions"][0]["supervisor_id"] == "C1"
    published = outbox_types(svc, cid)
    for event_type in (
        "case_assigned",
        "case_returned",
        "case_accepted",
        "case_supervised",
        "case_started",
        "case_suspended",
        "case_resumed",
        "case_escalated",
        "case_transferred",
        "case_resolved",
        "case_evaluated",
        "case_reopened",
        "case_closed",
    ):
        assert event_type in published, event_type

    # A grid worker lists only their own grid; a department what it holds.
    mine = requests.get(f"{svc['base']}/cases", headers=NEIGHBOUR).json()["cases"]
    assert all(c["grid_code"] == "150302001001002" for c in mine)
    held = requests.get(f"{svc['base']}/cases", headers=CITY).json()["cases"]
    assert [c["case_id"] for c in held] == [cid]


def test_overdue_then_supervision_then_escalation_on_the_tests_clock(dispatch_service):
    svc = dispatch_service
    case = open_case(svc)  # ordinary: sign for within 1 working day
    accept_by = datetime.fromisoformat(case["acceptance_deadline_at"])
    # The container's own scanner runs on the wall clock, days before these deadlines; this one runs on ours.
    scanner = TimerScanner(svc["db"], dict.fromkeys(TIMER_KINDS, _on_timer), "test-clock")
    assert scanner.fire_due(accept_by - timedelta(hours=1)) == 1  # the warning at 80 %
    assert scanner.fire_due(accept_by) == 1  # overdue: supervision
    detail = requests.get(f"{svc['base']}/cases/{case['case_id']}").json()
    assert detail["tier"] == "grid" and detail["supervisions"][0]["stage"] == "acceptance"
    assert outbox_types(svc, case["case_id"])[-2:] == ["case_due_soon", "case_overdue"]
    assert scanner.fire_due(accept_by + timedelta(days=1)) == 0  # still within the grace period
    assert scanner.fire_due(accept_by + timedelta(days=6)) >= 1  # past the grace: up one tier
    detail = requests.get(f"{svc['base']}/cases/{case['case_id']}").json()
    assert (detail["tier"], detail["unit_code"]) == ("community", GRID[:12])
    assert [h["actor"] for h in detail["history"] if h["action"] == "escalate"] == ["system:dispatch"]
    assert outbox_types(svc, case["case_id"]).count("case_escalated") == 1


def test_referred_cases_close_when_outcomes_arrive(dispatch_service):
    svc = dispatch_service
    dispute = open_case(svc, category="neighbour_dispute", kind="dispute")
    service = open_case(svc, category="elder_visit", urgency="low", kind="volunteer")
    base = {"dispute_id": "D-1", "case_code": "MD-1", "case_id": dispute["case_id"], "channel_code": "people"}
    publish(svc["amqp"], "mediation", "mediation_failed", {**base, "reason": "一方未到场"}, dispute["report_id"])
    publish(svc["amqp"], "mediation", "agreement_reached", {**base, "agreement_id": "A-1", "summary": "赔偿维修"}, "c")
    order = {"order_id": "O-1", "case_id": service["case_id"], "volunteer_id": "V1"}
    publish(svc["amqp"], "volunteer", "order_completed", {**order, "hours": "2.00", "note": "陪同就医"}, "c")

    def state(case):
        return requests.get(f"{svc['base']}/cases/{case['case_id']}").json()

    closed = wait_for(lambda: state(dispute)["state"] == "closed" and state(dispute), timeout=30, what="closed")
    assert closed["outcome"] == "mediated"
    assert any("mediation MD-1 failed" in (h["reason"] or "") for h in closed["history"])
    assert wait_for(lambda: state(service)["outcome"], timeout=30, what="order closes") == "volunteer_service_completed"


def promtool() -> str:
    found = shutil.which("promtool", path=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    if found is None:
        pytest.fail("promtool is missing (tools/install_promtool.sh)")
    return found


def test_performance_as_json_csv_and_gauges(dispatch_service):
    svc = dispatch_service
    fast, slow = open_case(svc, category="street_lamp", urgency="low"), open_case(svc)
    post(svc, fast["case_id"], "accept", GRID_WORKER)
    post(svc, fast["case_id"], "resolve", GRID_WORKER, resolution="换了灯泡")
    today = datetime.now(UTC).astimezone().date().isoformat()
    period = {"from": "2026-01-01", "to": "2027-12-31"}

    assert requests.get(f"{svc['base']}/performance", params=period).status_code == 401
    bad = requests.get(f"{svc['base']}/performance", params={"from": "soon", "to": today}, headers=DISTRICT)
    assert bad.status_code == 400
    report = requests.get(f"{svc['base']}/performance", params={**period, "level": "grid"}, headers=DISTRICT).json()
    grid = next(u for u in report["units"] if u["unit_code"] == GRID)
    assert grid["received"] >= 2 and grid["average_handling_hours"] is not None
    own = requests.get(f"{svc['base']}/performance", params={**period, "level": "grid"}, headers=NEIGHBOUR).json()
    assert all(u["unit_code"] == "150302001001002" for u in own["units"])
    text = requests.get(
        f"{svc['base']}/performance", params={**period, "level": "sub_centre", "format": "csv"}, headers=DISTRICT
    ).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["unit_code"] == GRID[:9] and int(rows[0]["received"]) >= 2

    metrics = requests.get(f"{svc['base']}/metrics").text
    assert f'gridlink_dispatch_received_cases{{level="sub_centre",unit="{GRID[:9]}"}}' in metrics
    assert 'gridlink_dispatch_cases{state="assigned",tier="grid"}' in metrics
    lint = subprocess.run([promtool(), "check", "metrics"], input=metrics, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert slow["state"] == "assigned"


def test_organisation_and_headcounts(dispatch_service):
    org = requests.get(f"{dispatch_service['base']}/organisation").json()
    assert len(org["sub_centres"]) == 7 and org["headcounts"]["grids"] == 435
    assert org["headcounts"]["staff_by_role"]["full_time_worker"] == 371
    assert any(d["code"] == "justice" for d in org["departments"])
