"""The domains of mediation, volunteer and notification, with no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gridlink.contracts import contract_for
from mediation.domain.channels import first_channel
from mediation.domain.model import DisputeCase
from notification.domain.errors import UnknownTemplate
from notification.domain.model import Message
from notification.domain.rules import rules_for
from notification.domain.templates import render
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


def test_the_assignment_message_names_the_case_and_the_local_deadline():
    text = render(
        "case_assigned",
        {"tracking_code": "HB-261129-ABCDEF", "urgency": "high", "summary": "路灯不亮", "deadline_at": NOW},
    )
    assert text == "【网格通】您有新的网格案件 HB-261129-ABCDEF（紧急）：路灯不亮。请于 2026-11-29 11:00 前办结。"
    with pytest.raises(UnknownTemplate):
        render("no_such_template", {})


def test_rules_pick_the_recipient_from_the_event():
    [rule] = rules_for("case_assigned")
    assert rule.recipient_field == "assignee_id" and rule.channel == "inbox"
    assert rules_for("report_merged") == []


def test_a_delivered_message_announces_itself():
    message = Message.compose(
        recipient_id="S0100",
        channel="inbox",
        template_code="case_assigned",
        body="…",
        trigger_event_id="0b0b0b0b-0000-4000-8000-000000000000",
        correlation_id="r-1",
        now=NOW,
    )
    message.delivered(NOW)
    assert message.status == "delivered" and message.delivered_at == NOW
    [(event_type, payload)] = message.events
    assert contract_for(event_type).dump(payload)["recipient_id"] == "S0100"
