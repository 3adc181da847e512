"""The bundle layout checked and opened with the stock tools, as a coordinator would.

Runs the real ``tar``, ``minisign``, ``age`` and ``zstd`` binaries
(Debian: ``apt-get install minisign age zstd``).  Skipped, with the reason,
only when one of them is not installed.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import msgpack
import pytest

from vipterm.sync.bundle import read_bundle, write_bundle
from vipterm.sync.errors import BundleError
from vipterm.sync.keys import (
    DeviceKeys,
    RootKeys,
    minisign_public_key_file,
    normalize_signing_public,
    verify,
    write_minisign_public_key,
)
from vipterm.sync.roster import Roster, RosterEntry, sign_roster

TOOLS = ("tar", "minisign", "age", "zstd")
_missing = [t for t in TOOLS if shutil.which(t) is None]
pytestmark = pytest.mark.skipif(
    bool(_missing), reason=f"stock tools not installed: {', '.join(_missing)} (apt-get install minisign age zstd)"
)

PAYLOAD = {"changes": [{"t": "referral", "row": "0190-cc", "col": "service", "v": "shelter", "hlc": 3}], "ack": {}}


def run(*args: str | Path, cwd: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([str(a) for a in args], cwd=cwd, input=stdin, capture_output=True, timeout=60)


@pytest.fixture()
def bundle(tmp_path: Path):
    root = RootKeys.generate()
    worker, coord = DeviceKeys.generate(), DeviceKeys.generate()
    roster = Roster.new("prog-stock", root.signing_public)
    roster = roster.with_entry(
        RosterEntry("dev-w", "wk-1", "worker", worker.signing_public, worker.age_recipient, "2025-01-01T00:00:00+00:00")
    )
    roster = roster.with_entry(
        RosterEntry(
            "dev-c", "wk-2", "coordinator", coord.signing_public, coord.age_recipient, "2025-01-01T00:00:00+00:00"
        )
    )
    out = tmp_path / "outbox"
    out.mkdir()
    path = write_bundle(
        out,
        header_fields=dict(
            program_id="prog-stock",
            schema_version=2,
            kind="worker",
            source_device="dev-w",
            created_hlc=42,
            seq_first=1,
            seq_last=1,
        ),
        payload=PAYLOAD,
        signer=worker,
        recipients=roster.coordinator_recipients(),
        roster_blob=sign_roster(roster, root),
    )
    work = tmp_path / "check"
    work.mkdir()
    write_minisign_public_key(work / "device.pub", worker.signing_public)
    (work / "identity.txt").write_text(coord.age_identity_file())
    return path, work, worker, coord, roster


def test_tar_lists_and_extracts_in_order(bundle) -> None:
    path, work, *_ = bundle
    listing = run("tar", "-tf", path, cwd=work)
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.decode().split() == ["header.json", "payload.age", "payload.age.minisig", "roster.bin"]
    assert run("tar", "-xf", path, cwd=work).returncode == 0
    assert (work / "header.json").is_file() and (work / "payload.age").is_file()


def test_minisign_verifies_and_comment_binds_header(bundle) -> None:
    path, work, *_ = bundle
    run("tar", "-xf", path, cwd=work)
    res = run("minisign", "-Vm", "payload.age", "-p", "device.pub", cwd=work)
    assert res.returncode == 0, res.stderr
    out = res.stdout.decode()
    header_sha = hashlib.sha256((work / "header.json").read_bytes()).hexdigest()
    bundle_id = path.name.removesuffix(".vipb")
    assert f"Trusted comment: vipterm-bundle v1 {bundle_id} header-sha256:{header_sha}" in out
    # `sha256sum header.json` gives the same hash the coordinator compares.
    sha = run("sha256sum", "header.json", cwd=work)
    assert sha.stdout.decode().split()[0] == header_sha


def test_minisign_rejects_altered_payload(bundle) -> None:
    path, work, *_ = bundle
    run("tar", "-xf", path, cwd=work)
    p = work / "payload.age"
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 1
    p.write_bytes(bytes(data))
    res = run("minisign", "-Vm", "payload.age", "-p", "device.pub", cwd=work)
    assert res.returncode != 0


def test_minisign_rejects_other_key(bundle) -> None:
    path, work, *_ = bundle
    run("tar", "-xf", path, cwd=work)
    write_minisign_public_key(work / "other.pub", DeviceKeys.generate().signing_public)
    assert run("minisign", "-Vm", "payload.age", "-p", "other.pub", cwd=work).returncode != 0


def test_age_and_zstd_open_payload(bundle) -> None:
    path, work, *_ = bundle
    run("tar", "-xf", path, cwd=work)
    dec = run("age", "-d", "-i", "identity.txt", "payload.age", cwd=work)
    assert dec.returncode == 0, dec.stderr
    plain = run("zstd", "-d", "-c", cwd=work, stdin=dec.stdout)
    assert plain.returncode == 0, plain.stderr
    assert msgpack.unpackb(plain.stdout, raw=False) == PAYLOAD
    # The header's plaintext hash is the hash of exactly what the tools give.
    header = json.loads((work / "header.json").read_bytes())
    assert hashlib.sha256(plain.stdout).hexdigest() == header["plaintext_sha256"]
    assert len(plain.stdout) == header["plaintext_size"]


def test_age_refuses_other_identity(bundle) -> None:
    path, work, *_ = bundle
    run("tar", "-xf", path, cwd=work)
    (work / "other.txt").write_text(DeviceKeys.generate().age_identity_file())
    assert run("age", "-d", "-i", "other.txt", "payload.age", cwd=work).returncode != 0


def test_stock_minisign_key_interoperates(tmp_path: Path) -> None:
    # A key and signature made by the stock tool are understood by keys.verify,
    # and the .pub file we export matches the stock file byte for byte.
    res = run("minisign", "-G", "-W", "-p", "stock.pub", "-s", "stock.key", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    (tmp_path / "msg").write_bytes(b"hello vipterm")
    res = run("minisign", "-S", "-s", "stock.key", "-m", "msg", "-t", "stock comment", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    pub_text = (tmp_path / "stock.pub").read_bytes()
    comment = verify(b"hello vipterm", (tmp_path / "msg.minisig").read_bytes(), pub_text)
    assert comment == "stock comment"
    assert minisign_public_key_file(normalize_signing_public(pub_text)) == pub_text


def test_repacked_by_stock_tar_still_reads(bundle, tmp_path: Path) -> None:
    # A coordinator who extracted a bundle and re-packed it with GNU tar (same
    # member order) still has a valid bundle: nothing depends on tar metadata.
    path, work, worker, coord, roster = bundle
    run("tar", "-xf", path, cwd=work)
    repacked = tmp_path / "repacked.vipb"
    res = run(
        "tar",
        "--format=pax",
        "-cf",
        repacked,
        "header.json",
        "payload.age",
        "payload.age.minisig",
        "roster.bin",
        cwd=work,
    )
    assert res.returncode == 0, res.stderr
    opened = read_bundle(repacked, identity=coord, key_lookup=roster.key_status)
    assert opened.payload == PAYLOAD
    with tarfile.open(repacked) as tf:
        assert tf.getnames()[0] == "header.json"
    # ... but one altered member is still refused.
    (work / "header.json").write_bytes(
        (work / "header.json").read_bytes().replace(b'"created_hlc": 42', b'"created_hlc": 43')
    )
    res = run(
        "tar",
        "-cf",
        tmp_path / "edited.vipb",
        "header.json",
        "payload.age",
        "payload.age.minisig",
        "roster.bin",
        cwd=work,
    )
    assert res.returncode == 0, res.stderr
    with pytest.raises(BundleError) as info:
        read_bundle(tmp_path / "edited.vipb", identity=coord, key_lookup=roster.key_status)
    assert info.value.code == "bad-signature"
