"""Where a webhook may go: http(s) URLs whose host resolves only to public addresses.

A delivery connects to the address checked here, not to a second lookup of the name, so a name
that changes its answer between the check and the request (DNS rebinding) cannot reach the
internal network. ``HAVN_WEBHOOK_ALLOW_PRIVATE`` lifts the check (the suite's local receiver).
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # with the query
    address: str  # the IP address to connect to


def parse(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path) of an http(s) URL, or ValidationError."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValidationError({"url": _("Enter a valid URL.")}) from None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValidationError({"url": _("A webhook URL must start with http:// or https://.")})
    if parts.username or parts.password:
        raise ValidationError({"url": _("A webhook URL cannot hold a user name or password.")})
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), path


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def resolve(url: str) -> Target:
    """Check the URL and pick the address to send to; ValidationError says why not."""
    scheme, host, port, path = parse(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise ValidationError({"url": _("The host %s cannot be found.") % host}) from None
    addresses = [info[4][0] for info in infos]
    if not settings.HAVN_WEBHOOK_ALLOW_PRIVATE and not all(map(is_public, addresses)):
        raise ValidationError({"url": _("The host %s is on a private or local network.") % host})
    return Target(scheme, host, port, path, addresses[0])
