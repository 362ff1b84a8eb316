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
