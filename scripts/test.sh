#!/usr/bin/env bash
# Set up everything the tests need on a fresh machine, then run the whole suite.
# Usage: scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."

# System tools the end-to-end tests drive for real: tmux (a real terminal), minisign and age
# (the stock tools must verify and open our bundles), zstd, and Chromium (the report's HTML).
need=()
command -v tmux >/dev/null || need+=(tmux)
command -v minisign >/dev/null || need+=(minisign)
command -v age >/dev/null || need+=(age)
command -v zstd >/dev/null || need+=(zstd)
command -v chromium >/dev/null || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing ${need[*]} (Debian packages)"
    { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null; } \
      || echo "note: could not install ${need[*]}; the tests that need them will be skipped" >&2
  else
    echo "note: ${need[*]} not installed; the tests that need them will be skipped" >&2
  fi
fi

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
# One test process per core and one more (a third of the suite waits on subprocesses and Pilot,
# leaving a core idle), handing out work as workers free up; each test has its own folder.
# The gates (ruff, ruff format, mypy --strict, import-linter) are tests of the suite.
workers=$(( $(nproc 2>/dev/null || echo 2) + 1 ))
exec .venv/bin/python -m pytest -p no:cacheprovider -n "$workers" --dist worksteal "$@"
