#!/usr/bin/env bash
# Agent bench (issue 15, Acceptance 4): what the authorization plugin adds to `docker run --rm`
# of a cached, signed image. Printed, never asserted. Everything runs here: a real
# `docker-registry` on 127.0.0.1, Debian's dockerd (testbed/dockerd.sh: vfs, private data roots
# and sockets) and `palisade agent` as the plugin of one of two engines. The image is tiny (one
# static `true` built here with gcc): with vfs, every container copies its image, and a large
# image's copy time would drown what is measured. It is pushed to the registry and signed.
# Two engines run side by side, one without the plugin and one with it (its decision for the
# image cached by a first run); timing.py interleaves their runs round by round, so background
# load hits both alike. RUNS timed runs each after 2 warm-ups; the medians and their difference
# are printed (target: <= 30 ms more with the plugin).
#
# Environment: RUNS=20, SKIP_BUILD=1, PALISADE=/path (see lib.sh). Needs root and dockerd.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNS=${RUNS:-20}
WORK=$OUT/agent
ensure_palisade
ensure_testbed
[[ $(id -u) == 0 ]] || die "needs root (dockerd)"
command -v dockerd >/dev/null || die "needs dockerd (testbed/install-deps.sh)"

plain_dir=$WORK/engine-plain
guarded_dir=$WORK/engine-guarded
plugin=palisade-bench-$$
spec=/etc/docker/plugins/$plugin.spec
agent_pid=
cleanup() {
    [[ -n $agent_pid ]] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
    bash "$REPO/testbed/dockerd.sh" stop "$plain_dir" >/dev/null 2>&1 || true
    bash "$REPO/testbed/dockerd.sh" stop "$guarded_dir" >/dev/null 2>&1 || true
    bash "$REPO/testbed/registry.sh" stop "$WORK/registry" >/dev/null 2>&1 || true
    rm -f "$spec"
}
trap cleanup EXIT
rm -rf "$WORK"
mkdir -p "$WORK/registry" "$WORK/host/etc/docker" "$WORK/tiny" /etc/docker/plugins

addr=$(bash "$REPO/testbed/registry.sh" start "$WORK/registry")
image=$addr/testbed/tiny:v1
printf 'int main(void) { return 0; }\n' | gcc -static -Os -x c - -o "$WORK/tiny/true" || die "gcc -static failed"
plain=$(bash "$REPO/testbed/dockerd.sh" start "$plain_dir")
tar -C "$WORK/tiny" -c . | docker -H "$plain" import --change 'CMD ["/true"]' - "$image" >/dev/null || die "docker import failed"
docker -H "$plain" push --quiet "$image" >&2 || die "docker push failed"
PALISADE_PASSWORD=bench "$PALISADE" key generate --output-prefix "$WORK/release" >&2 || die "key generate failed"
PALISADE_PASSWORD=bench "$PALISADE" sign "$image" --key "$WORK/release.key" >&2 || die "sign failed"
cat >"$WORK/policy.yaml" <<YAML
version: 1
name: agent-bench
sources:
  keys:
    release: $WORK/release.pub
  default: deny
  rules:
    - name: local
      images: ["127.0.0.1:*/testbed/**"]
      signers: { any_of: [release] }
hardening:
  level: 1
  include: ["CIS-DOCKER-5.*", "CIS-DOCKER-4.*"]
  deny_on: none
YAML
printf '{}\n' >"$WORK/host/etc/docker/daemon.json"
chmod 644 "$WORK/host/etc/docker/daemon.json"

ops=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$WORK/agent.yaml" <<YAML
socket: $WORK/agent.sock
engine: unix://$guarded_dir/docker.sock
policy: $WORK/policy.yaml
cache_dir: $WORK/cache
host: {root: $WORK/host, interval: 1h}
ops_listen: 127.0.0.1:$ops
log: {decisions: $WORK/decisions.jsonl}
YAML
"$PALISADE" agent --config "$WORK/agent.yaml" 2>"$WORK/agent.log" &
agent_pid=$!
for _ in $(seq 1 100); do [[ -S $WORK/agent.sock ]] && break; sleep 0.1; done
[[ -S $WORK/agent.sock ]] || { cat "$WORK/agent.log" >&2; die "agent did not start"; }
printf 'unix://%s\n' "$WORK/agent.sock" >"$spec"
guarded=$(bash "$REPO/testbed/dockerd.sh" start "$guarded_dir" "--authorization-plugin=$plugin")
docker -H "$guarded" pull --quiet "$image" >&2 || die "pull through the plugin failed"
docker -H "$guarded" run --rm "$image" >&2 || { tail -5 "$WORK/agent.log" >&2; die "the first run with the plugin was refused"; }

log "timing: $RUNS interleaved rounds of docker run --rm $image, without and with the plugin"
json=$WORK/timing.json
python3 "$BENCH_DIR/timing.py" run --runs "$RUNS" --warmup 2 --export-json "$json" \
    -n without "docker -H $plain run --rm $image" \
    -n with "docker -H $guarded run --rm $image" >&2 || die "timing failed"
creates=$(grep -c '"request_id":"POST /containers/create"' "$WORK/decisions.jsonl" || true)
decide_ms=$(python3 - "$WORK/decisions.jsonl" <<'PY'
import json, statistics, sys
ms = [json.loads(l)["ms"] for l in open(sys.argv[1]) if '"POST /containers/create"' in l]
print(f"{statistics.median(ms):.2f}" if ms else "n/a")
PY
)

echo "palisade agent bench ($(tree_rev), $(nproc) cores, median of $RUNS interleaved runs of docker run --rm, a static 'true' image)"
python3 - "$json" "$creates" "$decide_ms" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
a, b = r["without"], r["with"]
d = (b - a) * 1000
print(f"  without the plugin {a*1000:.1f} ms, with it {b*1000:.1f} ms: {d:+.1f} ms   target <= 30 ms   {'PASS' if d <= 30 else 'FAIL'}")
print(f"  the agent's own time per create decision (decision log, median of {sys.argv[2]}): {sys.argv[3]} ms")
PY
exit 0
