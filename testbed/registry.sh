#!/usr/bin/env bash
# A throw-away Docker Distribution registry (Debian's docker-registry, 2.8) on loopback.
#
#   testbed/registry.sh start DIR   start it with storage in DIR/data; writes DIR/addr
#                                   (127.0.0.1:PORT), DIR/pid, DIR/config.yml, DIR/registry.log
#   testbed/registry.sh stop DIR    stop it and wait until it is gone
#
# Plain HTTP, no auth: clients need --tls-verify=false / --dest-tls-verify=false.
#
# With REGISTRY_NOTIFY_URL set, the registry POSTs its notification envelopes there (pushes,
# pulls and deletes; blob events dropped), with `Authorization: Bearer $REGISTRY_NOTIFY_TOKEN`
# when that is set too. An https:// receiver with a private CA needs SSL_CERT_FILE in the
# environment (Go reads it).
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
    command -v docker-registry >/dev/null || { echo "registry.sh: docker-registry missing: run testbed/install-deps.sh" >&2; exit 1; }
    command -v curl >/dev/null || { echo "registry.sh: curl missing: run testbed/install-deps.sh" >&2; exit 1; }
    if alive; then
        echo "registry.sh: already running at $(cat "$DIR/addr") (pid $(cat "$DIR/pid"))" >&2
        return 0
    fi
    rm -f "$DIR/pid" "$DIR/addr"
    mkdir -p "$DIR/data"
    local attempt port pid
    for attempt in 1 2 3 4 5; do
        port=$(free_port)
        cat >"$DIR/config.yml" <<EOF
version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $DIR/data
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: 127.0.0.1:$port
  headers:
    X-Content-Type-Options: [nosniff]
EOF
        if [[ -n "${REGISTRY_NOTIFY_URL:-}" ]]; then
            cat >>"$DIR/config.yml" <<EOF
notifications:
  endpoints:
    - name: palisade
      url: $REGISTRY_NOTIFY_URL
      headers:
        Authorization: [Bearer ${REGISTRY_NOTIFY_TOKEN:-none}]
      timeout: 5s
      threshold: 3
      backoff: 1s
      ignoredmediatypes: [application/octet-stream]
EOF
        fi
        # Own session, no terminal, so it outlives this script and ignores its signals.
        setsid docker-registry serve "$DIR/config.yml" </dev/null >>"$DIR/registry.log" 2>&1 &
        pid=$!
        for _ in $(seq 1 100); do    # up to 10 s
            if ! kill -0 "$pid" 2>/dev/null; then break; fi
            if curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$port/v2/" 2>/dev/null; then
                echo "$pid" >"$DIR/pid"
                echo "127.0.0.1:$port" >"$DIR/addr"
                echo "127.0.0.1:$port"
                return 0
            fi
            sleep 0.1
        done
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        echo "registry.sh: attempt $attempt on port $port failed, retrying" >&2
    done
    echo "registry.sh: docker-registry did not come up; log:" >&2
    tail -n 20 "$DIR/registry.log" >&2
    exit 1
}

stop() {
    [[ -f "$DIR/pid" ]] || { echo "registry.sh: not running (no $DIR/pid)" >&2; return 0; }
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
    rm -f "$DIR/pid" "$DIR/addr"
}

case $cmd in
    start) start ;;
    stop) stop ;;
    *) usage ;;
esac
