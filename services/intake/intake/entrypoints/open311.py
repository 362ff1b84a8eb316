"""Open311 GeoReport v2 on the wire: XML and JSON bodies, the form-encoded POST, query filters, and the
specification's error bodies. Translation only; the rules live in the domain and the handlers."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta, timezone
from xml.etree import ElementTree

from marshmallow import ValidationError
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response

from gridlink.runtime.entrypoints import ApiError, HttpEntrypoint, NotFound, json_response
from intake.adapters.repository import RequestQuery
from intake.domain.errors import InvalidAttributes
from intake.domain.model import Report, redact_personal
from intake.domain.open311 import MAX_RANGE_DAYS
from intake.domain.placement import IntakeReference

FORMATS = ("json", "xml")
BEIJING = timezone(timedelta(hours=8))
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
MAX_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE = 50


class TooLarge(ApiError):
    status = 413
    code = "too_large"


class TooManyRequests(ApiError):
    status = 429
    code = "rate_limited"


class IntakeHttp(HttpEntrypoint):
    """intake's HTTP entrypoint: bodies over the limit are refused (413) before they are read."""

    max_body_bytes = 64 * 1024

    def setup(self):
        super().setup()
        limit = self.container.config["GRIDLINK"].extra.get("INTAKE_MAX_BODY_BYTES")
        if limit:
            self.max_body_bytes = int(limit)
        self.expected_exceptions = (*self.expected_exceptions, RequestEntityTooLarge)

    def handle_request(self, request):
        request.max_content_length = self.max_body_bytes
        return super().handle_request(request)

    def response_from_exception(self, exc):
        if isinstance(exc, RequestEntityTooLarge):
            exc = TooLarge(f"the request body is larger than {self.max_body_bytes} bytes")
        return super().response_from_exception(exc)


class Open311Http(IntakeHttp):
    """Errors in the specification's shape and in the format the path asked for:
    `[{"code": 400, "description": "..."}]` or `<errors><error><code/><description/></error></errors>`."""

    def setup(self):
        super().setup()
        self._local = threading.local()  # green-local under eventlet: one request per green thread

    def handle_request(self, request):
        self._local.fmt = "xml" if request.path.endswith(".xml") else "json"
        return super().handle_request(request)

    def response_from_exception(self, exc):
        if isinstance(exc, RequestEntityTooLarge):
            exc = TooLarge(f"the request body is larger than {self.max_body_bytes} bytes")
        errors = _open311_errors(exc, self.error_map)
        if errors is None:
            return super().response_from_exception(exc)
        status = errors[0]["code"]
        return render(getattr(self._local, "fmt", "json"), "errors", errors, status)


def _open311_errors(exc, error_map) -> list[dict] | None:
    if isinstance(exc, InvalidAttributes):
        return [{"code": 400, "description": f"{k}: {v}"} for k, v in exc.errors.items()]
    if isinstance(exc, ValidationError):
        return [{"code": 400, "description": f"{k}: {_flat(v)}"} for k, v in _fields(exc.messages)]
    if not isinstance(exc, ApiError):
        kind = next((api for known, api in error_map.items() if isinstance(exc, known)), None)
        if kind is None:
            return None
        exc = kind(str(exc))
    # the specification knows 404, 403 and 400; HTTP's own 413 and 429 keep their meaning
    status = exc.status if exc.status in (403, 404, 413, 429) else 400
    if exc.details:
        return [{"code": status, "description": f"{k}: {_flat(v)}"} for k, v in _fields(exc.details)]
    return [{"code": status, "description": exc.description}]


def _fields(messages) -> list[tuple[str, object]]:
    return sorted(messages.items()) if isinstance(messages, dict) else [("request", messages)]


def _flat(value) -> str:
    if isinstance(value, list):
        return " ".join(_flat(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_flat(v)}" for k, v in value.items())
    return str(value)


# Rendering


_ITEM_NAMES = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
    "service_request_updates": "request_update",
}


