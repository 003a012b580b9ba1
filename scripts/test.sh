#!/usr/bin/env bash
# Set up .venv with the test extras and run the whole test suite.
# Extra arguments go to pytest, e.g. `scripts/test.sh tests/registry -x`.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# phe (GPL-3.0) is an optional extra: installed here only so that the interop tests run.
extras="test,phe"
# The TPM extra compiles tpm2-pytss against libtss2-dev; install it only where the
# system library is present (scripts/devices/install.sh installs it).
if pkg-config --exists tss2-esys 2>/dev/null; then
    extras="$extras,tpm"
fi
.venv/bin/python -m pip install --quiet -e ".[$extras]"

exec .venv/bin/python -m pytest "$@"
