"""Open311 GeoReport v2 conformance of the running intake service, in both formats, against the real broker and
database: every endpoint, schema validation of every JSON answer, the error cases, the lifecycle read model fed by
dispatch's events, duplicates, IoT folding, partner referrals, staff channels and privacy."""

from __future__ import annotations

import json
import socket
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree

import pytest
import requests
from jsonschema import Draft7Validator
from kombu import Connection, Exchange, Queue
from referencing import Registry, Resource

from gridlink.contracts import new_envelope
from gridlink.refdata import load_grid_map
from gridlink.runtime.auth import DEFAULT_SECRET, issue_token
from gridlink.runtime.bus import Bus
from gridlink.runtime.config import load_settings
from gridlink.runtime.migrations import upgrade
from intake.entrypoints.service import IntakeService
from tests.polling import wait_for

SCHEMAS = Path("/work/shared/open311")
if not SCHEMAS.exists():  # the schemas are also vendored with the shared design files
    SCHEMAS = Path(__file__).resolve().parents[2].parent / "shared" / "open311"
MIGRATIONS = Path(__file__).resolve().parents[2] / "services/intake/intake/adapters/migrations"
KEY = "haibowan-dev-test-key"
GRIDS = load_grid_map()
FIRST = GRIDS.grids[sorted(GRIDS.grids)[0]]
LAT, LONG = (round(v, 6) for v in FIRST.centroid)


def _registry() -> Registry:
    resources = []
    for path in SCHEMAS.glob("*.json"):
        if path.name != "swagger.json":
            resources.append((path.name, Resource.opaque(json.loads(path.read_text()))))
    return Registry().with_resources(resources)


REGISTRY = _registry()


def valid(schema: str, body) -> None:
    """Raises with every violation when a JSON body does not match the Open311 schema."""
    validator = Draft7Validator(json.loads((SCHEMAS / schema).read_text()), registry=REGISTRY)
    errors = sorted(validator.iter_errors(body), key=str)
    assert not errors, [e.message for e in errors]
    # the schemas say date-time; check it for real, with a time zone, as the specification requires
    items = body if isinstance(body, list) else [body]
    for item in items:
        for key in ("requested_datetime", "updated_datetime", "expected_datetime"):
            if isinstance(item, dict) and item.get(key):
                assert datetime.fromisoformat(item[key]).tzinfo is not None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Intake:
    def __init__(self, base: str, amqp: str):
        self.base = base
        self.amqp = amqp

    def get(self, path, **params):
        return requests.get(f"{self.base}/open311/v2/{path}", params=params, timeout=10)

    def post(self, fmt="json", **form):
        form.setdefault("api_key", KEY)
        return requests.post(f"{self.base}/open311/v2/requests.{fmt}", data=form, timeout=10)

    def publish(self, envelope) -> None:
        body = json.dumps(envelope.to_wire(), ensure_ascii=False).encode()
        Bus(self.amqp).publish_event(
            f"{envelope.source}.events", envelope.type, body, envelope.event_id, envelope.correlation_id
        )


def start(container_factory, new_vhost, new_database, **extra) -> tuple[Intake, Queue]:
    amqp = new_vhost()
    url = new_database("intake")
    upgrade(MIGRATIONS, url)
    port = free_port()
    env = {"AMQP_URI": amqp, "DATABASE_URL": url, "HTTP_PORT": str(port), "RETRY_DELAYS": "0.2,0.4", **extra}
    # a tap on everything intake publishes, bound before the service starts so nothing is missed
    tap = Queue(f"tap-{uuid.uuid4().hex[:6]}", Exchange("intake.events", type="topic", durable=True), "#")
    with Connection(amqp) as conn:
        tap(conn.default_channel).declare()
    container = container_factory(IntakeService, load_settings("intake", 8001, env).nameko_config())
    container.start()
    return Intake(f"http://127.0.0.1:{port}", amqp), tap


@pytest.fixture
def intake(container_factory, new_vhost, new_database):
    service, tap = start(container_factory, new_vhost, new_database)
    service.tap = tap
    return service


def published(intake: Intake, expected: int) -> list[dict]:
    """Drain the tap until `expected` events have arrived."""
    got: list[dict] = []

    def drain():
        with Connection(intake.amqp) as conn:
            queue = intake.tap(conn.default_channel)
            while (message := queue.get(no_ack=True)) is not None:
                got.append(json.loads(message.body))
        return len(got) >= expected

    wait_for(drain, timeout=20, what=f"{expected} events from intake")
    return got


