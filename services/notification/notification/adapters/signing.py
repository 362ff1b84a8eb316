"""The request signatures of the SMS vendors' APIs: Aliyun's V3 (ACS3-HMAC-SHA256) and Tencent Cloud's TC3-HMAC-SHA256.

Both sign a canonical form of the request (method, path, query, the signed headers and the body's SHA-256) with
HMAC-SHA256; the vendor rebuilds it from what it received and refuses the request when the signatures differ.
Each function returns every header the request must carry, Authorization included. `tests/unit/
test_notification_signing.py` checks both against the examples the vendors publish.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def percent_encode(value: str) -> str:
    """RFC 3986, as both vendors canonicalise: everything but letters, digits and `-_.~` is %XX (UTF-8)."""
    return quote(value, safe="-_.~")


def canonical_query(query: Mapping[str, str]) -> str:
    return "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(query.items()))


def aliyun_v3_headers(
    *,
    access_key_id: str,
    access_key_secret: str,
    host: str,
    action: str,
    version: str,
    query: Mapping[str, str],
    body: bytes,
    now: datetime,
    nonce: str,
    method: str = "POST",
    path: str = "/",
) -> dict[str, str]:
    """Aliyun OpenAPI signature V3; an RPC-style action (SendSms) carries its parameters in `query`."""
    headers = {
        "host": host,
        "x-acs-action": action,
        "x-acs-content-sha256": _sha256_hex(body),
        "x-acs-date": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "x-acs-signature-nonce": nonce,
        "x-acs-version": version,
    }
    signed = sorted(headers)
    canonical = "\n".join(
        [
            method,
            path,
            canonical_query(query),
            "".join(f"{name}:{headers[name].strip()}\n" for name in signed),
            ";".join(signed),
            headers["x-acs-content-sha256"],
        ]
    )
    string_to_sign = f"ACS3-HMAC-SHA256\n{_sha256_hex(canonical.encode('utf-8'))}"
    signature = hmac.new(access_key_secret.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = (
        f"ACS3-HMAC-SHA256 Credential={access_key_id},SignedHeaders={';'.join(signed)},Signature={signature}"
    )
    return headers


TENCENT_CONTENT_TYPE = "application/json; charset=utf-8"


def tencent_tc3_headers(
    *,
    secret_id: str,
    secret_key: str,
    host: str,
    service: str,
    action: str,
    version: str,
    region: str,
    body: bytes,
    timestamp: int,
) -> dict[str, str]:
    """Tencent Cloud API 3.0 signature (TC3-HMAC-SHA256) of a JSON POST, signing `content-type` and `host`."""
    canonical = "\n".join(
        ["POST", "/", "", f"content-type:{TENCENT_CONTENT_TYPE}\nhost:{host}\n", "content-type;host", _sha256_hex(body)]
    )
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    scope = f"{date}/{service}/tc3_request"
    string_to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{_sha256_hex(canonical.encode('utf-8'))}"
    key = _hmac(_hmac(_hmac(f"TC3{secret_key}".encode(), date), service), "tc3_request")
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    return {
        "Authorization": (
            f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, SignedHeaders=content-type;host, Signature={signature}"
        ),
        "Content-Type": TENCENT_CONTENT_TYPE,
        "Host": host,
        "X-TC-Action": action,
        "X-TC-Timestamp": str(timestamp),
        "X-TC-Version": version,
        "X-TC-Region": region,
    }
