"""Three laptops and a coordinator, driven through the `vipterm` command (`python -m vipterm`
subprocesses), exchange bundles by copying files in shuffled order: the coordinator ends with
every laptop's records and the conflict between two of them, every laptop gets its caseload
back, and a tampered copy is refused with exit 7 and nothing changed.

Records are entered on the laptops through the services (data entry has its own tests); every
sync step is the real command line.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.sync_support import PASSPHRASE, file_state
from vipterm.services import records
from vipterm.services.database import open_store


def vip(*args: str, ok: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "VIPTERM_PASSPHRASE": PASSPHRASE}
    env.pop("VIPTERM_DB", None)
    result = subprocess.run(
        [sys.executable, "-m", "vipterm", *args], env=env, capture_output=True, text=True, timeout=120
    )
    if ok:
        assert result.returncode == 0, (args, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result


def with_store(path: Path, fn):
    store = open_store(path, PASSPHRASE)
    try:
        return fn(store)
    finally:
        store.close()


@pytest.mark.slow  # ~60 s: about fifty real vipterm processes
def test_three_laptops_and_a_coordinator_by_copying_files(tmp_path):
    rng = random.Random(42)
    coord = tmp_path / "coordinator.db"
    vip("coordinator", "init", "--db", str(coord))
    laptops = [tmp_path / f"laptop{i}.db" for i in range(3)]
    stick = tmp_path / "usb-stick"
    stick.mkdir()
    for i, laptop in enumerate(laptops):
        vip("init", "--db", str(laptop), "--worker-name", f"Peer Worker {i}")
        request = vip("enroll", "request", "--db", str(laptop), "--out", str(stick)).stdout
        fingerprint = next(line.split()[1] for line in request.splitlines() if line.startswith("fingerprint:"))
        req_file = next(stick.glob("enroll-*.vipreq"))
        if i == 0:  # a wrong fingerprint (someone else's laptop) is refused
            bad = vip(
                "enroll",
                "approve",
                "--db",
                str(coord),
                str(req_file),
                "--fingerprint",
                "AAAA-BBBB",
                "--worker",
                f"Peer Worker {i}",
                "--yes",
                "--out",
                str(stick),
                ok=False,
            )
            assert bad.returncode == 7 and "does not match" in bad.stderr
        approved = vip(
            "enroll",
            "approve",
            "--db",
            str(coord),
            str(req_file),
            "--fingerprint",
            fingerprint,
            "--worker",
            f"Peer Worker {i}",
            "--yes",
            "--out",
            str(stick),
        ).stdout
        assert f"serves      Peer Worker {i} (new worker)" in approved and fingerprint in approved
        grant = next(stick.glob("grant-*.vipgrant"))
        vip("enroll", "accept", "--db", str(laptop), str(grant))
        req_file.unlink()
        grant.unlink()

    # Each laptop registers two clients; laptops 0 and 1 also edit a shared client later.
    made = {}
    for i, laptop in enumerate(laptops):
        made[i] = with_store(
            laptop,
            lambda s, i=i: [
                records.create_client(s, records.ClientDraft(first_name=f"Client{i}{k}", area_command="valley")).id
                for k in range(2)
            ],
        )

    inbox = tmp_path / "coordinator-inbox"
    inbox.mkdir()

    device_of = {}
    for laptop in laptops:
        device_of[json.loads(vip("sync", "status", "--db", str(laptop), "--json").stdout)["device_id"]] = laptop

    def round_trip(label: str, only_new: bool = False, try_all: bool = False) -> list[dict]:
        outgoing = tmp_path / f"out-{label}"
        outgoing.mkdir()
        for laptop in laptops:
            vip("sync", "export", "--db", str(laptop), "--to", str(outgoing), *(["--only-new"] if only_new else []))
        files = sorted(outgoing.glob("*.vipb"))
        rng.shuffle(files)
        for f in files:
            shutil.copy(f, inbox / f.name)
        # shuffled order, with one duplicate copy
        order = [str(inbox / f.name) for f in files + files[:1]]
        results = json.loads(vip("sync", "import", "--db", str(coord), *order, "--json").stdout)["results"]
        back = tmp_path / f"back-{label}"
        back.mkdir()
        returned = json.loads(vip("sync", "export", "--db", str(coord), "--to", str(back), "--json").stdout)["bundles"]
        assert len(returned) == 3
        for item in returned:
            laptop = device_of[item["for_device"]]
            if try_all:  # every laptop imports the whole folder: its own opens, the others' are skipped
                outcomes = json.loads(vip("sync", "import", "--db", str(laptop), str(back), "--json").stdout)["results"]
                assert sorted(o["status"] for o in outcomes) == ["applied", "skipped", "skipped"]
                other = next(r["file"] for r in returned if r["for_device"] != item["for_device"])
                named = vip("sync", "import", "--db", str(laptop), other, "--json", ok=False)
                assert named.returncode == 7 and json.loads(named.stdout)["results"][0]["code"] == "not-for-us"
            else:
                [outcome] = json.loads(vip("sync", "import", "--db", str(laptop), item["file"], "--json").stdout)[
                    "results"
                ]
                assert outcome["status"] == "applied"
        return results

    first = round_trip("1", try_all=True)
    assert {r["status"] for r in first} == {"applied", "already imported"}

    # The coordinator reassigns laptop 0's first client to laptop 2's worker: it moves between caseloads.
    with open_store(coord, PASSPHRASE) as store:
        with store.read() as s:
            worker2 = s.execute(text("SELECT id FROM worker WHERE display_name = 'Peer Worker 2'")).scalar_one()
        shared = made[0][0]
        records.update_client(store, shared, assigned_worker_id=worker2)
    round_trip("2")
    holds = lambda path: with_store(path, lambda s: {r[0] for r in s.read().execute(text("SELECT id FROM client"))})  # noqa: E731
    assert shared in holds(laptops[2]) and shared not in holds(laptops[0])  # the old laptop erased it

    # Concurrent edits of the same field: the coordinator and the laptop now serving the client.
    with_store(coord, lambda s: records.update_client(s, shared, area_command="foothills"))
    with_store(laptops[2], lambda s: records.update_client(s, shared, area_command="southeast"))
    round_trip("3", only_new=True)

    conflicts = json.loads(vip("conflicts", "list", "--db", str(coord), "--json").stdout)["conflicts"]
    assert len(conflicts) == 1 and conflicts[0]["field"] == "area_command"
    assert {conflicts[0]["current"], conflicts[0]["other"]} == {"foothills", "southeast"}
    assert "Client" not in json.dumps(conflicts)  # names never appear: records by pseudonym
    vip("conflicts", "resolve", "--db", str(coord), conflicts[0]["id"], "--value", "northwest")
    assert json.loads(vip("conflicts", "list", "--db", str(coord), "--json").stdout)["conflicts"] == []
    round_trip("4")

    # The coordinator has every laptop's clients; each laptop has exactly its caseload; all agree.
    coord_clients = with_store(
        coord, lambda s: {r[0]: r[1] for r in s.read().execute(text("SELECT id, area_command FROM client"))}
    )
    assert set(coord_clients) == {c for ids in made.values() for c in ids}
    assert coord_clients[shared] == "northwest"
    caseloads = {0: set(made[0]) - {shared}, 1: set(made[1]), 2: set(made[2]) | {shared}}
    for i, laptop in enumerate(laptops):
        held = with_store(
            laptop, lambda s: {r[0]: r[1] for r in s.read().execute(text("SELECT id, area_command FROM client"))}
        )
        assert set(held) == caseloads[i]
        assert all(coord_clients[c] == v for c, v in held.items())

    # A tampered copy is refused with exit 7 and the coordinator's file is unchanged.
    vip("sync", "export", "--db", str(laptops[1]), "--to", str(stick))
    good = next(stick.glob("*.vipb"))
    data = bytearray(good.read_bytes())
    data[data.find(b"age-encryption.org") + 120] ^= 0xFF
    good.write_bytes(bytes(data))
    store = open_store(coord, PASSPHRASE)
    before = file_state(store)
    store.close()
    refused = vip("sync", "import", "--db", str(coord), str(good), ok=False)
    assert refused.returncode == 7 and "altered" in refused.stdout
    store = open_store(coord, PASSPHRASE)
    assert file_state(store) == before
    store.close()

    status = json.loads(vip("sync", "status", "--db", str(coord), "--json").stdout)
    assert status["open_conflicts"] == 0 and len(status["devices"]) == 4