def xml(response) -> ElementTree.Element:
    assert response.headers["Content-Type"].startswith("text/xml")
    assert response.text.startswith('<?xml version="1.0" encoding="utf-8"?>')
    return ElementTree.fromstring(response.content)


def lifecycle(event_type: str, report_id: str, when: datetime, **extra):
    base = {
        "case_id": "C-" + report_id[:8],
        "report_id": report_id,
        "tracking_code": "HB-261129-AAAAAA",
        "grid_code": FIRST.code,
        "tier": "grid",
        "unit_code": FIRST.code,
        "assignee_id": "S0001",
    }
    if event_type == "case_assigned":
        base.update(category_code="street_lamp", urgency="low", assignee_role="full_time_worker", summary="路灯")
    envelope = new_envelope(type=event_type, source="dispatch", payload={**base, **extra}, correlation_id=report_id)
    return envelope.__class__(**{**envelope.__dict__, "occurred_at": when})


# Discovery and services


def test_discovery_and_services_in_both_formats(intake):
    discovery = intake.get("discovery.json")
    assert discovery.status_code == 200
    assert discovery.json()["endpoints"][0]["url"].endswith("/open311/v2")
    assert [e.tag for e in xml(intake.get("discovery.xml")).find("endpoints/endpoint/formats")] == ["format"] * 2

    services = intake.get("services.json")
    assert services.status_code == 200
    valid("services.json", services.json())
    codes = {s["service_code"] for s in services.json()}
    assert {"street_lamp", "fire_lane_blocked", "neighbour_dispute", "elder_visit", "work_safety"} <= codes
    assert {"complaint", "petition", "suggestion"} <= codes
    groups = {s["group"] for s in services.json()}
    assert {"城市管理", "安全隐患", "矛盾纠纷", "民生服务", "志愿服务", "投诉信访", "意见建议"} <= groups

    root = xml(intake.get("services.xml"))
    assert root.tag == "services" and len(root.findall("service")) == len(codes)
    lamp = next(s for s in root.findall("service") if s.findtext("service_code") == "street_lamp")
    assert lamp.findtext("metadata") == "true" and lamp.findtext("type") == "realtime"


def test_a_service_definition_has_typed_attributes(intake):
    answer = intake.get("services/illegal_parking.json")
    assert answer.status_code == 200
    valid("service-definition.json", answer.json())
    attributes = {a["code"]: a for a in answer.json()["attributes"]}
    assert attributes["vehicle_type"]["datatype"] == "singlevaluelist" and attributes["vehicle_type"]["required"]
    assert {v["key"] for v in attributes["vehicle_type"]["values"]} == {"car", "truck", "ebike", "other"}
    root = xml(intake.get("services/illegal_parking.xml"))
    assert root.tag == "service_definition"
    keys = [v.findtext("key") for v in root.findall("attributes/attribute/values/value")]
    assert "truck" in keys


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_unknown_resources_are_404_in_the_specifications_shape(intake, fmt):
    for path in (f"services/teleport.{fmt}", f"requests/nope.{fmt}", f"tokens/nope.{fmt}"):
        answer = intake.get(path)
        assert answer.status_code == 404, path
        if fmt == "json":
            [error] = answer.json()
            assert error["code"] == 404 and error["description"]
        else:
            root = xml(answer)
            assert root.tag == "errors" and root.findtext("error/code") == "404"
    assert intake.get("services.csv").status_code == 404
    assert intake.get("services.json", jurisdiction_id="somewhere-else").status_code == 404


# POST requests


