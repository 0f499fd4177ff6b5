"""The payment-provider driver: how a customer pays an invoice by card or mobile payment.

Havn never sees, stores or logs card data: the customer pays on the provider's own page, and the
provider tells Havn that the invoice is paid. Through `PaymentDriver` Havn asks for that page
(`start_payment`) and checks the provider's confirmation (`confirm`). The driver is picked by
dotted path in ``settings.HAVN_PAYMENT_DRIVER``; the default is `LocalPaymentDriver`, a stand-in
whose "payment page" is a page of Havn's own that approves the payment without asking for
anything. See docs/billing.md.

Amounts are integer øre (1 kr. = 100 øre). Every error a driver raises is a `PaymentError` whose
message is safe to show to the customer.
"""

import secrets
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _


class PaymentError(Exception):
    """The provider refused or could not confirm a payment. ``str(error)`` is safe to show."""


@dataclass(frozen=True)
class PaymentRequest:
    """What the provider needs to take a payment for one invoice."""

    invoice_id: int
    number: str  # the invoice number, shown to the payer
    amount: int  # øre, VAT included
    currency: str  # ISO 4217, "DKK"
    return_url: str  # where the provider sends the browser afterwards


@dataclass(frozen=True)
class PaymentRedirect:
    """Send the customer's browser to ``url``; ``provider_reference`` names the payment there."""

    url: str
    provider_reference: str


@dataclass(frozen=True)
class PaymentConfirmation:
    """A payment the provider vouches for: this much was paid for this invoice."""

    invoice_id: int
    amount: int
    currency: str
    provider_reference: str


class PaymentDriver(ABC):
    @abstractmethod
    def start_payment(self, request: PaymentRequest) -> PaymentRedirect:
        """Open a payment at the provider and return where to send the customer to pay it."""

    @abstractmethod
    def confirm(self, payload: Mapping[str, str]) -> PaymentConfirmation:
        """Check a confirmation from the provider (its callback's parameters, or what its page
        sent back) and return what was paid. Raises `PaymentError` for anything not genuine,
        expired or unpaid. The same confirmation may arrive more than once."""


class LocalPaymentDriver(PaymentDriver):
    """A stand-in provider for the zero-setup run, the suite and staging: its payment page
    (``accounts:payment_local``) approves the payment with one button. The payment is a signed,
    expiring token, so it cannot be forged, altered or confirmed after ``MAX_AGE`` seconds."""

    SALT = "havn.payments.local"
    MAX_AGE = 60 * 60

    def start_payment(self, request: PaymentRequest) -> PaymentRedirect:
        reference = f"local-{secrets.token_hex(8)}"
        token = signing.dumps(
            {
                "invoice": request.invoice_id,
                "number": request.number,
                "amount": request.amount,
                "currency": request.currency,
                "reference": reference,
                "return": request.return_url,
            },
            salt=self.SALT,
        )
        return PaymentRedirect(reverse("accounts:payment_local", args=[token]), reference)

    def payment(self, token: str) -> dict:
        """The payment a token stands for (for the local payment page)."""
        try:
            return signing.loads(token, salt=self.SALT, max_age=self.MAX_AGE)
        except signing.SignatureExpired:
            raise PaymentError(_("This payment has expired. Start it again.")) from None
        except signing.BadSignature:
            raise PaymentError(_("This is not a valid payment.")) from None

    def confirm(self, payload: Mapping[str, str]) -> PaymentConfirmation:
        payment = self.payment(payload.get("token", ""))
        return PaymentConfirmation(
            invoice_id=payment["invoice"],
            amount=payment["amount"],
            currency=payment["currency"],
            provider_reference=payment["reference"],
        )


def get_payment_driver() -> PaymentDriver:
    """The driver named by ``settings.HAVN_PAYMENT_DRIVER``, imported when first asked for."""
    return import_string(settings.HAVN_PAYMENT_DRIVER)()
