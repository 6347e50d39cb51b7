"""Signatures of outbound webhooks, as Stripe signs its own.

Header `Haken-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`, keyed
with the endpoint's secret. During a secret rotation the header carries one `v1=` per
secret still valid. A receiver recomputes the HMAC over the raw body it received (before
any JSON parsing), compares in constant time, and refuses a timestamp too far from its own
clock, so a captured delivery cannot be replayed later (the README shows how).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable

SIGNATURE_HEADER = "Haken-Signature"
EVENT_ID_HEADER = "Haken-Event-Id"
SCHEME = "v1"
DEFAULT_TOLERANCE_SECONDS = 300


def signature_of(*, secret: str, body: bytes, timestamp: int) -> str:
    """The hex HMAC-SHA256 of "<timestamp>.<body>" under `secret`."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(*, secrets: Iterable[str], body: bytes, timestamp: int) -> str:
    """`t=<timestamp>,v1=<sig>[,v1=<sig>…]`: one v1 per secret, in the order given."""
    parts = [f"t={timestamp}"]
    parts += [f"{SCHEME}={signature_of(secret=secret, body=body, timestamp=timestamp)}" for secret in secrets]
    return ",".join(parts)


def signature_verify(
    *,
    secret: str,
    body: bytes,
    header: str,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """True when `header` carries a v1 signature of `body` under `secret` and its timestamp
    is within `tolerance` seconds of `now`. Never raises on a malformed header."""
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            try:
                timestamp = int(value)
            except ValueError:
                return False
        elif name == SCHEME:
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        return False
    expected = signature_of(secret=secret, body=body, timestamp=timestamp)
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)
