"""The compiled load answers exactly as marshmallow's own: the same loaded payload, the same errors."""

from __future__ import annotations

import pytest
from marshmallow import Schema, ValidationError, fields, post_load

from gridlink.contracts.compiled import CompiledLoad
from gridlink.contracts.envelope import EnvelopeSchema
from gridlink.contracts.registry import _ALL, _reader, _writer
from tests.unit.test_contracts import make

WIRE = make().to_wire()
PAYLOAD = WIRE["payload"]

PAYLOADS = [
    PAYLOAD,
    {**PAYLOAD, "added_in_a_later_release": 1},
    {**PAYLOAD, "urgency": "whenever"},
    {**PAYLOAD, "lat": "north", "grid_code": "15"},
    {**PAYLOAD, "address": None, "description": None},
    {key: value for key, value in PAYLOAD.items() if key not in ("report_id", "classification_confidence")},
    {**PAYLOAD, "submitted_at": "2026-11-29T03:00:00"},
    {**PAYLOAD, "photo_urls": ["https://example.org/a.jpg", "not a url"]},
    {},
    ["not", "a", "mapping"],
]


def outcome(load, data):
    try:
        return "loaded", load(data)
    except ValidationError as exc:
        return "refused", exc.messages


@pytest.mark.parametrize("data", PAYLOADS)
@pytest.mark.parametrize("unknown", ["exclude", "raise"])
def test_a_payload_loads_or_is_refused_as_marshmallow_does(data, unknown):
    schema = _ALL[("report_accepted", 1)].schema(unknown=unknown)
    compiled = CompiledLoad(schema)
    assert outcome(compiled.load, data) == outcome(schema.load, data)
    assert compiled.validate(data) == schema.validate(data)


@pytest.mark.parametrize(
    "body", [WIRE, {**WIRE, "trace": "x"}, {**WIRE, "version": "1"}, {**WIRE, "occurred_at": "yesterday"}, {}]
)
def test_an_envelope_loads_or_is_refused_as_marshmallow_does(body):
    assert outcome(CompiledLoad(EnvelopeSchema()).load, body) == outcome(EnvelopeSchema().load, body)


def test_every_contract_loads_what_it_dumps_as_marshmallow_does():
    for contract in _ALL.values():
        wire = _writer(contract.schema).dump({})
        assert outcome(_reader(contract.schema).load, wire) == outcome(contract.schema(unknown="exclude").load, wire)


def test_a_schema_with_hooks_is_left_to_marshmallow():
    class Stamped(Schema):
        name = fields.String(required=True)

        @post_load
        def stamp(self, data, **kwargs):
            return {**data, "stamped": True}

    assert CompiledLoad(Stamped()).load({"name": "x"}) == {"name": "x", "stamped": True}


class EveryKind(Schema):
    """One field of each kind the contracts use, with and without validators."""

    name = fields.String(required=True, validate=lambda v: len(v) < 10 or _refuse())
    note = fields.String(allow_none=True)
    count = fields.Integer(load_default=0)
    strict_count = fields.Integer(strict=True)
    share = fields.Float()
    amount = fields.Decimal()
    flag = fields.Boolean()
    ref = fields.UUID()
    at = fields.AwareDateTime()
    on = fields.Date()
    tags = fields.List(fields.String())
    mail = fields.Email()
    extra = fields.Dict()


def _refuse():
    raise ValidationError("too long")


VALUES = [
    {"name": "a"},
    {"name": b"bytes"},
    {"name": b"\xff"},
    {"name": 5},
    {"name": "a much longer name"},
    {"name": "a", "note": None, "count": None},
    {"name": "a", "count": "7", "strict_count": 7, "share": 1, "amount": "1.10", "flag": "yes"},
    {"name": "a", "count": True},
    {"name": "a", "strict_count": "7"},
    {"name": "a", "share": float("nan")},
    {"name": "a", "ref": "6f1c1c8e-3a55-4a53-9d1e-0f8d8f0b2d11", "at": "2026-11-30T01:00:00+08:00"},
    {"name": "a", "ref": "not-a-uuid"},
    {"name": "a", "at": "2026-11-30T01:00:00"},
    {"name": "a", "on": "2026-11-30", "tags": ["x", "y"], "mail": "a@example.org", "extra": {"k": 1}},
    {"name": "a", "tags": ["x", 3], "mail": "not mail", "extra": []},
]


@pytest.mark.parametrize("data", VALUES)
def test_each_kind_of_field_loads_or_is_refused_as_marshmallow_does(data):
    schema = EveryKind()
    assert outcome(CompiledLoad(schema).load, data) == outcome(schema.load, data)


def test_a_field_with_its_own_hooks_is_loaded_by_marshmallow():
    class Trimmed(Schema):
        name = fields.String(pre_load=[str.strip], post_load=[str.upper])

    assert CompiledLoad(Trimmed()).load({"name": "  x "}) == {"name": "X"}
