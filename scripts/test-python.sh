#!/usr/bin/env bash
# The suite's portable core on a second CPython (default 3.13, the newest vipterm supports; the
# whole suite runs on the interpreter scripts/test.sh uses). It covers what differs between Python
# versions: the compiled dependencies (SQLCipher, Argon2, age, zstd, libsodium, msgpack), the key,
# roster and bundle formats, stock-tool interop, migrations, the CLI and the TUI's unlock and
# snapshots. Needs `pythonX.Y` on PATH or a pyenv install of it (Debian 12 ships no 3.13);
# without one it says so and passes.
# Usage: scripts/test-python.sh [X.Y] [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:-3.13}
shift || true
# The first candidate that really is that version (a pyenv shim on PATH may only say "not found").
py=""
for candidate in "$(command -v "python$version" || true)" \
                 "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$version"*/bin/python"$version"; do
  if [ -n "$candidate" ] && [ -x "$candidate" ] && "$candidate" -c \
      "import sys; sys.exit(sys.version.split()[0].rsplit('.', 1)[0] != '$version')" >/dev/null 2>&1; then
    py=$candidate
    break
  fi
done
if [ -z "$py" ]; then
  echo "note: no Python $version on this machine; the suite ran on $(python3 --version 2>&1) only" >&2
  exit 0
fi
venv=".venv-$version"
"$py" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q -e '.[test]'
subset=()
for test in tests/test_minisign_format.py tests/test_keys_roster.py tests/test_bundle_format.py \
            tests/test_stock_tools.py tests/test_store_encryption.py tests/test_migrations.py \
            tests/test_portability.py tests/tui/test_tui_commands.py tests/tui/test_tui_unlock_lock.py \
            tests/tui/test_tui_snapshots.py; do
  if [ -e "$test" ]; then subset+=("$test"); fi  # a test file moved or renamed must not stop CI here
done
exec "$venv/bin/python" -m pytest -p no:cacheprovider -n auto -m "not network" "${subset[@]}" "$@"
