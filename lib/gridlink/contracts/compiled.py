"""Loading a valid payload without marshmallow's per-load machinery, with marshmallow's answers all the same.

`Schema.load` spends about half its time around the fields rather than in them (a closure, an error store and a
dotted-path setter per field, the hook and unknown-field passes per load). For a schema without hooks, each field's
own `deserialize` (its type, `required`, `allow_none`, defaults and validators) is the whole of a load. So a valid
payload is loaded field by field here; the first error hands the payload to `Schema.load` for the full, identical
error report. Every event is loaded at least twice on its way (checked by its publisher, loaded by each consumer).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError
from marshmallow.utils import missing


class CompiledLoad:
    def __init__(self, schema: Schema):
        self.schema = schema
        self._plan = tuple(
            (field.data_key or name, field.attribute or name, field) for name, field in schema.load_fields.items()
        )
        self._keys = frozenset(key for key, _, _ in self._plan)
        self._refuses_unknown = schema.unknown == RAISE
        # What the field-by-field load leaves out: hooks, bulk or partial loads, kept unknown fields, dotted targets.
        self._exact = (
            not any(schema._hooks.values())
            and not schema.many
            and schema.partial is None
            and schema.unknown in (EXCLUDE, RAISE)
            and not any("." in attribute for _, attribute, _ in self._plan)
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
            for key, attribute, field in self._plan:
                value = field.deserialize(data.get(key, missing), key, data)
                if value is not missing:
                    loaded[attribute] = value
        except ValidationError:
            return None
        return loaded