def test_post_a_request_then_read_it_back_in_both_formats(intake):
    answer = intake.post(
        service_code="street_lamp",
        lat=LAT,
        long=LONG,
        description="路灯不亮好几天了，联系电话13900001234",
        first_name="小红",
        last_name="李",
        phone="13900001234",
        email="li@example.com",
        media_url="https://img.example.com/1.jpg",
        **{"attribute[lamp_count]": "3"},
    )
    assert answer.status_code == 201, answer.text
    [created] = answer.json()
    request_id, token = created["service_request_id"], created["token"]

    one = intake.get(f"requests/{request_id}.json")
    assert one.status_code == 200
    valid("requests.json", one.json())
    [shown] = one.json()
    assert shown["status"] == "open" and shown["service_code"] == "street_lamp"
    assert shown["lat"] == LAT and shown["media_url"] == "https://img.example.com/1.jpg"
    text = one.text
    for secret in ("13900001234", "小红", "li@example.com"):
        assert secret not in text  # no GET shows the reporter, not even the number typed into the description
    assert "139****1234" in shown["description"]

    root = xml(intake.get(f"requests/{request_id}.xml"))
    assert root.tag == "service_requests" and root.findtext("request/service_request_id") == request_id

    tokens = intake.get(f"tokens/{token}.json")
    assert tokens.json() == [{"service_request_id": request_id, "token": token}]
    assert xml(intake.get(f"tokens/{token}.xml")).findtext("request/service_request_id") == request_id

    xml_post = intake.post(
        "xml", service_code="garbage", address_string="佳苑小区十六栋一单元", description="垃圾没人清运"
    )
    assert xml_post.status_code == 201
    assert xml(xml_post).findtext("request/service_request_id")

    events = published(intake, 3)
    accepted = [e for e in events if e["type"] == "report_accepted"]
    contacts = [e for e in events if e["type"] == "reporter_contact_registered"]
    assert {e["payload"]["category_code"] for e in accepted} == {"street_lamp", "garbage"}
    [contact] = contacts
    assert contact["payload"]["recipient_id"] == f"reporter:{request_id}"
    assert contact["payload"]["phone"].startswith("sealed:v1:")  # only notification holds the key
    assert "13900001234" not in json.dumps(events)
    assert contact["correlation_id"] == request_id
    lamp = next(e for e in accepted if e["payload"]["report_id"] == request_id)
    assert lamp["payload"]["reporter_phone_masked"] == "139****1234"
    assert lamp["payload"]["reporter_ref"] == f"reporter:{request_id}"
    assert "小红" not in json.dumps(lamp, ensure_ascii=False) and "li@example.com" not in json.dumps(lamp)
    garbage = next(e for e in accepted if e["payload"]["category_code"] == "garbage")
    assert garbage["payload"]["grid_code"] == "150302001001001" and garbage["payload"]["reporter_ref"] is None


@pytest.mark.parametrize(
    ("form", "status", "mentions"),
    [
        ({"api_key": ""}, 403, "api_key"),
        ({"api_key": "stolen"}, 403, "api_key"),
        ({"service_code": ""}, 400, "service_code"),
        ({"service_code": "teleport"}, 404, "teleport"),
        ({"lat": "north"}, 400, "lat"),
        ({"long": None}, 400, "lat and long"),
        ({"lat": None, "long": None}, 400, "location"),
        ({"lat": "41.0", "long": "110.0"}, 400, "none of the district"),
        ({"description": "长" * 4001}, 400, "description"),
        ({"attribute[vehicle_type]": "spaceship"}, 400, "attribute[vehicle_type]"),
        ({"attribute[vehicle_type]": None}, 400, "is required"),
        ({"attribute[colour]": "red"}, 400, "attribute[colour]"),
        ({"email": "not-an-email"}, 400, "email"),
        ({"address_string": "火星基地1号", "lat": None, "long": None}, 400, "address base"),
    ],
)
@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_bad_posts_get_the_specifications_errors(intake, form, status, mentions, fmt):
    body = {"service_code": "illegal_parking", "lat": LAT, "long": LONG, "attribute[vehicle_type]": "car", **form}
    body = {k: v for k, v in body.items() if v is not None}
    answer = intake.post(fmt, **body)
    assert answer.status_code == status, answer.text
    if fmt == "json":
        errors = answer.json()
        assert all(e["code"] == status for e in errors)
        assert any(mentions in e["description"] for e in errors), errors
    else:
        root = xml(answer)
        assert root.tag == "errors" and root.findtext("error/code") == str(status)
        assert mentions in answer.text


# GET requests: filters, pages, and the lifecycle read model


