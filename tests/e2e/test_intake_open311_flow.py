"""An Open311 client, unchanged, against the running platform: a form-encoded POST reaches the grid worker's
inbox, and the request's status, agency and deadline follow dispatch's case."""

from __future__ import annotations

import requests

from gridlink.refdata import load_grid_map, load_staff
from tests.polling import wait_for

GRIDS = load_grid_map()
STAFF = load_staff()


def test_an_open311_post_reaches_the_grid_workers_inbox_and_shows_its_case(stack):
    services = requests.get(stack.url("intake", "/open311/v2/services.json"), timeout=10)
    assert services.status_code == 200 and any(s["service_code"] == "street_lamp" for s in services.json())

    grid = GRIDS.grids[sorted(GRIDS.grids)[5]]
    lat, long = grid.centroid
    answer = requests.post(
        stack.url("intake", "/open311/v2/requests.json"),
        data={
            "api_key": "haibowan-dev-test-key",
            "service_code": "street_lamp",
            "lat": round(lat, 6),
            "long": round(long, 6),
            "description": "路灯不亮，晚上很黑",
            "phone": "13900005678",
        },
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    [created] = answer.json()
    worker = next(
        s.staff_id for s in STAFF if s.role in ("full_time_worker", "rural_worker") and grid.code in s.grid_codes
    )
    inbox = stack.url("notification", f"/inbox/{worker}")
    wait_for(
        lambda: any(created["token"] in m["body"] for m in requests.get(inbox, timeout=5).json().get("messages", [])),
        timeout=30,
        what=f"the Open311 report in the grid worker's inbox ({requests.get(inbox, timeout=5).text[:300]})",
    )
    url = stack.url("intake", f"/open311/v2/requests/{created['service_request_id']}.json")
    shown = wait_for(
        lambda: (r := requests.get(url, timeout=5).json()[0])["agency_responsible"] and r,
        timeout=30,
        what="the case's unit in the Open311 read model",
    )
    assert shown["status"] == "open" and shown["agency_responsible"] == grid.name
    assert shown["expected_datetime"] is not None
    assert "13900005678" not in requests.get(url, timeout=5).text
