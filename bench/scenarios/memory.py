"""memory: peak RSS of the TUI holding the 10,000-client database after scrolling its caseload.

Subject: a fresh process running the real app under Pilot (unlock, caseload and all-clients
index loaded, caseload paged to the bottom and back). Baseline: a fresh process running the bare
Header/DataTable/Footer app holding as many rows as the database has clients, paged the same way.
The two run alternately; the figure is the median peak (VmHWM) of each.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from bench import tui_driver
from bench.core import PASSPHRASE, REPO_ROOT, Context, Figure, median, size_words, unavailable

NAME = "memory"
DESCRIPTION = "peak RSS of the TUI with 10,000 clients after scrolling, vs the bare app"
TARGET = "≤ 150 MB"


def _child(which: str, what: str, out) -> dict:
    env = dict(os.environ, BENCH_PASSPHRASE=PASSPHRASE, VIPTERM_CONFIG=os.devnull)
    proc = subprocess.run(
        [sys.executable, "-m", "bench.apps.memory", which, what, str(out)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=600,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the {which} memory child failed (exit {proc.returncode}): {proc.stderr.decode()[-400:]}")
    return json.loads(out.read_text("utf-8"))


def subject_missing() -> str | None:
    """Why the code this scenario measures cannot run yet, or None."""
    return tui_driver.tui_missing()


def run(ctx: Context) -> list[Figure]:
    missing = subject_missing()
    if missing:
        return [unavailable(NAME, "peak RSS after scrolling", TARGET, missing)]
    profile = ctx.profile
    path = ctx.datasets().copy(profile.caseload, ctx.work_dir / "memory")
    out = ctx.work_dir / "memory" / "peak.json"
    subject, baseline = [], []
    info = base_info = {}
    for n in range(profile.memory_rounds):
        order = [("vipterm", str(path)), ("bare", str(profile.caseload.clients))]
        for which, what in order if n % 2 == 0 else order[::-1]:
            result = _child(which, what, out)
            if which == "vipterm":
                subject.append(result["peak_mb"])
                info = result
            else:
                baseline.append(result["peak_mb"])
                base_info = result
    value, base = median(subject), median(baseline)
    return [
        Figure(
            NAME,
            "peak RSS after scrolling the caseload",
            "MB",
            value,
            base,
            f"bare app holding {profile.caseload.clients:,} rows",
            value / base,
            TARGET,
            value <= 150,
            samples=len(subject),
            size=f"{size_words(profile.caseload)}; {info.get('rows', 0):,} caseload rows "
            f"({info.get('table_rows', 0)} in the table), {info.get('index', 0):,} in the index",
            note=f"paged {info.get('pages')} pages (bare: {base_info.get('pages')}); "
            f"MB = MiB of VmHWM, whole process incl. Python, Textual and SQLCipher",
        )
    ]
