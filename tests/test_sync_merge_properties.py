"""Property tests of the merge: three laptops and a coordinator edit at random (concurrent edits of
the same field, deletes, purges, a worker touching coordinator-owned fields, new clients and
contacts, reassignments); bundles of changes travel in random order with duplicates and gaps.
Once everything is delivered every honest replica holds the same synced data as the coordinator
for its caseload and nothing outside it, and every concurrent value that was overwritten is in
the coordinator's review queue or its quarantine.

A fourth, malicious laptop (enrolled, so its bundles are its own real changes) forges at random:
other workers' clients, attribution to other workers, staff names and roles, assignments,
invalid values, duplicate pseudonyms, references to missing records, deletes. Whatever it sends,
nothing outside its write scope changes at the coordinator, every stored value still passes the
rules, and the honest replicas still converge.

The replicas are in-memory SQLite databases with the real schema, the real capture hook and the
real merge, sequencing and return-bundle code (no crypto: that is the bundle layer's tests).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgpack
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.sync_support import FakeWall, Replica, make_client, make_contact, make_follow_up, make_worker
from vipterm.store.models import Client, ClientIdentity
from vipterm.sync import clock, outbox, validate
from vipterm.sync import merge as merge_engine
from vipterm.sync.capture import Capture, record_changes
from vipterm.sync.field_clocks import clocks_of
from vipterm.sync.merge import Change, MergeOptions
from vipterm.sync.scope import Scope

WORKERS = ["wk-1", "wk-2", "wk-3"]
DEVICES = ["dev-1", "dev-2", "dev-3"]
CLIENTS = [f"cl-{i:06d}" for i in range(4)]
MAL_DEVICE, MAL_WORKER, MAL_CLIENT = "dev-m", "wk-m", "cl-m00000"
WORKER_OF = {**dict(zip(DEVICES, WORKERS)), MAL_DEVICE: MAL_WORKER}
FIELDS = {
    "status": ["identified", "notified", "engaged", "active"],
    "area_command": ["valley", "foothills", "southeast"],
    "first_name": ["Ana", "Bea", "Cy"],
    "phone": ["505-555-0101", "505-555-0102"],
    "deleted_at": [None, "2026-05-01 10:00:00.000000"],
    "assigned_worker_id": WORKERS,  # coordinator-owned: a worker's change is refused and re-asserted
}


@dataclass
class World:
    wall: FakeWall
    coord: Replica
    workers: dict[str, Replica]
    mal: Replica | None = None
    mail_to_coord: list = field(default_factory=list)  # (device, first, last, changes, ack)
    mail_to_worker: dict = field(default_factory=dict)  # device -> [(since, upto, changes, ack)]
    inbox: list = field(default_factory=list)
    all_changes: dict = field(default_factory=dict)  # (hlc, device) -> Change, every field change made
    new_clients: int = 0
    forged_rows: set = field(default_factory=set)  # (table, row id) of records the malicious laptop made up

    def cursors(self, conn, device):
        return outbox.peer_cursors(conn, device)


def build_world() -> World:
    wall = FakeWall()
    coord = Replica("dev-c", "wk-c", wall, coordinator=True)
    with coord.write() as s:
        make_worker(s, "wk-c", "Coordinator")
        for w in WORKERS + [MAL_WORKER]:
            make_worker(s, w, "Worker")
    with coord.write() as s:
        for i, c in enumerate(CLIENTS):
            make_client(s, c, WORKERS[i % 3])
        make_client(s, MAL_CLIENT, MAL_WORKER)
    with coord.write() as s:
        for i, c in enumerate(CLIENTS):  # every client is shared by two workers
            make_follow_up(s, f"fu-{i:06d}", c, WORKERS[(i + 1) % 3])
    workers = {d: Replica(d, w, wall) for d, w in zip(DEVICES, WORKERS)}
    world = World(wall, coord, workers, mail_to_worker={d: [] for d in DEVICES + [MAL_DEVICE]})
    world.mal = Replica(MAL_DEVICE, MAL_WORKER, wall)
    for d in DEVICES + [MAL_DEVICE]:
        send_return(world, d)
        deliver_to_worker(world, d, 0)
    return world


def replica_of(world: World, device: str) -> Replica:
    return world.mal if device == MAL_DEVICE else world.workers[device]


def record_made(world: World, changes) -> None:
    for ch in changes:
        if ch.op == "set":
            world.all_changes[(ch.hlc, ch.device, ch.tbl, ch.row_id, ch.col)] = ch


def edit(world: World, device: str, client_idx: int, fname: str, value_idx: int) -> None:
    replica = world.coord if device == "dev-c" else world.workers[device]
    client_id = CLIENTS[client_idx % len(CLIENTS)]
    values = FIELDS[fname]
    value = values[value_idx % len(values)]
    with replica.write() as s:
        target = s.get(ClientIdentity if fname in ("first_name", "phone") else Client, client_id)
        if target is None:
            return
        if fname == "deleted_at" and value is not None:
            from datetime import datetime

            value = datetime.fromisoformat(value)
        setattr(target, fname, value)


def new_client(world: World, device: str) -> None:
    world.new_clients += 1
    replica = world.workers[device]
    with replica.write() as s:
        make_client(s, f"nc-{device}-{world.new_clients:04d}", replica.worker_id, first_name="New")


def add_contact(world: World, device: str, client_idx: int) -> None:
    replica = world.workers[device]
    client_id = CLIENTS[client_idx % len(CLIENTS)]
    with replica.engine.connect() as conn:
        if conn.exec_driver_sql("SELECT 1 FROM client WHERE id = ?", (client_id,)).first() is None:
            return
    world.new_clients += 1
    with replica.write() as s:
        make_contact(s, f"co-{device}-{world.new_clients:04d}", client_id, replica.worker_id)


# --- the malicious laptop ------------------------------------------------------------------------

FORGE_TARGETS = CLIENTS + [MAL_CLIENT, "cl-ghost0"]  # the ghost exists nowhere
FORGED_FIELDS = [
    ("client", "status", ["pwned", "active"]),
    ("client", "identified_on", [12345, "2026-01-02", "2031-01-01"]),
    ("client", "assigned_worker_id", [MAL_WORKER, "wk-1", "wk-nobody"]),
    ("client", "deleted_at", ["2026-05-01 10:00:00.000000"]),
    ("client", "pseudonym", ["VIP-000000", "VIP-FORGED"]),
    ("client", "risk_flags", ["bogus", "retaliation_risk"]),
    ("client_identity", "phone", ["505-555-0999", "x" * 300]),
    ("client_identity", "first_name", ["Zed", "\x1b[2J"]),
]
STAMP = "2026-05-01 10:00:00.000000"


def forge(world: World, kind: int, target: int, pick: int) -> None:
    """One forged change (or new record) in the malicious laptop's outbox, captured as its own."""
    world.new_clients += 1
    n = world.new_clients
    client_id = FORGE_TARGETS[target % len(FORGE_TARGETS)]
    someone = (WORKERS + [MAL_WORKER, "wk-c"])[pick % 5]
    kind %= 6
    if kind == 0:
        tbl, col, values = FORGED_FIELDS[pick % len(FORGED_FIELDS)]
        changes = [(tbl, client_id, col, values[(pick // len(FORGED_FIELDS)) % len(values)])]
    elif kind == 1:  # a contact about any client, attributed to anyone
        row = f"fc-{n:05d}"
        world.forged_rows.add(("contact", row))
        values = dict(
            client_id=client_id,
            worker_id=someone,
            occurred_at=STAMP,
            mode="in_person",
            purpose="check_in",
            outcome="reached" if pick % 3 else "pwned",
            duration_min=None,
            area_command="valley",
            note="",
            created_at=STAMP,
            deleted_at=None,
        )
        changes = [("contact", row, c, values.get(c)) for c in merge_engine.tables()["contact"].columns[1:]]
    elif kind == 2:  # staff: rename the coordinator, a new coordinator, its own role, its own name
        changes = [
            [("worker", "wk-c", "display_name", "Pwned")],
            [
                ("worker", f"fw-{n:05d}", "display_name", "Boss"),
                ("worker", f"fw-{n:05d}", "role", "coordinator"),
                ("worker", f"fw-{n:05d}", "active", 1),
                ("worker", f"fw-{n:05d}", "created_at", STAMP),
                ("worker", f"fw-{n:05d}", "deleted_at", None),
            ],
            [("worker", MAL_WORKER, "role", "coordinator")],
            [("worker", MAL_WORKER, "display_name", f"Mal {n}")],
            [("worker", "wk-1", "active", 0)],
        ][pick % 5]
        if pick % 5 == 1:
            world.forged_rows.add(("worker", f"fw-{n:05d}"))
    elif kind == 3:  # a new client, assigned to anyone, maybe with a pseudonym already taken
        row = f"fn-{n:05d}"
        world.forged_rows.add(("client", row))
        values = dict(
            pseudonym="VIP-000001" if pick % 2 else f"VIP-F{n:05d}",
            age_group="unknown",
            area_command="valley",
            referral_source="other",
            status="identified",
            risk_flags="",
            assigned_worker_id=someone,
            identified_on="2026-01-05",
            created_at=STAMP,
            deleted_at=None,
        )
        changes = [("client", row, c, values.get(c)) for c in merge_engine.tables()["client"].columns[1:]]
    elif kind == 4:  # a follow-up for anyone on any client
        row = f"ff-{n:05d}"
        world.forged_rows.add(("follow_up", row))
        values = dict(
            client_id=client_id,
            owner_id=someone,
            due_on="2026-06-01",
            kind="contact",
            note="",
            done_at=None,
            done_by=None,
            created_at=STAMP,
            deleted_at=None,
        )
        changes = [("follow_up", row, c, values.get(c)) for c in merge_engine.tables()["follow_up"].columns[1:]]
    else:  # delete someone's follow-up (the coordinator's, shared)
        changes = [("follow_up", f"fu-{target % len(CLIENTS):06d}", "deleted_at", STAMP)]
    with world.mal.write() as s:
        record_changes(s, Capture(MAL_DEVICE, wall=world.wall), changes)


def purge(world: World, client_idx: int) -> None:
    with world.coord.engine.begin() as conn:
        merge_engine.purge_rows(conn, "dev-c", "client", [CLIENTS[client_idx % len(CLIENTS)]], wall=world.wall)


def export(world: World, device: str, only_new: bool) -> None:
    replica = replica_of(world, device)
    with replica.engine.begin() as conn:
        cur = outbox.peer_cursors(conn, "dev-c")
        after = cur["exported_upto"] if only_new else cur["acked_upto"]
        changes = outbox.pending_changes(conn, device, max(after, cur["acked_upto"]))
        last_seq = int(conn.exec_driver_sql("SELECT next_seq FROM sync_state").scalar_one()) - 1
        outbox.update_peer(conn, "dev-c", exported_upto=last_seq)
    record_made(world, changes)
    first = max(after, cur["acked_upto"]) + 1
    if first > last_seq:
        first = last = None
    else:
        last = last_seq
    world.mail_to_coord.append((device, first, last, changes, cur["received_upto"]))


def deliver_to_coord(world: World, index: int, keep: bool) -> None:
    if not world.mail_to_coord:
        return
    msg = world.mail_to_coord[index % len(world.mail_to_coord)]
    if not keep:
        world.mail_to_coord.remove(msg)
    coordinator_import(world, msg)


def coordinator_import(world: World, msg) -> str:
    device, first, last, changes, ack = msg
    coord = world.coord
    with coord.engine.begin() as conn:
        held = outbox.peer_cursors(conn, device)["received_upto"]
        verdict = outbox.sequence_verdict(held, first, last)
        if verdict == "gap":
            world.inbox.append(msg)
            return verdict
        if verdict == "apply":
            fresh = [c for c in changes if c.seq > held]
            plan = merge_engine.plan_merge(
                conn,
                fresh,
                MergeOptions(
                    from_worker=True,
                    record_conflicts=True,
                    keep_log=True,
                    allow_purge=False,
                    touch=True,
                    scope=Scope(device, WORKER_OF[device]),
                ),
            )
            tick = merge_engine.observe_clock(conn, max(plan.max_hlc, 0), world.wall())
            merge_engine.apply_plan(conn, plan, tick=tick)
            merge_engine.reassert_fields(conn, plan, "dev-c", wall=world.wall)
            outbox.mark_sent(conn, device, plan.new_clients, 0)
            if last is not None:
                outbox.update_peer(conn, device, received_upto=last)
        outbox.update_peer(conn, device, acked_upto=ack)
    if verdict == "apply":
        for waiting in list(world.inbox):  # a filled gap releases what waited behind it
            if waiting[0] == device:
                world.inbox.remove(waiting)
                coordinator_import(world, waiting)
    return verdict


def send_return(world: World, device: str) -> None:
    coord = world.coord
    worker_id = WORKER_OF[device]
    with coord.engine.begin() as conn:
        cur = outbox.peer_cursors(conn, device)
        since = cur["acked_upto"]
        last = conn.exec_driver_sql("SELECT last_hlc FROM sync_state").scalar_one()
        upto = clock.tick(int(last), world.wall())
        conn.exec_driver_sql("UPDATE sync_state SET last_hlc = ?", (upto,))
        erase = outbox.erase_notices(
            conn, for_device=device, since=since, watermark=upto, caseload=outbox.caseload_client_ids(conn, worker_id)
        )
        changes, whole = outbox.return_changes(
            conn, for_device=device, worker_id=worker_id, since=since, coordinator_device="dev-c"
        )
        outbox.mark_sent(conn, device, whole, upto)
        outbox.update_peer(conn, device, exported_upto=upto)
    world.mail_to_worker[device].append((since, upto, changes, cur["received_upto"], erase))


def deliver_to_worker(world: World, device: str, index: int, keep: bool = False) -> None:
    box = world.mail_to_worker[device]
    if not box:
        return
    msg = box[index % len(box)]
    if not keep:
        box.remove(msg)
    since, upto, changes, ack, erase = msg
    replica = replica_of(world, device)
    with replica.engine.begin() as conn:
        held = outbox.peer_cursors(conn, "dev-c")["received_upto"]
        verdict = outbox.sequence_verdict(held, since + 1, upto)
        assert verdict != "gap"
        if verdict == "replay":  # an older return bundle after a newer one: stale, not applied
            changes, erase = [], []
        plan = merge_engine.plan_merge(conn, changes, MergeOptions(made_at_least_ms=clock.physical_ms(upto)))
        assert not plan.held, [h.reason for h in plan.held]  # the coordinator sends only valid records
        if plan.max_hlc:
            merge_engine.observe_clock(conn, plan.max_hlc, world.wall())
        merge_engine.apply_plan(conn, plan)
        outbox.update_peer(conn, "dev-c", received_upto=upto, acked_upto=ack)
        outbox.prune_outbox(conn, device, outbox.peer_cursors(conn, "dev-c")["acked_upto"])
        merge_engine.erase_clients(conn, erase, keep_log_of=device)


def settle(world: World, rng_order: list[int]) -> None:
    """Deliver everything: rounds of export / import / return until nothing new moves."""
    for _round in range(4):
        for d in DEVICES + [MAL_DEVICE]:
            export(world, d, only_new=False)
        order = sorted(range(len(world.mail_to_coord)), key=lambda i: rng_order[i % len(rng_order)] if rng_order else i)
        msgs = [world.mail_to_coord[i] for i in order]
        world.mail_to_coord.clear()
        for msg in msgs:
            coordinator_import(world, msg)
        assert not world.inbox or _round < 3
        for d in DEVICES + [MAL_DEVICE]:
            send_return(world, d)
            while world.mail_to_worker[d]:
                deliver_to_worker(world, d, len(world.mail_to_worker[d]) - 1)
    assert not world.inbox


EDIT = st.tuples(
    st.just("edit"),
    st.sampled_from(DEVICES + ["dev-c"]),
    st.integers(0, 1),
    st.sampled_from(sorted(FIELDS)),
    st.integers(0, 3),
)
OPS = st.one_of(
    EDIT,
    EDIT,
    EDIT,  # edits of two busy clients dominate, so concurrent edits of one field are common
    st.tuples(st.just("contact"), st.sampled_from(DEVICES), st.integers(0, 3)),
    st.tuples(st.just("new_client"), st.sampled_from(DEVICES)),
    st.tuples(st.just("purge"), st.integers(0, 3)),
    st.tuples(st.just("export"), st.sampled_from(DEVICES), st.booleans()),
    st.tuples(st.just("deliver_coord"), st.integers(0, 20), st.booleans()),
    st.tuples(st.just("return"), st.sampled_from(DEVICES)),
    st.tuples(st.just("deliver_worker"), st.sampled_from(DEVICES), st.integers(0, 20), st.booleans()),
    st.tuples(st.just("tick"), st.integers(-5000, 5000)),
    st.tuples(st.just("forge"), st.integers(0, 5), st.integers(0, 6), st.integers(0, 40)),
    st.tuples(st.just("forge"), st.integers(0, 5), st.integers(0, 6), st.integers(0, 40)),
    st.tuples(st.just("export"), st.just(MAL_DEVICE), st.booleans()),
)


def run_ops(world: World, ops) -> None:
    for op in ops:
        kind = op[0]
        if kind == "edit":
            _, device, ci, fname, vi = op
            edit(world, device, ci, fname, vi)
        elif kind == "contact":
            add_contact(world, op[1], op[2])
        elif kind == "new_client":
            new_client(world, op[1])
        elif kind == "purge":
            purge(world, op[1])
        elif kind == "export":
            export(world, op[1], op[2])
        elif kind == "deliver_coord":
            deliver_to_coord(world, op[1], op[2])
        elif kind == "return":
            send_return(world, op[1])
        elif kind == "deliver_worker":
            deliver_to_worker(world, op[1], op[2], op[3])
        elif kind == "tick":
            world.wall.advance(op[1])  # clocks may go backwards: the HLC must not
        elif kind == "forge":
            forge(world, op[1], op[2], op[3])


def rows_for_worker(replica: Replica, client_ids: set[str]) -> dict[str, list[tuple]]:
    dump = replica.dump()
    out = {}
    with replica.engine.connect() as conn:
        for tbl, (link, via) in outbox.CLIENT_LINK.items():
            if via is None:
                keep = {
                    r[0]
                    for r in conn.exec_driver_sql(
                        f"SELECT {'id' if tbl != 'client_identity' else 'client_id'}, {link} FROM {tbl}"
                    )
                    if r[1] in client_ids
                }
            else:
                keep = {
                    r[0]
                    for r in conn.exec_driver_sql(
                        f"SELECT t.id, p.client_id FROM {tbl} t JOIN {via} p ON p.id = t.{link}"
                    )
                    if r[1] in client_ids
                }
            out[tbl] = [r for r in dump[tbl] if r[0] in keep]
    out["worker"] = dump["worker"]
    out["provider"] = dump["provider"]
    return out


def check_world(world: World) -> None:
    coord = world.coord
    with coord.engine.connect() as conn:
        purged = {r[0] for r in conn.exec_driver_sql("SELECT row_id FROM sync_purged WHERE tbl = 'client'")}
        own = outbox.pending_changes(conn, "dev-c", 0)
    record_made(world, own)
    # 1. Every laptop agrees with the coordinator on its whole caseload, and holds no purged client.
    for device, replica in world.workers.items():
        with coord.engine.connect() as conn:
            caseload = outbox.caseload_client_ids(conn, replica.worker_id)
        assert rows_for_worker(replica, caseload) == rows_for_worker(coord, caseload), device
        with replica.engine.connect() as conn:
            held = {r[0] for r in conn.exec_driver_sql("SELECT id FROM client")}
        assert not held & purged
        assert held <= caseload, device  # the caseload boundary: nothing else stays on a laptop
    # 2. The coordinator holds every client created anywhere (unless purged) and every contact.
    coord_clients = {r[0] for r in coord.dump()["client"]}
    for replica in world.workers.values():
        assert {r[0] for r in replica.dump()["client"]} - purged <= coord_clients
    # 3. Nothing lost: every line of edits that ended elsewhere than the winner is in the queue.
    conflicts = coord.conflicts()
    lost = {(t, r, c, lh, ld) for t, r, c, _kv, _kh, _kd, _lv, lh, ld in conflicts}
    held_back = quarantined(coord)
    with coord.engine.connect() as conn:
        versions = {}
        for t, r in {tuple(k) for k in conn.exec_driver_sql("SELECT DISTINCT tbl, row_id FROM field_version")}:
            versions.update({(t, r, c): clock for (_r, c), clock in clocks_of(conn, t, [r]).items()})
        current = {}
        for t, r, c in versions:
            pk = "client_id" if t == "client_identity" else "id"
            row = conn.exec_driver_sql(f'SELECT "{c}" FROM {t} WHERE {pk} = ?', (r,)).first()
            current[(t, r, c)] = row[0] if row else None
    by_field: dict = {}
    built_on: dict = {}  # (table, row, column) -> clocks some change (the forger's too) was based on
    for (stamp, device, t, r, c), ch in world.all_changes.items():
        built_on.setdefault((t, r, c), set()).add((ch.base_hlc, ch.base_device))
        if t not in ("client", "client_identity") or r in purged:
            continue
        if c in ("assigned_worker_id",) and device != "dev-c":
            continue  # refused and reported, by design never a conflict
        if device == MAL_DEVICE or (t, r, c, stamp, device) in held_back:
            continue  # not applied: it waits in the quarantine (checked below for the forger)
        by_field.setdefault((t, r, c), []).append(ch)
    for key, items in by_field.items():
        bases = built_on[key]
        winner = versions.get(key)
        for ch in items:
            version = (ch.hlc, ch.device)
            if version in bases or version == winner:
                continue  # not a tip: someone built on it, or it is the value kept
            if msgpack.unpackb(ch.value) == current.get(key):
                continue  # same value as kept: nothing lost
            assert (*key, ch.hlc, ch.device) in lost, f"overwritten concurrent value not queued: {key}"
    check_forger(world)


def quarantined(replica: Replica) -> set[tuple]:
    from vipterm.sync.quarantine import unpack_changes

    out = set()
    with replica.engine.connect() as conn:
        for (blob,) in conn.exec_driver_sql("SELECT changes FROM sync_quarantine WHERE kind = 'change'"):
            out.update((ch.tbl, ch.row_id, ch.col, ch.hlc, ch.device) for ch in unpack_changes(blob))
    return out


def check_forger(world: World) -> None:
    """Nothing outside the malicious laptop's write scope changed at the coordinator, and every
    stored value passes the rules (so every list and the report keep working)."""
    coord = world.coord
    with coord.engine.connect() as conn:
        owner = dict(conn.exec_driver_sql("SELECT id, assigned_worker_id FROM client").all())
        mine = {c for c, w in owner.items() if w == MAL_WORKER}
        client_of = {}
        for tbl in (
            "client_identity",
            "contact",
            "follow_up",
            "notification_attempt",
            "outcome",
            "referral",
            "assessment",
        ):
            pk = merge_engine.tables()[tbl].pk
            client_of.update({(tbl, r): c for r, c in conn.exec_driver_sql(f"SELECT {pk}, client_id FROM {tbl}")})
        # 4. Every field whose value the forger set is a field it may write.
        for tbl, row_id, col in conn.exec_driver_sql(
            "SELECT tbl, row_id, col FROM field_version WHERE device = ?", (MAL_DEVICE,)
        ):
            if tbl == "worker":
                assert row_id == MAL_WORKER and col == "display_name", (tbl, row_id, col)
            else:
                client = row_id if tbl == "client" else client_of.get((tbl, row_id))
                assert client in mine, (tbl, row_id, col)  # its own client (assigned to it: never reassigned by it)
        # 5. Every record it made up and that was applied is its own, about its own client.
        for tbl, row_id in world.forged_rows:
            pk = merge_engine.tables()[tbl].pk
            row = conn.exec_driver_sql(f"SELECT * FROM {tbl} WHERE {pk} = ?", (row_id,)).mappings().first()
            if row is None:
                continue
            if tbl == "worker":
                raise AssertionError("a staff row made up by a laptop was applied")
            if tbl == "client":
                assert row["assigned_worker_id"] == MAL_WORKER
            else:
                assert row["client_id"] in mine
                assert row.get("worker_id", row.get("owner_id")) == MAL_WORKER
        # 6. The staff list is the coordinator's: names and roles as it set them.
        staff = {
            r[0]: (r[1], r[2], r[3]) for r in conn.exec_driver_sql("SELECT id, display_name, role, active FROM worker")
        }
        assert {w: v for w, v in staff.items() if w != MAL_WORKER} == {
            "wk-c": ("Coordinator", "worker", 1),
            **{w: ("Worker", "worker", 1) for w in WORKERS},
        }
        assert staff[MAL_WORKER][1:] == ("worker", 1)  # its own name it may change, never its role
        # 7. Every stored value passes the rules.
        for tbl, ti in merge_engine.tables().items():
            cols = ti.columns
            for row in conn.exec_driver_sql(f"SELECT {', '.join(cols)} FROM {tbl}"):
                values = dict(zip(cols[1:], row[1:]))
                problem = validate.check_row(tbl, values, world.wall() + 10**10)
                assert problem is None, (tbl, problem)
        pseudonyms = [r[0] for r in conn.exec_driver_sql("SELECT pseudonym FROM client")]
        assert len(pseudonyms) == len(set(pseudonyms))


@settings(max_examples=60, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(OPS, min_size=5, max_size=45), order=st.lists(st.integers(0, 1000), max_size=30))
@example(ops=[("edit", "dev-1", 0, "status", 1), ("tick", 100), ("edit", "dev-c", 0, "status", 2)], order=[])
@example(
    ops=[("edit", "dev-1", 0, "area_command", 0), ("return", "dev-1"), ("edit", "dev-c", 0, "assigned_worker_id", 1)],
    order=[],
)  # a return bundle made before a reassignment, delivered after the next one
@example(
    ops=[
        ("edit", "dev-1", 0, "phone", 0),
        ("edit", "dev-2", 0, "phone", 1),
        ("export", "dev-2", True),
        ("deliver_coord", 0, True),
        ("edit", "dev-2", 0, "phone", 0),
        ("export", "dev-2", True),
        ("edit", "dev-1", 0, "assigned_worker_id", 2),
        ("purge", 3),
    ],
    order=[3, 1, 2],
)
def test_replicas_converge_and_nothing_concurrent_is_lost(ops, order):
    world = build_world()
    run_ops(world, ops)
    settle(world, order)
    check_world(world)


@settings(max_examples=40, deadline=None)
@given(perm=st.permutations(list(range(6))), dup=st.lists(st.integers(0, 5), max_size=4))
def test_merge_order_and_duplicates_do_not_matter(perm, dup):
    """The same worker changes applied in any order, any number of times, give the same state."""
    wall = FakeWall()
    source = Replica("dev-s", "wk-s", wall)
    with source.write() as s:
        make_worker(s, "wk-s", "Source")
    with source.write() as s:
        make_client(s, CLIENTS[0], "wk-s")
    batches: list[list[Change]] = [source.pending(0)]
    for i in range(5):
        seq0 = source.last_seq()
        wall.advance(-700 if i % 2 else 900)
        with source.write() as s:
            c = s.get(Client, CLIENTS[0])
            c.status = FIELDS["status"][i % 4]
            c.area_command = FIELDS["area_command"][i % 3]
        batches.append(source.pending(seq0))

    def replay(order):
        target = Replica("dev-t", "wk-t", FakeWall())
        for i in order:
            target.merge(batches[i], MergeOptions())
        return target.dump()

    reference = replay(range(6))
    assert reference["client"][0][5] == FIELDS["status"][4 % 4]
    assert reference == source.dump()
    # Creation must come first for a new row (later batches alone are incomplete rows), so
    # deliver batch 0 first, then the rest in any order, with duplicates.
    order = [0] + [p for p in perm if p != 0] + list(dup)
    assert replay(order) == reference
