"""Builds docs/asyncapi.yaml, the partners' event contract, from lib/gridlink/contracts.

Every event type and version becomes an AsyncAPI 3.0 message: its payload is the envelope with the marshmallow
payload schema turned into JSON Schema, plus an example that the contract itself has validated. Channels are
routing keys on each publisher's topic exchange (`<source>.events`).

    python tools/asyncapi/generate.py            # rewrite docs/asyncapi.yaml
    python tools/asyncapi/generate.py --check    # exit 1 when the committed file is out of date
"""

from __future__ import annotations

import argparse
import sys
import uuid
from pathlib import Path
from typing import Any

import yaml
from marshmallow import Schema, fields, validate

from gridlink.contracts import CONTRACTS, Contract, EnvelopeSchema, registry

# What GridLink publishes, and what partner departments send it (registry.PARTNER_CONTRACTS).
ALL_CONTRACTS: dict[tuple[str, int], Contract] = {**CONTRACTS, **getattr(registry, "PARTNER_CONTRACTS", {})}
REPO_ROOT = Path(__file__).resolve().parents[2]
OUTPUT = REPO_ROOT / "docs" / "asyncapi.yaml"
VHOST = "gridlink"
SERVICES = ("intake", "dispatch", "mediation", "volunteer", "notification")
AMQP_BINDING_VERSION = "0.3.0"


class Unconvertible(TypeError):
    """A marshmallow field or validator this converter does not know: extend it rather than guess."""


# What a partner binding a type published for whoever binds it needs to know (gridlink/runtime/audience.py).
UNHEARD = (
    "Published for whoever binds it: no GridLink service consumes it. While no queue is bound to it the publisher "
    "writes none, and tries one again every EVENTS_UNHEARD_PROBE_SECONDS (5 s by default); a queue bound in the "
    "meantime receives it from the next try on. With EVENTS_UNHEARD_PROBE_SECONDS=0 every one is published, "
    "without mandatory."
)


def personal(event_type: str) -> bool:
    """Personal data travels only to notification; no partner may bind these routing keys (deploy/base/broker)."""
    return event_type.endswith("_contact_registered")


# --- marshmallow -> JSON Schema ---------------------------------------------------------------------------------

