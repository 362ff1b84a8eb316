"""The event contracts: the envelope, payload validation, versions and ownership."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from marshmallow import EXCLUDE, fields

from gridlink.contracts import CONTRACTS, InvalidEvent, contract_for, needs_consumer, new_envelope, parse_envelope
from gridlink.contracts.registry import PARTNER_CONTRACTS

REPORT = {
    "report_id": "r-1",
    "tracking_code": "HB-261129-ABCDEF",
    "channel": "app",
    "category_code": "street_lamp",
    "category_kind": "general",
    "urgency": "normal",
    "description": "路灯不亮",
    "grid_code": "150302001001001",
    "community_code": "150302001001",
    "sub_centre_code": "150302001",
    "lat": 39.7,
    "long": 106.8,
    "address": None,
    "reporter_phone_masked": "139****1234",
    "submitted_at": datetime(2026, 11, 29, 3, 0, tzinfo=UTC),
}


def make(**overrides):
    return new_envelope(type="report_accepted", source="intake", payload=REPORT, correlation_id="r-1", **overrides)


def test_an_envelope_round_trips_through_the_wire_form():
    envelope = make()
    parsed = parse_envelope(envelope.to_wire())
    assert parsed.event_id == envelope.event_id
    assert uuid.UUID(parsed.event_id)
    assert parsed.version == 1
    assert parsed.occurred_at.tzinfo is not None
    assert parsed.payload["submitted_at"] == REPORT["submitted_at"]
    assert parsed.payload["grid_code"] == "150302001001001"


def test_fields_a_consumer_does_not_know_are_ignored():
    wire = make().to_wire()
    wire["payload"]["added_in_a_later_release"] = 1
    wire["trace"] = "x"
    assert "added_in_a_later_release" not in parse_envelope(wire).payload


def _nested_schemas(schema):
    for field in schema().fields.values():
        inner = getattr(field, "inner", field)  # a List's items
        if isinstance(inner, fields.Nested):
            yield inner.schema
            yield from _nested_schemas(type(inner.schema))


def test_fields_a_consumer_does_not_know_are_ignored_inside_lists_of_objects_too():
    """Nested schemas refuse unknown fields unless told otherwise: each must drop them, as a whole payload does."""
    every = {**CONTRACTS, **PARTNER_CONTRACTS}
    nested = [s for contract in every.values() for s in _nested_schemas(contract.schema)]
    assert nested and all(s.unknown == EXCLUDE for s in nested)
    filed = {
        "partner_case_ref": "(2026)蒙0303民诉前调123号",
        "channel_code": "peoples_mediation",
        "category_code": "neighbour_dispute",
        "dispute_type": "neighbour",
        "summary": "邻里漏水纠纷",
        "parties": [{"role": "applicant", "name": "王某", "added_in_a_later_release": 1}],
    }
    [party] = contract_for("partner_dispute_filed").load(filed)["parties"]
    assert party == {"role": "applicant", "name": "王某"}


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda w: w.pop("event_id"), "event_id"),
        (lambda w: w.update(version="1"), "version"),
        (lambda w: w.update(occurred_at="yesterday"), "occurred_at"),
        (lambda w: w.update(type="no_such_event"), "unknown event type"),
        (lambda w: w.update(version=9), "at version 9"),
        (lambda w: w.update(source="dispatch"), "must come from intake"),
        (lambda w: w["payload"].update(grid_code="12"), "grid code"),
        (lambda w: w["payload"].pop("tracking_code"), "tracking_code"),
    ],
    ids=[
        "no-id",
        "string-version",
        "bad-time",
        "unknown-type",
        "unknown-version",
        "wrong-source",
        "bad-grid",
        "missing",
    ],
)
def test_invalid_events_are_refused_with_the_reason(mutate, message):
    wire = make().to_wire()
    mutate(wire)
    with pytest.raises(InvalidEvent) as caught:
        parse_envelope(wire)
    assert message in str(caught.value)


def test_a_body_that_is_not_an_object_is_refused():
    with pytest.raises(InvalidEvent, match="not a JSON object"):
        parse_envelope(["a", "list"])


def test_an_invalid_outgoing_payload_never_reaches_the_outbox():
    with pytest.raises(InvalidEvent, match="outgoing payload"):
        new_envelope(
            type="report_accepted", source="intake", payload={**REPORT, "urgency": "whenever"}, correlation_id="x"
        )


def test_only_the_owning_service_may_publish_a_type():
    with pytest.raises(InvalidEvent, match="published by intake"):
        new_envelope(type="report_accepted", source="dispatch", payload=REPORT, correlation_id="x")


def test_every_contract_is_a_past_tense_fact_owned_by_one_service():
    assert len(CONTRACTS) >= 7
    for (event_type, version), contract in CONTRACTS.items():
        assert contract.source in {"intake", "dispatch", "mediation", "volunteer", "notification"}
        assert event_type.split("_")[-1] not in {"create", "assign", "send"}, event_type
        assert contract_for(event_type).version >= version


def test_a_received_payload_serialises_unchecked_to_what_a_checked_dump_gives():
    sent = make()
    received = parse_envelope({**sent.to_wire(), "payload": {**sent.payload, "added_later": 1}})
    contract = contract_for("report_accepted", 1)
    assert contract.serialise(received.payload) == contract.dump(received.payload)
    assert contract.serialise(received.payload)["submitted_at"] == sent.payload["submitted_at"]


def test_with_no_version_a_type_resolves_to_its_newest_contract():
    for event_type, _ in CONTRACTS:
        newest = max(v for (t, v) in CONTRACTS if t == event_type)
        assert contract_for(event_type).version == newest
    with pytest.raises(InvalidEvent, match="unknown event type 'no_such_event'"):
        contract_for("no_such_event")


def test_only_message_sent_is_published_for_whoever_binds_it():
    """A type no queue receives is a fault to report, unless the contract says nobody need consume it:
    notification's `message_sent`, since no GridLink service does (how it is then published: `audience.py`)."""
    assert needs_consumer("message_sent") is False
    assert contract_for("message_sent").needs_consumer is False
    assert all(needs_consumer(t) for t in ("case_assigned", "message_failed", "report_accepted", "anything_else"))
    assert [c.type for c in CONTRACTS.values() if not c.needs_consumer] == ["message_sent"]
