"""export: a laptop's ~100,000 pending field changes → a signed, encrypted bundle on disk.

Subject: `vipterm.services.sync.export(worker_store, folder)` on an enrolled laptop (store already
unlocked): outbox read, msgpack, zstd, age encryption to the coordinator, minisign signature, tar,
fsync and rename, ledger row. Baseline, alternating with it: the same rows read with a bare
cursor, msgpack'd, zstd'd and written with fsync (`bench.sync_baselines.raw_export`).
"""

from __future__ import annotations

import time

from bench import sync_setup
from bench.core import Context, Figure, interleaved, median, unavailable
from bench.sync_baselines import raw_export

NAME = "export"
DESCRIPTION = "~100,000 pending field changes → bundle on disk, vs raw msgpack+zstd"
TARGET = "≤ 3× raw msgpack+zstd"


def subject_missing() -> str | None:
    return sync_setup.sync_missing()


def run(ctx: Context) -> list[Figure]:
    missing = subject_missing()
    if missing:
        return [unavailable(NAME, "export → bundle on disk (median)", TARGET, missing)]
    from vipterm.services import sync

    cast = sync_setup.prepare(ctx, "export")
    store = cast.open_worker()
    sizes: dict[str, int] = {}
    try:
        def subject() -> float:
            for old in cast.bundle_dir.glob("*"):
                old.unlink()
            start = time.perf_counter()
            results = sync.export(store, cast.bundle_dir)
            elapsed = time.perf_counter() - start
            if results[0].changes != cast.pending:
                raise AssertionError(f"exported {results[0].changes} changes, the outbox holds {cast.pending}")
            sizes["bundle"] = results[0].path.stat().st_size
            return elapsed

        def baseline() -> float:
            elapsed, size = raw_export(cast.worker_path, cast.worker_raw, cast.bundle_dir / "raw.msgpack.zst")
            sizes["raw"] = size
            return elapsed

        subject(), baseline()  # untimed: warm the file cache and the code paths
        subject_samples, baseline_samples = interleaved(subject, baseline, ctx.profile.sync_rounds)
    finally:
        store.close()
    value, base = median(subject_samples), median(baseline_samples)
    ratio = value / base
    return [Figure(
        NAME, "export → bundle on disk (median)", "s", value, base, "raw msgpack+zstd of the same rows", ratio,
        TARGET, ratio <= 3.0, samples=len(subject_samples), size=f"{cast.pending:,} pending field changes",
        note=f"bundle {sizes.get('bundle', 0) / 1e6:.1f} MB vs raw {sizes.get('raw', 0) / 1e6:.1f} MB; "
             f"{cast.pending / value:,.0f} changes/s",
    )]
