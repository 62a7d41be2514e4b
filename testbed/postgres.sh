#!/usr/bin/env bash
# A throw-away PostgreSQL server (Debian's postgresql) on a Unix socket, no TCP.
#
#   testbed/postgres.sh start DIR   initdb into DIR/data (owned by the `postgres` user, as
#                                   initdb and pg_ctl refuse root), start it listening on a
#                                   socket in DIR only; prints and writes DIR/url, a libpq
#                                   connection string (host=DIR port=PORT user=postgres ...)
#   testbed/postgres.sh stop DIR    stop it (fast shutdown) and wait
#
# Several can run at once: each has its own directory and port number (the port only names
# the socket file).
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[[ $# == 2 ]] || usage
cmd=$1
mkdir -p "$2"
DIR=$(cd "$2" && pwd)

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[[ -n "$bin" && -x "$bin/initdb" ]] || { echo "postgres.sh: PostgreSQL missing: run testbed/install-deps.sh" >&2; exit 1; }

as_pg() {
    if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
    if [[ -f "$DIR/url" ]] && as_pg "$bin/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
        cat "$DIR/url"
        return 0
    fi
    if [[ $(id -u) == 0 ]]; then
        chown postgres: "$DIR"
        # The socket directory must be reachable by the postgres user.
        chmod 0755 "$DIR"
    fi
    if [[ ! -f "$DIR/data/PG_VERSION" ]]; then
        as_pg "$bin/initdb" -D "$DIR/data" -U postgres -A trust --no-sync >"$DIR/initdb.log" 2>&1 \
            || { cat "$DIR/initdb.log" >&2; exit 1; }
    fi
    local port
    port=$(python3 -c 'import random; print(random.randint(20000, 60000))')
    as_pg "$bin/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w -t 30 \
        -o "-k $DIR -p $port -c listen_addresses='' -c fsync=off -c max_connections=200" start >/dev/null \
        || { tail -n 20 "$DIR/log" >&2; exit 1; }
    echo "host=$DIR port=$port user=postgres dbname=postgres" | tee "$DIR/url"
}

stop() {
    [[ -f "$DIR/data/PG_VERSION" ]] || return 0
    as_pg "$bin/pg_ctl" -D "$DIR/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
    rm -f "$DIR/url"
}

case $cmd in
    start) start ;;
    stop) stop ;;
    *) usage ;;
esac
