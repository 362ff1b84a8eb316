"""One report travels through all five services: intake → dispatch → notification, and on to mediation or
volunteer by its category, each a separate process on the real broker."""

from __future__ import annotations

import json
import subprocess

import requests

from gridlink.devstack import sample_request
from gridlink.refdata import load_categories, load_grid_map, load_staff
from tests.polling import wait_for
from tests.tools import promtool

CATEGORIES = load_categories()
GRIDS = load_grid_map()
STAFF = load_staff()


def handler_of(grid_code: str) -> str:
    return next(
        s.staff_id for s in STAFF if s.role in ("full_time_worker", "rural_worker") and grid_code in s.grid_codes
    )


def post_report(stack, **fields) -> dict:
    body, _ = sample_request()
    body.update(fields)
    response = requests.post(stack.url("intake", "/reports"), json=body, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()


def inbox(stack, staff_id: str) -> list[dict]:
    return requests.get(stack.url("notification", f"/inbox/{staff_id}"), timeout=5).json()["messages"]


def case_of(stack, tracking_code: str) -> dict | None:
    cases = requests.get(stack.url("dispatch", "/cases"), params={"tracking_code": tracking_code}, timeout=5).json()
    return cases["cases"][0] if cases["cases"] else None


def test_a_report_reaches_the_right_grid_workers_inbox(stack):
    body, worker = sample_request()
    report = post_report(stack)
    assert report["grid_code"] == GRIDS.locate(body["lat"], body["long"]).code
    assert report["reporter_phone"] == "139****1234"
    assert handler_of(report["grid_code"]) == worker

    message = wait_for(
        lambda: next((m for m in inbox(stack, worker) if report["tracking_code"] in m["body"]), None),
        what="the assignment message in the worker's inbox",
    )
    assert message["status"] == "delivered"
    assert message["correlation_id"] == report["report_id"]

    case = case_of(stack, report["tracking_code"])
    assert case["assignee_id"] == worker and case["state"] == "assigned" and case["tier"] == "grid"
    detail = requests.get(stack.url("dispatch", f"/cases/{case['case_id']}"), timeout=5).json()
    assert [h["to_state"] for h in detail["history"]] == ["received", "assigned"]
    assert detail["correlation_id"] == report["report_id"]
    assert requests.get(stack.url("intake", f"/reports/{report['report_id']}"), timeout=5).json() == report


def test_a_report_elsewhere_goes_to_that_grids_worker(stack):
    grid = GRIDS.grids[sorted(GRIDS.grids)[-1]]
    lat, long = grid.centroid
    report = post_report(stack, lat=lat, long=long)
    assert report["grid_code"] == grid.code
    wait_for(
        lambda: any(report["tracking_code"] in m["body"] for m in inbox(stack, handler_of(grid.code))),
        what="the message for the last grid's worker",
    )


def test_a_dispute_is_also_referred_to_mediation(stack):
    dispute_category = next(c.code for c in CATEGORIES.values() if c.kind == "dispute")
    report = post_report(stack, category=dispute_category, description="楼上漏水，邻居协商不成")
    case = wait_for(lambda: case_of(stack, report["tracking_code"]), what="the case")
    dispute = wait_for(
        lambda: requests.get(stack.url("mediation", f"/disputes/{case['case_id']}"), timeout=5).json().get("case_code"),
        what="the dispute case",
    )
    assert dispute.startswith("MD-")
    detail = requests.get(stack.url("mediation", f"/disputes/{case['case_id']}"), timeout=5).json()
    assert detail["correlation_id"] == report["report_id"] and detail["state"] == "accepted"


def test_a_service_request_becomes_a_volunteer_order(stack):
    service_category = next(c.code for c in CATEGORIES.values() if c.kind == "volunteer")
    report = post_report(stack, category=service_category, description="独居老人需要上门探访")
    case = wait_for(lambda: case_of(stack, report["tracking_code"]), what="the case")
    order = wait_for(
        lambda: requests.get(stack.url("volunteer", f"/orders/{case['case_id']}"), timeout=5).json().get("order_id"),
        what="the volunteer order",
    )
    detail = requests.get(stack.url("volunteer", f"/orders/{order}"), timeout=5).json()
    assert detail["status"] == "pending_review" and detail["service"] == service_category


def test_every_service_is_healthy_ready_and_measured(stack):
    for service in stack.processes:
        assert requests.get(stack.url(service, "/healthz"), timeout=5).json() == {"status": "ok"}
        ready = requests.get(stack.url(service, "/readyz"), timeout=5)
        assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "broker": "ok"}
        metrics = requests.get(stack.url(service, "/metrics"), timeout=5)
        assert metrics.headers["Content-Type"].startswith("text/plain")
        assert "gridlink_outbox_pending_events" in metrics.text
        lint = subprocess.run([promtool(), "check", "metrics"], input=metrics.text, capture_output=True, text=True)
        assert lint.returncode == 0, f"{service}: {lint.stdout}{lint.stderr}"


def test_logs_are_json_lines_carrying_the_correlation_id(stack):
    report = post_report(stack)
    wait_for(lambda: case_of(stack, report["tracking_code"]), what="the case")
    lines = [
        json.loads(line) for line in (stack.log_dir / "dispatch.log").read_text().splitlines() if line.startswith("{")
    ]
    assert lines and all({"ts", "level", "service", "message"} <= set(line) for line in lines)
    handled = wait_for(
        lambda: [
            line
            for line in (
                json.loads(x) for x in (stack.log_dir / "dispatch.log").read_text().splitlines() if x.startswith("{")
            )
            if line.get("correlation_id") == report["report_id"]
        ],
        what="a dispatch log line with the report's correlation_id",
    )
    assert handled[0]["service"] == "dispatch" and handled[0]["event_type"] == "report_accepted"