_SIMPLE = [
    (fields.UUID, {"type": "string", "format": "uuid"}),
    (fields.Email, {"type": "string", "format": "email"}),
    (fields.Url, {"type": "string", "format": "uri"}),
    (fields.DateTime, {"type": "string", "format": "date-time"}),  # AwareDateTime too: it subclasses DateTime
    (fields.Date, {"type": "string", "format": "date"}),
    (fields.Boolean, {"type": "boolean"}),
    (fields.Integer, {"type": "integer"}),
    (fields.Decimal, {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$"}),
    (fields.Float, {"type": "number"}),
    (fields.String, {"type": "string"}),
    (fields.Dict, {"type": "object"}),
]


def _validator_keywords(validator: Any, base_type: str) -> dict[str, Any]:
    if isinstance(validator, (validate.URL, validate.Email)):
        return {}  # the field's own check, already said by its "format"
    if isinstance(validator, validate.Length):
        prefix = "Items" if base_type == "array" else "Length"
        found = {}
        if validator.min is not None:
            found[f"min{prefix}"] = validator.min
        if validator.max is not None:
            found[f"max{prefix}"] = validator.max
        if validator.equal is not None:
            found[f"min{prefix}"] = found[f"max{prefix}"] = validator.equal
        return found
    if isinstance(validator, validate.Range):
        found = {}
        if validator.min is not None:
            found["minimum" if validator.min_inclusive else "exclusiveMinimum"] = validator.min
        if validator.max is not None:
            found["maximum" if validator.max_inclusive else "exclusiveMaximum"] = validator.max
        return found
    if isinstance(validator, validate.OneOf):
        return {"enum": list(validator.choices)}
    if isinstance(validator, validate.Regexp):
        return {"pattern": validator.regex.pattern}
    raise Unconvertible(f"no JSON Schema for validator {validator!r}")


def field_schema(field: fields.Field) -> dict[str, Any]:
    if isinstance(field, fields.Nested):
        nested = field.nested() if callable(field.nested) and not isinstance(field.nested, type) else field.nested
        schema = object_schema(nested if isinstance(nested, type) else type(nested))
    elif isinstance(field, fields.List):
        schema = {"type": "array", "items": field_schema(field.inner)}
    else:
        base = next((dict(s) for kind, s in _SIMPLE if isinstance(field, kind)), None)
        if base is None:
            raise Unconvertible(f"no JSON Schema for field {type(field).__name__}")
        schema = base
    for validator in field.validators:
        schema.update(_validator_keywords(validator, schema["type"]))
    if field.metadata.get("description"):
        schema["description"] = field.metadata["description"]
    if field.metadata.get("personal"):
        schema["x-gridlink-personal"] = True
    if field.allow_none:
        schema["type"] = [schema["type"], "null"]
    return schema


def object_schema(schema_class: type[Schema]) -> dict[str, Any]:
    declared = schema_class._declared_fields
    result: dict[str, Any] = {"type": "object"}
    doc = (schema_class.__doc__ or "").strip()
    if doc:
        result["description"] = " ".join(doc.split())
    result["properties"] = {
        (field.data_key or name): field_schema(field) for name, field in declared.items() if not field.load_only
    }
    required = [field.data_key or name for name, field in declared.items() if field.required]
    if required:
        result["required"] = required
    return result


# --- examples ---------------------------------------------------------------------------------------------------

EXAMPLE_BY_NAME: dict[str, Any] = {
    "grid_code": "150302001001001",
    "community_code": "150302001001",
    "sub_centre_code": "150302001",
    "unit_code": "150302001001001",
    "from_unit_code": "150302001001",
    "tracking_code": "HBW20250601-0042",
    "original_tracking_code": "HBW20250531-0007",
    "case_code": "HBW-TJ-2025-000042",
    "reporter_phone_masked": "139****1234",
    "phone": "13900001234",
    "email": "resident@example.cn",
    "lat": 39.6712,
    "long": 106.8237,
    "amount_yuan": "12000.00",
    "hours": "2.50",
    "rating": None,  # per type: OneOf or Range decides
}
EXAMPLE_BY_FORMAT = {
    "uuid": "6f1c2a9e-3b8d-4e51-9a7c-0d2f4b6e8a10",
    "date-time": "2025-06-01T09:30:00+08:00",
    "date": "2025-06-15",
    "email": "resident@example.cn",
    "uri": "https://files.haibowan.example.cn/reports/42/photo-1.jpg",
}
EXAMPLE_BY_PATTERN = {
    r"^reporter:[0-9a-f-]{36}$": "reporter:2b7e1516-28ae-4d2a-abf7-158809cf4f3c",
    r"^party:.+": "party:D-2025-0042:applicant",
}


def example_value(name: str, schema: dict[str, Any]) -> Any:
    kind = schema["type"][0] if isinstance(schema["type"], list) else schema["type"]
    if "enum" in schema:
        return schema["enum"][0]
    if EXAMPLE_BY_NAME.get(name) is not None:
        return EXAMPLE_BY_NAME[name]
    if "pattern" in schema and kind == "string" and "format" not in schema:
        if schema["pattern"] in EXAMPLE_BY_PATTERN:
            return EXAMPLE_BY_PATTERN[schema["pattern"]]
        if schema["pattern"] != _SIMPLE[7][1]["pattern"]:
            raise Unconvertible(f"no example for {name} matching {schema['pattern']}: add one to EXAMPLE_BY_PATTERN")
    if kind == "object":
        return example_object(schema)
    if kind == "array":
        return [example_value(name, schema["items"])]
    if kind == "boolean":
        return False
    if kind in ("integer", "number"):
        return schema.get("minimum", schema.get("maximum", 1))
    if "format" in schema:
        return EXAMPLE_BY_FORMAT[schema["format"]]
    if schema.get("pattern"):
        return "2.50"
    if name.endswith("_id") or name.endswith("_code") or name.endswith("_ref"):
        return f"{name.removesuffix('_id').removesuffix('_code').removesuffix('_ref').upper()}-0042"
    text = name.replace("_", " ")
    return text[: schema.get("maxLength", len(text))] if len(text) >= schema.get("minLength", 0) else "x" * 4


def example_object(schema: dict[str, Any]) -> dict[str, Any]:
    return {name: example_value(name, prop) for name, prop in schema["properties"].items()}


def example_envelope(contract: Contract, source: str, payload_schema: dict[str, Any]) -> dict[str, Any]:
    payload = example_object(payload_schema)
    contract.load(payload)  # the contract itself must accept the example, or generation fails here
    seed = f"{source}/{contract.type}/{contract.version}"
    return {
        "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, seed)),
        "type": contract.type,
        "version": contract.version,
        "occurred_at": "2025-06-01T09:30:05+08:00",
        "source": source,
        "correlation_id": "2b7e1516-28ae-4d2a-abf7-158809cf4f3c",
        "causation_id": str(uuid.uuid5(uuid.NAMESPACE_URL, seed + "/cause")),
        "payload": payload,
    }


# --- the document -----------------------------------------------------------------------------------------------


def publishers(contract: Contract) -> list[str]:
    return sorted({contract.source, *getattr(contract, "sources", ())})


def ident(text: str) -> str:
    return text.replace(".", "_")


def envelope_schema() -> dict[str, Any]:
    schema = object_schema(EnvelopeSchema)
    schema["description"] = (
        "Every event travels in this envelope, as a JSON body with content type application/json. The AMQP "
        "properties repeat three of its fields: message_id = event_id, correlation_id = correlation_id, "
        "type = type. Consumers must ignore fields they do not know."
    )
    schema["properties"]["correlation_id"]["description"] = (
        "The originating report's or order's id, carried through everything it causes."
    )
    schema["properties"]["causation_id"]["description"] = "The event_id of the event that caused this one."
    return schema


def build() -> dict[str, Any]:
    schemas: dict[str, Any] = {"Envelope": envelope_schema()}
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for key in sorted(ALL_CONTRACTS, key=lambda k: (ALL_CONTRACTS[k].source, k)):
        contract = ALL_CONTRACTS[key]
        payload_name = f"{contract.schema.__name__}"
        schemas[payload_name] = object_schema(contract.schema)
        sources = publishers(contract)
        message_id = f"{contract.type}_v{contract.version}"
        envelope = {
            "allOf": [
                {"$ref": "#/components/schemas/Envelope"},
                {
                    "type": "object",
                    "properties": {
                        "type": {"const": contract.type},
                        "version": {"const": contract.version},
                        "source": {"enum": sources},
                        "payload": {"$ref": f"#/components/schemas/{payload_name}"},
                    },
                },
            ]
        }
        description = contract.summary
        if personal(contract.type):
            description += " Personal data: only notification consumes it; partners cannot bind this routing key."
        messages[message_id] = {
            "name": contract.type,
            "title": f"{contract.type} v{contract.version}",
            "summary": contract.summary,
            "description": description,
            "contentType": "application/json",
            "correlationId": {"location": "$message.payload#/correlation_id"},
            "payload": envelope,
            "examples": [
                {
                    "name": f"{contract.type}_{source}",
                    "payload": example_envelope(contract, source, schemas[payload_name]),
                }
                for source in sources
            ],
            "bindings": {"amqp": {"messageType": contract.type, "bindingVersion": AMQP_BINDING_VERSION}},
        }
        if personal(contract.type):
            messages[message_id]["tags"] = [{"name": "personal-data"}]
        for source in sources:
            channel_id = f"{ident(source)}-{contract.type}"
            channel = channels.setdefault(
                channel_id,
                {
                    "address": contract.type,
                    "title": f"{contract.type} on {source}.events",
                    "description": f"Routing key `{contract.type}` on the topic exchange `{source}.events`.",
                    "messages": {},
                    "bindings": {
                        "amqp": {
                            "is": "routingKey",
                            "exchange": {
                                "name": f"{source}.events",
                                "type": "topic",
                                "durable": True,
                                "autoDelete": False,
                                "vhost": VHOST,
                            },
                            "bindingVersion": AMQP_BINDING_VERSION,
                        }
                    },
                },
            )
            channel["messages"][message_id] = {"$ref": f"#/components/messages/{message_id}"}
            ours = source in SERVICES
            operations[f"{'publish' if ours else 'receive'}-{channel_id}"] = {
                "action": "send" if ours else "receive",
                "title": f"{'GridLink publishes' if ours else 'A partner sends'} {contract.type}",
                "summary": (
                    f"{source} publishes {contract.type} to {source}.events."
                    if ours
                    else f"The department publishes {contract.type} to {source}.events; GridLink consumes it."
                ),
                "channel": {"$ref": f"#/channels/{channel_id}"},
                "messages": [{"$ref": f"#/channels/{channel_id}/messages/{message_id}"}],
                "bindings": {
                    "amqp": {"deliveryMode": 2, "mandatory": True, "ack": True, "bindingVersion": AMQP_BINDING_VERSION}
                },
            }
            if ours and not contract.needs_consumer:
                operations[f"publish-{channel_id}"]["description"] = UNHEARD
    for channel in channels.values():
        channel["messages"] = dict(sorted(channel["messages"].items()))
    return {
        "asyncapi": "3.0.0",
        "id": "urn:gridlink:haibowan:events",
        "info": {
            "title": "GridLink integration events",
            "version": "1.0.0",
            "description": (
                "The events GridLink's five services publish on RabbitMQ, and those partner departments send it. "
                "Generated from lib/gridlink/contracts by tools/asyncapi/generate.py; do not edit by hand.\n\n"
                "Each exchange is a durable topic exchange `<source>.events` in vhost `gridlink`, and the routing "
                "key is the event type. A partner binds its own quorum queue `partner.<code>.inbox` to the routing "
                "keys it wants, acknowledges after processing, and treats `event_id` as an idempotency key: "
                "delivery is at least once. Within a version fields are only added; a breaking change is a new "
                "version, published beside the old one for a while. See deploy/partners/README.md."
            ),
            "license": {"name": "Apache-2.0"},
        },
        "defaultContentType": "application/json",
        "servers": {
            "production": {
                "host": "amqp.gridlink.haibowan.example.cn:5671",
                "protocol": "amqps",
                "pathname": f"/{VHOST}",
                "description": "The district's broker, reachable by partner departments over TLS.",
                "security": [{"$ref": "#/components/securitySchemes/brokerUser"}],
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": schemas,
            "messages": messages,
            "securitySchemes": {
                "brokerUser": {
                    "type": "userPassword",
                    "description": "One broker user per department, from District IT: <dept>-partner-user-credentials",
                }
            },
        },
    }


def render() -> str:
    header = "# Generated by tools/asyncapi/generate.py from lib/gridlink/contracts. Do not edit by hand.\n"
    return header + yaml.safe_dump(build(), sort_keys=False, allow_unicode=True, width=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if docs/asyncapi.yaml is out of date")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date: run python tools/asyncapi/generate.py", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text)
    print(f"wrote {args.output} ({len(ALL_CONTRACTS)} event types and versions)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
