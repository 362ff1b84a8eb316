"""The console against a real RabbitMQ and a real database: it records the bus into its read model, joins a case's
history on correlation_id, scopes everything to the signed-in person, streams events live, and forwards actions to
dispatch with the person's own token."""

from __future__ import annotations

import json
import re
import socket
import threading
import uuid
from datetime import UTC, datetime, timedelta
from http.server import HTTPServer
from pathlib import Path

import pytest
import requests

import console.adapters
from console.entrypoints.service import ConsoleService
from gridlink.contracts import new_envelope
from gridlink.runtime.auth import DEFAULT_SECRET, issue_token
from gridlink.runtime.bus import Bus, UndeliverableMessage
from gridlink.runtime.config import load_settings
from gridlink.runtime.migrations import upgrade
from tests.http_double import JsonHandler
from tests.polling import wait_for

GRID = "150302001001001"  # sub-centre 150302001, community 150302001001
OTHER_SUB_CENTRE = "150302002"
MIGRATIONS = Path(console.adapters.__file__).parent / "migrations"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def token(role: str, unit: str, user: str = "U1") -> str:
    return issue_token(DEFAULT_SECRET, user, role, unit)


class FakeStaffApi:
    """Another service's staff API as seen from outside the console's bounded context: it records what it was
    asked, (path, Authorization, JSON body or None), and answers `status` with `answer(path)`."""

    def __init__(self, answer):
        self.calls: list = []
        self.status = 200
        self.answer = answer
        fake = self

        class Handler(JsonHandler):
            def do_GET(self):
                fake.serve(self, None)

            def do_POST(self):
                fake.serve(self, json.loads(self.rfile.read(int(self.headers["Content-Length"]))))

        self.server = HTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def serve(self, request: JsonHandler, body) -> None:
        self.calls.append((request.path, request.headers.get("Authorization"), body))
        request.answer_json(self.status, self.answer(request.path))


def sent(recipient: str, channel: str, at: str, status: str = "delivered") -> dict:
    """One message as notification's `GET /cases/{id}/messages` lists it (the fields the console reads)."""
    return {
        "message_id": str(uuid.uuid4()),
        "recipient_id": recipient,
        "channel": channel,
        "template": "case_assigned",
        "status": status,
        "status_reason": None,
        "created_at": at,
        "sent_at": at if status in ("sent", "delivered") else None,
    }


@pytest.fixture
def dispatch_api():
    fake = FakeStaffApi(lambda path: {"case_id": path.split("/")[2], "state": "assigned"})
    yield fake
    fake.server.shutdown()


@pytest.fixture
def notification_api():
    messages = [
        sent("S0004", "email", "2026-11-30T01:01:05+00:00"),
        sent("S0004", "inbox", "2026-11-30T01:01:01+00:00"),
        sent("R-0001", "sms", "2026-11-30T01:00:30+00:00", status="pending"),
    ]
    fake = FakeStaffApi(lambda path: {"correlation_id": path.split("/")[2], "messages": messages})
    yield fake
    fake.server.shutdown()


@pytest.fixture
def console(container_factory, new_vhost, new_database, dispatch_api, notification_api):
    """A console on its own vhost (its queues see only this test's events) and a freshly migrated database."""
    amqp = new_vhost()
    url = new_database("console")
    upgrade(MIGRATIONS, url)
    port = free_port()
    env = {
        "AMQP_URI": amqp,
        "DATABASE_URL": url,
        "HTTP_PORT": str(port),
        "RETRY_DELAYS": "0.2,0.4",
        "CONSOLE_DISPATCH_URL": dispatch_api.url,
        "CONSOLE_NOTIFICATION_URL": notification_api.url,
    }
    container = container_factory(ConsoleService, load_settings("console", 8006, env).nameko_config())
    container.start()
    yield Console(amqp, f"http://127.0.0.1:{port}")
    container.stop()


