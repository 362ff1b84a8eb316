"""A person's bad input gets a precise 4xx with a machine-readable code, never a 5xx, and loses nothing."""

from __future__ import annotations

import pytest
import requests

from gridlink.devstack import sample_request


@pytest.mark.parametrize(
    ("change", "status", "code", "mentions"),
    [
        (lambda b: b.pop("category"), 400, "bad_request", "category"),
        (lambda b: b.update(description=""), 400, "bad_request", "description"),
        (lambda b: b.update(description="长" * 4001), 400, "bad_request", "description"),
        (lambda b: b.update(category="teleport"), 400, "bad_request", "teleport"),
        (lambda b: b.update(lat=41.0, long=110.0), 422, "unprocessable", "none of the district"),
        (lambda b: b.pop("long"), 400, "bad_request", "lat and long"),
        (lambda b: (b.pop("lat"), b.pop("long")), 400, "bad_request", "location"),
        (
            lambda b: (b.pop("lat"), b.pop("long"), b.update(address="不存在的地址 99号")),
            400,
            "bad_request",
            "address base",
        ),
        (lambda b: b.update(channel="pigeon"), 400, "bad_request", "channel"),
        (lambda b: b.update(lat="north"), 400, "bad_request", "lat"),
        (lambda b: b.update(extra_field=1), 400, "bad_request", "extra_field"),
        (lambda b: b.update(reporter={"phone": "call me"}), 400, "bad_request", "phone"),
    ],
    ids=[
        "no-category",
        "empty-description",
        "too-long",
        "unknown-category",
        "outside-district",
        "half-a-point",
        "no-location",
        "unknown-address",
        "unknown-channel",
        "lat-not-a-number",
        "unknown-field",
        "bad-phone",
    ],
)
def test_invalid_reports_are_refused_precisely(stack, change, status, code, mentions):
    body, _ = sample_request()
    change(body)
    response = requests.post(stack.url("intake", "/reports"), json=body, timeout=10)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert mentions in response.text


@pytest.mark.parametrize(
    ("data", "mentions"),
    [(b"", "empty"), (b"{not json", "not valid JSON"), (b"[1, 2]", "JSON object"), (b"\xff\xfe", "not valid JSON")],
)
def test_bodies_that_are_not_a_json_object_are_refused(stack, data, mentions):
    response = requests.post(
        stack.url("intake", "/reports"), data=data, headers={"Content-Type": "application/json"}, timeout=10
    )
    assert response.status_code == 400
    assert mentions in response.json()["error"]["description"]


@pytest.mark.parametrize(
    ("service", "path"),
    [
        ("intake", "/reports/no-such-report"),
        ("dispatch", "/cases/no-such-case"),
        ("mediation", "/disputes/nothing"),
        ("volunteer", "/orders/nothing"),
    ],
)
def test_unknown_resources_are_404_with_a_reason(stack, service, path):
    response = requests.get(stack.url(service, path), timeout=5)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_a_bad_query_parameter_is_a_400(stack):
    response = requests.get(stack.url("dispatch", "/cases"), params={"limit": "lots"}, timeout=5)
    assert response.status_code == 400
