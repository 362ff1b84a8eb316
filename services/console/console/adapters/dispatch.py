"""dispatch's staff HTTP API: supervise or escalate a case, called with the signed-in person's own token.

The console never decides a case's fate itself: dispatch authorises the action again with the person's token and
publishes what happened, which comes back to the console over the bus like every other event.
"""

from __future__ import annotations

from console.adapters.staff_api import StaffAnswer, call, pooled


class DispatchClient:
    def __init__(self, base_url: str, timeout: float = 10.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = pooled()

    def act(self, case_id: str, action: str, reason: str, token: str) -> StaffAnswer:
        """POST /cases/{case_id}/{action} with {"reason": …}; dispatch's answer, whatever it is."""
        url = f"{self.base_url}/cases/{case_id}/{action}"
        return call(self.session, "dispatch", "POST", url, token, self.timeout, json={"reason": reason})
