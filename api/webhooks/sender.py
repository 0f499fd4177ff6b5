"""One HTTP POST of a delivery, to the address api.webhooks.addresses checked."""

import time
from dataclasses import dataclass

import urllib3
from django.conf import settings

from api.webhooks.addresses import Target

RESPONSE_EXCERPT = 2000  # characters of the receiver's answer kept in the log
USER_AGENT = "Havn-Webhooks/1"


@dataclass(frozen=True)
class Result:
    status: int | None
    body: str
    latency_ms: int
    error: str

    @property
    def accepted(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def post(target: Target, body: bytes, headers: dict[str, str]) -> Result:
    """POST ``body``; never follows redirects (they could lead anywhere) and never raises for
    what the network or the receiver does."""
    timeout = urllib3.Timeout(
        connect=settings.HAVN_WEBHOOK_TIMEOUT_SECONDS, read=settings.HAVN_WEBHOOK_TIMEOUT_SECONDS
    )
    default_port = 443 if target.scheme == "https" else 80
    host_header = target.host if target.port == default_port else f"{target.host}:{target.port}"
    if target.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            target.address,
            target.port,
            timeout=timeout,
            retries=False,
            server_hostname=target.host,
            assert_hostname=target.host,
        )
    else:
        pool = urllib3.HTTPConnectionPool(
            target.address, target.port, timeout=timeout, retries=False
        )
    headers = {
        **headers,
        "Host": host_header,
        "User-Agent": USER_AGENT,
        "Content-Type": "application/json",
    }
    started = time.monotonic()
    try:
        with pool:
            response = pool.urlopen(
                "POST",
                target.path,
                body=body,
                headers=headers,
                redirect=False,
                preload_content=False,
            )
            try:
                excerpt = response.read(RESPONSE_EXCERPT).decode(errors="replace")
            finally:
                response.release_conn()
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        return Result(None, "", _elapsed(started), f"{type(exc).__name__}: {exc}"[:500])
    return Result(response.status, excerpt, _elapsed(started), "")


def _elapsed(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
