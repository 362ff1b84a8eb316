"""The domains of mediation and volunteer, with no I/O (notification's are in test_notification_domain.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gridlink.contracts import contract_for
from mediation.domain.channels import first_channel
from mediation.domain.model import DisputeCase
from volunteer.domain.model import Order

NOW = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
REFERRAL = {
    "case_id": "c-1",
    "report_id": "r-1",
    "tracking_code": "HB-261129-ABCDEF",
    "description": "欠薪三个月",
    "grid_code": "150302001001001",
    "community_code": "150302001001",
}


def test_labour_disputes_start_in_labour_mediation_with_its_15_day_limit():
    assert first_channel("labour_dispute").limit_days == 15
    assert first_channel("neighbour_dispute").code == "peoples_mediation"
    dispute = DisputeCase.open_from_referral(
        {**REFERRAL, "category_code": "labour_dispute"}, first_channel("labour_dispute"), "r-1", NOW
    )
    assert dispute.deadline_at == NOW + timedelta(days=15)
    assert dispute.case_code.startswith("MD-20261129-")
    [(event_type, payload)] = dispute.events
    assert contract_for(event_type).dump(payload)["channel_code"] == "labour_mediation"


def test_a_referred_service_request_becomes_an_order_awaiting_review():
    order = Order.from_case_referral({**REFERRAL, "service_code": "elder_visit"}, "r-1", NOW)
    assert order.status == "pending_review"
    [(event_type, payload)] = order.events
    assert event_type == "order_created" and contract_for(event_type).dump(payload)["case_id"] == "c-1"