def test_get_requests_filters_and_pages(intake):
    ids = []
    for code, lat in (("street_lamp", LAT), ("garbage", LAT + 0.0004), ("noise", LAT - 0.0004)):
        form = {"service_code": code, "lat": lat, "long": LONG, "description": f"{code} 测试"}
        if code == "noise":
            form["attribute[noise_source]"] = "shop"
        answer = intake.post(**form)
        assert answer.status_code == 201, answer.text
        ids.append(answer.json()[0]["service_request_id"])

    everything = intake.get("requests.json")
    valid("requests.json", everything.json())
    assert {r["service_request_id"] for r in everything.json()} == set(ids)
    by_code = intake.get("requests.json", service_code="garbage").json()
    assert [r["service_request_id"] for r in by_code] == [ids[1]]
    by_ids = intake.get("requests.json", service_request_id=f"{ids[0]},{ids[2]}", service_code="garbage").json()
    assert {r["service_request_id"] for r in by_ids} == {ids[0], ids[2]}  # the id list overrides other filters
    assert intake.get("requests.json", status="closed").json() == []
    assert len(intake.get("requests.json", status="open").json()) == 3
    page1 = intake.get("requests.json", page_size=2, page=1).json()
    page2 = intake.get("requests.json", page_size=2, page=2).json()
    assert (
        len(page1) == 2
        and len(page2) == 1
        and not {r["service_request_id"] for r in page1} & {r["service_request_id"] for r in page2}
    )
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert intake.get("requests.json", start_date=future).json() == []
    assert len(xml(intake.get("requests.xml")).findall("request")) == 3

    now = datetime.now(UTC)
    for params, mentions in (
        ({"start_date": (now - timedelta(days=91)).isoformat(), "end_date": now.isoformat()}, "90 days"),
        ({"start_date": now.isoformat(), "end_date": (now - timedelta(days=1)).isoformat()}, "before"),
        ({"start_date": "yesterday"}, "ISO 8601"),
        ({"start_date": "2026-11-01T00:00:00"}, "time zone"),
        ({"status": "pending"}, "open or closed"),
        ({"page_size": "1000"}, "page_size"),
        ({"page": "0"}, "page"),
    ):
        answer = intake.get("requests.json", **params)
        assert answer.status_code == 400, params
        assert mentions in answer.json()[0]["description"]


def test_status_agency_and_deadline_come_from_dispatchs_events(intake):
    request_id = intake.post(service_code="street_lamp", lat=LAT, long=LONG).json()[0]["service_request_id"]
    t0 = datetime.now(UTC)
    deadline = t0 + timedelta(days=3)
    intake.publish(lifecycle("case_assigned", request_id, t0, deadline_at=deadline))
    # out of order: the resolution arrives before the acceptance, which must not reopen it
    intake.publish(
        lifecycle(
            "case_resolved",
            request_id,
            t0 + timedelta(hours=2),
            resolved_by="S0001",
            resolution="已更换灯泡",
            reporter_recipient_id=f"reporter:{request_id}",
        )
    )
    intake.publish(
        lifecycle("case_accepted", request_id, t0 + timedelta(hours=1), accepted_by="S0001", deadline_at=deadline)
    )

    def shown():
        # the history first: once it holds all three steps, the status read after it has them too
        updates = intake.get("servicerequestupdates.json", service_request_id=request_id).json()
        return (intake.get(f"requests/{request_id}.json").json()[0], updates) if len(updates) == 3 else None

    request, updates = wait_for(shown, timeout=20, what="three lifecycle updates")
    valid("request.json", request)
    assert request["status"] == "closed" and request["status_notes"] == "已办结：已更换灯泡"
    assert request["agency_responsible"] == FIRST.name
    assert request["expected_datetime"] is None  # closed: nothing more is expected
    assert [u["status"] for u in updates] == ["open", "open", "closed"]
    assert "已签收" in updates[1]["description"]
    assert intake.get("requests.json", status="closed").json()[0]["service_request_id"] == request_id
    assert xml(intake.get("servicerequestupdates.xml", service_request_id=request_id)).tag == "service_request_updates"


def test_an_open_request_shows_its_unit_and_deadline(intake):
    request_id = intake.post(service_code="road_damage", lat=LAT, long=LONG, **{"attribute[hazard]": "pothole"}).json()[
        0
    ]["service_request_id"]
    deadline = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    intake.publish(lifecycle("case_assigned", request_id, datetime.now(UTC), deadline_at=deadline))
    request = wait_for(
        lambda: (r := intake.get(f"requests/{request_id}.json").json()[0])["agency_responsible"] and r,
        what="the assignment in the read model",
    )
    assert request["status"] == "open" and request["agency_responsible"] == FIRST.name
    assert datetime.fromisoformat(request["expected_datetime"]) == deadline


# Duplicates


