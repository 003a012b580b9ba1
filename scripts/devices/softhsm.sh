#!/bin/sh
# Create a SoftHSM2 token in DIR for tests and demos.
# Usage: scripts/devices/softhsm.sh init DIR [LABEL] [PIN] [SO_PIN]
# Writes DIR/softhsm2.conf and DIR/env (shell lines to source: SOFTHSM2_CONF and the
# AGILE_PKCS11_* variables that the pkcs11 sealer reads).
set -eu
# DIR/env contains the user PIN, so every file here is created readable by its owner only.
umask 077

usage() {
    echo "usage: $0 init DIR [LABEL] [PIN] [SO_PIN]" >&2
    exit 2
}

[ $# -ge 2 ] || usage
[ "$1" = init ] || usage

dir="$(realpath -m "$2")"
label="${3:-agile-test}"
pin="${4:-1234}"
so_pin="${5:-123456}"

module=""
for candidate in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so \
    /usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so; do
    if [ -e "$candidate" ]; then module="$candidate"; break; fi
done
if [ -z "$module" ]; then
    echo "softhsm.sh: libsofthsm2.so not found; run scripts/devices/install.sh first" >&2
    exit 1
fi

mkdir -p "$dir/tokens"
chmod 700 "$dir" "$dir/tokens"
cat > "$dir/softhsm2.conf" <<CONF
directories.tokendir = $dir/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
CONF

SOFTHSM2_CONF="$dir/softhsm2.conf" softhsm2-util --init-token --free \
    --label "$label" --pin "$pin" --so-pin "$so_pin" >/dev/null

cat > "$dir/env" <<ENV
export SOFTHSM2_CONF='$dir/softhsm2.conf'
export AGILE_PKCS11_MODULE='$module'
export AGILE_PKCS11_TOKEN='$label'
export AGILE_PKCS11_PIN='$pin'
ENV
echo "$dir/env"
