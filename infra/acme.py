"""TLS certificates for customers' sites: the ACME driver and the key/CSR helpers.

Havn makes the private key and the CSR itself (`new_key_and_csr`); the driver turns the CSR into a
certificate (`AcmeDriver.issue`). In production that is Let's Encrypt over ACME; the default is
`LocalCaDriver`, a throw-away CA under ``VAR_DIR/acme-ca``. The driver is picked by dotted path in
``settings.HAVN_ACME_DRIVER``. See docs/drivers.md.
"""

import fcntl
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import idna
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.conf import settings
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

LIFETIME = timedelta(days=90)


class AcmeError(Exception):
    """The CA refused the order. ``str(error)`` is safe to show."""


@dataclass(frozen=True)
class IssuedCertificate:
    fullchain_pem: bytes  # the leaf first, then the chain up to (for the local CA: including) root
    not_after: datetime  # aware, UTC
    serial: int
    fingerprint_sha256: str  # lowercase hex of the leaf's DER


class AcmeDriver(ABC):
    @abstractmethod
    def issue(self, domains: list[str], csr_pem: bytes) -> IssuedCertificate:
        """A certificate for exactly ``domains`` (the CSR must name the same); `AcmeError` if not.

        The driver proves control of each name (ACME challenges) before the CA signs.
        """


def _ascii(domain: str) -> str:
    """A host name (``*.`` allowed) as lowercase A-labels, as certificates spell it."""
    wildcard = domain.strip().lower().startswith("*.")
    rest = domain.strip().rstrip(".").lower().removeprefix("*.")
    try:
        name = idna.encode(rest, uts46=True).decode()
    except idna.IDNAError:
        raise AcmeError(_("%(name)s is not a valid domain name.") % {"name": domain}) from None
    return f"*.{name}" if wildcard else name


def new_key_and_csr(domains: list[str]) -> tuple[bytes, bytes]:
    """A fresh ECDSA P-256 key (PKCS#8 PEM, unencrypted) and a CSR for ``domains`` (SAN)."""
    names = list(dict.fromkeys(_ascii(domain) for domain in domains))
    if not names:
        raise AcmeError(_("A certificate needs at least one domain."))
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return key_pem, csr.public_bytes(serialization.Encoding.PEM)


RENEW_BEFORE = timedelta(days=30)


def needs_renewal(not_after: datetime, now: datetime | None = None) -> bool:
    """Whether a certificate ending at ``not_after`` is within RENEW_BEFORE of its end."""
    return not_after - (now or datetime.now(UTC)) <= RENEW_BEFORE


class LocalCaDriver(AcmeDriver):
    """A throw-away CA: a self-signed root made on first use in ``ca_dir`` (key mode 0600).

    It signs any well-formed CSR for 90 days without challenges. Browsers do not trust it; it
    stands in for Let's Encrypt on machines that cannot be reached from the internet.
    """

    def __init__(self, ca_dir: Path | str | None = None):
        self.ca_dir = Path(ca_dir) if ca_dir else Path(settings.VAR_DIR) / "acme-ca"

    def issue(self, domains: list[str], csr_pem: bytes) -> IssuedCertificate:
        names = list(dict.fromkeys(_ascii(domain) for domain in domains))
        try:
            csr = x509.load_pem_x509_csr(csr_pem)
            requested = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        except (ValueError, x509.ExtensionNotFound):
            raise AcmeError(_("The certificate request is not valid.")) from None
        if not names or not csr.is_signature_valid:
            raise AcmeError(_("The certificate request is not valid."))
        if set(requested.value.get_values_for_type(x509.DNSName)) != set(names):
            raise AcmeError(_("The certificate request does not name the same domains."))
        ca_key, ca_cert = self._ca()
        now = datetime.now(UTC).replace(microsecond=0)
        leaf = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca_cert.subject)
            .public_key(csr.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1))  # like Let's Encrypt: allow clock skew
            .not_valid_after(now + LIFETIME)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
            .add_extension(_key_usage(ca=False), True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(csr.public_key()), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
            )
            .sign(ca_key, hashes.SHA256())
        )
        pem = serialization.Encoding.PEM
        return IssuedCertificate(
            fullchain_pem=leaf.public_bytes(pem) + ca_cert.public_bytes(pem),
            not_after=leaf.not_valid_after_utc,
            serial=leaf.serial_number,
            fingerprint_sha256=leaf.fingerprint(hashes.SHA256()).hex(),
        )

    @property
    def ca_cert_path(self) -> Path:
        return self.ca_dir / "ca.pem"

    def _ca(self) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        """The CA key and root, made once; a lock keeps concurrent first uses from racing."""
        self.ca_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        key_path = self.ca_dir / "ca.key"
        with open(self.ca_dir / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not key_path.exists():
                key = ec.generate_private_key(ec.SECP256R1())
                descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(descriptor, "wb") as file:
                    file.write(
                        key.private_bytes(
                            serialization.Encoding.PEM,
                            serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption(),
                        )
                    )
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            if not self.ca_cert_path.exists():
                partial = self.ca_cert_path.with_suffix(".tmp")
                partial.write_bytes(_root(key).public_bytes(serialization.Encoding.PEM))
                partial.replace(self.ca_cert_path)
        return key, x509.load_pem_x509_certificate(self.ca_cert_path.read_bytes())


def _key_usage(ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _root(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Havn local test CA")])
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
        .add_extension(_key_usage(ca=True), True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )


def get_acme_driver() -> AcmeDriver:
    """The driver named by ``settings.HAVN_ACME_DRIVER`` (default: the local CA)."""
    return import_string(settings.HAVN_ACME_DRIVER)()