class Console:
    def __init__(self, amqp: str, base: str):
        self.bus = Bus(amqp)
        self.base = base

    def publish(self, envelope) -> None:
        body = json.dumps(envelope.to_wire(), ensure_ascii=False).encode()
        self.bus.publish_event(
            f"{envelope.source}.events", envelope.type, body, envelope.event_id, envelope.correlation_id
        )

    def get(self, path: str, as_token: str, **kwargs) -> requests.Response:
        return requests.get(self.base + path, headers={"Authorization": f"Bearer {as_token}"}, timeout=10, **kwargs)

    def case(self, correlation_id: str, as_token: str) -> dict | None:
        response = self.get(f"/api/cases/{correlation_id}", as_token)
        return response.json() if response.status_code == 200 else None


DISTRICT = token("district_operator", "150302")
AT = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)  # 09:00 in Wuhai


def report_accepted(correlation_id: str, grid: str = GRID, tracking: str = "HB-261130-AAAAAA", at=AT):
    return new_envelope(
        type="report_accepted",
        source="intake",
        correlation_id=correlation_id,
        occurred_at=at,
        payload={
            "report_id": correlation_id,
            "tracking_code": tracking,
            "channel": "app",
            "category_code": "street_lamp",
            "category_kind": "general",
            "urgency": "normal",
            "description": "路灯不亮",
            "grid_code": grid,
            "community_code": grid[:12],
            "sub_centre_code": grid[:9],
            "lat": 39.79,
            "long": 106.80,
            "submitted_at": at,
        },
    )


def case_fact(correlation_id: str, grid: str = GRID, tracking: str = "HB-261130-AAAAAA") -> dict:
    return {
        "case_id": f"C-{correlation_id[:8]}",
        "report_id": correlation_id,
        "tracking_code": tracking,
        "grid_code": grid,
        "tier": "grid",
        "unit_code": grid,
        "assignee_id": "S0004",
    }


def case_assigned(correlation_id: str, grid: str = GRID, at=AT + timedelta(minutes=1)):
    fact = case_fact(correlation_id, grid)
    fact.update(category_code="street_lamp", urgency="normal", assignee_role="full_time_worker", summary="路灯不亮")
    fact["deadline_at"] = at + timedelta(days=1)
    return new_envelope(
        type="case_assigned", source="dispatch", correlation_id=correlation_id, occurred_at=at, payload=fact
    )


def case_overdue(correlation_id: str, at=AT + timedelta(days=1, minutes=2)):
    payload = {**case_fact(correlation_id), "stage": "resolution", "deadline_at": AT + timedelta(days=1)}
    return new_envelope(
        type="case_overdue", source="dispatch", correlation_id=correlation_id, occurred_at=at, payload=payload
    )


def message_sent(correlation_id: str, at=AT):
    """notification's `message_sent`: the console no longer consumes it, but keeps the ones it recorded before."""
    payload = {
        "message_id": str(uuid.uuid4()),
        "recipient_id": "S0004",
        "channel": "inbox",
        "template_code": "case_assigned",
        "trigger_event_id": str(uuid.uuid4()),
    }
    return new_envelope(
        type="message_sent", source="notification", correlation_id=correlation_id, occurred_at=at, payload=payload
    )


def test_a_case_is_joined_from_events_in_any_order_and_each_is_kept_once(console, backend):
    cid = str(uuid.uuid4())
    assigned = case_assigned(cid)
    console.publish(assigned)  # before the report it belongs to
    console.publish(report_accepted(cid))
    console.publish(assigned)  # a redelivery
    view = wait_for(
        lambda: (c := console.case(cid, DISTRICT)) and len(c["events"]) == 2 and c["case"]["tracking_code"] and c,
        what="both events recorded",
    )
    assert view["case"]["state"] == "assigned"
    assert view["case"]["assignee_id"] == "S0004"
    assert view["case"]["description"] == "路灯不亮"
    assert [e["type"] for e in view["events"]] == ["case_assigned", "report_accepted"]  # in arrival order
    # the case_assigned that came first learnt its grid when the report arrived: scoped boards show it
    assert all(e["grid_code"] == GRID for e in view["events"])


