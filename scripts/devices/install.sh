#!/bin/sh
# Install what the hardware sealers and their tests need: swtpm (a software TPM 2.0),
# tpm2-tools and tpm2-abrmd (for clevis interop), SoftHSM2, clevis with its tpm2 pin,
# and the headers and compiler that tpm2-pytss builds against.
#
# Usage: scripts/devices/install.sh [PYTHON]
# With PYTHON (an interpreter of the environment that runs agile), it also pip-installs
# the Python bindings tpm2-pytss and python-pkcs11 into it.  scripts/test.sh does not
# need that, because it installs them through the project's `tpm` and `test` extras.
set -eu

python="${1:-}"

if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi

export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq \
    swtpm swtpm-tools tpm2-tools libtss2-dev libtss2-tcti-swtpm0 tpm2-abrmd \
    libtss2-tcti-tabrmd0 dbus softhsm2 opensc clevis clevis-tpm2 jose pkg-config gcc \
    >/dev/null

if [ -n "$python" ]; then
    # tpm2-pytss has no wheel for this platform: pip compiles it against libtss2-dev.
    "$python" -m pip install --quiet "tpm2-pytss>=2.3" "python-pkcs11>=0.7"
fi
