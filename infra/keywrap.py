"""Wrapping repository keys with the platform key (the key-encryption key, KEK).

``settings.HAVN_PLATFORM_KEYS`` maps key ids to 32-byte keys; ``HAVN_PLATFORM_KEY_ID`` names the
one that wraps. A wrapped key is ``<key id>:<base64 of nonce || AES-256-GCM(ciphertext || tag)>``
with the key id as associated data. Rotating the KEK means adding a new key, making it current and
re-wrapping the stored wrapped keys (``rewrap``); the data they protect is not touched.
"""

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings


class KeyUnavailable(Exception):
    """The wrapped key cannot be unwrapped: its KEK is gone or the data was altered."""


def _kek(key_id: str) -> bytes:
    try:
        return settings.HAVN_PLATFORM_KEYS[key_id]
    except KeyError:
        raise KeyUnavailable(f"No platform key {key_id!r} is configured.") from None


def wrap(secret: bytes, key_id: str | None = None) -> str:
    key_id = key_id or settings.HAVN_PLATFORM_KEY_ID
    nonce = os.urandom(12)
    sealed = AESGCM(_kek(key_id)).encrypt(nonce, secret, key_id.encode())
    return f"{key_id}:{base64.b64encode(nonce + sealed).decode()}"


def unwrap(wrapped: str) -> bytes:
    key_id, _, payload = wrapped.partition(":")
    raw = base64.b64decode(payload)
    try:
        return AESGCM(_kek(key_id)).decrypt(raw[:12], raw[12:], key_id.encode())
    except InvalidTag:
        raise KeyUnavailable("The wrapped key was altered or wrapped by another key.") from None


def key_id_of(wrapped: str) -> str:
    return wrapped.partition(":")[0]


def rewrap(wrapped: str) -> str:
    """The same secret wrapped by the current platform key (a no-op when it already is)."""
    if key_id_of(wrapped) == settings.HAVN_PLATFORM_KEY_ID:
        return wrapped
    return wrap(unwrap(wrapped))
