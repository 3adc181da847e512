"""Byte-mutation fuzzing of the bundle reader.

Take one valid bundle, apply thousands of seeded random mutations (flip,
overwrite, truncate, insert, delete, splice, duplicate) and require that every
result is either refused with a BundleError carrying a known code, or — when
the mutation only touched bytes nothing depends on (tar padding, the
end-of-archive blocks, minisign's untrusted comment) — reads back exactly
equal to the original.  No other exception type may ever escape.
"""

from __future__ import annotations

import collections
import hashlib
import io
import json
import random
import tarfile
import traceback

import msgpack
import pyrage
import pytest
import zstandard

from vipterm.sync.bundle import (
    HEADER_NAME,
    PAYLOAD_NAME,
    SIGNATURE_NAME,
    Limits,
    build_bundle,
    pack_members,
    peek_header,
    read_bundle,
    trusted_comment_for,
)
from vipterm.sync.errors import KNOWN_CODES, BundleError
from vipterm.sync.keys import DeviceKeys, RootKeys
from vipterm.sync.roster import Roster, RosterEntry, sign_roster

SEED = 20250601
ITERATIONS = 8000
# Small limits keep every mutated read cheap, and exercise the limit paths.
LIMITS = Limits(max_plaintext_bytes=1 << 20, max_changes=1000)


@pytest.fixture(scope="module")
def fuzz_case():
    root = RootKeys.generate()
    worker, coord = DeviceKeys.generate(), DeviceKeys.generate()
    roster = Roster.new("prog-fuzz", root.signing_public)
    roster = roster.with_entry(
        RosterEntry("dev-w", "wk-1", "worker", worker.signing_public, worker.age_recipient, "2025-01-01T00:00:00+00:00")
    )
    roster = roster.with_entry(
        RosterEntry(
            "dev-c", "wk-2", "coordinator", coord.signing_public, coord.age_recipient, "2025-01-01T00:00:00+00:00"
        )
    )
    payload = {
        "changes": [{"t": "contact", "row": f"r{i}", "col": "note", "v": "x" * (i % 7), "hlc": i} for i in range(30)],
        "ack": {"dev-c": 3},
    }
    _, data = build_bundle(
        header_fields=dict(
            program_id="prog-fuzz",
            schema_version=1,
            kind="worker",
            source_device="dev-w",
            created_hlc=7,
            seq_first=1,
            seq_last=30,
        ),
        payload=payload,
        signer=worker,
        recipients=[coord.age_recipient],
        roster_blob=sign_roster(roster, root),
    )
    original = read_bundle(data, identity=coord, key_lookup=roster.key_status, limits=LIMITS)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tf:
        last = tf.getmembers()[-1]
    content_end = last.offset_data + last.size  # beyond: padding and end blocks
    return data, original, coord, roster, content_end, worker, payload


def mutate(rng: random.Random, data: bytes, content_end: int, donor: bytes) -> tuple[str, bytes]:
    # Aim most mutations at the meaningful part of the file, a few anywhere.
    def pos(limit: int | None = None) -> int:
        limit = limit or (content_end if rng.random() < 0.85 else len(data))
        return rng.randrange(limit)

    b = bytearray(data)
    kind = rng.choice(["flip", "flip", "byte", "truncate", "insert", "delete", "splice", "duplicate", "multi"])
    if kind == "flip":
        p = pos()
        b[p] ^= 1 << rng.randrange(8)
    elif kind == "byte":
        p = pos()
        b[p] = rng.randrange(256)
    elif kind == "truncate":
        b = b[: pos(len(data))]
    elif kind == "insert":
        p = pos()
        b[p:p] = rng.randbytes(rng.choice([1, 3, 512, rng.randrange(1, 2000)]))
    elif kind == "delete":
        p = pos()
        del b[p : p + rng.choice([1, 2, 512, rng.randrange(1, 2000)])]
    elif kind == "splice":
        # Overwrite with a chunk of another valid bundle (same keys, same
        # structure): the nastiest case for "looks plausible".
        n = rng.randrange(1, 1024)
        src = rng.randrange(max(1, len(donor) - n))
        p = pos()
        b[p : p + n] = donor[src : src + n]
    elif kind == "duplicate":
        n = rng.randrange(1, 1536)
        src = pos()
        p = pos()
        b[p:p] = b[src : src + n]
    else:
        for _ in range(rng.randrange(2, 10)):
            b[pos()] = rng.randrange(256)
    return kind, bytes(b)


