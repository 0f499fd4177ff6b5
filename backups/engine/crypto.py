"""Repository keys, blob ids and sealed objects (AES-256-GCM).

Sealed layout: ``nonce (12 bytes) || ciphertext || GCM tag (16 bytes)``. Nonces are random; with
96-bit random nonces a key stays safe for well over 2**32 sealed objects' worth of margin for one
customer's lifetime of backups (NIST's bound is 2**32 invocations per key).
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import IntegrityError

KEY_LEN = 32
NONCE_LEN = 12
TAG_LEN = 16
OVERHEAD = NONCE_LEN + TAG_LEN
_KEYS_MAGIC = b"HVK1"


@dataclass(frozen=True)
class RepoKeys:
    """The two secret keys of one repository: AES-256-GCM and HMAC-SHA256 (blob ids)."""

    encryption_key: bytes = field(repr=False)
    mac_key: bytes = field(repr=False)

    def __post_init__(self):
        if len(self.encryption_key) != KEY_LEN or len(self.mac_key) != KEY_LEN:
            raise ValueError("repository keys are 32 bytes each")
        if self.encryption_key == self.mac_key:
            raise ValueError("encryption and MAC keys must differ")
        object.__setattr__(self, "_aead", AESGCM(self.encryption_key))

    @classmethod
    def generate(cls) -> RepoKeys:
        return cls(os.urandom(KEY_LEN), os.urandom(KEY_LEN))

    def to_bytes(self) -> bytes:
        """``b"HVK1" || encryption_key || mac_key`` (68 bytes) -- wrap these before storing them."""
        return _KEYS_MAGIC + self.encryption_key + self.mac_key

    @classmethod
    def from_bytes(cls, data: bytes) -> RepoKeys:
        data = bytes(data)
        if len(data) != 4 + 2 * KEY_LEN or not data.startswith(_KEYS_MAGIC):
            raise ValueError("not a serialized RepoKeys (expected 68 bytes starting with HVK1)")
        return cls(data[4 : 4 + KEY_LEN], data[4 + KEY_LEN :])


def blob_id(keys: RepoKeys, plaintext) -> bytes:
    """HMAC-SHA256 of the plaintext under the repository's MAC key (32 bytes)."""
    return hmac.digest(keys.mac_key, plaintext, "sha256")


def seal(keys: RepoKeys, plaintext, aad: bytes = b"") -> bytes:
    nonce = os.urandom(NONCE_LEN)
    return nonce + keys._aead.encrypt(nonce, plaintext, aad)


def unseal(keys: RepoKeys, sealed, aad: bytes = b"") -> bytes:
    """Decrypt and authenticate; any tampering (or the wrong key or aad) raises IntegrityError."""
    if len(sealed) < OVERHEAD:
        raise IntegrityError("sealed object too short")
    view = memoryview(sealed)
    try:
        return keys._aead.decrypt(bytes(view[:NONCE_LEN]), view[NONCE_LEN:], aad)
    except InvalidTag:
        raise IntegrityError("authentication failed (tampered data or wrong key)") from None
