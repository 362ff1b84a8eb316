"""mediation against a real RabbitMQ and a real database: dispatch's referral becomes a dispute case, staff and
parties work it over HTTP (rooms and mediators never double-booked, online sessions only with consent, statements
readable only by those allowed and every read audited), deadline timers driven by the test's clock warn and report
overdue, and the outcome event that closes dispatch's case carries dispatch's case id."""

from __future__ import annotations

import json
import socket
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

import mediation.adapters
from gridlink.contracts import new_envelope
from gridlink.refdata import DEFAULT_DATA_DIR
from gridlink.runtime.auth import DEFAULT_SECRET, issue_token
from gridlink.runtime.bus import Bus
from gridlink.runtime.config import load_settings
from gridlink.runtime.db import Database
from gridlink.runtime.migrations import upgrade
from gridlink.runtime.timers import TimerScanner
from mediation import handlers
from mediation.adapters.orm import bookings, metadata
from mediation.adapters.reference import load_reference
from mediation.adapters.repository import MediationUnitOfWork
from mediation.domain.deadlines import CST
from mediation.domain.errors import BookingConflict
from mediation.domain.model import Reader
from mediation.entrypoints.clock import Clock
from mediation.entrypoints.service import MediationService
from tests.polling import wait_for

MIGRATIONS = Path(mediation.adapters.__file__).parent / "migrations"
REF = load_reference(DEFAULT_DATA_DIR)
CLOCK = {"now": datetime.now(UTC)}