def test_a_sub_centre_operator_sees_only_their_sub_centre(console):
    ours, theirs = str(uuid.uuid4()), str(uuid.uuid4())
    console.publish(report_accepted(ours, tracking="HB-261130-OURSXX"))
    console.publish(report_accepted(theirs, grid="150302002001001", tracking="HB-261130-THEIRS"))
    wait_for(lambda: console.case(theirs, DISTRICT) and console.case(ours, DISTRICT), what="both cases recorded")
    operator = token("sub_centre_operator", "150302001")
    assert console.case(ours, operator) is not None
    refused = console.get(f"/api/cases/{theirs}", operator)
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "not_found"
    board = {e["tracking_code"] for e in console.get("/api/board", operator).json()["events"]}
    assert "HB-261130-OURSXX" in board and "HB-261130-THEIRS" not in board
    assert console.get(f"/api/grids/{'150302002001001'}", operator).status_code == 404
    other = token("sub_centre_operator", OTHER_SUB_CENTRE)
    assert console.case(theirs, other) is not None and console.case(ours, other) is None


def test_login_sets_an_httponly_cookie_and_refuses_bad_or_foreign_tokens(console):
    bad = requests.post(console.base + "/login", data={"token": "not.a-token"}, timeout=10, allow_redirects=False)
    assert bad.status_code == 401 and "signature" in bad.text
    worker = token("grid_worker", GRID)
    refused = requests.post(console.base + "/login", data={"token": worker}, timeout=10, allow_redirects=False)
    assert refused.status_code == 403
    session = requests.Session()
    ok = session.post(console.base + "/login", data={"token": DISTRICT}, timeout=10, allow_redirects=False)
    assert ok.status_code == 303 and ok.headers["Location"] == "/board"
    cookie = ok.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    page = session.get(console.base + "/board", timeout=10)
    assert page.status_code == 200 and 'id="board-rows"' in page.text
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert requests.get(console.base + "/board", timeout=10, allow_redirects=False).headers["Location"] == "/login"
    assert requests.get(console.base + "/api/board", timeout=10).status_code == 401


def test_the_stream_pushes_each_new_event_to_the_browser(console):
    cid = str(uuid.uuid4())
    with console.get("/stream", DISTRICT, stream=True) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        lines = response.iter_lines(decode_unicode=True)
        assert next(lines).startswith("retry:")
        live = requests.get(console.base + "/metrics", timeout=10).text
        assert float(re.search(r"^gridlink_console_live_streams (\S+)$", live, re.M).group(1)) >= 1
        console.publish(report_accepted(cid, tracking="HB-261130-LIVE01"))
        for line in lines:
            if line.startswith("data:"):
                data = json.loads(line[5:])
                break
    assert data["correlation_id"] == cid
    assert data["type"] == "report_accepted" and data["tracking_code"] == "HB-261130-LIVE01"
    assert data["grid_name"] and data["line"].startswith("report HB-261130-LIVE01")
    # a reconnecting browser resumes after the last id it saw, and gets nothing twice
    with requests.get(
        console.base + "/stream",
        headers={"Authorization": f"Bearer {DISTRICT}", "Last-Event-ID": str(data["seq"])},
        stream=True,
        timeout=10,
    ) as again:
        console.publish(case_assigned(cid))
        seen = next(json.loads(line[5:]) for line in again.iter_lines(decode_unicode=True) if line.startswith("data:"))
    assert seen["type"] == "case_assigned" and seen["seq"] > data["seq"]


def test_overdue_cases_reach_the_supervision_board_and_colour_the_map(console):
    cid = str(uuid.uuid4())
    for envelope in (report_accepted(cid), case_assigned(cid), case_overdue(cid)):
        console.publish(envelope)
    board = wait_for(
        lambda: console.get("/api/supervision", DISTRICT).json()["overdue"].get("grid"), what="overdue listed"
    )
    assert [c["correlation_id"] for c in board] == [cid]
    page = requests.get(console.base + "/supervision", cookies={"gridlink_console": DISTRICT}, timeout=10).text
    overdue_section = page.split('id="overdue"')[1].split('id="due-soon"')[0]
    assert "HB-261130-AAAAAA" in overdue_section and f'id="act-escalate-{cid}"' in overdue_section
    grids = console.get("/api/map?metric=overdue", DISTRICT).json()["grids"]
    assert grids[GRID]["overdue"] == 1 and grids[GRID]["level"] == 2
    assert console.get("/api/map?metric=colourful", DISTRICT).status_code == 400
    page = requests.get(console.base + "/map?metric=overdue", cookies={"gridlink_console": DISTRICT}, timeout=10)
    assert f'class="grid level-2" id="g{GRID}"' in page.text
    assert page.text.count('<path class="grid') == 435
    filtered = requests.get(console.base + "/map?sub_centre=150302002", cookies={"gridlink_console": DISTRICT})
    assert 0 < filtered.text.count('<path class="grid') < 435 and f'id="g{GRID}"' not in filtered.text
    detail = console.get(f"/api/grids/{GRID}", DISTRICT).json()
    assert [c["correlation_id"] for c in detail["cases"]] == [cid]
    assert {"full_time_worker", "grid_leader"} <= {s["role"] for s in detail["staff"]}


