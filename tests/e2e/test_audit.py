"""Every state change through the API is audited with who, when, what and from where; the trail is readable by
district operators only, and cannot be altered."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import create_engine, text

from gridlink.devstack import sample_request
from gridlink.runtime.auth import DEFAULT_SECRET, issue_token

OPERATOR = issue_token(DEFAULT_SECRET, "U-district-1", "district_operator", "150302")
WORKER = issue_token(DEFAULT_SECRET, "S0001", "grid_worker", "150302001001001")


def test_a_posted_report_leaves_an_audit_record(stack):
    body, _ = sample_request()
    posted = requests.post(
        stack.url("intake", "/reports"),
        json=body,
        headers={"Authorization": f"Bearer {WORKER}", "User-Agent": "patrol-app/1.0"},
        timeout=10,
    )
    assert posted.status_code == 201
    records = requests.get(
        stack.url("intake", "/audit"), params={"actor": "S0001"}, headers={"Authorization": f"Bearer {OPERATOR}"}
    ).json()["records"]
    mine = [r for r in records if r["action"] == "POST /reports"]
    assert mine and mine[0]["status"] == 201 and mine[0]["role"] == "grid_worker"
    assert mine[0]["source"] == "127.0.0.1" and mine[0]["user_agent"] == "patrol-app/1.0"
    # Reading the trail is itself recorded.
    again = requests.get(
        stack.url("intake", "/audit"), params={"actor": "U-district-1"}, headers={"Authorization": f"Bearer {OPERATOR}"}
    ).json()["records"]
    assert any(r["action"] == "GET /audit" for r in again)


@pytest.mark.parametrize(("token", "status"), [(None, 401), ("garbage.token", 401), (WORKER, 403)])
def test_only_district_operators_read_the_trail(stack, token, status):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = requests.get(stack.url("dispatch", "/audit"), headers=headers, timeout=5)
    assert response.status_code == status
    assert response.json()["error"]["code"] in ("unauthorized", "forbidden")


def test_the_trail_cannot_be_altered_even_in_the_database(stack):
    url = stack.database_urls["intake"]
    if not url.startswith("postgresql"):
        pytest.fail("the e2e stack runs on PostgreSQL under make test")
    engine = create_engine(url)
    with engine.begin() as conn:
        before = conn.execute(text("SELECT count(*) FROM audit_log")).scalar_one()
        assert before > 0
        conn.execute(text("UPDATE audit_log SET actor = 'someone-else'"))
        conn.execute(text("DELETE FROM audit_log"))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_log")).scalar_one() == before
        assert conn.execute(text("SELECT count(*) FROM audit_log WHERE actor = 'someone-else'")).scalar_one() == 0
    engine.dispose()
