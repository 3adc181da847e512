#!/usr/bin/env bash
# Install vipterm in a local virtualenv and open the app on a throwaway copy of vip.db.example.
# The demo passphrase is: vipterm-demo
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e .
exec .venv/bin/vipterm demo "$@"
