"""Device/root keys, the signed roster, and enrollment files (real keys only)."""

from __future__ import annotations

import re
import subprocess
import sys

import msgpack
import pytest

from vipterm.sync.enrollment import EnrollmentGrant, EnrollmentRequest
from vipterm.sync.errors import (
    BundleError,
    EnrollmentInvalid,
    NewerFormat,
    RosterBadSignature,
    RosterRollback,
    RosterWrongRoot,
    SignatureInvalid,
    WrongFileType,
)
from vipterm.sync.keys import (
    DeviceKeys,
    RootKeys,
    fingerprint,
    key_id_hex,
    key_id_of,
    minisign_public_key_file,
    normalize_signing_public,
    verify,
)
from vipterm.sync.roster import (
    KeyStatus,
    Roster,
    RosterEntry,
    open_roster,
    peek_roster,
    sign_roster,
)

T0 = "2025-01-01T09:00:00+00:00"
FP_RE = re.compile(r"[A-Z2-7]{4}(-[A-Z2-7]{4}){5}")


def entry(keys: DeviceKeys, device_id: str, role: str = "worker") -> RosterEntry:
    return RosterEntry(device_id, f"wk-{device_id}", role, keys.signing_public, keys.age_recipient, T0)


@pytest.fixture(scope="module")
def keys():
    return {
        "root": RootKeys.generate(),
        "w": DeviceKeys.generate(),
        "c": DeviceKeys.generate(),
        "x": DeviceKeys.generate(),
    }


@pytest.fixture(scope="module")
def roster(keys) -> Roster:
    r = Roster.new("prog-1", keys["root"].signing_public)
    r = r.with_entry(entry(keys["c"], "dev-c", "coordinator"))
    return r.with_entry(entry(keys["w"], "dev-w"))


# --------------------------------------------------------------------------
# keys


def test_device_keys_round_trip_and_properties(keys) -> None:
    k = keys["w"]
    again = DeviceKeys.from_bytes(k.to_bytes())
    assert again == k
    assert again.signing_public == k.signing_public and again.age_recipient == k.age_recipient
    assert len(k.signing_public) == 42 and k.signing_public[:2] == b"Ed"
    assert k.age_recipient.startswith("age1")
    assert FP_RE.fullmatch(k.fingerprint)
    assert k.fingerprint == fingerprint(k.signing_public, k.age_recipient)
    assert k.fingerprint != keys["c"].fingerprint
    # Same signing key with another age key gives another fingerprint: both
    # keys are covered by what is read aloud.
    assert fingerprint(k.signing_public, keys["c"].age_recipient) != k.fingerprint
    assert k.key_id == key_id_of(k.signing_public)


def test_secrets_never_in_repr(keys) -> None:
    k = keys["w"]
    text = repr(k) + str(k) + repr(keys["root"])
    assert "AGE-SECRET-KEY" not in text
    assert k.age_identity not in text
    assert "minisign secret key" not in text and "signing_secret" not in text


def test_root_keys_round_trip(keys) -> None:
    root = keys["root"]
    again = RootKeys.from_bytes(root.to_bytes())
    assert again.signing_public == root.signing_public
    assert FP_RE.fullmatch(root.fingerprint)
    sig = again.sign(b"data", "c")
    assert verify(b"data", sig, root.signing_public) == "c"


def test_sign_and_verify(keys) -> None:
    k = keys["w"]
    sig = k.sign(b"payload", "vipterm test comment")
    assert verify(b"payload", sig, k.signing_public) == "vipterm test comment"
    # The stock .pub file text is accepted as the public key too.
    assert verify(b"payload", sig, minisign_public_key_file(k.signing_public)) == "vipterm test comment"
    with pytest.raises(SignatureInvalid):
        verify(b"payloaD", sig, k.signing_public)
    with pytest.raises(SignatureInvalid):
        verify(b"payload", sig, keys["c"].signing_public)
    # Editing the trusted comment breaks the global signature.
    forged = sig.replace(b"vipterm test comment", b"vipterm evil comment")
    with pytest.raises(SignatureInvalid):
        verify(b"payload", forged, k.signing_public)
    with pytest.raises(SignatureInvalid):
        verify(b"payload", b"garbage", k.signing_public)


