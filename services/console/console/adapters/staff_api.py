"""Another GridLink service's staff HTTP API, called on behalf of the signed-in person with their own token.

The other service authorises the person again, so the console never widens what anyone may see or do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry


@dataclass(frozen=True)
class StaffAnswer:
    status: int  # 0 when the service did not answer
    body: dict


# Connections kept open to one service: the console's workers (MAX_WORKERS, 10) rarely call it all at once.
POOL_SIZE = 4


def pooled() -> requests.Session:
    """An HTTP session whose connections to the service are kept open and reused by every worker of the process:
    a new connection per call cost a TCP handshake on each case page (and a TIME_WAIT socket after it)."""
    session = requests.Session()
    # A kept connection the service closed is found closed before it is used (urllib3 checks) and opened again. One
    # more try only where nothing was sent (connect=1); none after a timeout (read=0): the page already waited once.
    retry = Retry(total=1, connect=1, read=0, status=0, other=0, backoff_factor=0)
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=POOL_SIZE, max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def call(
    session: requests.Session, service: str, method: str, url: str, token: str, timeout: float, json: Any = None
) -> StaffAnswer:
    """The service's answer, whatever it is; never raises for a refusal or an outage (the page shows either)."""
    try:
        response = session.request(
            method, url, json=json, headers={"Authorization": f"Bearer {token}"}, timeout=timeout
        )
    except requests.RequestException as exc:
        return StaffAnswer(0, {"error": {"code": "unreachable", "description": f"{service}: {exc}"[:300]}})
    try:
        body = response.json()
    except ValueError:
        body = {"text": response.text[:300]}
    return StaffAnswer(response.status_code, body if isinstance(body, dict) else {"value": body})