class ClockedMediation(MediationService):
    clock = Clock(lambda: CLOCK["now"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def auth(role: str, unit: str, user: str) -> dict:
    return {"Authorization": f"Bearer {issue_token(DEFAULT_SECRET, user, role, unit)}"}


PEOPLES = auth("mediator", "peoples_mediation", "M001")  # staff of people's mediation, and a mediator there
OTHER_MEDIATOR = auth("mediator", "old_secretary_studio", "M006")
OPERATOR = auth("district_operator", "150302", "D1")
COURT = auth("department", "court", "C1")


def publish(amqp: str, source: str, event_type: str, payload: dict, correlation_id: str) -> None:
    envelope = new_envelope(type=event_type, source=source, payload=payload, correlation_id=correlation_id)
    Bus(amqp).publish_event(
        f"{source}.events", event_type, json.dumps(envelope.to_wire()).encode(), envelope.event_id, correlation_id
    )


@pytest.fixture
def svc(container_factory, new_vhost, new_database):
    CLOCK["now"] = datetime.now(UTC)
    amqp, url, port = new_vhost(), new_database("mediation"), free_port()
    upgrade(MIGRATIONS, url)
    env = {"AMQP_URI": amqp, "DATABASE_URL": url, "HTTP_PORT": str(port), "RETRY_DELAYS": "0.2,0.4"}
    container = container_factory(ClockedMediation, load_settings("mediation", port, env).nameko_config())
    container.start()
    database = Database(url, metadata, "mediation", MediationUnitOfWork)
    yield {"amqp": amqp, "base": f"http://127.0.0.1:{port}", "db": database, "url": url}
    container.stop()
    database.dispose()


def outbox(svc, dispute_id: str) -> list[tuple[str, dict]]:
    table = metadata.tables["outbox"]
    with svc["db"].engine.connect() as conn:
        rows = conn.execute(select(table.c.event_type, table.c.body).order_by(table.c.id)).all()
    found = []
    for event_type, body in rows:
        payload = json.loads(body)["payload"]
        if payload.get("dispute_id") == dispute_id:
            found.append((event_type, payload))
    return found


def walk_in(svc, **overrides) -> dict:
    body = {
        "category_code": "neighbour_dispute",
        "description": "楼上漏水三个月，多次协商不成，要求赔偿维修费",
        "amount_yuan": "3000",
        "parties": [
            {"role": "applicant", "name": "张三", "phone": "13900000001"},
            {"role": "respondent", "name": "李四", "phone": "13900000002"},
        ],
        **overrides,
    }
    response = requests.post(f"{svc['base']}/disputes", json=body, headers=PEOPLES, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()


def at(days: int, hour: int, minute: int = 0) -> str:
    day = (CLOCK["now"].astimezone(CST) + timedelta(days=days)).date()
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=CST).isoformat()


def test_a_dispatch_referral_opens_a_case_that_dispatch_can_follow_to_its_agreement(svc):
    case_id, report_id = str(uuid.uuid4()), str(uuid.uuid4())
    referral = {
        "case_id": case_id,
        "report_id": report_id,
        "tracking_code": "HB-261129-ABCDEF",
        "category_code": "wage_arrears_dispute",
        "description": "工地拖欠工资三个月",
        "grid_code": "150302001001001",
        "community_code": "150302001001",
    }
    publish(svc["amqp"], "dispatch", "case_referred_to_mediation", referral, report_id)
    dispute = wait_for(
        lambda: (
            requests.get(f"{svc['base']}/disputes/{case_id}", timeout=5).json().get("case_code")
            and requests.get(f"{svc['base']}/disputes/{case_id}", timeout=5).json()
        ),
        timeout=30,
        what="the dispute case",
    )
    assert dispute["case_code"].startswith("MD-") and dispute["channel"] == "labour_mediation"
    assert dispute["state"] == "accepted" and dispute["correlation_id"] == report_id
    assert "statement" not in dispute and "工资" not in json.dumps(dispute, ensure_ascii=False)

    labour = auth("mediator", "labour_mediation", "M002")
    keys = requests.post(
        f"{svc['base']}/disputes/{case_id}/parties",
        json={"parties": [{"role": "applicant", "name": "王五"}, {"role": "respondent", "name": "某建筑公司"}]},
        headers=labour,
        timeout=10,
    ).json()["party_keys"]
    worker = next(iter(keys))
    due = (CLOCK["now"] + timedelta(days=10)).astimezone(CST).date().isoformat()
    agreed = requests.post(
        f"{svc['base']}/disputes/{case_id}/agreement",
        json={
            "terms": "公司于十日内支付欠薪 24000 元",
            "obligations": [
                {"party_id": next(p for p in keys if p != worker), "obligation": "支付欠薪", "due_on": due}
            ],
        },
        headers=labour,
        timeout=10,
    )
    assert agreed.status_code == 201, agreed.text
    events = outbox(svc, dispute["dispute_id"])
    types = [t for t, _ in events]
    assert types[0] == "dispute_case_opened" and types.count("party_contact_registered") == 2
    agreement = dict(events)["agreement_reached"]
    assert agreement["case_id"] == case_id and "24000" not in agreement["summary"]
    # the follow-up visit is armed for the day after the last obligation falls due
    timers = metadata.tables["timers"]
    with svc["db"].engine.connect() as conn:
        kinds = set(conn.execute(select(timers.c.kind).where(timers.c.fired_at.is_(None))).scalars())
    assert kinds == {"mediation_follow_up"}


def test_rooms_and_mediators_are_never_double_booked_and_online_needs_consent(svc):
    first, second = walk_in(svc), walk_in(svc)
    book = lambda d, **b: requests.post(  # noqa: E731
        f"{svc['base']}/disputes/{d['dispute_id']}/sessions", json=b, headers=PEOPLES, timeout=10
    )
    ok = book(first, starts_at=at(2, 9), ends_at=at(2, 10, 30), mediator_id="M001")
    assert ok.status_code == 201 and ok.json()["room_code"] == "peoples_mediation"
    room_clash = book(second, starts_at=at(2, 10), ends_at=at(2, 11), mediator_id="M002")
    assert room_clash.status_code == 409 and "room:peoples_mediation" in room_clash.json()["error"]["description"]
    mediator_clash = book(
        second, starts_at=at(2, 9, 30), ends_at=at(2, 10), mediator_id="M001", room_code="old_secretary_studio"
    )
    assert mediator_clash.status_code == 409 and "mediator:M001" in mediator_clash.json()["error"]["description"]
    assert book(second, starts_at=at(2, 10, 30), ends_at=at(2, 11), mediator_id="M002").status_code == 201
    assert book(second, starts_at=at(2, 9, 10), ends_at=at(2, 10), mediator_id="M002").status_code == 400
    assert book(second, starts_at=at(2, 14), ends_at=at(2, 15), mediator_id="M404").status_code == 422

    online = dict(starts_at=at(3, 9), ends_at=at(3, 10), online=True, mediator_id="M002")
    refused = book(second, **online)
    assert refused.status_code == 409 and "consent" in refused.json()["error"]["description"]
    for party_id in second["party_ids"]:
        consent = requests.post(
            f"{svc['base']}/disputes/{second['dispute_id']}/consents",
            json={"party_id": party_id, "online": True},
            headers=PEOPLES,
            timeout=10,
        )
        assert consent.status_code == 201
    session = book(second, **online)
    assert session.status_code == 201 and session.json()["room_code"] == "online_mediation"
    scheduled = [p for t, p in outbox(svc, second["dispute_id"]) if t == "session_scheduled"]
    assert scheduled[-1]["online"] is True
    assert scheduled[-1]["party_recipient_ids"] == [f"party:{p}" for p in second["party_ids"]]

    held = requests.post(
        f"{svc['base']}/sessions/{session.json()['session_id']}/record",
        json={
            "attendance": {second["party_ids"][0]: True, second["party_ids"][1]: False},
            "minutes": "申请人陈述诉求；被申请人未到场",
        },
        headers=PEOPLES,
        timeout=10,
    )
    assert held.status_code == 200 and held.json()["state"] == "held" and "minutes" not in held.json()


@pytest.mark.parametrize("backend", ["postgresql"])
def test_two_replicas_booking_the_same_room_at_once_get_one_session(svc, backend):
    """Both pass the friendly check at the same instant; the database's unique slots let only one commit."""
    disputes = [walk_in(svc) for _ in range(2)]
    replicas = [Database(svc["url"], metadata, "mediation", MediationUnitOfWork) for _ in range(2)]
    barrier, results = threading.Barrier(2), []
    who = Reader("staff", "M001", "mediator", "peoples_mediation")
    body = {"starts_at": datetime.fromisoformat(at(5, 14)), "ends_at": datetime.fromisoformat(at(5, 15))}

    class Racing(MediationUnitOfWork):
        def _open_repositories(self, session):
            super()._open_repositories(session)
            conflicts = self.sessions.conflicts

            def after_check(*args):
                found = conflicts(*args)
                barrier.wait(timeout=10)  # both have checked before either inserts
                return found

            self.sessions.conflicts = after_check

    def book(replica, dispute, mediator):
        replica.uow_class = Racing
        try:
            handlers.schedule_session(
                replica.uow(), dispute["dispute_id"], {**body, "mediator_id": mediator}, CLOCK["now"], who, REF
            )
            results.append("booked")
        except BookingConflict:
            results.append("conflict")

    threads = [
        threading.Thread(target=book, args=(r, d, m))
        for r, d, m in zip(replicas, disputes, ["M001", "M002"], strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(results) == ["booked", "conflict"]
    with svc["db"].engine.connect() as conn:
        rooms = conn.execute(
            select(func.count()).select_from(bookings).where(bookings.c.resource == "room:peoples_mediation")
        ).scalar_one()
    assert rooms == 2  # one session of two half-hour slots
    for replica in replicas:
        replica.dispose()


def test_the_record_is_for_the_mediator_the_channel_and_the_parties_and_every_read_is_audited(svc):
    dispute = walk_in(svc)
    keys = dispute["party_keys"]
    url = f"{svc['base']}/disputes/{dispute['dispute_id']}/record"
    assert requests.get(url, timeout=5).status_code == 401
    assert requests.get(url, headers={"X-Party-Key": "guessed"}, timeout=5).status_code == 401
    for headers in (OTHER_MEDIATOR, OPERATOR, COURT):
        refused = requests.get(url, headers=headers, timeout=5)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    staff = requests.get(url, headers=PEOPLES, timeout=5).json()
    assert staff["statement"].startswith("楼上漏水") and {p["phone"] for p in staff["parties"]} == {
        "13900000001",
        "13900000002",
    }
    applicant, respondent = dispute["party_ids"]
    own = requests.get(url, headers={"X-Party-Key": keys[applicant]}, timeout=5)
    assert own.status_code == 200
    phones = {p["party_id"]: p["phone"] for p in own.json()["parties"]}
    assert phones == {applicant: "13900000001", respondent: None}
    # another case's party key opens nothing here
    other = walk_in(svc)
    stranger = requests.get(url, headers={"X-Party-Key": next(iter(other["party_keys"].values()))}, timeout=5)
    assert stranger.status_code == 403

    reads = requests.get(f"{svc['base']}/disputes/{dispute['dispute_id']}/audit", headers=OPERATOR, timeout=5)
    trail = [(r["reader"], r["granted"]) for r in reads.json()["reads"]]
    assert trail == [
        ("M006", False),
        ("D1", False),
        ("C1", False),
        ("M001", True),
        (f"party:{applicant}", True),
        (f"party:{other['party_ids'][0]}", False),
    ]
    assert requests.get(f"{svc['base']}/disputes/{dispute['dispute_id']}/audit", headers=PEOPLES).status_code == 403


def test_bad_requests_get_precise_4xx(svc):
    base = svc["base"]
    assert requests.post(f"{base}/disputes", json={"category_code": "x"}, headers=PEOPLES).status_code == 400
    bad_party = requests.post(
        f"{base}/disputes",
        json={"category_code": "neighbour_dispute", "description": "x", "parties": [{"role": "judge", "name": "x"}]},
        headers=PEOPLES,
    )
    assert bad_party.status_code == 400 and "role" in json.dumps(bad_party.json())
    ineligible = requests.post(
        f"{base}/disputes",
        json={"category_code": "neighbour_dispute", "description": "x", "channel_code": "labour_inspection"},
        headers=PEOPLES,
    )
    assert ineligible.status_code == 422 and "does not take" in ineligible.json()["error"]["description"]
    assert (
        requests.post(
            f"{base}/disputes",
            json={"category_code": "neighbour_dispute", "description": "x", "channel_code": "nowhere"},
            headers=PEOPLES,
        ).status_code
        == 422
    )
    assert (
        requests.post(f"{base}/disputes", json={"category_code": "x", "description": "x"}, headers=COURT).status_code
        == 403
    )
    dispute = walk_in(svc)
    refused = requests.post(f"{base}/disputes/{dispute['dispute_id']}/extensions", json={"days": 5}, headers=PEOPLES)
    assert refused.status_code == 422 and "cannot be extended" in refused.json()["error"]["description"]
    assert (
        requests.post(f"{base}/disputes/{dispute['dispute_id']}/failure", json={}, headers=PEOPLES).status_code == 400
    )
    assert (
        requests.post(f"{base}/disputes/{dispute['dispute_id']}/judicial-confirmation", headers=PEOPLES).status_code
        == 409
    )
    assert requests.get(f"{base}/disputes/nothing").status_code == 404


def test_warning_and_overdue_timers_fire_once_on_the_tests_clock(svc):
    dispute = walk_in(svc)
    due = datetime.fromisoformat(dispute["deadline_at"])
    scanner = TimerScanner(svc["db"], handlers.TIMER_HANDLERS, "test-replica")
    assert scanner.fire_due(due - timedelta(days=4)) == 0
    assert scanner.fire_due(due - timedelta(days=3)) == 1  # people's mediation warns 3 days ahead
    assert scanner.fire_due(due - timedelta(hours=1)) == 0
    assert scanner.fire_due(due) == 1
    assert scanner.fire_due(due + timedelta(days=1)) == 0
    types = [t for t, _ in outbox(svc, dispute["dispute_id"])]
    assert types.count("mediation_deadline_approaching") == 1 and types.count("mediation_overdue") == 1
    overdue = dict(outbox(svc, dispute["dispute_id"]))["mediation_overdue"]
    assert datetime.fromisoformat(overdue["deadline_at"]) == due

    # a transfer re-arms the timers for the new channel; the old deadline never speaks again
    moved = requests.post(
        f"{svc['base']}/disputes/{dispute['dispute_id']}/transfer",
        json={"to_channel_code": "old_secretary_studio", "reason": "人民调解不成"},
        headers=OPERATOR,
        timeout=10,
    ).json()
    assert [s["channel"] for s in moved["path"]] == ["peoples_mediation", "old_secretary_studio"]
    assert moved["case_code"] == dispute["case_code"]
    new_due = datetime.fromisoformat(moved["deadline_at"])
    assert scanner.fire_due(new_due) == 2
    assert [t for t, _ in outbox(svc, dispute["dispute_id"])].count("mediation_overdue") == 2
