"""Field shapes that several contracts share, so each is defined once."""

from marshmallow import fields, validate

GRID_CODE = validate.Regexp(r"^\d{15}$", error="a grid code is 15 digits")


def grid_code(**kwargs) -> fields.String:
    return fields.String(validate=GRID_CODE, **kwargs)


def identifier(**kwargs) -> fields.String:
    return fields.String(validate=validate.Length(min=1, max=64), **kwargs)


def masked_phone(**kwargs) -> fields.String:
    """Personal data stays in intake: events carry only the masked number (e.g. 139****1234)."""
    return fields.String(validate=validate.Regexp(r"^[0-9]{0,4}\*{3,}[0-9]{0,4}$"), **kwargs)


# Marks a field as personal data: the runtime seals it on the wire (gridlink.runtime.personal).
PERSONAL = {"personal": True}

URGENCIES = ("low", "normal", "high", "critical")
CATEGORY_KINDS = ("general", "dispute", "volunteer")
