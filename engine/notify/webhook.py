"""Outbound webhooks: a JSON body signed with the endpoint's secret, posted with a timeout.

The signature follows the convention receivers know from Stripe: a header
`Creditbook-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" under the secret>`.
A receiver recomputes it over the raw body it got, compares in constant time, and refuses a
timestamp older than a few minutes (a replayed request). `Creditbook-Event-Id` carries the event id:
delivery is at least once, so a receiver de-duplicates on it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Final

SIGNATURE_HEADER: Final = "Creditbook-Signature"
EVENT_HEADER: Final = "Creditbook-Event-Id"
TOLERANCE_S: Final = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, header: str, body: bytes, now: float | None = None, tolerance_s: int = TOLERANCE_S) -> bool:
    """A receiver's check: the signature matches the raw body and is recent."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def body(event_id: str, kind: str, clinic_id: str | None, created_at: str, data: dict[str, Any]) -> bytes:
    document = {"id": event_id, "type": kind, "clinic_id": clinic_id, "created_at": created_at, "data": data}
    return json.dumps(document, sort_keys=True, separators=(",", ":"), default=str).encode()


@dataclass(frozen=True)
class Answer:
    ok: bool
    detail: str  # "HTTP 200", "HTTP 500: ...", "timed out", "connection refused"


def post(url: str, secret: str | None, event_id: str, payload: bytes, timeout_s: float = 5.0) -> Answer:
    """POST one signed event; any 2xx is delivered, anything else (or no answer) is a failure."""
    if not url.startswith(("http://", "https://")):
        return Answer(False, f"not an http(s) URL: {url[:80]}")
    headers = {"Content-Type": "application/json", EVENT_HEADER: event_id, "User-Agent": "creditbook-webhooks"}
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret, int(time.time()), payload)
    request = urllib.request.Request(url, data=payload, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return Answer(200 <= response.status < 300, f"HTTP {response.status}")
    except urllib.error.HTTPError as error:
        return Answer(False, f"HTTP {error.code}: {error.read(200).decode(errors='replace')}")
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as error:
        reason = getattr(error, "reason", error)
        return Answer(False, f"no answer: {reason}")