def test_public_key_normalisation() -> None:
    k = DeviceKeys.generate()
    pub_file = minisign_public_key_file(k.signing_public)
    assert pub_file.startswith(b"untrusted comment: minisign public key ")
    assert normalize_signing_public(pub_file) == k.signing_public
    assert normalize_signing_public(pub_file.decode()) == k.signing_public
    for bad in (b"", b"x" * 42, b"untrusted comment: x\nnot base64!\n", "RWQ="):
        with pytest.raises(ValueError):
            normalize_signing_public(bad)


def test_key_id_spelled_like_stock_minisign() -> None:
    # minisign prints the little-endian integer with printf "%" PRIX64: no
    # zero padding.  (A padded spelling made one .pub file in 16 differ.)
    assert key_id_hex(bytes.fromhex("06e5e2cb5ac42434")) == "3424C45ACBE2E506"
    assert key_id_hex(bytes.fromhex("0102030405060708")) == "807060504030201"


def test_wrong_document_types_have_clear_messages(keys, roster) -> None:
    blob = sign_roster(roster, keys["root"])
    with pytest.raises(WrongFileType) as info:
        DeviceKeys.from_bytes(blob)
    assert str(info.value) == "this is a vipterm signed roster, not a device key set"
    with pytest.raises(WrongFileType) as info:
        open_roster(keys["w"].to_bytes(), None, None)
    assert str(info.value) == "this is a vipterm device key set, not a signed roster"
    with pytest.raises(WrongFileType) as info:
        EnrollmentRequest.from_bytes(b"PK\x03\x04 a zip file")
    assert str(info.value) == "not a vipterm enrollment request"
    with pytest.raises(WrongFileType):
        RootKeys.from_bytes(
            msgpack.packb({"format": "vipterm-root-keys", "format_version": 1, "minisign_secret": "str"})
        )
    with pytest.raises(NewerFormat) as info:
        DeviceKeys.from_bytes(msgpack.packb({"format": "vipterm-device-keys", "format_version": 3}))
    assert "format version 3 is newer" in str(info.value)


# --------------------------------------------------------------------------
# roster


def test_sign_and_open_roster(keys, roster) -> None:
    blob = sign_roster(roster, keys["root"])
    opened = open_roster(blob, keys["root"].signing_public, roster.version)
    assert opened == roster
    assert open_roster(blob, None, None) == roster  # first enrollment: no pin yet
    assert opened.root_fingerprint == keys["root"].fingerprint
    assert peek_roster(blob) == roster


def test_roster_from_another_root_refused(keys, roster) -> None:
    other_root = RootKeys.generate()
    rival = Roster("prog-1", roster.version + 5, other_root.signing_public, roster.entries)
    blob = sign_roster(rival, other_root)
    with pytest.raises(RosterWrongRoot) as info:
        open_roster(blob, keys["root"].signing_public, roster.version)
    assert info.value.code == "roster-wrong-root"
    assert keys["root"].fingerprint in str(info.value)


def test_forged_roster_refused(keys, roster) -> None:
    # Body claims the real root key, but the signature is by another key.
    body = msgpack.packb(roster.to_dict(), use_bin_type=True)
    forger = RootKeys.generate()
    comment = f"vipterm-roster v1 program:prog-1 version:{roster.version}"
    blob = msgpack.packb(
        {"format": "vipterm-roster", "format_version": 1, "body": body, "signature": forger.sign(body, comment)},
        use_bin_type=True,
    )
    with pytest.raises(RosterBadSignature):
        open_roster(blob, keys["root"].signing_public, None)
    with pytest.raises(RosterBadSignature):  # even without a pin
        open_roster(blob, None, None)


