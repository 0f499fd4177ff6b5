"""The ``Havn-Signature`` header: ``t=<unix time>,v1=<hex HMAC-SHA256>`` over ``"<t>.<body>"``
with the endpoint's secret. docs/api.md shows receivers how to verify it."""

import hashlib
import hmac

HEADER = "Havn-Signature"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    mac = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"