def render(fmt: str, root: str, payload, status: int = 200, headers: dict | None = None) -> Response:
    if fmt == "json":
        return json_response(payload, status, headers)
    element = ElementTree.Element(root)
    _fill(element, root, payload)
    body = ElementTree.tostring(element, encoding="unicode")
    return Response(
        '<?xml version="1.0" encoding="utf-8"?>\n' + body,
        status=status,
        headers=headers or {},
        content_type="text/xml; charset=utf-8",
    )


def _fill(element: ElementTree.Element, name: str, value) -> None:
    if isinstance(value, list):
        for item in value:
            _fill(ElementTree.SubElement(element, _ITEM_NAMES.get(name, "item")), "", item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _fill(ElementTree.SubElement(element, key), key, item)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = str(value)


# Views: nothing here shows a reporter's name, phone, e-mail or account


def iso(moment: datetime | None) -> str | None:
    return moment.astimezone(BEIJING).isoformat(timespec="seconds") if moment else None


def service_view(ref: IntakeReference, code: str) -> dict:
    category = ref.categories[code]
    group = ref.group_of(code)
    keywords = ref.rules.keywords.get(code, ())
    return {
        "service_code": code,
        "service_name": category.name,
        "description": category.description,
        "metadata": bool(ref.attributes.get(code)),
        "type": "realtime",
        "keywords": ",".join(keywords[:8]) or None,
        "group": group.name if group else None,
    }


def definition_view(ref: IntakeReference, code: str) -> dict:
    attributes = []
    for a in ref.attributes.get(code, []):
        item = {
            "variable": a.variable,
            "code": a.code,
            "datatype": a.datatype,
            "required": a.required,
            "datatype_description": a.datatype_description,
            "order": a.order,
            "description": a.description,
        }
        if a.values:
            item["values"] = [{"key": k, "name": n} for k, n in a.values]
        attributes.append(item)
    return {"service_code": code, "attributes": attributes}


def request_view(ref: IntakeReference, report: Report) -> dict:
    category = ref.categories.get(report.category_code)
    p = report.placement
    notice = f"{report.co_reporters} 位居民也反映了此问题" if report.co_reporters else None
    return {
        "service_request_id": report.report_id,
        "token": report.tracking_code,
        "status": report.public_status,
        "status_notes": report.status_notes,
        "service_name": category.name if category else None,
        "service_code": report.category_code,
        "description": redact_personal(report.description),
        "agency_responsible": ref.unit_name(report.agency_unit) if report.agency_unit else None,
        "service_notice": notice,
        "requested_datetime": iso(report.submitted_at),
        "updated_datetime": iso(report.updated_at or report.submitted_at),
        "expected_datetime": iso(report.expected_at),
        "address": p.address,
        "address_id": p.address_id,
        "zipcode": "016000",
        "lat": p.lat,
        "long": p.long,
        "media_url": report.media_urls[0] if report.media_urls else None,
    }


def update_view(row: dict) -> dict:
    return {
        "update_id": row["update_id"],
        "service_request_id": row["report_id"],
        "status": row["status"],
        "updated_datetime": iso(row["updated_at"]),
        "description": row["description"],
        "media_url": None,
    }


def discovery_view(ref: IntakeReference, base_url: str) -> dict:
    meta = ref.open311
    return {
        "changeset": meta.get("changeset"),
        "contact": meta.get("contact"),
        "key_service": meta.get("key_service"),
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": base_url,
                "changeset": meta.get("changeset"),
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }


# Parsing


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise NotFound(f"unknown format {fmt!r}; use .json or .xml")
    return fmt


def check_jurisdiction(ref: IntakeReference, values) -> None:
    given = values.get("jurisdiction_id")
    if given and given != ref.open311.get("jurisdiction_id"):
        raise NotFound(f"unknown jurisdiction_id {given!r}; this endpoint serves {ref.open311.get('jurisdiction_id')}")


_ATTRIBUTE = re.compile(r"^attribute\[([A-Za-z0-9_-]{1,64})\](\[\])?$")
_POST_FIELDS = {
    "api_key",
    "jurisdiction_id",
    "service_code",
    "lat",
    "long",
    "address_string",
    "address_id",
    "email",
    "device_id",
    "account_id",
    "first_name",
    "last_name",
    "phone",
    "description",
    "media_url",
}


def parse_post(form) -> dict:
    """The form of POST requests, checked field by field; attribute[code] and attribute[code][] collected."""
    errors: dict[str, str] = {}
    data = {name: (form.get(name) or "").strip() or None for name in _POST_FIELDS}
    attributes: dict[str, list[str]] = {}
    for name in form:
        match = _ATTRIBUTE.match(name)
        if match:
            attributes.setdefault(match.group(1), []).extend(form.getlist(name))
        elif name not in _POST_FIELDS:
            errors[name] = "unknown field"
    if not data["service_code"]:
        errors["service_code"] = "is required"
    for name in ("lat", "long"):
        if data[name] is not None:
            try:
                data[name] = float(data[name])
            except ValueError:
                errors[name] = f"{data[name]!r} is not a number"
    if (data["lat"] is None) != (data["long"] is None):
        errors["lat"] = "lat and long go together"
    elif data["lat"] is None and not (data["address_string"] or data["address_id"]):
        errors["location"] = "give lat and long, an address_string, or an address_id"
    if isinstance(data["lat"], float) and not -90 <= data["lat"] <= 90:
        errors["lat"] = "must be between -90 and 90"
    if isinstance(data["long"], float) and not -180 <= data["long"] <= 180:
        errors["long"] = "must be between -180 and 180"
    if data["description"] and len(data["description"]) > 4000:
        errors["description"] = "at most 4000 characters"
    if data["address_string"] and len(data["address_string"]) > 200:
        errors["address_string"] = "at most 200 characters"
    if data["email"] and not re.fullmatch(r"[^@\s]{1,64}@[^@\s]{1,190}\.[A-Za-z]{2,}", data["email"]):
        errors["email"] = "is not an e-mail address"
    if data["phone"] and not re.fullmatch(r"\+?[0-9][0-9 -]{5,19}", data["phone"]):
        errors["phone"] = "is not a phone number"
    if data["media_url"] and not re.fullmatch(r"https?://[^\s]{1,490}", data["media_url"]):
        errors["media_url"] = "must be an http(s) URL"
    if len(attributes) > 50:
        errors["attribute"] = "too many attributes"
    if errors:
        raise ValidationError(errors)
    data["attributes"] = attributes
    return data


def _when(values, name: str) -> datetime | None:
    raw = values.get(name)
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError({name: f"{raw!r} is not an ISO 8601 date-time"}) from None
    if moment.tzinfo is None:
        raise ValidationError({name: f"{raw!r} needs a time zone"})
    return moment.astimezone(UTC)


def _positive(values, name: str, default: int, maximum: int) -> int:
    raw = values.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise ValidationError({name: f"must be a whole number from 1 to {maximum}"})
    return int(raw)


def id_list(values, name: str) -> tuple[str, ...]:
    raw = values.get(name) or ""
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def page_of(values) -> tuple[int, int]:
    return _positive(values, "page", 1, 100_000), _positive(values, "page_size", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def date_range(values, now: datetime) -> tuple[datetime, datetime]:
    """start_date and end_date at most 90 days apart; either alone extends 90 days; neither means the last 90."""
    start, end = _when(values, "start_date"), _when(values, "end_date")
    span = timedelta(days=MAX_RANGE_DAYS)
    if start and end:
        if end < start:
            raise ValidationError({"end_date": "is before start_date"})
        if end - start > span:
            raise ValidationError({"end_date": f"at most {MAX_RANGE_DAYS} days after start_date"})
    elif start:
        end = start + span
    elif end:
        start = end - span
    else:
        start, end = now - span, now
    return start, end


def request_query(values, now: datetime) -> RequestQuery:
    page, page_size = page_of(values)
    ids = id_list(values, "service_request_id")
    if ids:
        return RequestQuery(ids=ids, page=page, page_size=page_size)
    statuses = id_list(values, "status")
    wrong = [s for s in statuses if s not in ("open", "closed")]
    if wrong:
        raise ValidationError({"status": f"{', '.join(wrong)}: status is open or closed"})
    start, end = date_range(values, now)
    return RequestQuery(
        service_codes=id_list(values, "service_code"),
        statuses=statuses,
        start=start,
        end=end,
        page=page,
        page_size=page_size,
    )
