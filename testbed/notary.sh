#!/usr/bin/env bash
# A throw-away Notary v1 server (Debian's notary-server 0.7.0) on loopback, for Docker Content
# Trust tests: memory storage, local trust service (the server holds the timestamp key and
# makes the snapshot keys it is asked for), no auth.
#
#   testbed/notary.sh start DIR   start it; writes DIR/addr (127.0.0.1:PORT), DIR/url
#                                 (http://127.0.0.1:PORT), DIR/pid, DIR/server.json,
#                                 DIR/server.log
#   testbed/notary.sh stop DIR    stop it and wait until it is gone
#
# Plain HTTP: the notary client accepts an http:// server URL (`notary -s http://…`), and
# Palisade allows plain HTTP to loopback. Everything is in memory: a restart forgets every
# collection.
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[[ $# == 2 ]] || usage
cmd=$1
mkdir -p "$2"
DIR=$(cd "$2" && pwd)

alive() { [[ -f "$DIR/pid" ]] && kill -0 "$(cat "$DIR/pid")" 2>/dev/null; }

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start() {
    command -v notary-server >/dev/null || { echo "notary.sh: notary-server missing: run testbed/install-deps.sh (package notary)" >&2; exit 1; }
    command -v curl >/dev/null || { echo "notary.sh: curl missing: run testbed/install-deps.sh" >&2; exit 1; }
    if alive; then
        echo "notary.sh: already running at $(cat "$DIR/addr") (pid $(cat "$DIR/pid"))" >&2
        return 0
    fi
    rm -f "$DIR/pid" "$DIR/addr" "$DIR/url"
    local attempt port pid
    for attempt in 1 2 3 4 5; do
        port=$(free_port)
        cat >"$DIR/server.json" <<EOF2
{
  "server": {"http_addr": "127.0.0.1:$port"},
  "trust_service": {"type": "local", "key_algorithm": "ecdsa"},
  "storage": {"backend": "memory"},
  "logging": {"level": "info"}
}
EOF2
        # Own session, no terminal, so it outlives this script and ignores its signals.
        setsid notary-server -config "$DIR/server.json" </dev/null >>"$DIR/server.log" 2>&1 &
        pid=$!
        for _ in $(seq 1 100); do    # up to 10 s
            if ! kill -0 "$pid" 2>/dev/null; then break; fi
            if curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$port/_notary_server/health" 2>/dev/null; then
                echo "$pid" >"$DIR/pid"
                echo "127.0.0.1:$port" >"$DIR/addr"
                echo "http://127.0.0.1:$port" >"$DIR/url"
                echo "127.0.0.1:$port"
                return 0
            fi
            sleep 0.1
        done
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        echo "notary.sh: attempt $attempt on port $port failed, retrying" >&2
    done
    echo "notary.sh: notary-server did not come up; log:" >&2
    tail -n 20 "$DIR/server.log" >&2
    exit 1
}

stop() {
    [[ -f "$DIR/pid" ]] || { echo "notary.sh: not running (no $DIR/pid)" >&2; return 0; }
    local pid
    pid=$(cat "$DIR/pid")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 1 100); do    # up to 10 s, then SIGKILL
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null || true
            while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
        fi
    fi
    rm -f "$DIR/pid" "$DIR/addr" "$DIR/url"
}

case $cmd in
    start) start ;;
    stop) stop ;;
    *) usage ;;
esac
