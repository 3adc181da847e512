"""startup: the whole `vipterm` process, launch to the first interactive screen (headless).

Subject: `python -m bench.apps.launch vipterm DB` — the real `vipterm --db DB` entry point with
`App.run` made headless. Baseline: the same child running the bare Header/DataTable/Footer app.
Both are fresh interpreters, launched alternately; each figure is the time from just before
`Popen` to the moment the child's first screen had focus and was painted.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from bench import tui_driver
from bench.core import REPO_ROOT, Context, Figure, median, size_words, unavailable

NAME = "startup"
DESCRIPTION = "launch to first interactive screen, vs a bare Textual app"
TARGET = "≤ 1.5× the bare app"


def launch(which: str, db: str, out_dir) -> float:
    """Seconds from spawning the child to its first interactive frame."""
    out = out_dir / f"ready-{which}.txt"
    out.unlink(missing_ok=True)
    env = dict(os.environ, VIPTERM_CONFIG=os.devnull, PYTHONDONTWRITEBYTECODE="1")
    env.pop("VIPTERM_PASSPHRASE", None)
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "bench.apps.launch", which, db, str(out)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=120,
    )
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"the {which} child failed (exit {proc.returncode}): {proc.stderr.decode()[-400:]}")
    ready = float(out.read_text().split()[0])
    return ready - start


def subject_missing() -> str | None:
    """Why the code this scenario measures cannot run yet, or None."""
    return tui_driver.tui_missing()


def run(ctx: Context) -> list[Figure]:
    missing = subject_missing()
    if missing:
        return [unavailable(NAME, "launch → unlock screen (median)", TARGET, missing)]
    profile = ctx.profile
    db, _ = ctx.datasets().get(profile.program)
    ctx.work_dir.mkdir(parents=True, exist_ok=True)
    # One untimed launch each first: it fills the OS file cache and compiles bytecode.
    launch("vipterm", str(db), ctx.work_dir)
    launch("bare", "-", ctx.work_dir)
    subject, baseline = [], []
    for n in range(profile.startup_rounds):
        pair = [("vipterm", subject), ("bare", baseline)]
        for which, samples in pair if n % 2 == 0 else pair[::-1]:
            samples.append(launch(which, str(db), ctx.work_dir))
    value, base = median(subject), median(baseline)
    ratio = value / base
    return [
        Figure(
            NAME,
            "launch → unlock screen (median)",
            "s",
            value,
            base,
            "bare Textual app (Header, DataTable, Footer)",
            ratio,
            TARGET,
            ratio <= 1.5,
            samples=len(subject),
            size=size_words(profile.program),
            note=f"fresh interpreter each time; p90 {sorted(subject)[int(0.9 * (len(subject) - 1))]:.3f} s vs "
            f"{sorted(baseline)[int(0.9 * (len(baseline) - 1))]:.3f} s",
        )
    ]
