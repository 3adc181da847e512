"""Benchmark databases, made by the project's own demo-data generator and cached by seed and size.

Generating the large program takes a minute or more, so each database is generated once into
`bench/.cache/` under a name that spells out everything that shapes it (seed, workers, clients,
contact rate, end date, role, captured or not, generator version) and copied for each scenario
that writes to it. The cached file is never opened for writing by a scenario.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from bench.core import BENCH_UNTIL, PASSPHRASE, SEED
from vipterm import domain
from vipterm.services import demo_data
from vipterm.services.demo_data import DemoSize, generate


def _generator_fingerprint() -> str:
    """A short hash of what shapes a generated file: the generator's source, the change capture's
    (what the change log and field clocks hold) and the schema version. A file made before any of
    them changed must not be reused: one from an older schema would be migrated inside a timed
    unlock, on every copy."""
    from vipterm.store.migrations import SCHEMA_VERSION
    from vipterm.sync import capture

    digest = hashlib.sha256()
    for module in (demo_data, capture):
        digest.update(Path(module.__file__).read_bytes())
    digest.update(str(SCHEMA_VERSION).encode())
    return digest.hexdigest()[:8]


class Datasets:
    def __init__(self, cache_dir: Path, log: Callable[[str], None] = lambda m: None):
        self.cache_dir = Path(cache_dir)
        self.log = log

    def name(self, size: DemoSize, *, role: domain.Role, capture: bool, seed: int = SEED) -> str:
        return (
            f"demo-s{seed}-w{size.workers}-c{size.clients}-r{size.contact_rate:g}-u{BENCH_UNTIL.isoformat()}"
            f"-{role.value}{'-captured' if capture else ''}-g{_generator_fingerprint()}.db"
        )

    def get(
        self, size: DemoSize, *, role: domain.Role = domain.Role.COORDINATOR, capture: bool = False, seed: int = SEED
    ) -> tuple[Path, dict[str, int] | None]:
        """The cached database's path (generated now if missing) and, when just generated, its row counts."""
        path = self.cache_dir / self.name(size, role=role, capture=capture, seed=seed)
        if path.exists():
            return path, None
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        self.log(f"generating {path.name} (once; cached afterwards)")
        start = time.perf_counter()
        counts = generate(
            partial, PASSPHRASE, seed=seed, size=size, until=BENCH_UNTIL, capture=capture, force=True, role=role
        )
        for suffix in ("-wal", "-shm"):
            Path(str(partial) + suffix).unlink(missing_ok=True)
        partial.rename(path)
        self.log(
            f"generated in {time.perf_counter() - start:.1f} s: "
            + ", ".join(f"{k} {v:,}" for k, v in counts.items() if v)
        )
        return path, counts

    def copy(
        self,
        size: DemoSize,
        into: Path,
        *,
        role: domain.Role = domain.Role.COORDINATOR,
        capture: bool = False,
        seed: int = SEED,
        name: str = "bench.db",
    ) -> Path:
        """A private copy of the cached database that a scenario may write to."""
        source, _ = self.get(size, role=role, capture=capture, seed=seed)
        into.mkdir(parents=True, exist_ok=True)
        target = into / name
        for suffix in ("-wal", "-shm"):
            Path(str(target) + suffix).unlink(missing_ok=True)
        shutil.copyfile(source, target)
        return target
