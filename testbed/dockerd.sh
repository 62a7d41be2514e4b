#!/usr/bin/env bash
# A private Docker engine for tests: Debian's docker.io (dockerd 20.10) with the vfs storage
# driver, no iptables and no default bridge, its data root, exec root and socket in DIR.
# Never touches /var/run/docker.sock or another engine.
#
#   testbed/dockerd.sh start DIR [DOCKERD_FLAG...]   # prints unix://DIR/docker.sock when ready
#   testbed/dockerd.sh stop DIR                      # SIGTERM (SIGKILL after 20 s), unmounts
#
# Needs root and `dockerd` (apt-get install docker.io; testbed/install-deps.sh does it).
set -euo pipefail

cmd=${1:?usage: dockerd.sh start|stop DIR [FLAGS...]}
dir=${2:?usage: dockerd.sh start|stop DIR [FLAGS...]}
shift 2

case "$cmd" in
start)
    command -v dockerd >/dev/null 2>&1 || {
        echo "dockerd.sh: dockerd not found; run testbed/install-deps.sh (Debian package docker.io)" >&2
        exit 1
    }
    mkdir -p "$dir/data" "$dir/exec"
    dir=$(cd "$dir" && pwd)
    sock="$dir/docker.sock"
    setsid dockerd --storage-driver vfs --iptables=false --bridge=none \
        --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$dir/dockerd.pid" \
        -H "unix://$sock" "$@" >"$dir/dockerd.log" 2>&1 </dev/null &
    echo $! >"$dir/pid"
    for _ in $(seq 1 300); do
        if [[ -S $sock ]] && curl -sf --max-time 2 --unix-socket "$sock" http://docker/_ping >/dev/null 2>&1; then
            echo "unix://$sock"
            exit 0
        fi
        if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
            echo "dockerd.sh: dockerd exited:" >&2
            tail -5 "$dir/dockerd.log" >&2
            exit 1
        fi
        sleep 0.2
    done
    echo "dockerd.sh: dockerd did not answer on $sock within 60 s" >&2
    exit 1
    ;;
stop)
    if [[ -f $dir/pid ]]; then
        pid=$(cat "$dir/pid")
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
        kill -KILL "$pid" 2>/dev/null || true
        rm -f "$dir/pid"
    fi
    # dockerd leaves an nsfs mount behind (and, after a crash, container mounts).
    if [[ -d $dir/exec ]]; then
        grep -o " $dir/[^ ]*" /proc/self/mounts 2>/dev/null | sort -r | while read -r m; do
            umount -l "$m" 2>/dev/null || true
        done || true
    fi
    exit 0
    ;;
*)
    echo "usage: dockerd.sh start|stop DIR [FLAGS...]" >&2
    exit 2
    ;;
esac
