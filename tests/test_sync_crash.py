"""Import is atomic: a process importing a large bundle is SIGKILLed at many points; each time the
coordinator database holds all of the bundle or none of it, and passes integrity_check.

The importer runs as the real command (`python -m vipterm sync import`). The test-only variable
VIPTERM_TEST_IMPORT_PAUSE makes it sleep between the steps of its one transaction, so the kills
land inside it; it changes nothing that is written.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
from datetime import date

import pytest
from sqlalchemy import text

from tests.conftest import open_known
from tests.sync_support import PASSPHRASE, enroll, new_coordinator
from vipterm.domain import Role
from vipterm.services import sync as sync_service
from vipterm.services.demo_data import DemoSize, generate


@pytest.mark.slow  # ~40 s: eight real importer processes, each killed at a different moment
def test_sigkill_during_import_leaves_all_or_nothing(tmp_path):
    worker_path = tmp_path / "laptop.db"
    generate(
        worker_path,
        PASSPHRASE,
        seed=5,
        size=DemoSize(workers=2, clients=40),
        until=date(2026, 6, 30),
        capture=True,
        role=Role.WORKER,
    )
    template = tmp_path / "coord-template.db"
    coord = new_coordinator(template)
    worker = open_known(worker_path, PASSPHRASE)
    enroll(coord, worker, tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    [bundle] = sync_service.export(worker, out)
    with worker.read() as s:
        total_clients = s.execute(text("SELECT count(*) FROM client")).scalar_one()
        total_contacts = s.execute(text("SELECT count(*) FROM contact")).scalar_one()
    worker.close()
    with coord.read() as s:
        base_versions = s.execute(text("SELECT count(*) FROM field_version")).scalar_one()
    coord.close()
    assert bundle.changes > 5000 and total_contacts > 100 and total_clients == 40
    # "All of the bundle" is what an import left alone takes: the demo laptop also holds the other
    # demo worker's clients, which the write scope holds in the quarantine instead.
    reference = tmp_path / "coord-reference.db"
    shutil.copy(template, reference)
    store = open_known(reference, PASSPHRASE)
    try:
        [whole] = sync_service.import_bundles(store, [bundle.path])
        assert not whole.refused
        with store.read() as s:
            total_clients = s.execute(text("SELECT count(*) FROM client")).scalar_one()
            total_contacts = s.execute(text("SELECT count(*) FROM contact")).scalar_one()
    finally:
        store.close()
    assert total_clients > 10 and total_contacts > 100

    rng = random.Random(1234)
    outcomes = []
    env = {**os.environ, "VIPTERM_PASSPHRASE": PASSPHRASE, sync_service.PAUSE_ENV: "0.25"}
    attempts = 8
    for attempt in range(attempts):
        target = tmp_path / f"coord-{attempt}.db"
        shutil.copy(template, target)
        proc = subprocess.Popen(
            [sys.executable, "-m", "vipterm", "sync", "import", "--db", str(target), str(bundle.path)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # Spread over the whole run (start-up, unlock, verify, the transaction, after the commit): the
        # kill comes at that moment, unless the importer has finished by then.
        try:
            proc.wait(timeout=0.3 + attempt * 0.85 + rng.uniform(0, 0.5))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        store = open_known(target, PASSPHRASE)
        try:
            with store.read() as s:
                assert s.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
                assert s.execute(text("PRAGMA foreign_key_check")).all() == []
                clients = s.execute(text("SELECT count(*) FROM client")).scalar_one()
                contacts = s.execute(text("SELECT count(*) FROM contact")).scalar_one()
                versions = s.execute(text("SELECT count(*) FROM field_version")).scalar_one()
                ledger = s.execute(text("SELECT count(*) FROM sync_bundle WHERE direction = 'in'")).scalar_one()
        finally:
            store.close()
        if ledger:
            assert (clients, contacts) == (total_clients, total_contacts)
            assert versions > 0
        else:  # nothing of it: not a record, not a field clock (the coordinator's own rows stay)
            assert (clients, contacts, versions) == (0, 0, base_versions)
        outcomes.append(bool(ledger))
    # The kills must have landed on both sides of the commit at least once to prove anything.
    assert not all(outcomes) and any(outcomes), outcomes