def test_altered_roster_refused(keys, roster) -> None:
    blob = sign_roster(roster, keys["root"])
    doc = msgpack.unpackb(blob, raw=False)
    body = msgpack.unpackb(doc["body"], raw=False)
    body["entries"][1]["role"] = "coordinator"  # promote a worker
    doc["body"] = msgpack.packb(body, use_bin_type=True)
    with pytest.raises(RosterBadSignature) as info:
        open_roster(msgpack.packb(doc, use_bin_type=True), keys["root"].signing_public, None)
    assert str(info.value) == "roster signature does not verify: the roster was altered"
    # A valid signature with a swapped trusted comment (another version's) is refused too.
    doc = msgpack.unpackb(blob, raw=False)
    newer = sign_roster(roster.revoke("dev-w", T0), keys["root"])
    doc["signature"] = msgpack.unpackb(newer, raw=False)["signature"]
    with pytest.raises(RosterBadSignature):
        open_roster(msgpack.packb(doc, use_bin_type=True), keys["root"].signing_public, None)


def test_root_signature_for_another_purpose_refused(keys, roster) -> None:
    # The real root key signed these exact body bytes, but not as this
    # roster (other trusted comment): a root signature made for something else
    # must not be usable as a roster.
    body = msgpack.packb(roster.to_dict(), use_bin_type=True)
    for comment in ("timestamp:1700000000", f"vipterm-roster v1 program:prog-1 version:{roster.version + 1}"):
        blob = msgpack.packb(
            {
                "format": "vipterm-roster",
                "format_version": 1,
                "body": body,
                "signature": keys["root"].sign(body, comment),
            },
            use_bin_type=True,
        )
        with pytest.raises(RosterBadSignature):
            open_roster(blob, keys["root"].signing_public, None)


def test_roster_rollback_refused(keys, roster) -> None:
    old_blob = sign_roster(roster, keys["root"])
    newer = roster.revoke("dev-w", "2025-03-01T00:00:00+00:00")
    assert newer.version == roster.version + 1
    assert open_roster(sign_roster(newer, keys["root"]), keys["root"].signing_public, roster.version) == newer
    with pytest.raises(RosterRollback) as info:
        open_roster(old_blob, keys["root"].signing_public, newer.version)
    assert str(info.value) == (
        f"roster version {roster.version} is older than version {newer.version} already held; refusing rollback"
    )
    # Equal version is accepted (re-delivery).
    assert open_roster(old_blob, keys["root"].signing_public, roster.version) == roster


def test_revoke(keys, roster) -> None:
    revoked = roster.revoke("dev-w", "2025-03-01T00:00:00+00:00")
    assert revoked.version == roster.version + 1
    assert roster.entry_for_device("dev-w").revoked_at is None  # old version unchanged
    e = revoked.entry_for_device("dev-w")
    assert e.revoked and e.revoked_at == "2025-03-01T00:00:00+00:00"
    status = revoked.key_status(keys["w"].key_id)
    assert status.state == "revoked" and status.device_id == "dev-w"
    assert revoked.coordinator_recipients() == [keys["c"].age_recipient]
    assert keys["w"].signing_public not in [x.signing_public for x in revoked.active_entries()]
    with pytest.raises(ValueError):
        revoked.revoke("dev-w", T0)
    with pytest.raises(KeyError):
        roster.revoke("dev-nope", T0)
    with pytest.raises(ValueError):  # revocation is final for that device id
        revoked.with_entry(entry(keys["w"], "dev-w"))
    with pytest.raises(ValueError):
        roster.revoke("dev-w", "yesterday")


