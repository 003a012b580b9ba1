#!/usr/bin/env bash
# Set up .venv and run the main job: protect real files under the default policy,
# switch to pq-hybrid and rotate them with `agile rotate` (see agile/rotate/demo.py).
# Extra arguments go to the demo, e.g. `scripts/demo.sh --keep --workers 1`.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .

exec .venv/bin/python -m agile.rotate.demo "$@"
