#!/usr/bin/env python3
"""Compare a Syft SBOM (syft-json) with a Palisade catalog (`palisade sbom -f json`).

For every package type both tools catalog (deb, apk, rpm, python, npm, go-module, gem,
composer, nuget) it prints the packages Syft finds that Palisade doesn't, and the other way
round. Packages are the same
when type, name and version are equal, after mapping type names and normalising names:
Python names per PEP 503 (`re.sub(r"[-_.]+", "-", name).lower()`), the others as written.

Exit status: 0 when Palisade finds every package Syft finds (of the compared types) or
leaves it out for a reason listed in EXPLAINED, 1 when Syft finds one Palisade misses,
2 on bad input.

Standard library only.

    compare.py --syft app.syft.json --palisade app.palisade.json [--label app] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict

# The types compared, in print order.
TYPES = ("deb", "apk", "rpm", "python", "npm", "go-module", "gem", "composer", "nuget")

# Syft artifact `type` -> compared type.
SYFT_TYPES = {
    "deb": "deb",
    "python": "python",
    "npm": "npm",
    "go-module": "go-module",
    "apk": "apk",
    "rpm": "rpm",
    "gem": "gem",
    "php-composer": "composer",
    "dotnet": "nuget",
}

# Palisade package `ecosystem` -> compared type (a few aliases, to be tolerant).
PALISADE_TYPES = {
    "deb": "deb",
    "dpkg": "deb",
    "python": "python",
    "pypi": "python",
    "npm": "npm",
    "javascript": "npm",
    "go-module": "go-module",
    "golang": "go-module",
    "go": "go-module",
    "apk": "apk",
    "rpm": "rpm",
    "gem": "gem",
    "composer": "composer",
    "nuget": "nuget",
}


# Packages Syft lists and Palisade leaves out on purpose, by (type, name), with the reason
# (also in the README's "Side by side with Syft"). They are printed, never silently dropped,
# and do not fail the comparison.
EXPLAINED = {
    ("rpm", "gpg-pubkey"): "an OpenPGP key imported with `rpm --import`, stored as a header "
    "in the rpmdb; not installed software, nothing to match advisories against",
}


def norm_name(kind: str, name: str) -> str:
    if kind == "python":
        return re.sub(r"[-_.]+", "-", name).lower()
    return name


def load(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        print(f"compare.py: cannot read {path}: {e}", file=sys.stderr)
        sys.exit(2)


class Pkg:
    __slots__ = ("kind", "name", "version", "locations")

    def __init__(self, kind: str, name: str, version: str) -> None:
        self.kind = kind
        self.name = name
        self.version = version
        self.locations: list[str] = []


def syft_packages(doc: dict, layer_index: dict[str, int]) -> tuple[dict, dict]:
    """(key -> Pkg for compared types, other type -> count)."""
    pkgs: dict[tuple, Pkg] = {}
    others: dict[str, int] = defaultdict(int)
    if "artifacts" not in doc:
        print("compare.py: the Syft file has no `artifacts` (not syft-json?)", file=sys.stderr)
        sys.exit(2)
    for a in doc["artifacts"]:
        kind = SYFT_TYPES.get(a.get("type", ""))
        if kind is None:
            others[a.get("type", "?")] += 1
            continue
        name, version = a.get("name", ""), a.get("version", "")
        key = (kind, norm_name(kind, name), version)
        p = pkgs.setdefault(key, Pkg(kind, name, version))
        locs = a.get("locations") or []
        # Syft marks the file a package was read from as evidence "primary"; the rest
        # (copyright files, dpkg info lists, RECORD, ...) are "supporting".
        primary = [l for l in locs if (l.get("annotations") or {}).get("evidence") == "primary"]
        for l in primary or locs:
            layer = l.get("layerID", "")
            idx = layer_index.get(layer)
            where = f"layer {idx}" if idx is not None else (f"layer {layer[:19]}" if layer else "")
            s = l.get("path", "?") + (f" ({where})" if where else "")
            if s not in p.locations:
                p.locations.append(s)
    return pkgs, dict(others)


def palisade_packages(doc: dict) -> tuple[dict, dict]:
    pkgs: dict[tuple, Pkg] = {}
    others: dict[str, int] = defaultdict(int)
    if "packages" not in doc:
        print("compare.py: the Palisade file has no `packages` (not -f json?)", file=sys.stderr)
        sys.exit(2)
    for a in doc["packages"]:
        kind = PALISADE_TYPES.get(a.get("ecosystem", ""))
        if kind is None:
            others[a.get("ecosystem", "?")] += 1
            continue
        name, version = a.get("name", ""), a.get("version", "")
        key = (kind, norm_name(kind, name), version)
        p = pkgs.setdefault(key, Pkg(kind, name, version))
        for l in a.get("locations") or []:
            layer = l.get("layer")
            s = l.get("path", "?") + (f" (layer {layer})" if layer is not None else "")
            if s not in p.locations:
                p.locations.append(s)
    return pkgs, dict(others)


def fmt_pkg(p: Pkg, other_versions: list[str]) -> str:
    s = f"  {p.kind:<9} {p.name} {p.version}"
    if other_versions:
        s += f"   [other tool has this name at: {', '.join(sorted(other_versions))}]"
    locs = p.locations[:4]
    more = len(p.locations) - len(locs)
    for l in locs:
        s += f"\n              at {l}"
    if more > 0:
        s += f"\n              ... and {more} more locations"
    return s


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--syft", required=True, help="syft-json file")
    ap.add_argument("--palisade", required=True, help="palisade -f json file")
    ap.add_argument("--label", default="", help="a name for the headings")
    ap.add_argument("--json", help="also write the differences as JSON to this file")
    args = ap.parse_args()

    pal_doc = load(args.palisade)
    syft_doc = load(args.syft)
    # Map diff IDs (Syft's layerID) to layer indexes, from Palisade's source description.
    layer_index = {
        l["diff_id"]: l["index"]
        for l in (pal_doc.get("source") or {}).get("layers") or []
        if "diff_id" in l and "index" in l
    }
    spk, s_other = syft_packages(syft_doc, layer_index)
    ppk, p_other = palisade_packages(pal_doc)

    missing = sorted(set(spk) - set(ppk))
    explained = [k for k in missing if (k[0], k[1]) in EXPLAINED]
    syft_only = [k for k in missing if (k[0], k[1]) not in EXPLAINED]
    pal_only = sorted(set(ppk) - set(spk))

    def versions_of(pkgs: dict, kind: str, nname: str) -> list[str]:
        return [k[2] for k in pkgs if k[0] == kind and k[1] == nname]

    title = f"== {args.label} ==" if args.label else "== comparison =="
    print(title)
    print(f"  {'type':<10}{'syft':>6}{'palisade':>10}{'both':>6}{'syft-only':>11}{'palisade-only':>15}")
    for kind in TYPES:
        s = {k for k in spk if k[0] == kind}
        p = {k for k in ppk if k[0] == kind}
        print(f"  {kind:<10}{len(s):>6}{len(p):>10}{len(s & p):>6}{len(s - p):>11}{len(p - s):>15}")

    print("  Syft finds, Palisade misses:")
    if not syft_only:
        print("    (none)")
    for k in syft_only:
        print(fmt_pkg(spk[k], versions_of(ppk, k[0], k[1])))
    if explained:
        print("  Syft finds, Palisade leaves out on purpose:")
    for k in explained:
        print(fmt_pkg(spk[k], []) + f"\n              why: {EXPLAINED[(k[0], k[1])]}")
    print("  Palisade finds, Syft misses:")
    if not pal_only:
        print("    (none)")
    for k in pal_only:
        print(fmt_pkg(ppk[k], versions_of(spk, k[0], k[1])))

    def counts(d: dict) -> str:
        return ", ".join(f"{t} {n}" for t, n in sorted(d.items())) or "-"

    print(f"  not compared (types outside {'/'.join(TYPES)}): syft: {counts(s_other)}; palisade: {counts(p_other)}")

    if args.json:
        out = {
            "label": args.label,
            "syft_only": [
                {"type": spk[k].kind, "name": spk[k].name, "version": spk[k].version, "locations": spk[k].locations}
                for k in syft_only
            ],
            "explained": [
                {"type": spk[k].kind, "name": spk[k].name, "version": spk[k].version, "why": EXPLAINED[(k[0], k[1])]}
                for k in explained
            ],
            "palisade_only": [
                {"type": ppk[k].kind, "name": ppk[k].name, "version": ppk[k].version, "locations": ppk[k].locations}
                for k in pal_only
            ],
            "not_compared": {"syft": s_other, "palisade": p_other},
        }
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=2)
            f.write("\n")

    if syft_only:
        print(f"  RESULT: FAIL: Palisade misses {len(syft_only)} package(s) Syft finds")
        return 1
    print("  RESULT: OK: Palisade finds every package Syft finds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
