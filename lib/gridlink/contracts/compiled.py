"""Loading a valid payload without marshmallow's per-load machinery, with marshmallow's answers all the same.

`Schema.load` spends about half its time around the fields rather than in them (a closure, an error store and a
dotted-path setter per field, the hook and unknown-field passes per load). For a schema without hooks, each field's
own `deserialize` (its type, `required`, `allow_none`, defaults and validators) is the whole of a load. So a valid
payload is loaded field by field here; the first error hands the payload to `Schema.load` for the full, identical
error report. Every event is loaded at least twice on its way (checked by its publisher, loaded by each consumer).

Each field's `deserialize` is itself a wrapper (the missing and null checks, per-field hooks, and validators run
through an `And` built anew on every call) around the type's `_deserialize`. For a value that is present and not
null, on a field without per-field hooks, the wrapper comes down to `_deserialize` and then each validator, which is
what a field's loader here calls; a string that is already a `str` is its own value. A profile of a backlog drain
showed these wrappers holding most of the contract loading's time (about 65 field loads a report in notification).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields
from marshmallow.utils import missing

# Loads a present, non-null value of one field: `loader(value, key, data)`.
FieldLoader = Callable[[Any, str, Mapping], Any]


def field_loader(field: fields.Field) -> FieldLoader:
    """What `field.deserialize` does for a value that is present and not null, without its wrapper."""
    if field.pre_load or field.post_load:
        return field.deserialize
    validators = tuple(field.validators)
    convert = field._deserialize
    if type(field) is fields.String:  # its `_deserialize` returns a `str` as it is

        def convert(value, key, data, _general=field._deserialize):
            return value if type(value) is str else _general(value, key, data)

    if not validators:
        return convert

    def load(value, key, data):
        value = convert(value, key, data)
        for validator in validators:
            validator(value)
        return value

    return load


class CompiledLoad:
    def __init__(self, schema: Schema):
        self.schema = schema
        self._plan = tuple(
            (field.data_key or name, field.attribute or name, field, field_loader(field))
            for name, field in schema.load_fields.items()
        )
        self._keys = frozenset(key for key, _, _, _ in self._plan)
        self._refuses_unknown = schema.unknown == RAISE
        # What the field-by-field load leaves out: hooks, bulk or partial loads, kept unknown fields, dotted targets.
        self._exact = (
            not any(schema._hooks.values())
            and not schema.many
            and schema.partial is None
            and schema.unknown in (EXCLUDE, RAISE)
            and not any("." in attribute for _, attribute, _, _ in self._plan)
        )

    def load(self, data: Any) -> dict[str, Any]:
        """What `Schema.load` gives, or its ValidationError."""
        loaded = self._valid(data)
        return self.schema.load(data) if loaded is None else loaded

    def validate(self, data: Any) -> dict:
        """What `Schema.validate` gives: the errors, empty when there are none."""
        return {} if self._valid(data) is not None else self.schema.validate(data)

    def _valid(self, data: Any) -> dict[str, Any] | None:
        """The loaded payload, or None when it holds an error (or the schema needs marshmallow's own load)."""
        if not self._exact or not isinstance(data, Mapping):
            return None
        if self._refuses_unknown and not self._keys.issuperset(data):
            return None
        loaded = {}
        try:
            for key, attribute, field, load in self._plan:
                value = data.get(key, missing)
                # Absent or null: `deserialize` applies `required`, `allow_none` and the default.
                value = (
                    field.deserialize(value, key, data) if value is missing or value is None else load(value, key, data)
                )
                if value is not missing:
                    loaded[attribute] = value
        except ValidationError:
            return None
        return loaded
