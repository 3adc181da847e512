"""The harness's vocabulary: profiles, the run context, figures with baselines and targets, statistics.

A scenario is a module in `bench/scenarios/` with a `NAME`, a `DESCRIPTION` and a
`run(ctx: Context) -> list[Figure]`. A figure is one measured number with its unit, the baseline
measured side by side in the same run (if the issue gives one), the ratio, and the target with
whether it holds. When the code a scenario measures has not landed yet, the scenario returns a
figure marked unavailable (no number at all) instead of a made-up one.
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

from vipterm.services.demo_data import DemoSize

BENCH_ROOT = Path(__file__).resolve().parent
REPO_ROOT = BENCH_ROOT.parent
DEFAULT_CACHE = BENCH_ROOT / ".cache"
PASSPHRASE = "bench-passphrase"
# A fixed "today" for the generated data, so the cache stays valid and runs are comparable.
BENCH_UNTIL = date(2026, 11, 23)
SEED = 7


@dataclass(frozen=True)
class Profile:
    """How big the databases are and how many samples each scenario takes."""

    name: str
    program: DemoSize  # the coordinator's whole program: report, startup database
    # The database the TUI scenarios open (the 10,000 clients). Every client is assigned to
    # the device's own worker, so the caseload opens on all of them, the heaviest view there is.
    caseload: DemoSize
    pending: DemoSize  # a worker database whose captured rows give the export/merge change stream
    startup_rounds: int  # process launches per side (subject and baseline, interleaved)
    unlock_rounds: int
    filter_keys: int
    saves: int
    sync_rounds: int  # export/merge/baseline repetitions
    reimport_rounds: int
    report_rounds: int
    memory_rounds: int


PROFILES: dict[str, Profile] = {
    # For the smoke test: every scenario end to end in seconds. Its numbers mean nothing.
    "tiny": Profile(
        "tiny",
        program=DemoSize(workers=2, clients=30),
        caseload=DemoSize(workers=1, clients=40),
        pending=DemoSize(workers=1, clients=6),
        startup_rounds=1,
        # "The rest" is a difference (the unlock less Argon2id alone): from one round each, a
        # busy test machine can make the KDF alone the slower and the figure negative.
        unlock_rounds=3,
        filter_keys=4,
        saves=2,
        sync_rounds=1,
        reimport_rounds=2,
        report_rounds=1,
        memory_rounds=1,
    ),
    # Albuquerque's size for the program; the TUI and sync scenarios use the sizes their targets name.
    "small": Profile(
        "small",
        program=DemoSize(workers=8, clients=900),
        caseload=DemoSize(workers=1, clients=10_000, contact_rate=0.85),
        pending=DemoSize(workers=1, clients=330),
        startup_rounds=10,
        unlock_rounds=7,
        filter_keys=200,
        saves=40,
        sync_rounds=3,
        reimport_rounds=30,
        report_rounds=7,
        memory_rounds=1,
    ),
    # A big city kept five years: 250 workers, 20,000 clients, ~300,000 contacts.
    "large": Profile(
        "large",
        program=DemoSize(workers=250, clients=20_000, contact_rate=0.85),
        caseload=DemoSize(workers=1, clients=10_000, contact_rate=0.85),
        pending=DemoSize(workers=1, clients=330),
        startup_rounds=20,
        unlock_rounds=9,
        filter_keys=200,
        saves=60,
        sync_rounds=5,
        reimport_rounds=50,
        report_rounds=9,
        memory_rounds=3,
    ),
}


@dataclass
class Context:
    """What a scenario gets: the profile, where the cache is, a scratch folder, a log."""

    profile: Profile
    cache_dir: Path = DEFAULT_CACHE
    work_dir: Path = field(default_factory=lambda: DEFAULT_CACHE / "work")
    log: Callable[[str], None] = lambda message: None
    cprofile: bool = False  # write a cProfile of each subject into work_dir (for chasing a missed target)

    def datasets(self):
        from bench.datasets import Datasets

        return Datasets(self.cache_dir, self.log)


@dataclass
class Figure:
    """One number with its baseline, ratio and target."""

    scenario: str
    metric: str
    unit: str = ""
    value: float | None = None
    baseline: float | None = None
    baseline_label: str = ""
    ratio: float | None = None  # value / baseline, or for rates subject rate / baseline rate
    target: str = ""
    holds: bool | None = None
    samples: int = 0
    size: str = ""  # the data it ran on, in words
    note: str = ""
    available: bool = True

    def as_dict(self) -> dict:
        return asdict(self)


def unavailable(scenario: str, metric: str, target: str, what: str) -> Figure:
    """The figure of a scenario whose subject has not landed: no number, and why."""
    return Figure(scenario, metric, target=target, available=False, note=f"not available yet: {what}")


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def percentile(samples: list[float], pct: float) -> float:
    """Nearest-rank percentile (no interpolation: a real sample that was observed)."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    """Seconds one call takes, with the collector run before so a pending sweep does not land in it."""
    gc.collect()
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def interleaved(
    subject: Callable[[], float], baseline: Callable[[], float], rounds: int
) -> tuple[list[float], list[float]]:
    """Run subject and baseline alternately (ABBA order), each returning its own measurement.

    Alternating spreads the noise of a shared machine evenly over both sides, so their ratio
    is meaningful even when the absolute numbers drift during the run.
    """
    subject_samples: list[float] = []
    baseline_samples: list[float] = []
    for n in range(rounds):
        if n % 2 == 0:
            subject_samples.append(subject())
            baseline_samples.append(baseline())
        else:
            baseline_samples.append(baseline())
            subject_samples.append(subject())
    return subject_samples, baseline_samples


def size_words(size: DemoSize) -> str:
    return f"{size.workers} workers, {size.clients:,} clients, contact rate {size.contact_rate:g}"
