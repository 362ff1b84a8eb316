"""Personal data on the bus travels sealed: fields a contract marks `personal` are encrypted (Fernet: AES-128-CBC
with HMAC-SHA256) by the publisher's outbox and opened by the consumer before validation, so neither the broker, a
dead-letter queue nor a log line ever holds a resident's name or phone number in the clear.

Handlers never see the difference: they publish and receive plain values. Only services holding the key
(`GRIDLINK_PII_KEY`, a Kubernetes Secret in production) can open them.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from gridlink.contracts import InvalidEvent, contract_for

PREFIX = "sealed:v1:"


@functools.lru_cache(maxsize=4)
def fernet(key: str) -> Fernet:
    """Any passphrase becomes a Fernet key, so operators can set an ordinary secret string. Made once a key: every
    event with personal fields needs it, and a service holds one key."""
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest()))


def personal_fields(event_type: str, version: int) -> list[str]:
    schema = contract_for(event_type, version).schema
    return [name for name, field in schema._declared_fields.items() if field.metadata.get("personal")]


def seal_payload(event_type: str, version: int, payload: dict[str, Any], key: str) -> dict[str, Any]:
    names = personal_fields(event_type, version)
    if not names:
        return payload
    box = fernet(key)
    sealed = dict(payload)
    for name in names:
        if sealed.get(name) is not None:
            sealed[name] = PREFIX + box.encrypt(json.dumps(sealed[name], ensure_ascii=False).encode()).decode()
    return sealed


def open_body(body: Any, key: str) -> Any:
    """Open the sealed fields of a received wire body in place of validation; leaves other bodies untouched."""
    if not isinstance(body, dict) or not isinstance(body.get("payload"), dict):
        return body
    payload = body["payload"]
    if not any(isinstance(v, str) and v.startswith(PREFIX) for v in payload.values()):
        return body
    box = fernet(key)
    opened = dict(payload)
    for name, value in payload.items():
        if isinstance(value, str) and value.startswith(PREFIX):
            try:
                opened[name] = json.loads(box.decrypt(value[len(PREFIX) :].encode()))
            except (InvalidToken, ValueError):
                raise InvalidEvent(f"field {name!r} is sealed with a key this service does not hold") from None
    return {**body, "payload": opened}