def test_roster_lookups_and_new_versions(keys, roster) -> None:
    w, c, x = keys["w"], keys["c"], keys["x"]
    assert roster.entry_for_key(w.signing_public).device_id == "dev-w"
    assert roster.entry_for_key(minisign_public_key_file(c.signing_public)).device_id == "dev-c"
    assert roster.entry_for_key(x.signing_public) is None
    assert roster.key_status(w.key_id) == KeyStatus.from_entry(roster.entry_for_device("dev-w"))
    assert roster.key_status(w.signing_public).state == "known"
    assert roster.key_status("dev-c").role == "coordinator"
    assert roster.key_status(x.key_id) == KeyStatus.unknown()
    assert roster.key_status(b"\x00" * 8).state == "unknown"
    bigger = roster.with_entry(entry(x, "dev-x"))
    assert bigger.version == roster.version + 1 and len(bigger.entries) == 3
    promoted = bigger.with_entry(entry(x, "dev-x", "coordinator"))
    assert promoted.version == bigger.version + 1 and len(promoted.entries) == 3
    assert sorted(promoted.coordinator_recipients()) == sorted([c.age_recipient, x.age_recipient])
    with pytest.raises(ValueError):  # same key under a second device id
        roster.with_entry(entry(w, "dev-w-again"))
    with pytest.raises(ValueError):
        RosterEntry("dev-y", "wk-y", "boss", x.signing_public, x.age_recipient, T0)
    with pytest.raises(ValueError):
        RosterEntry("Jane Doe", "wk-y", "worker", x.signing_public, x.age_recipient, T0)
    with pytest.raises(ValueError):
        RosterEntry("dev-y", "wk-y", "worker", x.signing_public, x.age_recipient, "2025-01-01 09:00")  # no offset


def test_sign_roster_needs_matching_root(keys, roster) -> None:
    with pytest.raises(ValueError):
        sign_roster(roster, RootKeys.generate())


# --------------------------------------------------------------------------
# enrollment


def test_enrollment_request_round_trip(keys) -> None:
    x = keys["x"]
    req = EnrollmentRequest.create(x, device_id="dev-x", worker_id="wk-x", worker_name_hint="DJ")
    again = EnrollmentRequest.from_bytes(req.to_bytes())
    assert again == req
    assert again.fingerprint == x.fingerprint  # what the coordinator reads aloud
    e = again.to_entry(role="worker", enrolled_at=T0)
    assert (e.device_id, e.signing_public, e.age_recipient) == ("dev-x", x.signing_public, x.age_recipient)
    empty_hint = EnrollmentRequest.create(x, device_id="dev-x", worker_id="wk-x")
    assert EnrollmentRequest.from_bytes(empty_hint.to_bytes()).worker_name_hint == ""


def test_enrollment_request_tampering_refused(keys) -> None:
    x, attacker = keys["x"], DeviceKeys.generate()
    req = EnrollmentRequest.create(x, device_id="dev-x", worker_id="wk-x")
    doc = msgpack.unpackb(req.to_bytes(), raw=False)
    body = msgpack.unpackb(doc["body"], raw=False)
    # Swap in the attacker's age key: bundles would be encrypted to them.
    body["age_recipient"] = attacker.age_recipient
    doc["body"] = msgpack.packb(body, use_bin_type=True)
    with pytest.raises(EnrollmentInvalid) as info:
        EnrollmentRequest.from_bytes(msgpack.packb(doc, use_bin_type=True))
    assert info.value.code == "enrollment-invalid"
    # Claiming x's signing key but signed by someone else: no proof of possession.
    body = msgpack.unpackb(msgpack.unpackb(req.to_bytes(), raw=False)["body"], raw=False)
    doc["body"] = msgpack.packb(body, use_bin_type=True)
    doc["signature"] = attacker.sign(doc["body"], "vipterm-enroll-request v1 device:dev-x")
    with pytest.raises(EnrollmentInvalid):
        EnrollmentRequest.from_bytes(msgpack.packb(doc, use_bin_type=True))
    # Signed by x itself, but not as an enrollment request (other comment).
    doc["signature"] = x.sign(doc["body"], "vipterm-bundle v1 something else")
    with pytest.raises(EnrollmentInvalid):
        EnrollmentRequest.from_bytes(msgpack.packb(doc, use_bin_type=True))
    with pytest.raises(ValueError):
        EnrollmentRequest.create(x, device_id="dev-x", worker_id="wk-x", worker_name_hint="two\nlines")