def test_a_nearby_recent_report_of_the_same_category_is_linked_to_the_original(intake):
    first = intake.post(service_code="street_lamp", lat=LAT, long=LONG, phone="13900001111").json()[0]
    # 20 m away: a repeat of the same broken lamp
    again = intake.post(service_code="street_lamp", lat=LAT + 0.00018, long=LONG, phone="13900002222").json()[0]
    assert again["service_request_id"] == first["service_request_id"]
    assert again["token"] != first["token"]
    # 500 m away is a different lamp, and another category at the same spot is a different problem
    far = intake.post(service_code="street_lamp", lat=LAT + 0.0045, long=LONG).json()[0]
    other = intake.post(service_code="garbage", lat=LAT, long=LONG).json()[0]
    assert len({first["service_request_id"], far["service_request_id"], other["service_request_id"]}) == 3

    [original] = intake.get(f"requests/{first['service_request_id']}.json").json()
    assert original["service_notice"].startswith("1 ")
    assert len(intake.get("requests.json", service_code="street_lamp").json()) == 2  # no second case
    assert intake.get(f"tokens/{again['token']}.json").json()[0]["service_request_id"] == first["service_request_id"]

    native = {"category": "street_lamp", "description": "路灯又坏了", "lat": LAT, "long": LONG}
    separate = requests.post(f"{intake.base}/reports", json=native, timeout=10).json()
    assert separate["duplicate_of"] is None  # the native API's contract: one POST, one case, unless asked
    linked = requests.post(f"{intake.base}/reports", json={**native, "link_duplicates": True}, timeout=10).json()
    assert linked["duplicate_of"] == first["service_request_id"] and linked["status"] == "merged"

    events = published(intake, 8)
    merged = [e for e in events if e["type"] == "report_merged" and e["payload"]["channel"] == "open311"]
    assert len(merged) == 1 and merged[0]["payload"]["original_report_id"] == first["service_request_id"]
    assert merged[0]["payload"]["co_reporters"] == 1
    assert len([e for e in events if e["type"] == "report_accepted"]) == 4
    contacts = [e["payload"]["report_id"] for e in events if e["type"] == "reporter_contact_registered"]
    assert len(contacts) == 2 and merged[0]["payload"]["report_id"] in contacts


# Staff channels over the native API


def token(role: str, unit: str) -> dict:
    return {"Authorization": f"Bearer {issue_token(DEFAULT_SECRET, 'S0001', role, unit)}"}


def test_staff_channels_need_a_token_and_are_classified_from_their_text(intake):
    body = {
        "channel": "hotline",
        "description": "市民来电：楼道里有人飞线充电，已经冒烟了，请尽快处理",
        "address": "海北街道佳苑社区16号楼1单元",
        "reporter": {"name": "王先生", "phone": "13700001234", "role": "resident"},
        "involved": {"people": ["王先生"], "places": ["16号楼1单元楼道"], "things": ["电动车", "电线"]},
        "photo_urls": ["https://img.example.com/a.jpg"],
    }
    anonymous = requests.post(f"{intake.base}/reports", json=body, timeout=10)
    assert anonymous.status_code == 401
    answer = requests.post(
        f"{intake.base}/reports", json=body, headers=token("district_operator", "150302"), timeout=10
    )
    assert answer.status_code == 201, answer.text
    report = answer.json()
    assert report["category"] == "fire_hazard" and report["urgency"] == "critical"
    assert report["grid_code"] == "150302001001001" and not report["needs_triage"]

    vague = requests.post(
        f"{intake.base}/reports",
        json={"channel": "walk_in", "description": "来访群众反映一些情况", "lat": LAT, "long": LONG},
        headers=token("community_operator", "150302001001"),
        timeout=10,
    ).json()
    assert vague["category"] == "other" and vague["needs_triage"] and vague["classification_confidence"] < 0.5

    patrol = {"channel": "patrol", "category": "garbage", "description": "走访发现垃圾堆放", "lat": LAT, "long": LONG}
    elsewhere = token("grid_worker", "150302007003004")
    assert requests.post(f"{intake.base}/reports", json=patrol, headers=elsewhere, timeout=10).status_code == 403
    own = token("grid_worker", FIRST.code)
    assert requests.post(f"{intake.base}/reports", json=patrol, headers=own, timeout=10).status_code == 201


# IoT


