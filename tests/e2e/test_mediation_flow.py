"""A dispute report, through every service as processes: dispatch refers it, mediation opens a case under one
code, a mediator registers the parties and records their agreement, and dispatch closes its case on the
agreement_reached event that carries dispatch's case id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import requests

from gridlink.runtime.auth import DEFAULT_SECRET, issue_token
from tests.e2e.test_report_flow import case_of, post_report
from tests.polling import wait_for


def bearer(role: str, unit: str, user: str) -> dict:
    return {"Authorization": f"Bearer {issue_token(DEFAULT_SECRET, user, role, unit)}"}


def test_a_mediated_agreement_closes_the_dispatch_case(stack):
    report = post_report(stack, category="neighbour_dispute", description="楼上漏水，邻居协商不成")
    case = wait_for(lambda: case_of(stack, report["tracking_code"]), timeout=30, what="the dispatch case")
    mediation = stack.url("mediation", f"/disputes/{case['case_id']}")
    dispute = wait_for(
        lambda: (
            requests.get(mediation, timeout=5).json().get("case_code") and requests.get(mediation, timeout=5).json()
        ),
        timeout=30,
        what="the dispute case",
    )
    assert dispute["case_code"].startswith("MD-") and dispute["channel"] == "peoples_mediation"

    mediator = bearer("mediator", "peoples_mediation", "M001")
    parties = requests.post(
        f"{mediation}/parties",
        headers=mediator,
        timeout=10,
        json={
            "parties": [
                {"role": "applicant", "name": "张三", "phone": "13900000001"},
                {"role": "respondent", "name": "李四"},
            ]
        },
    )
    assert parties.status_code == 201, parties.text
    respondent = parties.json()["party_ids"][1]
    due = (datetime.now(UTC) + timedelta(days=7)).date().isoformat()
    agreed = requests.post(
        f"{mediation}/agreement",
        headers=mediator,
        timeout=10,
        json={
            "terms": "李四于七日内修复漏水并赔偿 800 元",
            "obligations": [{"party_id": respondent, "obligation": "修复漏水并赔偿", "due_on": due}],
        },
    )
    assert agreed.status_code == 201, agreed.text

    district = bearer("district_operator", "150302", "D1")
    closed = wait_for(
        lambda: (
            (c := requests.get(stack.url("dispatch", f"/cases/{case['case_id']}"), headers=district, timeout=5).json())[
                "state"
            ]
            == "closed"
            and c
        ),
        timeout=60,
        what="dispatch closing its case",
    )
    assert closed["case_id"] == case["case_id"]
    # The terms stayed in mediation (not "800" alone: a case id or timestamp may hold those digits by chance).
    assert "修复漏水并赔偿" not in str(closed) and "800 元" not in str(closed)
