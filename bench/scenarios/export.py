"""export: a laptop's ~100,000 pending field changes → a signed, encrypted bundle on disk.

Subject: `vipterm.services.sync.export(worker_store, folder)` on an enrolled laptop (store already
unlocked): outbox read, msgpack, zstd, age encryption to the coordinator, minisign signature, tar,
fsync and rename, ledger row. Baseline, alternating with it: the same rows read with a bare
cursor, msgpack'd, zstd'd and written with fsync (`bench.sync_baselines.raw_export`).

Second figure: the peak memory of a fresh process exporting ~1,000,000 pending changes (the
outbox is streamed and written as several bundles in sequence), target under 200 MB.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from bench import sync_setup
from bench.core import REPO_ROOT, Context, Figure, interleaved, median, size_words, unavailable
from bench.sync_baselines import raw_export
from vipterm.services.demo_data import DemoSize

NAME = "export"
DESCRIPTION = (
    "~100,000 pending field changes → bundle on disk, vs raw msgpack+zstd; peak memory exporting "
    "1,000,000 (split into several bundles)"
)
TARGET = "≤ 3× raw msgpack+zstd"


def subject_missing() -> str | None:
    return sync_setup.sync_missing()


def run(ctx: Context) -> list[Figure]:
    return [speed_figure(ctx), memory_figure(ctx)]


def speed_figure(ctx: Context) -> Figure:
    missing = subject_missing()
    if missing:
        return unavailable(NAME, "export → bundle on disk (median)", TARGET, missing)
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
            exported = sum(r.changes for r in results)
            if exported != cast.pending:
                raise AssertionError(f"exported {exported} changes, the outbox holds {cast.pending}")
            sizes["bundle"] = sum(r.path.stat().st_size for r in results)
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
    return Figure(
        NAME,
        "export → bundle on disk (median)",
        "s",
        value,
        base,
        "raw msgpack+zstd of the same rows",
        ratio,
        TARGET,
        ratio <= 3.0,
        samples=len(subject_samples),
        size=f"{cast.pending:,} pending field changes",
        note=f"bundle {sizes.get('bundle', 0) / 1e6:.1f} MB vs raw {sizes.get('raw', 0) / 1e6:.1f} MB; "
        f"{cast.pending / value:,.0f} changes/s",
    )


# --- memory: a million pending changes ---------------------------------------------------------

MEMORY_TARGET = "peak RSS < 200 MB"
# ~318 captured field changes per generated client: 3,300 clients give just over a million.
MILLION = DemoSize(workers=1, clients=3_300)


def memory_figure(ctx: Context) -> Figure:
    """Peak RSS of a fresh process exporting a laptop's outbox of ~1,000,000 changes.

    The outbox is the demo generator's, captured by the real change capture (cached in
    bench/.cache like the other databases; the tiny profile uses its small one). The child
    (`bench.apps.export_memory`) opens the store with its raw key and runs `sync.export`; the
    baseline is the same process after opening the store, before exporting."""
    metric = "export memory at 1,000,000 pending changes (peak RSS)"
    missing = subject_missing()
    if missing:
        return unavailable(NAME, metric, MEMORY_TARGET, missing)
    size = ctx.profile.pending if ctx.profile.name == "tiny" else MILLION
    cast = sync_setup.prepare(ctx, "export-memory", pending=size)
    out = cast.bundle_dir
    result_path = out.parent / "export-memory.json"
    raw = cast.worker_raw
    env = dict(os.environ, BENCH_RAW_KEY=f"{raw.key.hex()}:{raw.salt.hex()}", VIPTERM_CONFIG=os.devnull)
    proc = subprocess.run(
        [sys.executable, "-m", "bench.apps.export_memory", str(cast.worker_path), str(out), str(result_path)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=1800,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the export memory child failed (exit {proc.returncode}): {proc.stderr.decode()[-400:]}")
    info = json.loads(result_path.read_text("utf-8"))
    bundles = info["bundles"]
    exported = sum(b["changes"] for b in bundles)
    if exported != cast.pending:
        raise AssertionError(f"exported {exported} changes, the outbox holds {cast.pending}")
    peak, before = info["peak_mb"], info["before_mb"]
    return Figure(
        NAME,
        metric,
        "MB",
        peak,
        before,
        "the same process after unlocking, before exporting",
        peak / before,
        MEMORY_TARGET,
        peak < 200,
        samples=1,
        size=f"{cast.pending:,} pending field changes ({size_words(size)})",
        note=f"split into {len(bundles)} bundle(s) of ≤ {max(b['changes'] for b in bundles):,} changes, "
        f"{sum(b['bytes'] for b in bundles) / 1e6:.1f} MB in all; export took {info['seconds']:.1f} s "
        f"({cast.pending / info['seconds']:,.0f} changes/s); MB = MiB of VmHWM, whole process",
    )
