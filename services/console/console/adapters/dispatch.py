"""dispatch's staff HTTP API, called on behalf of the signed-in person with their own token.

The console never decides a case's fate itself: dispatch authorises the action again with the person's token and
publishes what happened, which comes back to the console over the bus like every other event.
"""

from __future__ import annotations

from dataclasses import dataclass

import requests


@dataclass(frozen=True)
class DispatchAnswer:
    status: int  # 0 when dispatch did not answer
    body: dict


class DispatchClient:
    def __init__(self, base_url: str, timeout: float = 10.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def act(self, case_id: str, action: str, reason: str, token: str) -> DispatchAnswer:
        """POST /cases/{case_id}/{action} with {"reason": …}; dispatch's answer, whatever it is."""
        try:
            response = requests.post(
                f"{self.base_url}/cases/{case_id}/{action}",
                json={"reason": reason},
                headers={"Authorization": f"Bearer {token}"},
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            return DispatchAnswer(0, {"error": {"code": "unreachable", "description": f"dispatch: {exc}"[:300]}})
        try:
            body = response.json()
        except ValueError:
            body = {"text": response.text[:300]}
        return DispatchAnswer(response.status_code, body if isinstance(body, dict) else {"value": body})