def test_an_action_goes_to_dispatch_with_the_persons_token_and_is_logged(console, dispatch_api):
    cid = str(uuid.uuid4())
    console.publish(report_accepted(cid))
    console.publish(case_assigned(cid))
    wait_for(lambda: (c := console.case(cid, DISTRICT)) and c["case"]["case_id"], what="case recorded")
    headers = {"Authorization": f"Bearer {DISTRICT}"}
    url = f"{console.base}/api/cases/{cid}/actions/escalate"
    done = requests.post(url, json={"reason": "督办: three days without progress"}, headers=headers, timeout=10)
    assert done.status_code == 200 and done.json()["dispatch_status"] == 200
    assert dispatch_api.calls == [
        (f"/cases/C-{cid[:8]}/escalate", f"Bearer {DISTRICT}", {"reason": "督办: three days without progress"})
    ]
    log = console.case(cid, DISTRICT)["actions"]
    assert [(a["user_id"], a["action"], a["status"]) for a in log] == [("U1", "escalate", 200)]

    dispatch_api.status = 409  # dispatch's refusal is passed on, not turned into a 5xx
    refused = requests.post(url, json={"reason": "again"}, headers=headers, timeout=10)
    assert refused.status_code == 409 and refused.json()["dispatch_status"] == 409

    fresh = str(uuid.uuid4())  # reported, but dispatch has not opened a case for it yet
    console.publish(report_accepted(fresh))
    wait_for(lambda: console.case(fresh, DISTRICT), what="report recorded")
    too_early = requests.post(url.replace(cid, fresh), json={"reason": "x"}, headers=headers, timeout=10)
    assert too_early.status_code == 403 and "no dispatch case yet" in too_early.json()["error"]["description"]
    assert requests.post(url.replace("escalate", "dance"), json={"reason": "x"}, headers=headers).status_code == 404
    assert requests.post(url, json={"reason": " "}, headers=headers).status_code == 400
    assert requests.post(url, data="{", headers=headers).status_code == 400
    assert len(dispatch_api.calls) == 2
    metrics = requests.get(console.base + "/metrics", timeout=10).text
    assert 'gridlink_console_actions_total{action="escalate",status="409"}' in metrics


