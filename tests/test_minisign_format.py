"""The minisign formats over libsodium: keys stored by earlier vipterm versions (written by
py-minisign) still load and sign byte for byte as before; damaged or foreign input is refused.
Interop with the stock `minisign` tool itself is tests/test_stock_tools.py."""

from __future__ import annotations

import base64

import pytest

from vipterm.sync import minisign_format as m

# A throwaway key and signature made by py-minisign 0.21 (what vipterm used before), over DATA.
OLD_SECRET = (
    b"untrusted comment: minisign secret key\n"
    b"RWQAAEIyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA7mq+0j/Ep1vI3Drj0WfEsJRI1Kp9DUj/"
    b"y3p3W8KADT4yWGXVnAN2vy4rZScz9/KWw2ptoLEW2i3kKjYOUS7kS7RQINXGBd5ftdrPQ43vCYqRXzLzyCfhKgUMJGDEgPxFasZ+oLPcQa0="
)
OLD_PUBLIC = base64.b64decode("RWTuar7SP8SnWy4rZScz9/KWw2ptoLEW2i3kKjYOUS7kS7RQINXGBd5f")
OLD_SIGNATURE = (
    b"untrusted comment: vipterm signature from key X\n"
    b"RUTuar7SP8SnW1/POudk7bzEZbZ5Rftk4R5hEAH58QAS7Q5eQPqwoJhVoUZMrHogt99V+0fFlq3h8+MYehpPRLf1jrQKqGrExQE=\n"
    b"trusted comment: vipterm-test v1\n"
    b"S9Jdod2Bq7ux/JL1t9tYmwZbg5FHzbhhIjb/NDuXcqfcF02bNCgpnpnQ9vCLgzvJl+1dY7JTZQi9j/eTaSimAg==\n"
)
DATA = b"vipterm test vector\n"


def test_a_key_stored_by_earlier_versions_loads_and_signs_the_same_bytes():
    assert m.public_of_secret(OLD_SECRET) == OLD_PUBLIC
    # Ed25519 is deterministic: the same key, data and comments give the very same file.
    again = m.sign(
        OLD_SECRET, DATA, trusted_comment="vipterm-test v1", untrusted_comment="vipterm signature from key X"
    )
    assert again == OLD_SIGNATURE
    assert m.verify(OLD_PUBLIC, DATA, m.parse_signature(OLD_SIGNATURE)) == "vipterm-test v1"


def test_a_new_key_signs_and_verifies():
    secret = m.generate_secret()
    public = m.public_of_secret(secret)
    assert len(public) == m.PUBLIC_KEY_LEN and public[:2] == b"Ed"
    sig = m.sign(secret, b"x" * 100_000, trusted_comment="t", untrusted_comment="u")
    assert m.verify(public, b"x" * 100_000, m.parse_signature(sig)) == "t"
    assert m.public_key_file(public, "c").startswith(b"untrusted comment: c\nRW")


@pytest.mark.parametrize("change", ["data", "trusted comment", "other key"])
def test_what_was_not_signed_does_not_verify(change):
    data, sig, public = DATA, OLD_SIGNATURE, OLD_PUBLIC
    if change == "data":
        data = DATA + b"!"
    elif change == "trusted comment":
        sig = sig.replace(b"vipterm-test v1", b"vipterm-test v2")
    else:
        other = m.public_of_secret(m.generate_secret())
        public = public[:2] + public[2:10] + other[10:]  # same key id, another key
    with pytest.raises(m.MinisignError):
        m.verify(public, data, m.parse_signature(sig))


def test_damaged_or_encrypted_secret_keys_are_refused():
    raw = bytearray(base64.b64decode(OLD_SECRET.splitlines()[1]))
    encrypted = bytes(raw[:2]) + b"Sc" + bytes(raw[4:])
    flipped = bytes(raw[:-1]) + bytes([raw[-1] ^ 1])
    for body, reason in ((encrypted, "password-encrypted"), (flipped, "checksum")):
        with pytest.raises(m.MinisignError, match=reason):
            m.public_of_secret(OLD_SECRET.splitlines()[0] + b"\n" + base64.b64encode(body))
    for junk in (b"", b"one line", OLD_SIGNATURE):
        with pytest.raises(m.MinisignError):
            m.public_of_secret(junk)
    with pytest.raises(m.MinisignError):
        m.parse_signature(OLD_SIGNATURE.replace(b"RUTu", b"R!Tu"))
