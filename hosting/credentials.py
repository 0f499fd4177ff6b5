"""Passwords for databases and mailboxes: generated or chosen, stored only as server verifiers."""

import base64
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.low_level import Type

_ALPHABET = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_argon2 = PasswordHasher(type=Type.ID)


def generate_password(length: int = 24) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def mysql_native_verifier(password: str) -> str:
    """MariaDB's mysql_native_password hash: ``*`` + SHA1(SHA1(password)) in upper-case hex."""
    return "*" + hashlib.sha1(hashlib.sha1(password.encode()).digest()).hexdigest().upper()  # noqa: S324 -- the format MariaDB defines


def scram_sha256_verifier(password: str, iterations: int = 4096) -> str:
    """PostgreSQL's SCRAM-SHA-256 verifier (RFC 5802/7677), as ``CREATE ROLE … PASSWORD`` takes."""
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def dovecot_hash(password: str) -> str:
    """A Dovecot passdb hash (ARGON2ID scheme)."""
    return "{ARGON2ID}" + _argon2.hash(password)


def verify_dovecot_hash(password_hash: str, password: str) -> bool:
    try:
        return _argon2.verify(password_hash.removeprefix("{ARGON2ID}"), password)
    except Exception:  # argon2 raises several mismatch/format errors; all mean "no"
        return False
