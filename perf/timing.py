#!/usr/bin/env python3
"""Timing helpers for perf/bench.sh (standard library only).

  timing.py run [--runs N] [--warmup N] [--prepare CMD] [--ignore-failure] [--export-json F] -n NAME CMD [-n NAME CMD ...]
      A stand-in for hyperfine when it can't be installed: runs each command (no shell;
      split with shlex) N times, interleaved round by round so background load hits all
      commands alike, runs PREPARE (also without a shell) before every timed run, and
      writes hyperfine's JSON shape ({"results": [{"command", "median", "mean", ...}]}).

  timing.py report --json F --label L [--cold-target 0.20] [--warm-target 0.05]
      Prints the wall times (median) of `syft`, `palisade-cold`, `palisade-nocache` and
      `palisade-warm` from such a JSON file, with the ratios palisade/syft and PASS/FAIL
      against the targets. Always exits 0 when the file is readable: a benchmark reports.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import time


def cmd_run(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="timing.py run")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--prepare", default="")
    ap.add_argument("--export-json", required=True)
    ap.add_argument("--ignore-failure", action="store_true",
                    help="keep timing commands that exit non-zero (as hyperfine -i)")
    ap.add_argument("-n", "--name", action="append", default=[])
    ap.add_argument("commands", nargs="+")
    a = ap.parse_intermixed_args(argv)
    names = a.name + a.commands[len(a.name):]
    names = names[: len(a.commands)]
    prepare = shlex.split(a.prepare) if a.prepare else None
    times: list[list[float]] = [[] for _ in a.commands]

    def once(i: int) -> float:
        if prepare:
            subprocess.run(prepare, check=True, stdout=subprocess.DEVNULL)
        t0 = time.perf_counter()
        r = subprocess.run(shlex.split(a.commands[i]), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        dt = time.perf_counter() - t0
        if r.returncode != 0 and not a.ignore_failure:
            sys.exit(f"timing.py: `{a.commands[i]}` exited with {r.returncode}")
        return dt

    for _ in range(a.warmup):
        for i in range(len(a.commands)):
            once(i)
    for rnd in range(a.runs):
        for i in range(len(a.commands)):
            times[i].append(once(i))
        print(f"  round {rnd + 1}/{a.runs}: " + ", ".join(f"{n} {t[-1]:.3f}s" for n, t in zip(names, times)),
              file=sys.stderr)
    results = []
    for n, t in zip(names, times):
        results.append({
            "command": n,
            "mean": statistics.mean(t),
            "stddev": statistics.stdev(t) if len(t) > 1 else 0.0,
            "median": statistics.median(t),
            "min": min(t),
            "max": max(t),
            "times": t,
        })
    with open(a.export_json, "w", encoding="utf-8") as f:
        json.dump({"results": results, "tool": "timing.py (interleaved)"}, f, indent=2)
    return 0


def cmd_report(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="timing.py report")
    ap.add_argument("--json", required=True)
    ap.add_argument("--label", default="")
    ap.add_argument("--cold-target", type=float, default=0.20)
    ap.add_argument("--warm-target", type=float, default=0.05)
    a = ap.parse_args(argv)
    with open(a.json, encoding="utf-8") as f:
        doc = json.load(f)
    res = {r["command"]: r for r in doc["results"]}
    syft = res.get("syft")
    if syft is None:
        sys.exit("timing.py: no `syft` result in " + a.json)
    runs = len(syft.get("times") or [])
    print(f"{a.label}: median wall time of {runs} runs each")
    rows = [
        ("syft", "syft", None),
        ("palisade-cold", "palisade cold (fresh --cache-dir)", a.cold_target),
        ("palisade-nocache", "palisade cold (--no-cache)", a.cold_target),
        ("palisade-warm", "palisade warm (cache filled)", a.warm_target),
    ]
    for key, title, target in rows:
        r = res.get(key)
        if r is None:
            continue
        line = f"  {title:<34} {r['median']:8.3f} s  (mean {r['mean']:.3f} ± {r['stddev']:.3f}, min {r['min']:.3f})"
        if target is not None:
            ratio = r["median"] / syft["median"]
            verdict = "PASS" if ratio <= target else "FAIL"
            line += f"  palisade/syft = {ratio:.3f} (target ≤ {target:.2f}) {verdict}"
        print(line)
    return 0


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in ("run", "report"):
        print(__doc__, file=sys.stderr)
        return 2
    if sys.argv[1] == "run":
        return cmd_run(sys.argv[2:])
    return cmd_report(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
