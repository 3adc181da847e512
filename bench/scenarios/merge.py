"""merge and re-import: that bundle imported into a coordinator database, then imported again.

Setup (untimed): the laptop exports its ~100,000 pending changes once. Subject: for each round, a
fresh copy of the enrolled coordinator (already unlocked) imports the bundle with
`vipterm.services.sync.import_bundles` — read, verify, decrypt, parse, plan, merge and commit in
one transaction. Baseline, alternating with it: the same change rows upserted with the standard
library's `sqlite3` `executemany` into a plain table (`bench.sync_baselines.raw_upsert`). Rates are
changes per second; the target is the subject's rate over the baseline's.

Re-import: the same bundle imported again into the coordinator that already holds it; it must
change nothing (checked: "already imported"), and the figure is the median time of that answer.
"""

from __future__ import annotations

import time

from sqlalchemy import text

from bench import sync_setup
from bench.core import Context, Figure, interleaved, median, percentile, unavailable
from bench.sync_baselines import raw_upsert, read_changes

NAME = "merge"
DESCRIPTION = "import of that bundle into a coordinator, vs sqlite3 executemany upsert; then re-import"
TARGET = "≥ 0.5× the raw upsert's rate"
REIMPORT_TARGET = "≤ 10 ms"


def subject_missing() -> str | None:
    return sync_setup.sync_missing()


def run(ctx: Context) -> list[Figure]:
    missing = subject_missing()
    if missing:
        return [
            unavailable(NAME, "import rate", TARGET, missing),
            unavailable(NAME, "re-import of the same bundle (median)", REIMPORT_TARGET, missing),
        ]
    from vipterm.services import sync

    cast = sync_setup.prepare(ctx, "merge")
    worker = cast.open_worker()
    try:
        bundle = sync.export(worker, cast.bundle_dir)[0].path
    finally:
        worker.close()
    rows = read_changes(cast.worker_path, cast.worker_raw)
    n = len(rows)
    upsert_db = ctx.work_dir / "merge" / "plain.sqlite"
    rounds = {"n": 0}
    last: dict = {}

    def subject() -> float:
        rounds["n"] += 1
        path, store = cast.fresh_coordinator(f"coordinator-{rounds['n'] % 2}.db")
        try:
            start = time.perf_counter()
            results = sync.import_bundles(store, [bundle])
            elapsed = time.perf_counter() - start
            if results[0].status != "applied":
                raise AssertionError(f"the import said {results[0].status}: {results[0].message}")
        finally:
            store.close()
        last["path"] = path
        return elapsed

    def baseline() -> float:
        return raw_upsert(rows, upsert_db)

    subject(), baseline()  # untimed warm-up
    subject_samples, baseline_samples = interleaved(subject, baseline, ctx.profile.sync_rounds)
    value, base = median(subject_samples), median(baseline_samples)
    rate, base_rate = n / value, n / base
    ratio = rate / base_rate

    # Re-import into the coordinator that holds it now.
    from vipterm.services.database import open_store_with_key

    store = open_store_with_key(last["path"], cast.coordinator_raw)
    try:
        with store.read() as session:
            before = session.execute(text("SELECT count(*) FROM change_log")).scalar_one()
        reimports = []
        for _ in range(ctx.profile.reimport_rounds):
            start = time.perf_counter()
            results = sync.import_bundles(store, [bundle])
            reimports.append(time.perf_counter() - start)
            if results[0].status != "already imported":
                raise AssertionError(f"re-import said {results[0].status}, not 'already imported'")
        with store.read() as session:
            after = session.execute(text("SELECT count(*) FROM change_log")).scalar_one()
        if after != before:
            raise AssertionError("the re-import changed the change log")
    finally:
        store.close()
    again = median(reimports)
    size = f"{n:,} field changes, bundle {bundle.stat().st_size / 1e6:.1f} MB"
    return [
        Figure(
            NAME,
            "import rate (median round)",
            "changes/s",
            rate,
            base_rate,
            "sqlite3 executemany upsert into a plain table",
            ratio,
            TARGET,
            ratio >= 0.5,
            samples=len(subject_samples),
            size=size,
            note=f"import {value:.2f} s vs upsert {base:.3f} s per {n:,} changes",
        ),
        Figure(
            NAME,
            "re-import of the same bundle (median)",
            "ms",
            again * 1000,
            target=REIMPORT_TARGET,
            holds=again <= 0.010,
            samples=len(reimports),
            size=size,
            note=f"p95 {percentile(reimports, 95) * 1000:.1f} ms; answered 'already imported', change log unchanged",
        ),
    ]
