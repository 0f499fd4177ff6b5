"""The domain registry driver: how Havn registers and manages domain names at a registry.

Havn talks to a registry (DK Hostmaster for .dk, over EPP) only through `RegistryDriver`. The
driver is picked by dotted path in ``settings.HAVN_REGISTRY_DRIVER``; the default is the faithful
local registry in `hosting.registry_local`, imported lazily so that ``infra`` never imports an app
at import time. See docs/drivers.md.

Domain names cross this interface in lowercase Unicode form (``æbler.dk``, no trailing dot);
`normalise_domain` makes them so. Every error a driver raises is a `RegistryError` whose message is
safe to show to the customer.
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import idna
from django.conf import settings
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

MAX_YEARS = 10  # a registration never runs more than ten years ahead

# DomainInfo.status values
ACTIVE = "active"
EXPIRED = "expired"


class RegistryError(Exception):
    """The registry refused or failed an operation. ``str(error)`` is safe to show."""


class DomainUnavailable(RegistryError):
    """The name cannot be registered: taken, reserved, invalid or in a TLD we do not sell."""


class DomainNotFound(RegistryError):
    """The name is not registered (or not through us, for operations only its registrar may do)."""


class AuthCodeInvalid(RegistryError):
    """The transfer authorisation code is wrong, used or replaced by a newer one."""


@dataclass(frozen=True)
class Contact:
    """A registrant or payer as the registry knows them. ``country`` is ISO 3166-1 alpha-2."""

    name: str
    organisation: str
    address: str
    postal_code: str
    city: str
    country: str
    email: str
    phone: str
    kind: Literal["person", "company"]
    cvr: str = ""


@dataclass(frozen=True)
class Availability:
    available: bool
    reason: str = ""  # why not, safe to show; empty when available


@dataclass(frozen=True)
class DomainInfo:
    name: str
    status: str  # ACTIVE or EXPIRED
    expires_at: datetime
    name_servers: list[str] = field(default_factory=list)
    ds_records: list[str] = field(default_factory=list)
    privacy: bool = False  # True when whois shows the registrant as anonymous


class RegistryDriver(ABC):
    """One registrar's view of a domain registry. Every method acts at once (no pending state)."""

    @abstractmethod
    def check(self, name: str) -> Availability:
        """Whether ``name`` can be registered now, and if not, why."""

    @abstractmethod
    def register(
        self,
        name: str,
        registrant: Contact,
        payer: Contact,
        years: int,
        name_servers: list[str],
        privacy: bool,
    ) -> DomainInfo:
        """Register ``name`` for ``years`` (1–10) to ``registrant``, billed to ``payer``.

        ``privacy`` asks whois to show a private person as anonymous (a person with name and
        address protection); a company is always shown. Raises `DomainUnavailable`.
        """

    @abstractmethod
    def renew(self, name: str, years: int) -> DomainInfo:
        """Extend the expiry by ``years``; refused when it would end more than 10 years ahead."""

    @abstractmethod
    def info(self, name: str) -> DomainInfo:
        """The registry's current record of ``name``. Raises `DomainNotFound`."""

    @abstractmethod
    def transfer_in(
        self, name: str, auth_code: str, registrant: Contact, payer: Contact
    ) -> DomainInfo:
        """Move ``name`` from another registrar to us with its auth code. Raises `AuthCodeInvalid`.

        The expiry is kept; the code is spent.
        """

    @abstractmethod
    def transfer_out_code(self, name: str) -> str:
        """A fresh auth code for moving ``name`` to another registrar.

        The registry keeps only a hash of it; every older code stops working.
        """

    @abstractmethod
    def release(self, name: str) -> None:
        """Give up ``name``: it is deleted at the registry and can be registered again."""

    @abstractmethod
    def update_contacts(self, name: str, registrant: Contact) -> None:
        """Replace the registrant's contact data (a correction, not a change of owner)."""

    @abstractmethod
    def set_name_servers(self, name: str, ns: list[str]) -> None:
        """Delegate ``name`` to these name servers (host names, at most 13)."""

    @abstractmethod
    def set_ds_records(self, name: str, ds: list[str]) -> None:
        """Publish DNSSEC DS records, each ``"<key tag> <algorithm> <digest type> <hex digest>"``.

        An empty list removes the secure delegation.
        """

    @abstractmethod
    def set_privacy(self, name: str, privacy: bool) -> None:
        """Ask whois to show (False) or hide (True) a private registrant's name and address."""

    @abstractmethod
    def whois(self, name: str) -> str:
        """The public whois text. Never contains the payer, nor a private registrant's identity."""


def normalise_domain(name: str) -> str:
    """``name`` in lowercase Unicode form without a trailing dot; `DomainUnavailable` if invalid."""
    cleaned = name.strip().rstrip(".").lower()
    if not cleaned:
        raise DomainUnavailable(_("Enter a domain name."))
    try:
        return idna.decode(idna.encode(cleaned, uts46=True))
    except (idna.IDNAError, UnicodeError):
        raise DomainUnavailable(
            _("%(name)s is not a valid domain name.") % {"name": cleaned}
        ) from None


def get_driver() -> RegistryDriver:
    """The driver named by ``settings.HAVN_REGISTRY_DRIVER``, imported when first asked for."""
    return import_string(settings.HAVN_REGISTRY_DRIVER)()
