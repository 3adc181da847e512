"""Child process for the export memory benchmark: export a laptop's whole outbox, report peak RSS.

    python -m bench.apps.export_memory DB OUT_DIR RESULT_JSON   (raw key in $BENCH_RAW_KEY, hex
                                                                 key then hex salt, as RawKey)

Opens the enrolled laptop database with its raw key (no Argon2id derivation, whose 64 MiB would
count in the peak), runs the real `vipterm.services.sync.export` into OUT_DIR, then writes the
peak resident set size of the whole process (VmHWM), the RSS it had before the export, and the
bundles written to RESULT_JSON. A fresh process, so nothing measured before is counted.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from bench.apps.memory import peak_rss_mb


def current_rss_mb() -> float:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return peak_rss_mb()


def main(db: str, out_dir: str, result_path: str) -> None:
    from vipterm.services import sync
    from vipterm.services.database import open_store_with_key
    from vipterm.store.engine import RawKey

    key_hex, salt_hex = os.environ["BENCH_RAW_KEY"].split(":")
    store = open_store_with_key(Path(db), RawKey(bytes.fromhex(key_hex), bytes.fromhex(salt_hex)))
    try:
        before = current_rss_mb()
        start = time.perf_counter()
        results = sync.export(store, Path(out_dir))
        elapsed = time.perf_counter() - start
    finally:
        store.close()
    Path(result_path).write_text(
        json.dumps(
            {
                "peak_mb": peak_rss_mb(),
                "before_mb": before,
                "seconds": elapsed,
                "bundles": [
                    {
                        "changes": r.changes,
                        "bytes": r.path.stat().st_size,
                        "seq_first": r.seq_first,
                        "seq_last": r.seq_last,
                    }
                    for r in results
                ],
            }
        ),
        "utf-8",
    )


if __name__ == "__main__":
    main(*sys.argv[1:4])
