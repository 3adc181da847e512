"""vipterm's benchmarks: the numbers users feel, each against a baseline measured in the same run.

Run `python -m bench [SCENARIO…] [--profile tiny|small|large] [--json FILE]` from the repository
root. Every scenario lives in `bench/scenarios/`; databases come from the project's own demo-data
generator and are cached in `bench/.cache/` by seed and size (see `bench/datasets.py`). The run
prints a table and writes `bench/RESULTS.md` (see `bench/results.py`).

This package is not part of the installed application; nothing in `vipterm/` imports it.
"""
