"""Auditor key export: `vipterm keys export` gives everything docs/bundle-format.md §8 needs to check
and open a real bundle with the stock `minisign`, `age`, `tar` and `zstd` — with the CLI alone."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile

import msgpack
import pytest

from tests.sync_support import PASSPHRASE, enrolled_program
from vipterm.services import records
from vipterm.services import sync as sync_service

TOOLS = ("minisign", "age", "zstd")
_missing = [t for t in TOOLS if shutil.which(t) is None]


def vip(*args):
    env = {**os.environ, "VIPTERM_PASSPHRASE": PASSPHRASE}
    env.pop("VIPTERM_DB", None)
    return subprocess.run(
        [sys.executable, "-m", "vipterm", *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def program(tmp_path):
    coord, (laptop,) = enrolled_program(tmp_path, "coord.db", ("laptop.db", "Worker One"))
    records.create_client(laptop, records.ClientDraft(first_name="Test", last_name="Person", area_command="valley"))
    out = tmp_path / "stick"
    out.mkdir()
    [bundle] = sync_service.export(laptop, out)
    ids = (coord.device_id, laptop.device_id)
    coord.close()
    laptop.close()
    return tmp_path, bundle.path, ids


@pytest.mark.skipif(bool(_missing), reason=f"stock tools not installed: {', '.join(_missing)}")
def test_auditor_checks_and_opens_a_bundle_with_stock_tools_and_the_cli_alone(program):
    tmp_path, bundle_path, (coord_id, laptop_id) = program
    keys = tmp_path / "keys"
    done = vip("keys", "export", "--db", tmp_path / "coord.db", "--out", keys, "--include-age-identity", "--yes")
    assert done.returncode == 0, done.stderr
    index = json.loads((keys / "keys.json").read_text())
    assert {d["device_id"] for d in index["devices"]} == {coord_id, laptop_id}
    assert "Worker One" not in (keys / "keys.json").read_text()  # ids only, never a name
    identity = keys / f"age-identity-{coord_id}.txt"
    assert stat.S_IMODE(identity.stat().st_mode) == 0o600 and "SECRET" in done.stdout
    assert (
        (keys / "root.pub").read_text().startswith(f"untrusted comment: minisign public key {index['root']['key_id']}")
    )

    work = tmp_path / "check"
    work.mkdir()
    with tarfile.open(bundle_path) as tf:
        tf.extractall(work, filter="data")
    header = json.loads((work / "header.json").read_text())
    # 1. the signature, with the laptop's public key as exported
    sig = subprocess.run(
        ["minisign", "-Vm", "payload.age", "-p", str(keys / f"device-{laptop_id}.pub")],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert sig.returncode == 0, sig.stderr
    # 2. the header is the one signed
    digest = hashlib.sha256((work / "header.json").read_bytes()).hexdigest()
    assert f"header-sha256:{digest}" in sig.stdout
    # ... and another device's key does not verify it
    other = subprocess.run(
        ["minisign", "-Vm", "payload.age", "-p", str(keys / f"device-{coord_id}.pub")],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert other.returncode != 0
    # 3. decrypt with the exported identity, decompress, compare with the signed hash
    age = subprocess.run(["age", "-d", "-i", str(identity), "payload.age"], cwd=work, capture_output=True, timeout=60)
    assert age.returncode == 0, age.stderr
    plain = subprocess.run(["zstd", "-d", "-c"], input=age.stdout, capture_output=True, timeout=60).stdout
    assert hashlib.sha256(plain).hexdigest() == header["plaintext_sha256"]
    assert len(msgpack.unpackb(plain, raw=False)["changes"]) == header["change_count"]


def test_age_identity_needs_confirmation_and_the_coordinator(program):
    tmp_path, _bundle, (coord_id, _laptop_id) = program
    keys = tmp_path / "keys"
    refused = vip("keys", "export", "--db", tmp_path / "coord.db", "--out", keys, "--include-age-identity")
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert not keys.exists() or not list(keys.iterdir())
    laptop = vip("keys", "export", "--db", tmp_path / "laptop.db", "--out", keys, "--include-age-identity", "--yes")
    assert laptop.returncode == 2 and "coordinator" in laptop.stderr and not list(keys.glob("age-identity-*"))
    public = vip("keys", "export", "--db", tmp_path / "laptop.db", "--out", tmp_path / "from-laptop")
    assert public.returncode == 0 and not list((tmp_path / "from-laptop").glob("age-identity-*"))
    coord_public = vip("keys", "export", "--db", tmp_path / "coord.db", "--out", tmp_path / "from-coord")
    assert coord_public.returncode == 0
    # Both sides export the same public keys (the laptop's roster is the coordinator's).
    assert (tmp_path / "from-laptop" / "root.pub").read_bytes() == (tmp_path / "from-coord" / "root.pub").read_bytes()
    again = vip("keys", "export", "--db", tmp_path / "coord.db", "--out", tmp_path / "from-coord")
    assert again.returncode == 2 and "already exists" in again.stderr