def test_a_case_shows_the_messages_notification_has_for_it_read_with_the_persons_token(console, notification_api):
    cid = str(uuid.uuid4())
    console.publish(report_accepted(cid))
    console.publish(case_assigned(cid))
    wait_for(lambda: (c := console.case(cid, DISTRICT)) and c["case"]["case_id"], what="case recorded")
    notification_api.calls.clear()

    view = console.case(cid, DISTRICT)
    assert notification_api.calls == [(f"/cases/{cid}/messages", f"Bearer {DISTRICT}", None)]
    assert view["messages_unavailable"] is None
    assert [(m["recipient_id"], m["channel"], m["status"]) for m in view["messages"]] == [
        ("R-0001", "sms", "pending"),  # in time order: sent_at, or created_at while not sent
        ("S0004", "inbox", "delivered"),
        ("S0004", "email", "delivered"),
    ]
    assert view["messages"][1]["local_time"] == "11-30 09:01"  # district time
    page = requests.get(f"{console.base}/cases/{cid}", cookies={"gridlink_console": DISTRICT}, timeout=10).text
    assert "case_assigned to S0004 by inbox: delivered" in page and "R-0001 by sms: pending" in page

    notification_api.status = 404  # notification has sent nothing for the case yet
    view = console.case(cid, DISTRICT)
    assert view["messages"] == [] and view["messages_unavailable"] is None
    page = requests.get(f"{console.base}/cases/{cid}", cookies={"gridlink_console": DISTRICT}, timeout=10).text
    assert "No messages for this case yet." in page

    notification_api.status = 403
    assert "does not show you these messages" in console.case(cid, DISTRICT)["messages_unavailable"]

    notification_api.status, notification_api.answer = 200, lambda path: {"messages": [{"channel": "sms"}]}
    assert "could not be read" in console.case(cid, DISTRICT)["messages_unavailable"]

    notification_api.server.shutdown()
    notification_api.server.server_close()
    view = console.case(cid, DISTRICT)  # the case itself still answers, from the console's own read model
    assert view["case"]["state"] == "assigned" and view["messages"] == []
    assert view["messages_unavailable"].startswith("notification did not answer")
    page = requests.get(f"{console.base}/cases/{cid}", cookies={"gridlink_console": DISTRICT}, timeout=10)
    assert page.status_code == 200 and "Cannot show the messages now: notification did not answer" in page.text


def test_the_console_no_longer_takes_message_sent_from_the_bus(console):
    """The case view reads messages from notification; no console queue collects `message_sent` any more."""
    with pytest.raises(UndeliverableMessage):  # `mandatory`: the broker finds no queue bound for it
        console.publish(message_sent(str(uuid.uuid4())))


def test_reports_per_unit_and_period_with_csv(console):
    resolved_cid, open_cid = str(uuid.uuid4()), str(uuid.uuid4())
    console.publish(report_accepted(resolved_cid, tracking="HB-261130-RES001"))
    console.publish(case_assigned(resolved_cid))
    resolved = {**case_fact(resolved_cid), "resolved_by": "S0004", "resolution": "换了灯泡"}
    resolved["reporter_recipient_id"] = f"reporter:{resolved_cid}"
    resolved["tracking_code"] = "HB-261130-RES001"
    console.publish(
        new_envelope(
            type="case_resolved",
            source="dispatch",
            correlation_id=resolved_cid,
            occurred_at=AT + timedelta(hours=3),
            payload=resolved,
        )
    )
    console.publish(report_accepted(open_cid, tracking="HB-261130-OPEN01"))
    query = "level=sub_centre&from=2026-11-30&to=2026-11-30"
    units = wait_for(
        lambda: [
            u
            for u in console.get(f"/api/reports?{query}", DISTRICT).json()["units"]
            if (u["received"], u["resolved"]) == (2, 1)
        ],
        what="both reports and the resolution counted",
    )
    assert units[0]["unit_code"] == "150302001"
    assert (units[0]["resolved"], units[0]["resolved_on_time"], units[0]["average_handling_hours"]) == (1, 1, 3.0)
    assert len(console.get(f"/api/reports?{query}", DISTRICT).json()["units"]) == 7  # every sub-centre, even quiet
    later = console.get("/api/reports?level=sub_centre&from=2026-12-01&to=2026-12-02", DISTRICT).json()["units"]
    assert sum(u["received"] for u in later) == 0
    csv = console.get(f"/reports.csv?{query}", DISTRICT)
    assert csv.headers["Content-Type"].startswith("text/csv") and "attachment" in csv.headers["Content-Disposition"]
    lines = csv.text.splitlines()
    assert lines[0].startswith("unit_code,name,received,resolved") and any(
        line.startswith("150302001,") and ",2,1,1,1.0," in line for line in lines
    )
    page = requests.get(console.base + f"/reports?{query}", cookies={"gridlink_console": DISTRICT}, timeout=10)
    assert 'id="report-chart"' in page.text and "<rect" in page.text
    bad = console.get("/api/reports?level=sub_centre&from=2026-13-01", DISTRICT)
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.json()["error"]["description"]
    assert console.get("/api/reports?level=planet", DISTRICT).status_code == 400
