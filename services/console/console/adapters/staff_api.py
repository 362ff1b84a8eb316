"""Another GridLink service's staff HTTP API, called on behalf of the signed-in person with their own token.

The other service authorises the person again, so the console never widens what anyone may see or do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests


@dataclass(frozen=True)
class StaffAnswer:
    status: int  # 0 when the service did not answer
    body: dict


def call(service: str, method: str, url: str, token: str, timeout: float, json: Any = None) -> StaffAnswer:
    """The service's answer, whatever it is; never raises for a refusal or an outage (the page shows either)."""
    try:
        response = requests.request(
            method, url, json=json, headers={"Authorization": f"Bearer {token}"}, timeout=timeout
        )
    except requests.RequestException as exc:
        return StaffAnswer(0, {"error": {"code": "unreachable", "description": f"{service}: {exc}"[:300]}})
    try:
        body = response.json()
    except ValueError:
        body = {"text": response.text[:300]}
    return StaffAnswer(response.status_code, body if isinstance(body, dict) else {"value": body})
