#!/bin/sh
# Start or stop a software TPM 2.0 (swtpm) listening on 127.0.0.1, with its state in DIR.
#
# Usage:
#   scripts/devices/swtpm.sh start DIR PORT [--abrmd]
#   scripts/devices/swtpm.sh stop DIR PORT
#
# start: swtpm serves TPM commands on PORT and its control channel on PORT+1, both on
# 127.0.0.1 only. The dictionary-attack lockout is cleared, because a TPM restarted
# without TPM2_Shutdown counts that as a failure and swtpm locks out after 3.
# With --abrmd, a private D-Bus session bus and tpm2-abrmd are started in front of
# swtpm, because tpm2-tools and clevis leak sessions without a resource manager.
# Then only the tabrmd TCTI may be used, because swtpm serves one connection at a time.
# DIR/env receives shell lines to source: AGILE_TPM_TCTI and TPM2TOOLS_TCTI (and
# DBUS_SESSION_BUS_ADDRESS with --abrmd).
#
# stop: orderly TPM2_Shutdown (so the next start does not count a failure), then ends
# the processes this script started in DIR, by their pid files.
set -eu

usage() {
    echo "usage: $0 start DIR PORT [--abrmd] | stop DIR PORT" >&2
    exit 2
}

[ $# -ge 3 ] || usage
action="$1"
dir="$(realpath -m "$2")"
port="$3"
ctrl=$((port + 1))
swtpm_tcti="swtpm:host=127.0.0.1,port=$port"

wait_for_port() {
    tries=0
    until swtpm_ioctl --tcp "127.0.0.1:$ctrl" -g >/dev/null 2>&1; do
        tries=$((tries + 1))
        if [ "$tries" -gt 100 ]; then
            echo "swtpm.sh: swtpm did not respond on 127.0.0.1:$ctrl" >&2
            exit 1
        fi
        sleep 0.05
    done
}

# Succeed while process $1 runs.  A zombie (exited, not yet reaped by its parent) has ended.
running() {
    [ -r "/proc/$1/stat" ] || return 1
    state="$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)"
    [ -n "$state" ] && [ "$state" != Z ]
}

stop_pidfile() {
    # swtpm deletes its own pid file when it exits, so a vanished file is not an error.
    pid="$(cat "$1" 2>/dev/null || true)"
    if [ -n "$pid" ]; then
        if running "$pid"; then
            kill "$pid" 2>/dev/null || true
            tries=0
            while running "$pid" && [ "$tries" -lt 100 ]; do
                sleep 0.05
                tries=$((tries + 1))
            done
            if running "$pid"; then
                kill -9 "$pid" 2>/dev/null || true
            fi
        fi
    fi
    rm -f "$1"
}

case "$action" in
start)
    mkdir -p "$dir/state"
    chmod 700 "$dir" "$dir/state"
    if ! swtpm socket --tpm2 --tpmstate "dir=$dir/state" \
        --server "type=tcp,port=$port,bindaddr=127.0.0.1" \
        --ctrl "type=tcp,port=$ctrl,bindaddr=127.0.0.1" \
        --flags not-need-init,startup-clear \
        --pid "file=$dir/swtpm.pid" --log "file=$dir/swtpm.log" --daemon; then
        echo "swtpm.sh: swtpm failed to start on 127.0.0.1:$port and :$ctrl:" \
            "$(tail -n 1 "$dir/swtpm.log" 2>/dev/null)" >&2
        exit 1
    fi
    wait_for_port
    tpm2_dictionarylockout --clear-lockout -T "$swtpm_tcti" >/dev/null

    tcti="$swtpm_tcti"
    : > "$dir/env"
    if [ "${4:-}" = "--abrmd" ]; then
        bus="$(dbus-daemon --session --fork --nopidfile --print-address=1 --print-pid=3 \
            3>"$dir/dbus.pid")"
        bus_name="com.intel.tss2.Tabrmd.agile$port"
        DBUS_SESSION_BUS_ADDRESS="$bus" tpm2-abrmd --session --allow-root \
            --dbus-name="$bus_name" --tcti="$swtpm_tcti" >"$dir/abrmd.log" 2>&1 &
        echo $! > "$dir/abrmd.pid"
        tcti="tabrmd:bus_name=$bus_name,bus_type=session"
        echo "export DBUS_SESSION_BUS_ADDRESS='$bus'" >> "$dir/env"
        tries=0
        until DBUS_SESSION_BUS_ADDRESS="$bus" tpm2_getcap -T "$tcti" properties-fixed \
            >/dev/null 2>&1; do
            tries=$((tries + 1))
            if [ "$tries" -gt 100 ]; then
                echo "swtpm.sh: tpm2-abrmd did not start; see $dir/abrmd.log" >&2
                exit 1
            fi
            sleep 0.1
        done
    fi
    echo "export AGILE_TPM_TCTI='$tcti'" >> "$dir/env"
    echo "export TPM2TOOLS_TCTI='$tcti'" >> "$dir/env"
    echo "$dir/env"
    ;;
stop)
    # The resource manager keeps swtpm's only connection open, so stop it before the shutdown.
    stop_pidfile "$dir/abrmd.pid"
    stop_pidfile "$dir/dbus.pid"
    if [ -f "$dir/swtpm.pid" ]; then
        cp "$dir/swtpm.pid" "$dir/swtpm.pid.stopping"
        tpm2_shutdown -c -T "$swtpm_tcti" >/dev/null 2>&1 || true
        swtpm_ioctl --tcp "127.0.0.1:$ctrl" -s >/dev/null 2>&1 || true
        stop_pidfile "$dir/swtpm.pid.stopping"
        rm -f "$dir/swtpm.pid"
    fi
    ;;
*)
    usage
    ;;
esac
