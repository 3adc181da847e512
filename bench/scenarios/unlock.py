"""unlock: passphrase submitted → caseload of the 10,000-client database shown and responsive.

Each round starts a fresh `VipApp` under Pilot on a private copy of the database, puts the
passphrase in the unlock field and presses Enter; the clock stops when the caseload's rows are
painted and the message loop answers again. The Argon2id derivation (~0.25 s by design, paid once
per unlock) is timed on its own in the same rounds so the split KDF / the rest can be reported;
the caseload query alone is timed too, as the first suspect when "the rest" is slow.
"""

from __future__ import annotations

import time

from bench import tui_driver
from bench.core import PASSPHRASE, Context, Figure, median, size_words, unavailable

NAME = "unlock"
DESCRIPTION = "passphrase submitted → 10,000-client caseload shown and responsive"
# Argon2id alone takes ~0.2 s by design (more on a busy machine), so the target is set on what
# comes after it: open, check, query and paint within 0.15 s of the key being derived.
REST_TARGET_S = 0.15
TARGET = f"KDF + ≤ {REST_TARGET_S} s (median)"


async def _one_round(path) -> dict[str, float]:
    app = tui_driver.make_app(path)
    async with app.run_test(size=tui_driver.SIZE) as pilot:
        times = await tui_driver.unlock(pilot, PASSPHRASE)
        screen = tui_driver.caseload_screen(app)
        times["rows"] = len(screen.rows) if screen else 0
        times["index_rows"] = len(app.client_index)
        await pilot.press("ctrl+q")
    return times


def _kdf_seconds(path) -> tuple[float, float]:
    """Argon2id alone: (wall-clock, CPU) seconds."""
    from vipterm.store import engine

    salt = engine.read_salt(path)
    start, start_cpu = time.perf_counter(), time.process_time()
    engine.derive_key(PASSPHRASE, salt)
    return time.perf_counter() - start, time.process_time() - start_cpu


def _caseload_query_seconds(path) -> float:
    from vipterm.services import caseload
    from vipterm.services.database import open_store

    store = open_store(path, PASSPHRASE)
    try:
        start = time.perf_counter()
        caseload.caseload(store)
        return time.perf_counter() - start
    finally:
        store.close()


def subject_missing() -> str | None:
    """Why the code this scenario measures cannot run yet, or None."""
    return tui_driver.tui_missing()


def run(ctx: Context) -> list[Figure]:
    missing = subject_missing()
    if missing:
        return [unavailable(NAME, "submit → caseload shown (median)", TARGET, missing)]
    profile = ctx.profile
    path = ctx.datasets().copy(profile.caseload, ctx.work_dir / "unlock")
    tui_driver.run_async(_one_round, path)  # untimed: migrates the copy if needed, warms the file cache
    totals, kdfs, indexes, queries, rest_cpu = [], [], [], [], []
    rows = index_rows = 0
    for _ in range(profile.unlock_rounds):
        times = tui_driver.run_async(_one_round, path)
        totals.append(times["shown"])
        indexes.append(times["index"])
        rows, index_rows = int(times["rows"]), int(times["index_rows"])
        kdf_wall, kdf_cpu = _kdf_seconds(path)
        kdfs.append(kdf_wall)
        rest_cpu.append(times["shown_cpu"] - kdf_cpu)
        queries.append(_caseload_query_seconds(path))
    total, kdf = median(totals), median(kdfs)
    size = f"{size_words(profile.caseload)}; {rows:,} open clients in the caseload, {index_rows:,} in the index"
    rest = total - kdf
    return [
        Figure(
            NAME,
            "submit → caseload shown (median)",
            "s",
            total,
            target=TARGET,
            holds=rest <= REST_TARGET_S,
            samples=len(totals),
            size=size,
            note=f"of which Argon2id KDF {kdf:.3f} s (by design), the rest {rest:.3f} s",
        ),
        Figure(
            NAME,
            "  Argon2id key derivation alone (median)",
            "s",
            kdf,
            samples=len(kdfs),
            size="64 MiB, t=3, p=1",
            note="fixed by the file format; not weakened for the benchmark",
        ),
        Figure(
            NAME,
            "  the rest: open, migrate check, caseload, paint (median)",
            "s",
            rest,
            samples=len(totals),
            target=f"≤ {REST_TARGET_S} s",
            holds=rest <= REST_TARGET_S,
            note="drafts, backup reminder, palette index and warm-up start after the first paint",
        ),
        Figure(
            NAME,
            "  the rest, in CPU time of all the app's threads (median)",
            "s",
            median(rest_cpu),
            samples=len(rest_cpu),
            target=f"≤ {REST_TARGET_S} s",
            holds=median(rest_cpu) <= REST_TARGET_S,
            note="submit → shown in process CPU time minus Argon2id's: what the rest would take on an idle "
            "machine, little inflated by other processes' load (wall-clock time is)",
        ),
        Figure(NAME, "  caseload query alone (median)", "s", median(queries), samples=len(queries), size=size),
        Figure(
            NAME,
            "submit → all-clients index loaded (median)",
            "s",
            median(indexes),
            samples=len(indexes),
            size=size,
            note="the palette's index, loaded in a thread once the caseload is painted",
        ),
    ]
