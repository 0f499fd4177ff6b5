"""Registrant identity verification for .dk: the electronic-ID (MitID) check of Danish residents.

A registrant who lives in Denmark proves with MitID that they are who the registration says; the
CPR number links the eID to the person. The CPR number is used only for that one call: a driver
never stores it, logs it, puts it in an exception or returns it (not even hashed: ten digits of
which six are a birth date are easily guessed back from a hash). Non-residents send documents,
which staff review; that needs no driver. The driver is picked by dotted path in
``settings.HAVN_IDENTITY_DRIVER``. See docs/drivers.md.
"""

import logging
import re
import secrets
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)

_CPR = re.compile(r"(\d{2})(\d{2})(\d{2})-?(\d{4})")


@dataclass(frozen=True)
class IdentityResult:
    approved: bool
    reference: str  # the check's id at the provider, for the audit log; never holds the CPR
    reason: str = ""  # why not approved, safe to show; empty when approved


class IdentityDriver(ABC):
    @abstractmethod
    def verify_eid(self, cpr: str, name: str) -> IdentityResult:
        """Check with the person's electronic ID that ``cpr`` belongs to ``name``.

        Must not keep, log or return ``cpr`` in any form.
        """


def birth_date(cpr: str) -> date | None:
    """The birth date in a CPR number (``DDMMYY-XXXX`` or ``DDMMYYXXXX``), or None if invalid.

    The century follows from the seventh digit (the CPR office's rule): 0–3 → 1900s; 4 and 9 →
    2000s for years 00–36, else 1900s; 5–8 → 2000s for years 00–57, else 1800s. The modulus-11
    control is not checked: it was given up in 2007.
    """
    match = _CPR.fullmatch(cpr.strip())
    if not match:
        return None
    day, month, year, serial = (int(part) for part in match.groups())
    seventh = serial // 1000
    if seventh <= 3:
        century = 1900
    elif seventh in (4, 9):
        century = 2000 if year <= 36 else 1900
    else:
        century = 2000 if year <= 57 else 1800
    try:
        return date(century + year, month, day)
    except ValueError:
        return None


class LocalIdentityDriver(IdentityDriver):
    """Stands in for a MitID broker on a machine without one.

    Approves when the CPR number is well formed (a real past date, see `birth_date`) and the name
    is not empty. A CPR number whose last four digits are ``0000`` (e.g. ``010100-0000``) plays a
    person whose eID does not match the registration: it is rejected.
    """

    def verify_eid(self, cpr: str, name: str) -> IdentityResult:
        reference = f"local-{secrets.token_hex(8)}"  # random: never derived from the CPR
        born = birth_date(cpr)
        if born is None or born > timezone.localdate():
            reason = _("The CPR number must be a valid date and four digits: DDMMYY-XXXX.")
        elif not name.strip():
            reason = _("The registrant's name is missing.")
        elif cpr.strip().endswith("0000"):
            reason = _("The electronic ID did not match the registrant.")
        else:
            reason = ""
        logger.info("eID check %s: %s", reference, "approved" if not reason else "rejected")
        return IdentityResult(approved=not reason, reference=reference, reason=reason)


def get_identity_driver() -> IdentityDriver:
    """The driver named by ``settings.HAVN_IDENTITY_DRIVER`` (default: the local one)."""
    return import_string(settings.HAVN_IDENTITY_DRIVER)()
