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
import io
import random
import tarfile
import time
import traceback

import pytest

from vipterm.sync.bundle import Limits, build_bundle, peek_header, read_bundle
from vipterm.sync.errors import KNOWN_CODES, BundleError
from vipterm.sync.keys import DeviceKeys, Roster, RootKeys, RosterEntry, sign_roster

SEED = 20250601
ITERATIONS = 8000
# Small limits keep every mutated read cheap, and exercise the limit paths.
LIMITS = Limits(max_plaintext_bytes=1 << 20, max_changes=1000)


@pytest.fixture(scope="module")
def setup():
    root = RootKeys.generate()
    worker, coord = DeviceKeys.generate(), DeviceKeys.generate()
    roster = Roster.new("prog-fuzz", root.signing_public)
    roster = roster.with_entry(RosterEntry("dev-w", "wk-1", "worker", worker.signing_public, worker.age_recipient, "2025-01-01T00:00:00+00:00"))
    roster = roster.with_entry(RosterEntry("dev-c", "wk-2", "coordinator", coord.signing_public, coord.age_recipient, "2025-01-01T00:00:00+00:00"))
    payload = {
        "changes": [{"t": "contact", "row": f"r{i}", "col": "note", "v": "x" * (i % 7), "hlc": i} for i in range(30)],
        "ack": {"dev-c": 3},
    }
    _, data = build_bundle(
        header_fields=dict(program_id="prog-fuzz", schema_version=1, kind="worker", source_device="dev-w", created_hlc=7, seq_first=1, seq_last=30),
        payload=payload,
        signer=worker,
        recipients=[coord.age_recipient],
        roster_blob=sign_roster(roster, root),
    )
    original = read_bundle(data, identity=coord, key_lookup=roster.key_status, limits=LIMITS)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tf:
        last = tf.getmembers()[-1]
    content_end = last.offset_data + last.size  # beyond: padding and end blocks
    return data, original, coord, roster, content_end


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


def test_mutated_bundles_refused_or_identical(setup) -> None:
    data, original, coord, roster, content_end = setup
    _, donor = build_bundle(
        header_fields=dict(program_id="prog-fuzz", schema_version=1, kind="worker", source_device="dev-w", created_hlc=8),
        payload={"changes": [], "ack": {}},
        signer=DeviceKeys.generate(),  # not on the roster
        recipients=[coord.age_recipient],
    )
    rng = random.Random(SEED)
    outcomes: collections.Counter[str] = collections.Counter()
    started = time.monotonic()
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
    elapsed = time.monotonic() - started
    # The fuzzer must actually reach both outcomes and several refusal
    # kinds, otherwise it is not testing what it claims.
    assert outcomes["identical"] > 0, outcomes
    refusal_codes = set(outcomes) - {"identical"}
    assert {"not-a-bundle", "bad-signature"} <= refusal_codes, outcomes
    assert len(refusal_codes) >= 4, outcomes
    assert elapsed < 20, f"fuzz took {elapsed:.1f}s"
