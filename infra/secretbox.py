"""Encryption of small secrets kept in the database (e.g. DNSSEC signing keys).

Fernet (AES-128-CBC + HMAC-SHA256) under ``settings.HAVN_DATA_KEYS``: the first key encrypts,
every key decrypts, so a new key is put first and the old one kept until rows are re-encrypted.
"""

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


def _box() -> MultiFernet:
    return MultiFernet([Fernet(key) for key in settings.HAVN_DATA_KEYS])


def seal(plaintext: str) -> str:
    return _box().encrypt(plaintext.encode()).decode()


def unseal(token: str) -> str:
    try:
        return _box().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ValueError("The secret cannot be decrypted with the configured data keys.") from None
