"""Bundle format: round trips and every refusal, with real keys and real files.

Refusals are produced by crafting real bundles the way an attacker or a
damaged copy would (re-signing, re-encrypting, truncating, swapping members),
not by mocking any check.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import resource
import stat
import tarfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack
import pyrage
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vipterm.sync.bundle import (
    HEADER_NAME,
    PAYLOAD_NAME,
    ROSTER_NAME,
    SIGNATURE_NAME,
    Limits,
    OpenedBundle,
    build_bundle,
    bundle_id_from_path,
    check_schema_version,
    pack_members,
    peek_header,
    peek_roster_blob,
    read_bundle,
    trusted_comment_for,
    write_bundle,
)
from vipterm.sync.errors import KNOWN_CODES, BundleError
from vipterm.sync.keys import DeviceKeys, RootKeys
from vipterm.sync.roster import Roster, RosterEntry, open_roster, sign_roster

PROGRAM = "prog-0190a1b2"


@dataclass
class World:
    root: RootKeys
    worker: DeviceKeys  # dev-w, active worker
    worker2: DeviceKeys  # dev-w2, active worker
    coord: DeviceKeys  # dev-c, active coordinator
    coord2: DeviceKeys  # dev-c2, active coordinator (someone else's recipient)
    revoked: DeviceKeys  # dev-r, revoked worker
    outsider: DeviceKeys  # never enrolled
    roster: Roster
    roster_blob: bytes


@pytest.fixture(scope="module")
def world() -> World:
    root = RootKeys.generate()
    keys = {name: DeviceKeys.generate() for name in ("w", "w2", "c", "c2", "r", "x")}
    roster = Roster.new(PROGRAM, root.signing_public)
    for dev, role in (("w", "worker"), ("w2", "worker"), ("c", "coordinator"), ("c2", "coordinator"), ("r", "worker")):
        k = keys[dev]
        roster = roster.with_entry(
            RosterEntry(f"dev-{dev}", f"wk-{dev}", role, k.signing_public, k.age_recipient, "2025-01-01T00:00:00+00:00")
        )
    roster = roster.revoke("dev-r", "2025-06-01T00:00:00+00:00")
    return World(
        root=root,
        worker=keys["w"],
        worker2=keys["w2"],
        coord=keys["c"],
        coord2=keys["c2"],
        revoked=keys["r"],
        outsider=keys["x"],
        roster=roster,
        roster_blob=sign_roster(roster, root),
    )


def fields(**over: Any) -> dict[str, Any]:
    base = dict(
        program_id=PROGRAM,
        schema_version=4,
        kind="worker",
        source_device="dev-w",
        created_hlc=1_730_000_000_000 << 16,
        seq_first=11,
        seq_last=12,
    )
    base.update(over)
    return base


PAYLOAD = {
    "changes": [
        {"table": "contact", "row": "0190-aaaa", "col": "note", "value": "met at clinic", "hlc": 5, "base": None},
        {"table": "client", "row": "0190-bbbb", "col": "status", "value": "engaged", "hlc": 6, "base": 4},
    ],
    "ack": {"dev-c": 40},
}


def good(world: World, payload: dict | None = None, **over: Any) -> bytes:
    _, data = build_bundle(
        header_fields=fields(**over),
        payload=PAYLOAD if payload is None else payload,
        signer=world.worker,
        recipients=[world.coord.age_recipient],
    )
    return data


def read(world: World, data: bytes | Path, *, identity: DeviceKeys | None = None, **kw: Any) -> OpenedBundle:
    return read_bundle(data, identity=identity or world.coord, key_lookup=world.roster.key_status, **kw)


def refused(world: World, data: bytes, code: str, *, identity: DeviceKeys | None = None, **kw: Any) -> BundleError:
    with pytest.raises(BundleError) as info:
        read(world, data, identity=identity, **kw)
    err = info.value
    assert err.code == code, f"expected {code}, got {err.code}: {err}"
    assert err.code in KNOWN_CODES
    assert "\n" not in str(err) and str(err)
    return err


def members_of(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tf:
        return {m.name: tf.extractfile(m).read() for m in tf}  # type: ignore[union-attr]


def craft(
    world: World,
    *,
    signer: DeviceKeys | None = None,
    payload: Any = None,
    plaintext: bytes | None = None,
    compressed: bytes | None = None,
    encrypt_to: list[str] | None = None,
    header_over: dict[str, Any] | None = None,
    comment: str | None = None,
    roster_blob: bytes | None = None,
) -> bytes:
    """Build a bundle by hand, the way a rogue writer could, field by field."""
    signer = signer or world.worker
    if plaintext is None:
        plaintext = msgpack.packb(PAYLOAD if payload is None else payload, use_bin_type=True)
    if compressed is None:
        compressed = zstandard.ZstdCompressor().compress(plaintext)
    recipients = [world.coord.age_recipient]
    enc = [pyrage.x25519.Recipient.from_str(r) for r in (encrypt_to or recipients)]
    payload_age = pyrage.encrypt(compressed, enc)
    header = {
        "format": "vipterm-bundle",
        "format_version": 1,
        "bundle_id": str(uuid.uuid4()),
        "program_id": PROGRAM,
        "schema_version": 4,
        "kind": "worker",
        "source_device": "dev-w",
        "created_hlc": 99,
        "seq_first": None,
        "seq_last": None,
        "change_count": len(PAYLOAD["changes"])
        if payload is None
        else len(payload.get("changes", []))
        if isinstance(payload, dict)
        else 0,
        "plaintext_size": len(plaintext),
        "plaintext_sha256": hashlib.sha256(plaintext).hexdigest(),
        "payload_sha256": hashlib.sha256(payload_age).hexdigest(),
        "roster_sha256": None if roster_blob is None else hashlib.sha256(roster_blob).hexdigest(),
        "recipients": recipients,
        "extra": {},
    }
    header.update(header_over or {})
    header_bytes = json.dumps(header).encode()
    sig = signer.sign(payload_age, comment or trusted_comment_for(header["bundle_id"], header_bytes))
    members = [(HEADER_NAME, header_bytes), (PAYLOAD_NAME, payload_age), (SIGNATURE_NAME, sig)]
    if roster_blob is not None:
        members.append((ROSTER_NAME, roster_blob))
    return pack_members(members)


# --------------------------------------------------------------------------
# round trips


def test_write_and_read_round_trip(world: World, tmp_path: Path) -> None:
    path = write_bundle(
        tmp_path,
        header_fields=fields(extra={"note": "n/a"}),
        payload=PAYLOAD,
        signer=world.worker,
        recipients=[world.coord.age_recipient, world.coord2.age_recipient],
        roster_blob=world.roster_blob,
    )
    # Only the final file: the temp file was renamed, not left behind.
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    bundle_id = bundle_id_from_path(path)
    assert bundle_id is not None and uuid.UUID(bundle_id).version == 7
    assert path.name == f"{bundle_id}.vipb"

    for identity in (world.coord, world.coord2):  # every recipient can open it
        opened = read(world, path, identity=identity)
        assert opened.payload == PAYLOAD
        assert opened.header["bundle_id"] == bundle_id
        assert opened.header["change_count"] == 2
        assert opened.header["seq_first"] == 11 and opened.header["seq_last"] == 12
        assert opened.header["extra"] == {"note": "n/a"}
        assert opened.header["schema_version"] == 4
        assert opened.signer_key == world.worker.signing_public
        assert opened.signer.device_id == "dev-w"
        assert opened.roster_blob == world.roster_blob
        assert opened.raw_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    # Reading from bytes gives the same result and writes nothing.
    assert read(world, path.read_bytes()).payload == PAYLOAD
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_layout_order_and_trusted_comment(world: World) -> None:
    data = good(world)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tf:
        infos = tf.getmembers()
    assert [m.name for m in infos] == [HEADER_NAME, PAYLOAD_NAME, SIGNATURE_NAME]
    assert all(m.uname == "" and m.mode == 0o600 for m in infos)
    m = members_of(data)
    header = json.loads(m[HEADER_NAME])
    assert header["payload_sha256"] == hashlib.sha256(m[PAYLOAD_NAME]).hexdigest()
    expected = f"vipterm-bundle v1 {header['bundle_id']} header-sha256:{hashlib.sha256(m[HEADER_NAME]).hexdigest()}"
    assert f"trusted comment: {expected}".encode() in m[SIGNATURE_NAME]
    # No person's name anywhere in the clear; the payload text is encrypted.
    assert b"clinic" not in data and b"engaged" not in data


def test_return_bundle_coordinator_to_worker(world: World) -> None:
    _, data = build_bundle(
        header_fields=fields(kind="return", source_device="dev-c", seq_first=None, seq_last=None),
        payload={"changes": [], "assign": ["0190-bbbb"]},
        signer=world.coord,
        recipients=[world.worker.age_recipient],
    )
    opened = read(world, data, identity=world.worker)
    assert opened.payload == {"changes": [], "assign": ["0190-bbbb"]}
    assert opened.header["kind"] == "return" and opened.header["change_count"] == 0


def test_peek_header_without_keys(world: World, tmp_path: Path) -> None:
    path = write_bundle(
        tmp_path, header_fields=fields(), payload=PAYLOAD, signer=world.worker, recipients=[world.coord.age_recipient]
    )
    header = peek_header(path)
    assert header["bundle_id"] == bundle_id_from_path(path)
    assert header["source_device"] == "dev-w" and header["kind"] == "worker"
    assert peek_header(path.read_bytes()) == header
    with pytest.raises(BundleError) as info:
        peek_header(b"hello world" * 100)
    assert info.value.code == "not-a-bundle"


def test_bundle_id_from_path() -> None:
    u = "0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b"
    assert bundle_id_from_path(Path("/in") / f"{u}.vipb") == u
    assert bundle_id_from_path("x (1).vipb") is None
    assert bundle_id_from_path(f"{u}.tar") is None


def test_schema_version_helper(world: World) -> None:
    header = read(world, good(world, schema_version=9)).header
    assert check_schema_version(header, 9) == 9
    assert check_schema_version(header, 12) == 9
    with pytest.raises(BundleError) as info:
        check_schema_version(header, 8)
    assert info.value.code == "newer-schema" and "newer vipterm" in str(info.value)


# --------------------------------------------------------------------------
# structural refusals


def test_not_a_tar(world: World) -> None:
    refused(world, b"", "not-a-bundle")
    refused(world, os.urandom(5000), "not-a-bundle")
    refused(world, gzip.compress(good(world)), "not-a-bundle")
    err = refused(world, b'{"format": "vipterm-bundle"}', "not-a-bundle")
    assert str(err).startswith("not a vipterm bundle")


def test_other_tar_is_not_a_bundle(world: World) -> None:
    refused(world, pack_members([("notes.txt", b"hello")]), "bad-format")
    refused(
        world,
        pack_members(
            [(HEADER_NAME, json.dumps({"format": "other"}).encode()), (PAYLOAD_NAME, b"x"), (SIGNATURE_NAME, b"y")]
        ),
        "not-a-bundle",
    )


def test_truncated_bundles_refused(world: World) -> None:
    data = good(world)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tf:
        infos = {m.name: m for m in tf.getmembers()}
    cuts = [
        100,  # inside the first tar header block
        infos[HEADER_NAME].offset_data + 10,  # inside header.json
        infos[PAYLOAD_NAME].offset - 1,
        infos[PAYLOAD_NAME].offset_data + infos[PAYLOAD_NAME].size // 2,  # inside payload.age
        infos[SIGNATURE_NAME].offset,  # signature missing entirely
        infos[SIGNATURE_NAME].offset_data + 5,
    ]
    for cut in cuts:
        with pytest.raises(BundleError) as info:
            read(world, data[:cut])
        assert info.value.code in ("not-a-bundle", "truncated"), (cut, info.value)
        assert "truncated" in str(info.value) or cut == 100, (cut, info.value)
    # A copy that ends inside the payload says so, not "not a readable tar file".
    with pytest.raises(BundleError) as info:
        read(world, data[: infos[PAYLOAD_NAME].offset_data + infos[PAYLOAD_NAME].size // 2])
    assert info.value.code == "truncated" and str(info.value) == "the bundle file is truncated (an incomplete copy?)"


def test_missing_and_extra_members(world: World) -> None:
    m = members_of(good(world))
    refused(world, pack_members([(HEADER_NAME, m[HEADER_NAME]), (PAYLOAD_NAME, m[PAYLOAD_NAME])]), "not-a-bundle")
    refused(world, pack_members([(PAYLOAD_NAME, m[PAYLOAD_NAME]), (SIGNATURE_NAME, m[SIGNATURE_NAME])]), "not-a-bundle")
    refused(world, pack_members([*m.items(), ("evil.sh", b"rm -rf /")]), "bad-format")
    # Two copies of a member: tar -xf keeps the last, a reader might use the
    # first; refuse the ambiguity.
    refused(world, pack_members([*m.items(), (HEADER_NAME, m[HEADER_NAME])]), "bad-format")


def test_newer_format_version(world: World) -> None:
    err = refused(world, craft(world, header_over={"format_version": 7}), "newer-format")
    assert str(err) == "bundle format version 7 is newer than this vipterm supports; update vipterm"
    refused(world, craft(world, header_over={"format_version": 0}), "bad-format")
    refused(world, craft(world, header_over={"format": "vipterm-bundle-x"}), "not-a-bundle")


@pytest.mark.parametrize(
    "over",
    [
        {"kind": "sideways"},
        {"created_hlc": True},
        {"created_hlc": -1},
        {"schema_version": "4"},
        {"bundle_id": "Jane-Doe"},
        {"source_device": "Jane Doe"},
        {"seq_first": 5, "seq_last": None},
        {"seq_first": 9, "seq_last": 3},
        {"payload_sha256": "zz"},
        {"recipients": []},
        {"extra": []},
        {"surprise": 1},
    ],
)
def test_invalid_header_fields(world: World, over: dict[str, Any]) -> None:
    err = refused(world, craft(world, header_over=over), "bad-format")
    assert str(err).startswith("bundle header is invalid")
    assert "Jane" not in str(err)


def test_header_json_damaged(world: World) -> None:
    m = members_of(good(world))
    for bad in (
        b"\xff\xfe not utf8",
        b"{not json",
        b'{"format": "vipterm-bundle", "format": "x"}',
        b'{"a": NaN}',
        b'{"a": 1e999}',
    ):
        data = pack_members([(HEADER_NAME, bad), (PAYLOAD_NAME, m[PAYLOAD_NAME]), (SIGNATURE_NAME, m[SIGNATURE_NAME])])
        refused(world, data, "bad-format")


def test_oversize_file_and_member(world: World) -> None:
    data = good(world)
    refused(world, data, "too-large", limits=Limits(max_bundle_bytes=len(data) - 1))
    refused(world, data, "too-large", limits=Limits(max_header_bytes=100))


# --------------------------------------------------------------------------
# trust refusals


def test_wrong_program(world: World) -> None:
    data = good(world)
    assert read(world, data, expected_program_id=PROGRAM)
    refused(world, data, "wrong-program", expected_program_id="prog-other")


def test_unknown_signer(world: World) -> None:
    # A complete, self-consistent bundle re-signed by a key not on the roster.
    err = refused(world, craft(world, signer=world.outsider), "unknown-signer")
    assert "signed by a device that is not on the roster" in str(err)
    assert world.outsider.key_id_hex in str(err)


def test_revoked_signer(world: World) -> None:
    err = refused(world, craft(world, signer=world.revoked, header_over={"source_device": "dev-r"}), "revoked")
    assert str(err).startswith("signed by revoked device dev-r")


def test_flipped_payload_byte(world: World) -> None:
    data = bytearray(good(world))
    with tarfile.open(fileobj=io.BytesIO(bytes(data)), mode="r:") as tf:
        info = tf.getmember(PAYLOAD_NAME)
    data[info.offset_data + info.size // 2] ^= 0x40
    err = refused(world, bytes(data), "bad-signature")
    assert str(err).startswith("signature does not verify: the bundle was damaged or altered")


def test_swapped_header(world: World) -> None:
    a, b = members_of(good(world)), members_of(good(world))
    swapped = pack_members(
        [(HEADER_NAME, b[HEADER_NAME]), (PAYLOAD_NAME, a[PAYLOAD_NAME]), (SIGNATURE_NAME, a[SIGNATURE_NAME])]
    )
    refused(world, swapped, "bad-signature")
    # Edit one header field (claim a different clock) and keep the signature.
    header = json.loads(a[HEADER_NAME])
    header["created_hlc"] += 1
    edited = pack_members(
        [
            (HEADER_NAME, json.dumps(header).encode()),
            (PAYLOAD_NAME, a[PAYLOAD_NAME]),
            (SIGNATURE_NAME, a[SIGNATURE_NAME]),
        ]
    )
    refused(world, edited, "bad-signature")
    # Same header semantics, different bytes (whitespace): still refused,
    # the signature binds the exact bytes.
    respaced = pack_members(
        [(HEADER_NAME, a[HEADER_NAME] + b" "), (PAYLOAD_NAME, a[PAYLOAD_NAME]), (SIGNATURE_NAME, a[SIGNATURE_NAME])]
    )
    refused(world, respaced, "bad-signature")


def test_trusted_comment_must_bind_header(world: World) -> None:
    refused(world, craft(world, comment="timestamp:1700000000"), "bad-signature")


def test_garbage_signature_file(world: World) -> None:
    m = members_of(good(world))
    data = pack_members(
        [(HEADER_NAME, m[HEADER_NAME]), (PAYLOAD_NAME, m[PAYLOAD_NAME]), (SIGNATURE_NAME, b"not a signature")]
    )
    refused(world, data, "bad-signature")


def test_signer_must_match_source_device(world: World) -> None:
    # dev-w is enrolled and signs validly, but claims to be dev-w2.
    err = refused(world, craft(world, header_over={"source_device": "dev-w2"}), "signer-mismatch")
    assert "different device" in str(err)
    # A worker cannot issue a coordinator's return bundle.
    refused(world, craft(world, header_over={"kind": "return"}), "signer-mismatch", identity=world.coord)


def test_payload_hash_mismatch(world: World) -> None:
    err = refused(world, craft(world, header_over={"payload_sha256": "0" * 64}), "tampered")
    assert "signed hash" in str(err)


def test_attached_roster_must_match(world: World) -> None:
    other = sign_roster(world.roster.revoke("dev-w2", "2025-07-01T00:00:00+00:00"), world.root)
    good_data = craft(world, roster_blob=world.roster_blob)
    assert read(world, good_data).roster_blob == world.roster_blob
    m = members_of(good_data)
    m[ROSTER_NAME] = other
    refused(world, pack_members(list(m.items())), "tampered")
    del m[ROSTER_NAME]
    refused(world, pack_members(list(m.items())), "tampered")


def test_new_coordinator_known_only_from_attached_roster(world: World) -> None:
    # A coordinator device enrolled after this worker's roster was delivered
    # sends a return bundle carrying the newer roster.
    new_coord = DeviceKeys.generate()
    newer = world.roster.with_entry(
        RosterEntry(
            "dev-c3",
            "wk-c3",
            "coordinator",
            new_coord.signing_public,
            new_coord.age_recipient,
            "2025-08-01T00:00:00+00:00",
        )
    )
    blob = sign_roster(newer, world.root)
    _, data = build_bundle(
        header_fields=fields(kind="return", source_device="dev-c3"),
        payload={"changes": []},
        signer=new_coord,
        recipients=[world.worker.age_recipient],
        roster_blob=blob,
    )
    refused(world, data, "unknown-signer", identity=world.worker)  # with the old roster
    assert peek_roster_blob(data) == blob
    roster = open_roster(peek_roster_blob(data), world.root.signing_public, world.roster.version)
    opened = read_bundle(data, identity=world.worker, key_lookup=roster.key_status)
    assert opened.signer.device_id == "dev-c3" and opened.roster_blob == blob
    assert peek_roster_blob(good(world)) is None


def test_encrypted_to_another_coordinator(world: World) -> None:
    data = good(world)
    err = refused(world, data, "not-for-us", identity=world.coord2)
    assert str(err) == "this bundle is encrypted for another coordinator or device"
    # Header says "for coord" but the payload is really encrypted to coord2:
    # the age layer itself refuses.
    refused(world, craft(world, encrypt_to=[world.coord2.age_recipient]), "not-for-us")
    # The reverse lie: decryptable by us, but the signed header does not list
    # us as a recipient.  Refused: the header is what the sender vouched for.
    lie = craft(world, encrypt_to=[world.coord.age_recipient], header_over={"recipients": [world.coord2.age_recipient]})
    refused(world, lie, "not-for-us")


def test_plaintext_hash_mismatch(world: World) -> None:
    err = refused(world, craft(world, header_over={"plaintext_sha256": "a" * 64}), "tampered")
    assert str(err) == "content does not match its signed hash"
    # Shorter than declared is also a mismatch.
    plain = msgpack.packb(PAYLOAD)
    refused(world, craft(world, plaintext=plain, header_over={"plaintext_size": len(plain) + 10}), "tampered")


def test_undecompressable_and_undecryptable(world: World) -> None:
    refused(world, craft(world, compressed=b"definitely not zstd"), "bad-format")


@pytest.mark.parametrize(
    "plaintext",
    [
        b"\xc1",  # a byte msgpack never uses
        msgpack.packb([1, 2, 3]),  # not a map
        msgpack.packb({"changes": "many"}),  # changes not a list
        msgpack.packb({1: "int key"}),  # non-str key
        msgpack.packb({"x": msgpack.ExtType(5, b"obj")}),  # ext types refused
        msgpack.packb({"changes": []}) + b"\x00",  # trailing data
        b"\xdd\xff\xff\xff\xff",  # array claiming 4 billion items: no giant allocation
        b"\x91" * 5000 + b"\xc0",  # nesting deeper than the decoder allows
    ],
)
def test_bad_msgpack(world: World, plaintext: bytes) -> None:
    err = refused(world, craft(world, plaintext=plaintext, header_over={"change_count": 0}), "bad-format")
    assert str(err).startswith("bundle content")


def test_change_count_limits(world: World) -> None:
    payload = {"changes": [{"i": i} for i in range(5)]}
    data = good(world, payload=payload)
    assert len(read(world, data).payload["changes"]) == 5
    err = refused(world, data, "too-large", limits=Limits(max_changes=3))
    assert "5 changes" in str(err)
    # A header under-declaring its count is caught after decoding.
    lying = craft(world, payload=payload, header_over={"change_count": 2})
    refused(world, lying, "too-large", limits=Limits(max_changes=3))
    refused(world, lying, "bad-format")
    # An over-limit declared count is refused from the (signed) header,
    # before anything is decrypted or inflated.
    undecodable = craft(world, compressed=b"not zstd at all", header_over={"change_count": 5})
    refused(world, undecodable, "bad-format")
    refused(world, undecodable, "too-large", limits=Limits(max_changes=3))


# --------------------------------------------------------------------------
# decompression bomb


@pytest.fixture(scope="module")
def zstd_bomb() -> bytes:
    """2 GiB of zeros as one zstd frame (about 64 KiB)."""
    cobj = zstandard.ZstdCompressor(level=1, write_content_size=False).compressobj()
    zeros = bytes(16 << 20)
    parts = [cobj.compress(zeros) for _ in range(128)]
    parts.append(cobj.flush())
    bomb = b"".join(parts)
    assert len(bomb) < 1 << 20
    return bomb


def _maxrss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def test_zstd_bomb_refused_before_inflating(world: World, zstd_bomb: bytes) -> None:
    # A rogue but enrolled device signs a bomb that declares a tiny size.
    data = craft(world, compressed=zstd_bomb, header_over={"plaintext_size": 1000, "plaintext_sha256": "b" * 64})
    before = _maxrss_bytes()
    err = refused(world, data, "too-large")
    assert "decompression bomb" in str(err)
    # Peak memory of the whole process grew by far less than 2 GiB.
    assert _maxrss_bytes() - before < 64 << 20


def test_zstd_bomb_capped_by_limit(world: World, zstd_bomb: bytes) -> None:
    # Honest declared size within the (lowered) limit, real content beyond it.
    data = craft(world, compressed=zstd_bomb, header_over={"plaintext_size": 8 << 20, "plaintext_sha256": "b" * 64})
    before = _maxrss_bytes()
    refused(world, data, "too-large", limits=Limits(max_plaintext_bytes=8 << 20))
    assert _maxrss_bytes() - before < 64 << 20


def test_declared_size_over_limit_refused_before_decrypting(world: World, zstd_bomb: bytes) -> None:
    data = craft(world, compressed=zstd_bomb, header_over={"plaintext_size": 2 << 30, "plaintext_sha256": "b" * 64})
    before = _maxrss_bytes()
    err = refused(world, data, "too-large")
    # The header check's message, not the streaming cap's: nothing was inflated.
    assert str(err) == f"bundle content is {2 << 30} bytes, more than the limit of {512 << 20}"
    assert _maxrss_bytes() - before < 64 << 20


# --------------------------------------------------------------------------
# writer refuses what readers would refuse


def test_writer_input_validation(world: World, tmp_path: Path) -> None:
    kw = dict(signer=world.worker, recipients=[world.coord.age_recipient])
    with pytest.raises(ValueError):
        build_bundle(header_fields=fields(change_count=3), payload=PAYLOAD, **kw)
    with pytest.raises(ValueError):
        build_bundle(header_fields={"program_id": PROGRAM}, payload=PAYLOAD, **kw)
    with pytest.raises(ValueError):
        build_bundle(header_fields=fields(source_device="Jane Doe"), payload=PAYLOAD, **kw)
    with pytest.raises(ValueError):
        build_bundle(header_fields=fields(), payload={"changes": [{1: "int key"}]}, **kw)
    with pytest.raises(ValueError):
        build_bundle(header_fields=fields(), payload={"changes": [1, 2, 3]}, limits=Limits(max_changes=2), **kw)
    with pytest.raises(ValueError):
        build_bundle(header_fields=fields(), payload=PAYLOAD, signer=world.worker, recipients=["age1nope"])
    with pytest.raises(ValueError):
        build_bundle(header_fields=fields(), payload=PAYLOAD, signer=world.worker, recipients=[])
    with pytest.raises(TypeError):
        build_bundle(header_fields=fields(), payload={"when": object()}, **kw)
    with pytest.raises(ValueError):
        write_bundle(tmp_path, header_fields=fields(kind="other"), payload=PAYLOAD, **kw)
    assert list(tmp_path.iterdir()) == []


def test_given_bundle_id_is_used(world: World) -> None:
    bid = "0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b"
    got, data = build_bundle(
        header_fields=fields(bundle_id=bid),
        payload=PAYLOAD,
        signer=world.worker,
        recipients=[world.coord.age_recipient],
    )
    assert got == bid and read(world, data).header["bundle_id"] == bid


# --------------------------------------------------------------------------
# property: any msgpack-able change stream round-trips exactly

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
    | st.binary(max_size=40)
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=25,
)
_changes = st.lists(st.dictionaries(st.text(max_size=12), _values, max_size=6), max_size=20)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(changes=_changes, ack=st.dictionaries(st.text(max_size=8), st.integers(0, 2**40), max_size=4))
def test_property_payload_round_trips(world: World, changes: list, ack: dict) -> None:
    payload = {"changes": changes, "ack": ack}
    _, data = build_bundle(
        header_fields=fields(), payload=payload, signer=world.worker, recipients=[world.coord.age_recipient]
    )
    opened = read(world, data)
    assert opened.payload == payload
    assert opened.header["change_count"] == len(changes)
    # Exact: same msgpack bytes (catches int/float or str/bytes confusion
    # that == would hide, e.g. 1 == 1.0).
    assert msgpack.packb(opened.payload, use_bin_type=True) == msgpack.packb(payload, use_bin_type=True)
