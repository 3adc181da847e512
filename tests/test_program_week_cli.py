"""A week of the program through the `vipterm` command (`python -m vipterm` subprocesses), with a
coordinator and three laptops: the weekly review (an incident, candidates new and existing) plans
custom notifications and assigns the people; the laptops receive them at the top of their
caseloads; the teams' attempts and contacts come back and mark the plans attempted; one client is
reassigned and a departing worker's whole caseload is handed over; the old laptop no longer holds
them, the new one has them with their history; a replacement laptop gets a caseload back.

Attempts and contacts are entered on the laptops through the services (the CLI has no data-entry
commands; those have their own tests); every review, assignment, enrollment and sync step is the
real command line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.conftest import open_known
from tests.sync_support import PASSPHRASE
from vipterm.services import caseload as caseload_service
from vipterm.services import records, review

TODAY = date(2026, 11, 23)  # conftest freezes the program clock (VIPTERM_NOW) for the subprocesses too


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
    store = open_known(path, PASSPHRASE)  # the key derived the first time this file is read here
    try:
        return fn(store)
    finally:
        store.close()


def held(path: Path, table: str = "client") -> set[str]:
    return with_store(path, lambda s: {r[0] for r in s.read().execute(text(f"SELECT id FROM {table}"))})


def contacts_of(path: Path, client_id: str) -> int:
    return with_store(
        path,
        lambda s: (
            s.read().execute(text("SELECT count(*) FROM contact WHERE client_id = :c"), {"c": client_id}).scalar_one()
        ),
    )


@pytest.mark.slow  # ~40 real vipterm processes
def test_a_week_of_the_program_from_the_command_line(tmp_path):
    coord = tmp_path / "coordinator.db"
    vip("coordinator", "init", "--db", str(coord))
    stick = tmp_path / "stick"
    stick.mkdir()
    names = ["Ana Ruiz", "Ben Okafor", "Cruz Vidal"]

    def enroll(laptop: Path, worker: str, *extra: str) -> str:
        request = vip("enroll", "request", "--db", str(laptop), "--out", str(stick)).stdout
        fingerprint = next(line.split()[1] for line in request.splitlines() if line.startswith("fingerprint:"))
        req = next(stick.glob("enroll-*.vipreq"))
        vip(
            "enroll",
            "approve",
            "--db",
            str(coord),
            str(req),
            "--fingerprint",
            fingerprint,
            "--worker",
            worker,
            "--yes",
            "--out",
            str(stick),
            *extra,
        )
        grant = next(stick.glob("grant-*.vipgrant"))
        vip("enroll", "accept", "--db", str(laptop), str(grant))
        req.unlink()
        grant.unlink()
        return json.loads(vip("sync", "status", "--db", str(laptop), "--json").stdout)["device_id"]

    laptops = {}
    for name in names:
        laptops[name] = tmp_path / f"laptop-{name.split()[0].lower()}.db"
        vip("init", "--db", str(laptops[name]), "--worker-name", name)
    devices = {name: enroll(laptops[name], name) for name in names}

    def sync_round(label: str, who: list[str]) -> None:
        up = tmp_path / f"up-{label}"
        up.mkdir()
        for name in who:
            vip("sync", "export", "--db", str(laptops[name]), "--to", str(up))
        vip("sync", "import", "--db", str(coord), str(up))
        back = tmp_path / f"back-{label}"
        back.mkdir()
        returned = json.loads(vip("sync", "export", "--db", str(coord), "--to", str(back), "--json").stdout)["bundles"]
        by_device = {item["for_device"]: item["file"] for item in returned}
        for name in who:
            [outcome] = json.loads(
                vip("sync", "import", "--db", str(laptops[name]), by_device[devices[name]], "--json").stdout
            )["results"]
            assert outcome["status"] == "applied", outcome

    # A client Ben already serves (entered on his laptop), who comes up again in this week's review.
    known = with_store(
        laptops["Ben Okafor"],
        lambda s: (
            records.create_client(
                s, records.ClientDraft(first_name="Known", last_name="Person", area_command="valley")
            ).id
        ),
    )
    sync_round("0", names)

    # --- the weekly review ----------------------------------------------------------------------
    incident = json.loads(
        vip(
            "review",
            "incident",
            "--db",
            str(coord),
            "--day",
            "2026-11-21",
            "--area",
            "southeast",
            "--source",
            "shooting_review",
            "--json",
        ).stdout
    )["id"]

    def candidate(*args: str) -> dict:
        return json.loads(
            vip(
                "review",
                "candidate",
                "--db",
                str(coord),
                "--incident",
                incident[:8],
                "--notify-on",
                "2026-11-24",
                "--json",
                *args,
            ).stdout
        )

    luis = candidate(
        "--first-name",
        "Luis",
        "--last-name",
        "Ortega",
        "--age-group",
        "18_24",
        "--worker",
        "Ana Ruiz",
        "--time",
        "10:00",
        "--team",
        "peer_support,police",
        "--flags",
        "retaliation_risk",
    )
    mara = candidate("--first-name", "Mara", "--last-name", "Soto", "--worker", "Ana Ruiz", "--setting", "hospital")
    # The same person again is refused until the coordinator says so; nothing is created meanwhile.
    again = vip(
        "review",
        "candidate",
        "--db",
        str(coord),
        "--first-name",
        "Luis",
        "--last-name",
        "Ortega",
        "--worker",
        "Ben Okafor",
        "--notify-on",
        "2026-11-24",
        ok=False,
    )
    assert again.returncode == 2 and luis["pseudonym"] in again.stderr and "Luis" not in again.stderr
    # An existing client (Ben's) goes to Ana with the plan.
    kept = candidate("--client", known[:10], "--worker", "Ana Ruiz", "--team", "peer_support,community_leader")
    assert not kept["new_client"] and kept["client_id"] == known
    shown = json.loads(vip("review", "show", "--db", str(coord), "--json").stdout)
    assert [c["plan"]["state"] for c in shown["candidates"]] == ["planned"] * 3
    assert len(held(coord)) == 3  # Luis, Mara, and the known client: no duplicate Luis

    # --- the laptops receive them ----------------------------------------------------------------
    sync_round("1", names)
    ana = laptops["Ana Ruiz"]
    assert {luis["client_id"], mara["client_id"], known} <= held(ana)
    assert held(ana, "planned_notification") == {luis["plan_id"], mara["plan_id"], kept["plan_id"]}
    assert known not in held(laptops["Ben Okafor"])  # it left Ben's caseload with the plan's assignment
    top = with_store(ana, lambda s: [r.client_id for r in caseload_service.caseload(s)][:3])
    assert set(top) == {luis["client_id"], mara["client_id"], known}

    # --- attempts and contacts on Ana's laptop -------------------------------------------------
    def field_work(s):
        records.record_notification(
            s,
            records.NotificationDraft(
                client_id=luis["client_id"],
                attempted_on=TODAY,
                outcome="delivered",
                team=[("Ana Ruiz", "peer_support")],
            ),
        )
        records.log_contact(s, records.ContactDraft(client_id=luis["client_id"], outcome="reached", mode="phone"))
        records.record_notification(
            s, records.NotificationDraft(client_id=mara["client_id"], attempted_on=TODAY, outcome="not_found")
        )
        return [p.client_id for p in review.open_plans(s)]

    assert with_store(ana, field_work) == [known]  # only the unattempted plan still leads
    sync_round("2", names)
    states = {
        c["client_id"]: c["plan"]["state"]
        for c in json.loads(vip("review", "show", "--db", str(coord), "--json").stdout)["candidates"]
    }
    assert states == {luis["client_id"]: "attempted", mara["client_id"]: "attempted", known: "planned"}

    # --- reassignment: one client to Ben, then Ana leaves and Cruz takes the rest ---------------------
    vip("clients", "assign", "--db", str(coord), luis["pseudonym"], "--to", "Ben Okafor")
    vip("clients", "assign", "--db", str(coord), "--from", "Ana Ruiz", "--to", "Cruz Vidal")
    sync_round("3", names)
    assert not held(ana) & {luis["client_id"], mara["client_id"], known}  # the old laptop erased them
    assert not held(ana, "planned_notification")
    assert luis["client_id"] in held(laptops["Ben Okafor"])
    assert contacts_of(laptops["Ben Okafor"], luis["client_id"]) == 1  # with its history
    assert {mara["client_id"], known} <= held(laptops["Cruz Vidal"])
    assert kept["plan_id"] in held(laptops["Cruz Vidal"], "planned_notification")  # the open plan follows the client
    plans = {
        c["client_id"]: c["plan"]
        for c in json.loads(vip("review", "show", "--db", str(coord), "--json").stdout)["candidates"]
    }
    # A handover moves the open plan's follow-up to the new worker with the client.
    assert (plans[known]["worker"], plans[known]["serving"]) == ("Cruz Vidal", "Cruz Vidal")

    # --- a replacement laptop for Cruz gets the caseload back --------------------------------------
    spare = tmp_path / "laptop-spare.db"
    vip("init", "--db", str(spare), "--worker-name", "Cruz Vidal")
    laptops["Cruz Vidal"] = spare
    devices["Cruz Vidal"] = enroll(spare, "Cruz Vidal", "--replaces", devices["Cruz Vidal"])
    sync_round("4", ["Cruz Vidal"])
    assert {mara["client_id"], known} <= held(spare)
    assert kept["plan_id"] in held(spare, "planned_notification")
    assert with_store(spare, lambda s: [r.client_id for r in caseload_service.caseload(s)][0]) == known
    attempts = with_store(
        spare,
        lambda s: (
            s.read()
            .execute(text("SELECT count(*) FROM notification_attempt WHERE client_id = :c"), {"c": mara["client_id"]})
            .scalar_one()
        ),
    )
    assert attempts == 1  # Mara's attempt came along with her
