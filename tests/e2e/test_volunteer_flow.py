"""A resident's volunteer order through the running volunteer service, over HTTP as each person uses it:
点单 (the resident orders) → review and 派单 (the coordinator) → 接单 and completion (the volunteer) → 评单 (the
resident rates) → points credited and redeemed, with the ledger's audit at the end."""

from __future__ import annotations

import uuid

import requests

from gridlink.refdata import DEFAULT_DATA_DIR
from gridlink.runtime.auth import DEFAULT_SECRET, issue_token
from volunteer.adapters.reference import load_reference

REF = load_reference(DEFAULT_DATA_DIR)
COORDINATOR = {"Authorization": f"Bearer {issue_token(DEFAULT_SECRET, 'C0001', 'volunteer_coordinator', '150302')}"}


def as_volunteer(volunteer_id: str) -> dict:
    token = issue_token(DEFAULT_SECRET, volunteer_id, "volunteer", REF.volunteer(volunteer_id).team_code)
    return {"Authorization": f"Bearer {token}"}


def call(stack, method: str, path: str, status: int = 200, **kwargs) -> dict:
    response = requests.request(method, stack.url("volunteer", path), timeout=15, **kwargs)
    assert response.status_code == status, (method, path, response.status_code, response.text)
    return response.json()


def test_a_residents_order_is_dispatched_accepted_completed_rated_and_pays_points(stack):
    grid = REF.volunteer("V0001").home_grid
    placed = call(
        stack,
        "POST",
        "/orders",
        201,
        json={"service_code": "hospital_escort", "grid_code": grid, "description": "陪同母亲去医院复查"},
    )
    order_id, resident_token = placed["order_id"], placed["resident_token"]
    assert placed["status"] == "pending_review" and placed["origin"] == "resident"
    assert call(stack, "GET", f"/orders/{order_id}")["status"] == "pending_review"  # the resident follows it

    call(stack, "GET", "/orders", 401)
    call(stack, "POST", f"/orders/{order_id}/review", 200, headers=COORDINATOR, json={"approve": True})
    ranked = call(stack, "GET", f"/orders/{order_id}/candidates", headers=COORDINATOR)["candidates"]
    assert len(ranked) >= 2 and ranked[0]["score"] >= ranked[1]["score"]
    assert set(ranked[0]["parts"]) == {"skill", "distance", "availability", "load", "rating"}

    offered = call(stack, "POST", f"/orders/{order_id}/dispatch", headers=COORDINATOR, json={"mode": "auto"})
    volunteer_id = offered["volunteer_id"]
    assert offered["status"] == "offered" and volunteer_id == ranked[0]["volunteer_id"]
    me, someone_else = as_volunteer(volunteer_id), as_volunteer(ranked[1]["volunteer_id"])

    assert [o["order_id"] for o in call(stack, "GET", "/orders", headers=me)["orders"]] == [order_id]
    call(stack, "GET", f"/orders/{order_id}", 403, headers=someone_else)
    call(stack, "POST", f"/orders/{order_id}/accept", 403, headers=someone_else)
    assert call(stack, "POST", f"/orders/{order_id}/accept", headers=me)["status"] == "accepted"
    call(stack, "POST", f"/orders/{order_id}/start", headers=me)
    bad = call(stack, "POST", f"/orders/{order_id}/complete", 400, headers=me, json={"hours": "3", "note": "完成"})
    assert "photo_urls" in bad["error"]["details"]
    done = call(
        stack,
        "POST",
        f"/orders/{order_id}/complete",
        headers=me,
        json={"hours": "3", "note": "陪同挂号、检查、取药", "photo_urls": ["https://img.example/escort-1.jpg"]},
    )
    assert done["status"] == "completed" and done["hours"] == "3.00"

    call(stack, "POST", f"/orders/{order_id}/rating", 403, json={"rating": 5, "token": "guess"})
    rated = call(stack, "POST", f"/orders/{order_id}/rating", json={"rating": 5, "token": resident_token})
    assert rated["status"] == "closed"

    statement = call(stack, "GET", f"/volunteers/{volunteer_id}/statement", headers=me)
    # 3 h × 10 points × 1.5 (hospital escort) = 45.00, and 20 % more for five stars = 9.00
    assert statement["balances"] == {"points": "54.00", "hours": "3.00"}
    assert [(line["kind"], line["amount"]) for line in statement["lines"] if line["unit"] == "points"] == [
        ("service_credit", "45.00"),
        ("rating_bonus", "9.00"),
    ]

    request_id = str(uuid.uuid4())
    redeemed = call(
        stack, "POST", "/rewards/haircut_voucher/redemptions", 201, headers=me, json={"request_id": request_id}
    )
    assert redeemed["points_balance"] == "14.00" and redeemed["replayed"] is False
    again = call(
        stack, "POST", "/rewards/haircut_voucher/redemptions", 200, headers=me, json={"request_id": request_id}
    )
    assert again["transaction_id"] == redeemed["transaction_id"] and again["points_balance"] == "14.00"
    short = call(
        stack, "POST", "/rewards/haircut_voucher/redemptions", 422, headers=me, json={"request_id": str(uuid.uuid4())}
    )
    assert short["error"]["code"] == "unprocessable"
    voucher = next(r for r in call(stack, "GET", "/rewards")["rewards"] if r["code"] == "haircut_voucher")
    assert voucher["redeemed"] >= 1

    audit = call(stack, "GET", "/ledger/audit", headers=COORDINATOR)
    assert audit["postings_sum"] == audit["balances_sum"] == {"points": "0.00", "hours": "0.00"}
    assert audit["unbalanced_transactions"] == [] and audit["negative_volunteer_balances"] == []
    stats = call(stack, "GET", "/stats", headers=COORDINATOR)
    mine = stats["volunteers"][volunteer_id]
    assert mine["orders"] >= 1 and mine["average_rating"] is not None
    history = call(stack, "GET", f"/orders/{order_id}", headers=COORDINATOR)["history"]
    assert [h["status"] for h in history] == [
        "pending_review",
        "approved",
        "offered",
        "accepted",
        "in_service",
        "completed",
        "closed",
    ]