def test_enrollment_grant(keys, roster) -> None:
    root, x, c = keys["root"], keys["x"], keys["c"]
    req = EnrollmentRequest.from_bytes(EnrollmentRequest.create(x, device_id="dev-x", worker_id="wk-x").to_bytes())
    new = roster.with_entry(req.to_entry(enrolled_at=T0))
    grant = EnrollmentGrant(sign_roster(new, root), "dev-c", c.age_recipient, c.signing_public, "prog-1")
    received = EnrollmentGrant.from_bytes(grant.to_bytes())
    assert received == grant
    assert received.root_fingerprint == root.fingerprint  # compared in person before pinning
    opened = received.open(own_signing_public=x.signing_public, pinned_root_public=received.root_public)
    assert opened == new
    # The grant is not for a device that is not on its roster.
    with pytest.raises(EnrollmentInvalid):
        received.open(own_signing_public=DeviceKeys.generate().signing_public)
    # A grant naming the wrong coordinator keys (e.g. an attacker's age key) is refused.
    evil = EnrollmentGrant(grant.roster_blob, "dev-c", x.age_recipient, c.signing_public, "prog-1")
    with pytest.raises(EnrollmentInvalid):
        evil.open()
    with pytest.raises(EnrollmentInvalid):
        EnrollmentGrant(grant.roster_blob, "dev-c", c.age_recipient, c.signing_public, "prog-2").open()
    with pytest.raises(RosterWrongRoot):
        received.open(pinned_root_public=RootKeys.generate().signing_public)
    with pytest.raises(WrongFileType):
        EnrollmentGrant.from_bytes(req.to_bytes())


def test_grant_carries_the_chosen_workers_name_and_old_grants_still_read(keys, roster) -> None:
    import msgpack

    root, c = keys["root"], keys["c"]
    grant = EnrollmentGrant(
        sign_roster(roster, root), "dev-c", c.age_recipient, c.signing_public, "prog-1", worker_name="Ana Ruiz"
    )
    assert EnrollmentGrant.from_bytes(grant.to_bytes()).worker_name == "Ana Ruiz"
    doc = msgpack.unpackb(grant.to_bytes(), raw=False)
    del doc["worker_name"]  # a grant written before workers were bound at approval
    assert EnrollmentGrant.from_bytes(msgpack.packb(doc, use_bin_type=True)).worker_name == ""
    for bad in ("two\nlines", "x" * 121):
        with pytest.raises(ValueError):
            EnrollmentGrant(grant.roster_blob, "dev-c", c.age_recipient, c.signing_public, "prog-1", worker_name=bad)
    doc["worker_name"] = 7
    with pytest.raises(WrongFileType):
        EnrollmentGrant.from_bytes(msgpack.packb(doc, use_bin_type=True))


def test_all_refusals_are_bundle_errors() -> None:
    for cls in (
        EnrollmentInvalid,
        RosterBadSignature,
        RosterRollback,
        RosterWrongRoot,
        SignatureInvalid,
        WrongFileType,
        NewerFormat,
    ):
        assert issubclass(cls, BundleError)
        assert cls("x").code and str(cls("a\nb")) == "a b"


def test_sync_layer_imports_no_textual_or_database() -> None:
    code = (
        "import sys, vipterm.sync.keys, vipterm.sync.roster, vipterm.sync.enrollment, vipterm.sync.bundle, vipterm.sync.errors\n"
        # store.files (the one atomic write and flush) holds no database: bundles are written through it.
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'sqlalchemy', 'sqlmodel', 'sqlcipher3')"
        " or (m.startswith(('vipterm.store', 'vipterm.tui', 'vipterm.services'))"
        " and m not in ('vipterm.store', 'vipterm.store.files')))\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
