"""Personal fields are sealed on the wire and opened only with the key."""

import json

import pytest

from gridlink.contracts import InvalidEvent, new_envelope, parse_envelope
from gridlink.runtime.personal import PREFIX, open_body, personal_fields, seal_payload

CONTACT = {
    "recipient_id": "reporter:0b0b0b0b-0000-4000-8000-000000000000",
    "report_id": "0b0b0b0b-0000-4000-8000-000000000000",
    "tracking_code": "HB-261129-ABCDEF",
    "name": "张秀英",
    "phone": "13912345678",
    "email": "zhang@example.cn",
    "wechat_openid": None,
}


def sealed_wire(key="k1"):
    envelope = new_envelope(type="reporter_contact_registered", source="intake", payload=CONTACT, correlation_id="r")
    wire = envelope.to_wire()
    wire["payload"] = seal_payload(envelope.type, envelope.version, wire["payload"], key)
    return wire


def test_the_contract_marks_which_fields_are_personal():
    assert personal_fields("reporter_contact_registered", 1) == ["name", "phone", "email", "wechat_openid"]
    assert personal_fields("party_contact_registered", 1) == ["name", "phone", "email"]
    assert personal_fields("report_accepted", 1) == []


def test_sealed_fields_hide_the_values_and_open_with_the_key():
    wire = sealed_wire()
    text = json.dumps(wire, ensure_ascii=False)
    for secret in ("张秀英", "13912345678", "zhang@example.cn"):
        assert secret not in text
    assert wire["payload"]["phone"].startswith(PREFIX)
    assert wire["payload"]["wechat_openid"] is None
    opened = parse_envelope(open_body(wire, "k1"))
    assert opened.payload["phone"] == "13912345678" and opened.payload["name"] == "张秀英"


def test_a_consumer_without_the_key_cannot_open_them():
    with pytest.raises(InvalidEvent, match="sealed with a key"):
        open_body(sealed_wire("k1"), "another key")


def test_bodies_without_sealed_fields_pass_through_untouched():
    body = {"payload": {"a": 1}}
    assert open_body(body, "k") is body
    assert open_body(["not", "a", "dict"], "k") == ["not", "a", "dict"]
