"""notification's domain with no I/O: templates, rules, preferences, quiet hours, dedup, rate limit, digest,
backoff with jitter, the message state machine and webhook signatures. Time is always a `now` the test chooses."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from gridlink.contracts import contract_for
from gridlink.contracts.events.notification import WebhookSignatureError, sign_webhook, verify_webhook
from gridlink.refdata.reading import DEFAULT_DATA_DIR
from notification.adapters.reference import load_reference
from notification.domain.errors import InvalidPreferences, NotificationError, RulesError, TemplateError, UnknownTemplate
from notification.domain.model import Contact, Message
from notification.domain.policy import Policy, Preferences, QuietHours, admit, dedup_key
from notification.domain.rules import load_rules
from notification.domain.templates import load_templates
from notification.entrypoints.service import NotificationService
from notification.handlers import CONTACT_EVENTS

REF = load_reference(DEFAULT_DATA_DIR)
POLICY = REF.policy
CST_NOON = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)  # 12:00 in Beijing
CST_2230 = datetime(2026, 11, 30, 14, 30, tzinfo=UTC)  # 22:30 in Beijing


def decide(channel="sms", priority="normal", prefs=Preferences(), now=CST_NOON, duplicate_of=None, sent=0):
    return admit(
        channel=channel,
        category="case_work",
        priority=priority,
        prefs=prefs,
        policy=POLICY,
        now=now,
        duplicate_of=duplicate_of,
        sent_in_window=sent,
    )


# --- templates ------------------------------------------------------------------------------------------------


def test_the_assignment_message_names_the_case_and_the_local_deadline():
    payload = {"tracking_code": "HB-261129-ABCDEF", "urgency": "high", "summary": "路灯不亮"}
    deadline = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
    for value in (deadline, deadline.isoformat()):  # loaded by the contract, or as the wire carries it
        rendered = REF.templates.render("case_assigned", "inbox", {**payload, "deadline_at": value})
        assert (
            rendered.body
            == "【网格通】您有新的网格案件 HB-261129-ABCDEF（紧急）：路灯不亮。请于 2026-11-29 11:00 前办结。"
        )
        assert rendered.title == "新案件待办"
    with pytest.raises(UnknownTemplate):
        REF.templates.render("no_such_template", "inbox", {})


def test_a_channel_can_have_its_own_shorter_text_and_every_channel_is_clipped_to_its_limit():
    payload = {"tracking_code": "HB-1", "resolution": "已修复" * 200}
    inbox = REF.templates.render("case_resolved", "inbox", payload).body
    wechat = REF.templates.render("case_resolved", "wechat", payload).body
    sms = REF.templates.render("case_resolved", "sms", payload).body
    assert (
        inbox.endswith("请对办理结果进行评价（满意/基本满意/不满意）。") and len(inbox) < REF.templates.limits["inbox"]
    )
    assert "已修复" in wechat and len(wechat) == REF.templates.limits["wechat"] and wechat.endswith("…")
    assert "已修复" not in sms and "HB-1" in sms and len(sms) <= REF.templates.limits["sms"]
    push = REF.templates.render(
        "order_dispatched", "push", {"order_id": "O" * 200, "service_code": "x", "accept_by": ""}
    )
    assert len(push.body) == REF.templates.limits["push"]


def test_a_template_that_needs_a_missing_variable_says_which():
    with pytest.raises(TemplateError, match="tracking_code"):
        REF.templates.render("report_received", "sms", {})
    with pytest.raises(TemplateError, match="malformed"):
        load_templates({"templates": {"bad": {"text": "unclosed {brace"}}})


def test_labels_and_derived_values_fill_templates():
    session = {
        "case_code": "HBW-2026-001",
        "starts_at": datetime(2026, 12, 1, 1, 0, tzinfo=UTC),
        "ends_at": datetime(2026, 12, 1, 2, 0, tzinfo=UTC),
        "online": False,
        "room_code": "调解室A",
    }
    body = REF.templates.render("session_scheduled", "sms", session).body
    assert "2026-12-01 09:00 至 2026-12-01 10:00" in body and "调解室A" in body
    assert "线上" in REF.templates.render("session_scheduled", "sms", {**session, "online": True}).body
    escalated = {"tracking_code": "HB-2", "tier": "district", "from_tier": "grid", "reason": "超期", "deadline_at": ""}
    assert "由网格上报至区指挥中心" in REF.templates.render("case_escalated", "inbox", escalated).body


def test_a_template_writes_out_only_the_variables_its_texts_name():
    book = load_templates(
        {
            "templates": {"t": {"title": "{kind_label}", "text": "{code} {at.year}", "sms": "{place:>{width}}"}},
            "labels": {"kind": {"k": "类"}},
        }
    )
    assert book.templates["t"].names == {"kind_label", "code", "at", "place", "width"}
    at = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    payload = {"code": "HB-1", "kind": "k", "at": at, "online": True, "unused_at": at, "other": 1}
    named = book.variables(payload, book.templates["t"].names)
    assert named == {"code": "HB-1", "kind_label": "类", "at": "2026-12-01 09:00", "place": "线上视频调解"}
    assert book.variables(payload).keys() == {*named, "kind", "online", "unused_at", "other"}  # all, unnamed
    # Every template of the district renders as it did with every variable made.
    payload = {
        **{name: f"v-{name}" for t in REF.templates.templates.values() for name in t.names},
        "deadline_at": at,
        "online": False,
        "room_code": "调解室A",
    }
    for code, template in REF.templates.templates.items():
        everything = REF.templates.variables(payload)
        for channel in ("inbox", "sms", "wechat", *template.per_channel):
            rendered = REF.templates.render(code, channel, payload)
            assert rendered.title == template.title.format_map(everything), code
            assert rendered.body.rstrip("…") in template.text_for(channel).format_map(everything), (code, channel)


# --- rules ----------------------------------------------------------------------------------------------------


def test_rules_pick_recipients_from_fields_lists_formats_and_fallbacks():
    [handler, supervisor] = REF.rules.for_event("dispatch", "case_overdue")
    assert handler.recipients_of({"assignee_id": "S0100", "unit_code": "150302001"}) == ["S0100"]
    assert handler.recipients_of({"assignee_id": None, "unit_code": "150302001"}) == ["unit:150302001"]
    assert supervisor.recipients_of({"supervisor_id": None}) == []
    [received] = REF.rules.for_event("intake", "report_accepted")
    assert received.recipients_of({"report_id": "r-1"}) == ["reporter:r-1"]
    session = REF.rules.for_event("mediation", "session_scheduled")[0]
    assert session.recipients_of({"party_recipient_ids": ["party:1", "party:2", "party:1"]}) == ["party:1", "party:2"]
    assert REF.rules.for_event("intake", "report_merged") == []


def test_priority_follows_urgency_and_when_filters_the_partner_rule():
    [assigned] = REF.rules.for_event("dispatch", "case_assigned")
    assert [assigned.priority_of({"urgency": u}) for u in ("low", "normal", "high", "critical")] == [
        "normal",
        "normal",
        "high",
        "urgent",
    ]
    partner = next(r for r in REF.rules.for_event("dispatch", "case_escalated") if r.channels == ("webhook",))
    assert partner.applies_to({"tier": "department"}) and not partner.applies_to({"tier": "district"})


def test_a_malformed_rule_is_named():
    base = {"categories": {"c": "C"}}
    rule = {"source": "dispatch", "event": "case_assigned", "template": "t", "category": "c", "channels": ["inbox"]}
    with pytest.raises(RulesError, match="rule 0"):
        load_rules({**base, "rules": [{**rule, "recipients": []}]})
    with pytest.raises(RulesError, match="unknown channels"):
        load_rules({**base, "rules": [{**rule, "recipients": [{"field": "x"}], "channels": ["pigeon"]}]})
    with pytest.raises(RulesError, match="priority"):
        load_rules({**base, "rules": [{**rule, "recipients": [{"field": "x"}], "priority": "asap"}]})


def test_every_subscribed_event_has_exactly_one_consumer_and_the_reverse():
    consumers = {
        (entry.source_service, entry.event_type)
        for name in dir(NotificationService)
        for entry in getattr(getattr(NotificationService, name), "nameko_entrypoints", ())
        if hasattr(entry, "event_type")
    }
    contact_sources = {("intake", "reporter_contact_registered"), ("mediation", "party_contact_registered")}
    assert {t for _, t in contact_sources} == set(CONTACT_EVENTS)
    assert consumers == set(REF.rules.subscriptions()) | contact_sources
    for source, event_type in consumers:
        assert contract_for(event_type).source == source


# --- restraint ------------------------------------------------------------------------------------------------


def test_quiet_hours_hold_until_morning_across_midnight():
    quiet = QuietHours.parse({"start": "22:00", "end": "08:00"})
    morning = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)  # 08:00 Beijing, the next day
    assert quiet.until(CST_NOON, POLICY.tz) is None
    assert quiet.until(datetime(2026, 11, 30, 13, 59, tzinfo=UTC), POLICY.tz) is None  # 21:59
    assert quiet.until(datetime(2026, 11, 30, 14, 0, tzinfo=UTC), POLICY.tz) == morning  # 22:00
    assert quiet.until(datetime(2026, 11, 30, 19, 0, tzinfo=UTC), POLICY.tz) == morning  # 03:00
    assert quiet.until(morning, POLICY.tz) is None
    daytime = QuietHours.parse({"start": "12:00", "end": "14:00"})
    assert daytime.until(CST_NOON, POLICY.tz) == CST_NOON + timedelta(hours=2)


def test_quiet_hours_hold_interrupting_channels_but_not_urgent_messages_or_the_inbox():
    held = decide(now=CST_2230)
    assert held.action == "hold" and held.reason == "quiet_hours"
    assert held.due_at == datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    assert decide(now=CST_2230, priority="urgent").action == "send"
    assert decide(now=CST_2230, channel="inbox").action == "send"
    assert decide(now=CST_2230, channel="email").action == "send"  # email waits in the mailbox quietly
    own = Preferences.parse({"quiet_hours": {"start": "23:00", "end": "07:00"}}, REF.rules.categories)
    assert decide(now=CST_2230, prefs=own).action == "send"
    none = Preferences.parse({"quiet_hours": None}, REF.rules.categories)
    assert decide(now=CST_2230, prefs=none).action == "send"


def test_preferences_opt_out_and_narrow_channels_but_urgent_messages_get_through():
    prefs = Preferences.parse({"opt_out": ["case_work"]}, REF.rules.categories)
    assert decide(prefs=prefs) == decide(prefs=prefs, channel="email")
    assert decide(prefs=prefs).reason == "opted_out"
    assert decide(prefs=prefs, channel="inbox").action == "send"
    assert decide(prefs=prefs, priority="urgent").action == "send"
    narrow = Preferences.parse({"channels": {"case_work": ["wecom"]}}, REF.rules.categories)
    assert decide(prefs=narrow).reason == "channel_not_chosen"
    assert decide(prefs=narrow, channel="wecom").action == "send"
    for bad in ({"opt_out": ["gossip"]}, {"channels": {"case_work": ["fax"]}}, {"colour": "red"}, []):
        with pytest.raises(InvalidPreferences):
            Preferences.parse(bad, REF.rules.categories)


def test_duplicates_are_skipped_low_priority_and_over_the_limit_are_merged_into_a_digest():
    assert decide(duplicate_of="m-1").reason == "duplicate of m-1"
    assert decide(priority="low").action == "merge" and decide(priority="low").reason == "low_priority"
    assert decide(priority="low", channel="inbox").action == "send"
    assert decide(sent=POLICY.rate_limit_max - 1).action == "send"
    assert decide(sent=POLICY.rate_limit_max).reason == "rate_limited"
    assert decide(sent=POLICY.rate_limit_max, priority="urgent").action == "send"
    same = dedup_key("S1", "sms", "文字")
    assert same == dedup_key("S1", "sms", "文字") != dedup_key("S1", "sms", "文字!") != dedup_key("S2", "sms", "文字")


def test_backoff_grows_exponentially_with_jitter_up_to_a_cap_then_gives_up():
    policy = Policy.from_data({"retry": {"max_attempts": 8, "base_seconds": 2, "cap_seconds": 60}})
    rng = random.Random(7)
    delays = [(policy.retry_at(n, CST_NOON, rng) - CST_NOON).total_seconds() for n in range(1, 8)]
    ceilings = [2, 4, 8, 16, 32, 60, 60]
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert ceiling / 2 <= delay <= ceiling
    assert len({round(d / c, 6) for d, c in zip(delays, ceilings, strict=True)}) > 1  # jittered, not fixed
    assert policy.retry_at(8, CST_NOON, rng) is None


# --- the message and its contact ------------------------------------------------------------------------------


def message(**kwargs) -> Message:
    values = dict(
        recipient_id="S0100",
        channel="sms",
        template_code="case_assigned",
        body="…",
        trigger_event_id="0b0b0b0b-0000-4000-8000-000000000000",
        correlation_id="r-1",
        now=CST_NOON,
    )
    return Message.compose(**{**values, **kwargs})


def test_a_sent_message_announces_itself_and_a_receipt_settles_it_once():
    m = message()
    m.accepted(CST_NOON, "sms_aliyun", "biz-1", delivered=False)
    assert (m.status, m.attempts, m.provider_message_id) == ("sent", 1, "biz-1")
    [(event_type, payload)] = m.events
    assert event_type == "message_sent" and contract_for(event_type).dump(payload)["provider"] == "sms_aliyun"
    assert m.receipt(True, CST_NOON + timedelta(seconds=3)) is True
    assert m.status == "delivered" and m.delivered_at == CST_NOON + timedelta(seconds=3)
    assert m.receipt(True, CST_NOON + timedelta(seconds=9)) is False
    with pytest.raises(NotificationError):
        m.skip("late")


def test_a_failing_receipt_and_a_last_failed_attempt_publish_message_failed():
    m = message()
    m.accepted(CST_NOON, "sms_tencent", "sn-1", delivered=False)
    m.receipt(False, CST_NOON, "空号")
    assert m.status == "failed" and "空号" in m.status_reason
    assert [e for e, _ in m.events] == ["message_sent", "message_failed"]
    retried = message()
    retried.attempt_failed(CST_NOON + timedelta(seconds=2), "timeout")
    assert retried.status == "pending" and retried.attempts == 1 and retried.status_reason == "retrying: timeout"
    retried.attempt_failed(None, "timeout")
    assert retried.status == "failed" and retried.events[-1][0] == "message_failed"
    contract_for("message_failed").dump(retried.events[-1][1])


def test_contacts_pick_the_address_each_channel_needs():
    staff = Contact("S0100", phone="13900000000", email="s@x")
    assert staff.address_for("sms") == ("phone", "13900000000")
    assert staff.address_for("wecom") == ("phone", "13900000000")
    assert staff.address_for("wechat") is None and staff.address_for("inbox") == ("recipient_id", "S0100")
    merged = staff.updated_with(Contact("S0100", wecom_userid="zhang"))
    assert merged.address_for("wecom") == ("wecom_userid", "zhang") and merged.email == "s@x"


# --- webhook signatures ---------------------------------------------------------------------------------------


def test_a_webhook_signature_proves_the_body_and_refuses_replays():
    body, secret, sent = b'{"text": "\xe4\xbd\xa0"}', "s3cret", 1_790_000_000
    signature = sign_webhook(secret, sent, body)
    assert signature.startswith("v1=")
    verify_webhook(secret, body, str(sent), signature, now=sent + 299)
    cases = [
        (body + b" ", str(sent), signature, sent, "does not match"),
        (body, str(sent), sign_webhook("other", sent, body), sent, "does not match"),
        (body, str(sent + 1), signature, sent, "does not match"),  # the timestamp is signed too
        (body, str(sent), signature, sent + 301, "replay"),
        (body, None, signature, sent, "missing"),
        (body, "yesterday", signature, sent, "not a number"),
    ]
    for raw, stamp, sig, now, reason in cases:
        with pytest.raises(WebhookSignatureError, match=reason):
            verify_webhook(secret, raw, stamp, sig, now=now)
