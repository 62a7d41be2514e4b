#!/usr/bin/env bash
# Store bench (issue 16, acceptance 5): the fleet store on SQLite and on PostgreSQL. Printed,
# never asserted; each figure next to its target and the ratio figure/target. Everything runs
# here: PostgreSQL from testbed/postgres.sh (a private socket, fsync=off as the testbed
# starts it), Debian's docker-registry from testbed/registry.sh, databases imported from
# ../shared/feeds (OSV PyPI, the NVD excerpt, KEV).
#
#   1. push → report (target <= 3 s): `palisade serve` (HTTPS, its store in SQLite, then in
#      PostgreSQL) receives the registry's notifications; the testbed app image is pushed
#      PUSHES times, each time with another config label (so another digest). Timed from
#      `skopeo copy` starting to the image's verdicts appearing in /api/v1/images/{digest}:
#      every push, the median and the max (the first push reads the layers cold; later ones
#      share its layers, as a rebuilt image does).
#   2. the fleet (crates/palisade-server/examples/store_bench.rs): IMAGES variants of the
#      testbed's app and base catalogs, matched, decided and stored the way the server does,
#      into both stores; then on each store:
#        a. a feed delta touching 1% of the images: Fleet::rematch (target <= 10 s)
#        b. a full re-match of every image (target <= 60 s)
#        c. the "which images have CVE-X" query, Store::fleet, p99 of 500 (target <= 50 ms)
#        d. the stored (compressed) catalog per 300 packages (target <= 20 KB)
#
# The commands:
#   perf/store-bench.sh                      build (release) and run everything
#   SKIP_BUILD=1 IMAGES=1000 perf/store-bench.sh   a quick run on what is built
# Environment: IMAGES=10000, PUSHES=5 (0: no push → report), QUERIES=500, SKIP_BUILD=1, PALISADE=/path (see lib.sh),
# STORE_BENCH=/path (the example's binary), FEEDS=DIR.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

IMAGES=${IMAGES:-10000}
PUSHES=${PUSHES:-5}
QUERIES=${QUERIES:-500}
FEEDS=${FEEDS:-$REPO/../shared/feeds}
WORK=$OUT/store

if [[ ${SKIP_BUILD:-0} != 1 && -z ${PALISADE:-} ]]; then
    # Two commands: with --example, cargo builds only the example, not palisade-cli's binary.
    log "cargo build --release -p palisade-cli; cargo build --release -p palisade-server --example store_bench"
    (cd "$REPO" && cargo build --release -p palisade-cli &&
        cargo build --release -p palisade-server --example store_bench) >&2 \
        || die "cargo build failed"
fi
SKIP_BUILD=1 ensure_palisade
STORE_BENCH=${STORE_BENCH:-$TARGET/release/examples/store_bench}
[[ -x $STORE_BENCH ]] || die "$STORE_BENCH missing (build it, or unset SKIP_BUILD)"
ensure_testbed
[[ -d $FEEDS ]] || die "no feeds at $FEEDS"
for tool in skopeo docker-registry psql curl openssl; do
    command -v $tool >/dev/null || die "$tool missing: run testbed/install-deps.sh"
done

