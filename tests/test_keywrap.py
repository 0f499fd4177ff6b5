import pytest

from infra import keywrap


def test_wrap_unwrap_and_rotation_without_touching_the_secret(settings):
    secret = bytes(range(32))
    wrapped = keywrap.wrap(secret)
    assert keywrap.key_id_of(wrapped) == "k1" and secret.hex() not in wrapped
    assert keywrap.unwrap(wrapped) == secret
    settings.HAVN_PLATFORM_KEYS = {**settings.HAVN_PLATFORM_KEYS, "k2": bytes(32)}
    settings.HAVN_PLATFORM_KEY_ID = "k2"
    rotated = keywrap.rewrap(wrapped)
    assert keywrap.key_id_of(rotated) == "k2" and keywrap.unwrap(rotated) == secret
    assert keywrap.rewrap(rotated) == rotated
    del settings.HAVN_PLATFORM_KEYS["k1"]
    with pytest.raises(keywrap.KeyUnavailable):
        keywrap.unwrap(wrapped)


def test_a_tampered_or_relabelled_wrapped_key_is_refused(settings):
    settings.HAVN_PLATFORM_KEYS = {**settings.HAVN_PLATFORM_KEYS, "k2": bytes(32)}
    wrapped = keywrap.wrap(b"s" * 32)
    with pytest.raises(keywrap.KeyUnavailable):
        keywrap.unwrap("k2:" + wrapped.partition(":")[2])
    payload = bytearray(wrapped.encode())
    payload[-5] = ord("A") if payload[-5] != ord("A") else ord("B")
    with pytest.raises(keywrap.KeyUnavailable):
        keywrap.unwrap(payload.decode())
