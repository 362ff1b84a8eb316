"""The partners' AsyncAPI document: generated from the contracts, committed up to date, valid for the official
parser (@asyncapi/parser), complete (every event, exchange and routing key), and its examples and schemas agree
with the marshmallow contracts they come from.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import shutil
import subprocess

import jsonschema
import pytest
import yaml
from marshmallow import Schema, fields, validate

from gridlink.runtime.config import REPO_ROOT

TOOL = REPO_ROOT / "tools" / "asyncapi"
_spec = importlib.util.spec_from_file_location("asyncapi_generate", TOOL / "generate.py")
generate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(generate)


@pytest.fixture(scope="module")
def document() -> dict:
    return yaml.safe_load((REPO_ROOT / "docs" / "asyncapi.yaml").read_text())


def test_committed_document_is_up_to_date():
    committed = (REPO_ROOT / "docs" / "asyncapi.yaml").read_text()
    assert committed == generate.render(), "docs/asyncapi.yaml is stale: run python tools/asyncapi/generate.py"
    assert generate.main(["--check"]) == 0


def test_check_mode_fails_on_a_stale_document(tmp_path, capsys):
    stale = tmp_path / "asyncapi.yaml"
    stale.write_text(generate.render().replace("case_assigned", "case_asigned", 1))
    assert generate.main(["--check", "--output", str(stale)]) == 1
    assert "out of date" in capsys.readouterr().err


def node_tools() -> tuple[str, str]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not (node and npm):
        if os.environ.get("CI"):
            pytest.fail("Node.js and npm are needed to validate docs/asyncapi.yaml with @asyncapi/parser")
        pytest.skip("Node.js is not installed")
    return node, npm


def parser_installed() -> str:
    """Node.js with @asyncapi/parser installed from the committed lock file (npm ci), whichever test runs first."""
    node, npm = node_tools()
    if not (TOOL / "node_modules" / "@asyncapi" / "parser").exists():
        installed = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=TOOL, capture_output=True, text=True, timeout=600
        )
        assert installed.returncode == 0, installed.stderr
    return node


def test_official_parser_accepts_the_document():
    node = parser_installed()
    checked = subprocess.run(
        [node, str(TOOL / "validate.cjs"), str(REPO_ROOT / "docs" / "asyncapi.yaml")],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "valid AsyncAPI 3.0.0" in checked.stdout


def test_official_parser_rejects_a_broken_document(tmp_path, document):
    node = parser_installed()
    broken = copy.deepcopy(document)
    first = next(iter(broken["operations"].values()))
    first["channel"] = {"$ref": "#/channels/no-such-channel"}
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(broken))
    checked = subprocess.run([node, str(TOOL / "validate.cjs"), str(path)], capture_output=True, text=True, timeout=180)
    assert checked.returncode == 1


def test_every_contract_is_a_message_on_its_exchange_and_routing_key(document):
    for (event_type, version), contract in generate.ALL_CONTRACTS.items():
        message_id = f"{event_type}_v{version}"
        message = document["components"]["messages"][message_id]
        assert message["summary"] == contract.summary
        assert message["payload"]["allOf"][1]["properties"]["type"] == {"const": event_type}
        for source in generate.publishers(contract):
            channel = document["channels"][f"{source.replace('.', '_')}-{event_type}"]
            assert channel["address"] == event_type
            assert channel["bindings"]["amqp"]["exchange"]["name"] == f"{source}.events"
            assert channel["bindings"]["amqp"]["exchange"]["type"] == "topic"
            assert message_id in channel["messages"]
    names = {m["name"] for m in document["components"]["messages"].values()}
    assert {"report_accepted", "case_assigned", "dispute_case_opened", "order_created", "message_sent"} <= names


def test_operations_say_who_sends(document):
    channels = document["channels"]
    actions = {
        channels[op["channel"]["$ref"].rsplit("/", 1)[1]]["address"]: op["action"]
        for op in document["operations"].values()
    }
    assert actions["case_assigned"] == "send"
    for (event_type, _v), contract in generate.ALL_CONTRACTS.items():
        if contract.source not in generate.SERVICES:
            assert actions[event_type] == "receive"


def test_only_a_type_published_for_whoever_binds_it_says_when_it_is_not_published(document):
    described = {name for name, op in document["operations"].items() if "description" in op}
    assert described == {"publish-notification-message_sent"}
    assert "EVENTS_UNHEARD_PROBE_SECONDS" in document["operations"]["publish-notification-message_sent"]["description"]


def test_personal_data_events_are_marked(document):
    for message in document["components"]["messages"].values():
        marked = {"name": "personal-data"} in message.get("tags", [])
        assert marked is generate.personal(message["name"])
    assert generate.personal("reporter_contact_registered") and generate.personal("party_contact_registered")


def message_validator(document: dict, message_id: str) -> jsonschema.Draft7Validator:
    # The document is the root, so "#/components/..." references resolve inside it.
    root = {**document, "allOf": [document["components"]["messages"][message_id]["payload"]]}
    return jsonschema.Draft7Validator(root)


def test_every_example_matches_its_message_schema_and_its_contract(document):
    for message_id, message in document["components"]["messages"].items():
        validator = message_validator(document, message_id)
        contract = generate.ALL_CONTRACTS[(message["name"], int(message_id.rsplit("_v", 1)[1]))]
        for example in message["examples"]:
            envelope = example["payload"]
            assert list(validator.iter_errors(envelope)) == [], message_id
            contract.load(envelope["payload"])
            assert envelope["source"] in generate.publishers(contract)


def test_the_json_schema_rejects_what_the_contract_rejects(document):
    validator = message_validator(document, "case_assigned_v1")
    good = document["components"]["messages"]["case_assigned_v1"]["examples"][0]["payload"]
    assert validator.is_valid(good)
    for field, bad in (("grid_code", "12345"), ("urgency", "whenever"), ("case_id", "")):
        broken = copy.deepcopy(good)
        broken["payload"][field] = bad
        assert not validator.is_valid(broken), field
        with pytest.raises(Exception, match="does not match the contract"):
            generate.ALL_CONTRACTS[("case_assigned", 1)].load(broken["payload"])
    missing = copy.deepcopy(good)
    del missing["payload"]["deadline_at"]
    assert not validator.is_valid(missing)
    assert not validator.is_valid({**good, "type": "case_closed"})


class _Party(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=10))


class _Everything(Schema):
    """A made-up contract that uses every field kind the converter knows."""

    id = fields.UUID(required=True)
    at = fields.AwareDateTime(required=True)
    on = fields.Date(load_default=None, allow_none=True)
    mail = fields.Email(load_default=None, allow_none=True)
    link = fields.Url()
    count = fields.Integer(validate=validate.Range(min=1, max=5))
    share = fields.Float(validate=validate.Range(0, 1, min_inclusive=False))
    money = fields.Decimal(as_string=True)
    flag = fields.Boolean(required=True)
    kind = fields.String(validate=validate.OneOf(("a", "b")))
    code = fields.String(validate=validate.Regexp(r"^\d{3}$"))
    parties = fields.List(fields.Nested(_Party), validate=validate.Length(max=3))
    secret = fields.String(metadata={"personal": True, "description": "sealed on the bus"})


def test_converter_maps_every_field_kind():
    schema = generate.object_schema(_Everything)
    props = schema["properties"]
    assert schema["required"] == ["id", "at", "flag"]
    assert schema["description"].startswith("A made-up contract")
    assert props["id"] == {"type": "string", "format": "uuid"}
    assert props["at"] == {"type": "string", "format": "date-time"}
    assert props["on"] == {"type": ["string", "null"], "format": "date"}
    assert props["mail"] == {"type": ["string", "null"], "format": "email"}
    assert props["link"] == {"type": "string", "format": "uri"}
    assert props["count"] == {"type": "integer", "minimum": 1, "maximum": 5}
    assert props["share"] == {"type": "number", "exclusiveMinimum": 0, "maximum": 1}
    assert props["money"]["type"] == "string" and props["money"]["pattern"]
    assert props["flag"] == {"type": "boolean"}
    assert props["kind"] == {"type": "string", "enum": ["a", "b"]}
    assert props["code"] == {"type": "string", "pattern": r"^\d{3}$"}
    assert props["parties"]["maxItems"] == 3
    assert props["parties"]["items"]["properties"]["name"] == {"type": "string", "minLength": 1, "maxLength": 10}
    assert props["secret"] == {"type": "string", "description": "sealed on the bus", "x-gridlink-personal": True}


def test_converter_refuses_what_it_does_not_know():
    class Odd(Schema):
        when = fields.TimeDelta()

    with pytest.raises(generate.Unconvertible):
        generate.object_schema(Odd)