rm -rf "$WORK"
mkdir -p "$WORK/registry" "$WORK/tls" "$WORK/pg"
unset PALISADE_NO_CACHE PALISADE_ENV PALISADE_NOW PALISADE_POLICY PALISADE_DB
server_pid=
cleanup() {
    [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    bash "$REPO/testbed/registry.sh" stop "$WORK/registry" >/dev/null 2>&1 || true
    bash "$REPO/testbed/postgres.sh" stop "$WORK/pg" >/dev/null 2>&1 || true
}
trap cleanup EXIT

pg=$(bash "$REPO/testbed/postgres.sh" start "$WORK/pg") || die "PostgreSQL did not start"
log "PostgreSQL: $pg"
pg_database() { # NAME -> the connection string of a new database NAME
    psql "$pg" -v ON_ERROR_STOP=1 -qc "CREATE DATABASE $1" >&2 || die "CREATE DATABASE $1 failed"
    printf '%s\n' "${pg/dbname=postgres/dbname=$1}"
}

log "importing the vulnerability databases"
cat >"$WORK/advisory.json" <<'JSON'
{"schema_version":"1.6.0","id":"PALISADE-BENCH-0001","modified":"2026-12-01T00:00:00Z","published":"2026-12-01T00:00:00Z","summary":"a bench advisory for palisade-bench-42","severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],"affected":[{"package":{"ecosystem":"PyPI","name":"palisade-bench-42"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"2.0.0"}]}]}]}
JSON
feeds=("$FEEDS/osv/PyPI/all.zip" "$FEEDS/nvd/nvdcve-2.0-excerpt.json" "$FEEDS/kev/known_exploited_vulnerabilities.json")
"$PALISADE" db import --db "$WORK/vuln.db" "${feeds[@]}" >&2 || die "palisade db import failed"
"$PALISADE" db import --db "$WORK/vuln-delta.db" "${feeds[@]}" "$WORK/advisory.json" >&2 \
    || die "palisade db import failed"

cat >"$WORK/policy.yaml" <<YAML
version: 1
name: store-bench
default_environment: prod
environments: [prod, dev]
vulnerabilities:
  max_cvss: 8.9
  kev: deny
  max_db_age_days: 3650
  coverage: ignore
  unknown_severity: ignore
  environments:
    dev: { max_cvss: null }
YAML

# ---- 1. push → report ------------------------------------------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=bench CA" \
    -keyout "$WORK/tls/ca.key" -out "$WORK/tls/ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$WORK/tls/tls.key" -out "$WORK/tls/tls.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$WORK/tls/ext.cnf"
openssl x509 -req -in "$WORK/tls/tls.csr" -CA "$WORK/tls/ca.crt" -CAkey "$WORK/tls/ca.key" \
    -CAcreateserial -days 2 -extfile "$WORK/tls/ext.cnf" -out "$WORK/tls/tls.crt" 2>/dev/null
echo "registry-notification-token-store-bench" >"$WORK/registry.tokens"

# PUSHES copies of the app image's OCI layout (blobs hard-linked), each with a config label
# `bench.push=N`: another config, so another manifest digest, the same layers.
python3 - "$TESTBED/oci" "$WORK" "$PUSHES" <<'PY'
import hashlib, json, os, shutil, sys
src, work, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
index = json.load(open(os.path.join(src, "index.json")))
desc = next(m for m in index["manifests"]
            if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == "app")
blob = lambda root, d: os.path.join(root, "blobs", *d.split(":"))
def put(root, data): # a new file (never through a link into the testbed)
    d = "sha256:" + hashlib.sha256(data).hexdigest()
    path = blob(root, d)
    if os.path.exists(path):
        os.unlink(path)
    with open(path, "wb") as f:
        f.write(data)
    return d
for i in range(1, n + 1):
    dst = os.path.join(work, f"oci-{i}")
    # Only the (read-only) blobs are hard links; index.json and oci-layout are new files.
    shutil.copytree(os.path.join(src, "blobs"), os.path.join(dst, "blobs"), copy_function=os.link)
    shutil.copyfile(os.path.join(src, "oci-layout"), os.path.join(dst, "oci-layout"))
    manifest = json.load(open(blob(src, desc["digest"])))
    config = json.load(open(blob(src, manifest["config"]["digest"])))
    config.setdefault("config", {}).setdefault("Labels", {})["bench.push"] = str(i)
    data = json.dumps(config).encode()
    manifest["config"]["digest"], manifest["config"]["size"] = put(dst, data), len(data)
    mdata = json.dumps(manifest).encode()
    mdesc = dict(desc, digest=put(dst, mdata), size=len(mdata))
    json.dump(dict(index, manifests=[mdesc]), open(os.path.join(dst, "index.json"), "w"))
    open(os.path.join(work, f"oci-{i}.digest"), "w").write(mdesc["digest"])
PY

push_report() { # NAME STORE_LOCATION -> prints the figures line
    local name=$1 location=$2 port ops token url times=() i digest t0 t1
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    ops=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    rm -rf "$WORK/cache-$name"
    cat >"$WORK/serve-$name.yaml" <<YAML
listen: 127.0.0.1:$port
ops_listen: 127.0.0.1:$ops
tls: {cert: tls/tls.crt, key: tls/tls.key}
policy: policy.yaml
db: vuln.db
cache_dir: cache-$name
store: {location: "$location", workers: 2}
registry_events: {tokens_file: registry.tokens}
YAML
    (cd "$WORK" && exec "$PALISADE" serve --config "serve-$name.yaml" 2>"$WORK/serve-$name.log") &
    server_pid=$!
    for _ in $(seq 1 100); do
        curl -sf "http://127.0.0.1:$ops/readyz" >/dev/null 2>&1 && break
        sleep 0.1
    done
    curl -sf "http://127.0.0.1:$ops/readyz" >/dev/null || { cat "$WORK/serve-$name.log" >&2; die "server not ready"; }
    token=$(cd "$WORK" && "$PALISADE" store token create --config "serve-$name.yaml" --name bench --role admin) \
        || die "store token create failed"
    bash "$REPO/testbed/registry.sh" stop "$WORK/registry" >/dev/null 2>&1 || true
    rm -rf "$WORK/registry"
    addr=$(REGISTRY_NOTIFY_URL=https://127.0.0.1:$port/registry/events \
        REGISTRY_NOTIFY_TOKEN=$(cat "$WORK/registry.tokens") SSL_CERT_FILE=$WORK/tls/ca.crt \
        bash "$REPO/testbed/registry.sh" start "$WORK/registry") || die "registry did not start"
    for i in $(seq 1 "$PUSHES"); do
        digest=$(cat "$WORK/oci-$i.digest")
        url="https://127.0.0.1:$port/api/v1/images/$digest"
        t0=$(date +%s.%N)
        skopeo --insecure-policy copy --quiet --dest-tls-verify=false "oci:$WORK/oci-$i:app" \
            "docker://$addr/bench/app:push-$i" || die "skopeo copy failed"
        while :; do
            if curl -s --cacert "$WORK/tls/ca.crt" -H "Authorization: Bearer $token" "$url" \
                | python3 -c 'import json,sys; v=json.load(sys.stdin); sys.exit(0 if len(v.get("verdicts") or {}) == 2 else 1)' 2>/dev/null; then
                break
            fi
            if awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { exit !(b - a > 120) }'; then
                tail -n 30 "$WORK/serve-$name.log" >&2
                die "no report for $digest after 120 s"
            fi
            sleep 0.05
        done
        t1=$(date +%s.%N)
        times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')")
    done
    kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
    server_pid=
    python3 - "$name" "${times[@]}" <<'PY'
import statistics, sys
name, t = sys.argv[1], [float(x) for x in sys.argv[2:]]
med, mx = statistics.median(t), max(t)
ok = lambda c: "PASS" if c else "FAIL"
print(f"  push → report, {name}: {', '.join(f'{x:.2f}' for x in t)} s; median {med:.2f} s, max {mx:.2f} s"
      f"   target <= 3 s   ratio {med/3:.3f} (median) {mx/3:.3f} (max)   {ok(mx <= 3)}")
PY
}

push_sqlite="  push → report: skipped (PUSHES=0)" push_pg=
if ((PUSHES > 0)); then
    log "push → report: SQLite"
    push_sqlite=$(push_report sqlite "sqlite:$WORK/push.db")
    log "push → report: PostgreSQL"
    push_pg=$(push_report postgresql "$(pg_database push)")
fi

# ---- 2. the fleet ------------------------------------------------------------------------
log "the fleet: $IMAGES images into SQLite and PostgreSQL ($STORE_BENCH)"
wait_idle 60
fleet_pg=$(pg_database fleet)
t0=$(date +%s.%N)
"$STORE_BENCH" --testbed "$TESTBED" --policy "$WORK/policy.yaml" --db "$WORK/vuln.db" \
    --db-delta "$WORK/vuln-delta.db" --images "$IMAGES" --queries "$QUERIES" \
    --store "sqlite:$WORK/fleet.db" --store "$fleet_pg" >"$WORK/fleet.txt" || die "store_bench failed"

echo "palisade store bench ($(tree_rev), $(nproc) cores; $(load_note))"
echo "1. push → report ($PUSHES pushes of the testbed app image, each another digest)"
echo "$push_sqlite"
[[ -n $push_pg ]] && echo "$push_pg"
echo "2. the fleet"
cat "$WORK/fleet.txt"
exit 0
