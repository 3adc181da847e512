"""`python -m bench [SCENARIO…] [--profile tiny|small|large] [--json FILE] [--record]`: run and print; with
`--record`, also keep the figures in bench/results.json and re-render bench/RESULTS.md."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

from bench import results
from bench.core import DEFAULT_CACHE, PROFILES, Context, Figure
from bench.machine import describe
from bench.scenarios import all_scenarios


def build_parser(names: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="vipterm benchmarks: each figure against a baseline measured in the same run.",
        epilog="scenarios: " + ", ".join(names),
    )
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO", help="which to run (default: all)")
    parser.add_argument(
        "--profile",
        choices=list(PROFILES),
        default="small",
        help="database sizes and sample counts (default: small; tiny is for the smoke test "
        "and is not recorded in RESULTS.md)",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write this run's figures as JSON to FILE")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where generated databases are kept")
    parser.add_argument(
        "--record",
        action="store_true",
        help="also keep this run's figures in bench/results.json and re-render bench/RESULTS.md "
        "(without it, a run only prints and leaves the committed results alone)",
    )
    parser.add_argument(
        "--render",
        action="store_true",
        help="run nothing: re-render RESULTS.md from bench/results.json and bench/FINDINGS.md",
    )
    return parser


def run_scenarios(names: list[str], ctx: Context, scenarios: dict) -> dict[str, list[Figure]]:
    out: dict[str, list[Figure]] = {}
    for name in names:
        module = scenarios[name]
        ctx.log(f"── {name}: {module.DESCRIPTION}")
        start = time.perf_counter()
        try:
            figures = module.run(ctx)
        except Exception as exc:  # one broken scenario must not lose the others' figures
            ctx.log("".join(traceback.format_exception(exc)).rstrip())
            figures = [
                Figure(
                    name, "(scenario failed)", available=False, note=f"failed: {type(exc).__name__}: {str(exc)[:200]}"
                )
            ]
        out[name] = figures
        ctx.log(f"   {time.perf_counter() - start:.1f} s")
    return out


def main(argv: list[str] | None = None) -> int:
    scenarios = all_scenarios()
    parser = build_parser(list(scenarios))
    args = parser.parse_args(argv)
    unknown = [s for s in args.scenarios if s not in scenarios]
    if unknown:
        parser.error(f"unknown scenario {unknown[0]!r}; choose from {', '.join(scenarios)}")
    if args.record and args.profile == "tiny":
        parser.error("the tiny profile is for the smoke test and is never recorded; use --profile small or large")
    if args.render:
        document = json.loads(results.RESULTS_JSON.read_text("utf-8"))
        results.RESULTS_MD.write_text(results.render(document, list(scenarios)), "utf-8")
        return 0
    names = args.scenarios or list(scenarios)
    profile = PROFILES[args.profile]
    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    # A scratch folder of this run's own: two runs sharing a cache (its generated databases) must
    # not delete each other's copies half-way.
    args.cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="work-", dir=args.cache))
    ctx = Context(profile, cache_dir=args.cache, work_dir=work, log=log)
    machine = describe()
    log(
        f"profile {profile.name}; {machine['cores']} cores, {machine['memory']}; load {machine['load average at start']}"
    )
    try:
        figures_by_scenario = run_scenarios(names, ctx, scenarios)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    machine["load average at end"] = f"{os.getloadavg()[0]:.2f}"  # others' work on a shared machine shows here
    figures = [f for fs in figures_by_scenario.values() for f in fs]
    print("\n".join(results.table_lines(figures)))
    if args.json:
        args.json.write_text(
            json.dumps(
                {"profile": profile.name, "machine": machine, "figures": [f.as_dict() for f in figures]},
                indent=1,
                ensure_ascii=False,
            ),
            "utf-8",
        )
    if args.record:
        document = results.record(profile.name, figures_by_scenario, machine)
        results.RESULTS_MD.write_text(results.render(document, list(scenarios)), "utf-8")
        log(f"wrote {results.RESULTS_MD.relative_to(results.BENCH_ROOT.parent)}")
    failed = [f for f in figures if f.note.startswith("failed:")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