def test_mutated_bundles_refused_or_identical(fuzz_case) -> None:
    data, original, coord, roster, content_end, _, _ = fuzz_case
    _, donor = build_bundle(
        header_fields=dict(
            program_id="prog-fuzz", schema_version=1, kind="worker", source_device="dev-w", created_hlc=8
        ),
        payload={"changes": [], "ack": {}},
        signer=DeviceKeys.generate(),  # not on the roster
        recipients=[coord.age_recipient],
    )
    rng = random.Random(SEED)
    outcomes: collections.Counter[str] = collections.Counter()
    for i in range(ITERATIONS):
        kind, mutated = mutate(rng, data, content_end, donor)
        if mutated == data:
            continue
        try:
            opened = read_bundle(mutated, identity=coord, key_lookup=roster.key_status, limits=LIMITS)
        except BundleError as err:
            assert err.code in KNOWN_CODES, (i, kind, err)
            assert str(err) and "\n" not in str(err), (i, kind, err)
            outcomes[err.code] += 1
        except Exception:  # noqa: BLE001 - the point of the test
            pytest.fail(f"iteration {i} ({kind}, seed {SEED}) let a non-BundleError escape:\n{traceback.format_exc()}")
        else:
            assert opened.header == original.header, (i, kind)
            assert opened.payload == original.payload, (i, kind)
            assert opened.roster_blob == original.roster_blob, (i, kind)
            outcomes["identical"] += 1
        # peek_header must be equally well-behaved on the same input.
        try:
            peek_header(mutated, LIMITS)
        except BundleError as err:
            assert err.code in KNOWN_CODES
        except Exception:  # noqa: BLE001
            pytest.fail(f"peek_header, iteration {i} ({kind}):\n{traceback.format_exc()}")
    # The fuzzer must actually reach both outcomes and several refusal
    # kinds, otherwise it is not testing what it claims.
    assert outcomes["identical"] > 0, outcomes
    refusal_codes = set(outcomes) - {"identical"}
    assert {"not-a-bundle", "bad-signature"} <= refusal_codes, outcomes
    assert len(refusal_codes) >= 4, outcomes


def signed_bundle(signer: DeviceKeys, recipient: str, plaintext: bytes, compressed: bytes, n_changes: int) -> bytes:
    """A correctly signed and encrypted bundle around arbitrary content bytes."""
    payload_age = pyrage.encrypt(compressed, [pyrage.x25519.Recipient.from_str(recipient)])
    header = {
        "format": "vipterm-bundle", "format_version": 1,
        "bundle_id": "0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b", "program_id": "prog-fuzz",
        "schema_version": 1, "kind": "worker", "source_device": "dev-w", "created_hlc": 1,
        "seq_first": None, "seq_last": None, "change_count": n_changes,
        "plaintext_size": len(plaintext), "plaintext_sha256": hashlib.sha256(plaintext).hexdigest(),
        "payload_sha256": hashlib.sha256(payload_age).hexdigest(), "roster_sha256": None,
        "recipients": [recipient], "extra": {},
    }  # fmt: skip
    header_bytes = json.dumps(header).encode()
    sig = signer.sign(payload_age, trusted_comment_for(header["bundle_id"], header_bytes))
    return pack_members([(HEADER_NAME, header_bytes), (PAYLOAD_NAME, payload_age), (SIGNATURE_NAME, sig)])


def test_signed_garbage_content_refused_cleanly(fuzz_case) -> None:
    """An enrolled but rogue (or buggy) device signs mutated content.

    The signature and hashes are all valid, so this drives the decompressor
    and the msgpack decoder with hostile bytes: they too may only ever raise
    a BundleError, or return a dict equal to what the bytes really encode.
    """
    _, _, coord, roster, _, worker, payload = fuzz_case
    plaintext = msgpack.packb(payload, use_bin_type=True)
    rng = random.Random(SEED + 1)
    outcomes: collections.Counter[str] = collections.Counter()
    for i in range(400):
        mutated = bytearray(plaintext)
        for _ in range(rng.randrange(1, 6)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        if rng.random() < 0.3:
            del mutated[rng.randrange(len(mutated)) :]
        mutated_plain = bytes(mutated)
        compressed = zstandard.ZstdCompressor().compress(mutated_plain)
        if rng.random() < 0.5:  # damage the zstd frame itself instead
            compressed = bytearray(zstandard.ZstdCompressor().compress(plaintext))
            compressed[rng.randrange(len(compressed))] = rng.randrange(256)
            compressed = bytes(compressed)
            try:
                mutated_plain = zstandard.ZstdDecompressor().decompress(compressed)
            except zstandard.ZstdError:
                mutated_plain = plaintext  # header declares the original
        data = signed_bundle(worker, coord.age_recipient, mutated_plain, compressed, len(payload["changes"]))
        try:
            opened = read_bundle(data, identity=coord, key_lookup=roster.key_status, limits=LIMITS)
        except BundleError as err:
            assert err.code in KNOWN_CODES, (i, err)
            outcomes[err.code] += 1
        except Exception:  # noqa: BLE001
            pytest.fail(f"iteration {i} let a non-BundleError escape:\n{traceback.format_exc()}")
        else:
            assert opened.payload == msgpack.unpackb(mutated_plain, raw=False, strict_map_key=False)
            outcomes["opened"] += 1
    assert outcomes["bad-format"] > 0 and outcomes["opened"] > 0, outcomes
