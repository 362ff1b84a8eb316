"""Staff authentication: signed tokens that carry the user, their role and the organisation unit they act for.

A token is `base64url(claims).base64url(HMAC-SHA256(secret, claims))`. Organisation codes nest (district 150302 ⊃
sub-centre 150302001 ⊃ community 150302001001 ⊃ grid 150302001001001), so "may this person see that unit" is a
prefix test. Departments, mediators and volunteers are scoped by their own codes or ids.

    python -m gridlink.runtime.auth issue --user S0001 --role grid_worker --unit 150302001001001 [--hours 8]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import sys
import time
from dataclasses import dataclass

ROLES = (
    "grid_worker",  # a full-time, rural or part-time grid worker, or a grid leader: scoped to one grid
    "community_operator",
    "sub_centre_operator",
    "district_operator",
    "department",  # a functional department: sees only what is assigned to it
    "mediator",
    "volunteer",
    "volunteer_coordinator",
    "admin",
)
DEFAULT_SECRET = "gridlink-local-development-secret-change-me"


class TokenError(ValueError):
    """The token is missing, malformed, forged or expired; the message says which."""


@dataclass(frozen=True)
class Principal:
    user_id: str
    role: str
    unit: str
    expires_at: int

    def covers(self, unit_code: str | None) -> bool:
        """Whether this person's organisation unit contains `unit_code` (a grid, community or sub-centre code)."""
        if self.role == "admin":
            return True
        return bool(unit_code) and unit_code.startswith(self.unit)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_token(secret: str, user_id: str, role: str, unit: str, ttl_seconds: int = 8 * 3600, now=None) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    issued = int(now if now is not None else time.time())
    claims = {"sub": user_id, "role": role, "unit": unit, "iat": issued, "exp": issued + ttl_seconds}
    body = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    signature = _b64(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest())
    return f"{body}.{signature}"


def verify_token(secret: str, token: str, now=None) -> Principal:
    try:
        body, signature = token.split(".")
    except ValueError:
        raise TokenError("the token is not of the form claims.signature") from None
    expected = _b64(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(expected, signature):
        raise TokenError("the token's signature does not match")
    try:
        claims = json.loads(_unb64(body))
        principal = Principal(str(claims["sub"]), str(claims["role"]), str(claims["unit"]), int(claims["exp"]))
    except (ValueError, KeyError, TypeError):
        raise TokenError("the token's claims are unreadable") from None
    if principal.role not in ROLES:
        raise TokenError(f"the token names an unknown role {principal.role!r}")
    if principal.expires_at < (now if now is not None else time.time()):
        raise TokenError("the token has expired")
    return principal


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise TokenError("send a staff token: Authorization: Bearer <token>")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenError("the Authorization header must be 'Bearer <token>'")
    return token.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gridlink.runtime.auth", description="issue a staff token")
    sub = parser.add_subparsers(dest="command", required=True)
    issue = sub.add_parser("issue")
    issue.add_argument("--user", required=True)
    issue.add_argument("--role", required=True, choices=ROLES)
    issue.add_argument("--unit", required=True, help="grid, community, sub-centre or district code; department code")
    issue.add_argument("--hours", type=float, default=8.0)
    args = parser.parse_args(argv)
    secret = os.environ.get("GRIDLINK_AUTH_SECRET", DEFAULT_SECRET)
    print(issue_token(secret, args.user, args.role, args.unit, int(args.hours * 3600)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