def alarm(alarm_id: str, kind: str, at: datetime) -> dict:
    return {"alarm_id": alarm_id, "type": kind, "occurred_at": at.isoformat()}


def test_iot_alarms_fold_per_device_and_type_within_the_window(intake):
    headers = {"X-Device-Id": "HB-CS-0004", "X-Device-Key": "dev-key-HB-CS-0004"}
    t0 = datetime.now(UTC) - timedelta(hours=2)
    batch = [
        alarm("a1", "smoke", t0),
        alarm("a2", "smoke", t0 + timedelta(minutes=10)),
        alarm("a3", "smoke", t0 + timedelta(minutes=20)),  # 10 min after a2: the window slides
        alarm("a4", "overheat", t0 + timedelta(minutes=21)),
        alarm("a5", "smoke", t0 + timedelta(minutes=60)),  # 40 min of quiet: a new report
    ]
    answer = requests.post(f"{intake.base}/iot/alarms", json={"alarms": batch}, headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    results = {r["alarm_id"]: r for r in answer.json()["results"]}
    assert [results[a]["outcome"] for a in ("a1", "a2", "a3", "a4", "a5")] == [
        "reported",
        "folded",
        "folded",
        "reported",
        "reported",
    ]
    assert results["a1"]["report_id"] == results["a3"]["report_id"] != results["a5"]["report_id"]
    again = requests.post(f"{intake.base}/iot/alarms", json={"alarms": batch[:1]}, headers=headers, timeout=10)
    assert again.json()["results"][0]["outcome"] == "repeated"

    report = requests.get(f"{intake.base}/reports/{results['a1']['report_id']}", timeout=5).json()
    assert report["channel"] == "iot" and report["category"] == "fire_hazard" and report["urgency"] == "critical"
    events = published(intake, 3)
    assert [e["payload"]["channel"] for e in events if e["type"] == "report_accepted"] == ["iot"] * 3

    wrong_key = {**headers, "X-Device-Key": "guess"}
    assert (
        requests.post(f"{intake.base}/iot/alarms", json={"alarms": batch}, headers=wrong_key, timeout=10).status_code
        == 401
    )
    bad_type = requests.post(
        f"{intake.base}/iot/alarms", json={"alarms": [alarm("b1", "ebike_detected", t0)]}, headers=headers, timeout=10
    )
    assert bad_type.status_code == 400 and "ebike_detected" in bad_type.text


# Partner referrals over the bus


def test_a_partner_referral_over_the_bus_becomes_a_report(intake):
    envelope = {
        "event_id": str(uuid.uuid4()),
        "type": "referral_submitted",
        "version": 1,
        "occurred_at": datetime.now(UTC).isoformat(),
        "source": "labour_arbitration",
        "correlation_id": "LA-2026-001",
        "payload": {
            "referral_id": "LA-2026-001",
            "description": "农民工反映包工头拖欠工资三个月，请网格员协助调解",
            "address": "佳苑社区16号楼1单元",
            "contact_phone": "13600001234",
        },
    }
    with Connection(intake.amqp) as conn:
        conn.Producer().publish(
            json.dumps(envelope, ensure_ascii=False).encode(),
            exchange=Exchange("partners.events", type="topic", durable=True),
            routing_key="referral_submitted",
            content_type="application/json",
            content_encoding="utf-8",
        )
    events = published(intake, 2)
    [accepted] = [e for e in events if e["type"] == "report_accepted"]
    assert accepted["payload"]["channel"] == "partner"
    assert accepted["payload"]["category_code"] == "wage_arrears_dispute"
    assert accepted["payload"]["grid_code"] == "150302001001001"
    assert "13600001234" not in json.dumps(accepted)


# Limits


def test_oversized_bodies_and_floods_are_refused(container_factory, new_vhost, new_database):
    intake, _ = start(
        container_factory, new_vhost, new_database, INTAKE_RATE_PER_ADDRESS="5", INTAKE_MAX_BODY_BYTES="2048"
    )
    big = intake.post(service_code="street_lamp", lat=LAT, long=LONG, description="长" * 1500)
    assert big.status_code == 413 and big.json()[0]["code"] == 413
    native = requests.post(f"{intake.base}/reports", data=b"x" * 4096, timeout=10)
    assert native.status_code == 413 and native.json()["error"]["code"] == "too_large"
    statuses = [intake.get("requests.json").status_code for _ in range(8)]
    assert 429 in statuses and 500 not in statuses
