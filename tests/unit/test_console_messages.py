"""notification's answer about a case's messages, as the console's case view shows it."""

from __future__ import annotations

from datetime import UTC, datetime

from console.adapters.notification import case_messages
from console.adapters.staff_api import StaffAnswer


def item(channel: str, created: str | None, sent: str | None = None, **extra) -> dict:
    return {
        "recipient_id": "S0004",
        "channel": channel,
        "template": "case_assigned",
        "status": "delivered" if sent else "pending",
        "created_at": created,
        "sent_at": sent,
        **extra,
    }


def test_messages_in_time_order_in_utc_with_undated_ones_last():
    answer = StaffAnswer(
        200,
        {
            "messages": [
                item("file", None),
                item("email", "2026-11-30T09:00:00+08:00", "2026-11-30T09:05:00+08:00"),
                item("inbox", "2026-11-30T00:59:00+00:00"),
            ]
        },
    )
    found = case_messages(answer)
    assert found.unavailable is None
    assert [(m.channel, m.at) for m in found.messages] == [
        ("inbox", datetime(2026, 11, 30, 0, 59, tzinfo=UTC)),
        ("email", datetime(2026, 11, 30, 1, 5, tzinfo=UTC)),  # sent_at, not created_at, once sent
        ("file", None),
    ]


def test_each_answer_but_a_list_says_why_there_are_no_messages():
    assert case_messages(StaffAnswer(404, {"error": {"code": "not_found"}})).messages == ()
    assert case_messages(StaffAnswer(404, {})).unavailable is None
    refused = case_messages(StaffAnswer(403, {"error": {"code": "forbidden", "description": "outside unit 150302"}}))
    assert refused.unavailable == "notification does not show you these messages: outside unit 150302"
    down = case_messages(StaffAnswer(0, {"error": {"code": "unreachable", "description": "notification: refused"}}))
    assert down.unavailable == "notification did not answer: notification: refused"
    bad_gateway = case_messages(StaffAnswer(502, {"text": "Bad Gateway"}))
    assert bad_gateway.unavailable == "notification answered 502: Bad Gateway"
    for body in ({}, {"messages": "x"}, {"messages": [item("sms", "yesterday")]}):
        assert "could not be read" in case_messages(StaffAnswer(200, body)).unavailable


def test_a_line_names_template_recipient_channel_status_and_why():
    held = item("sms", None, status_reason="quiet_hours")
    (message,) = case_messages(StaffAnswer(200, {"messages": [held]})).messages
    assert message.line() == "case_assigned to S0004 by sms: pending (quiet_hours)"
