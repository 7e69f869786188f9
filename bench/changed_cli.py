"""One changed file as a fresh `assistant ingest` process, before/after in one run (issue 17).

    .venv/bin/python bench/changed_cli.py --work DIR [--size 100000] [--repeat 5] [--baseline TREE]

``DIR`` is the ``--work`` folder of ``bench/server_scale.py changed`` (it holds ``docs-<size>``
and ``idx-<size>``, the synthetic briefs and their embedded index). Each round appends a
paragraph to one file, then runs ``assistant --index IDX ingest DOCS`` as a fresh process with
this tree's package, and (``--baseline``) with the other tree's on its own copy of the index
(``idx-<size>-baseline``, copied once: an older version rewrites the manifest, which would send
this one down its full check every round). Both ingest the same change; they alternate, so the
ratio holds under the machine's load. One warm-up round each first (not counted): the first
run of a version on an index it did not write builds its own caches. Prints one JSON line:
wall and CPU seconds (median, min) per tree and their ratio.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, emit, machine, percentile  # noqa: E402

BIN = Path(sys.executable).parent / "assistant"


def run(tree: Path, idx: Path, docs: Path) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(BIN), "--index", str(idx), "ingest", str(docs), "--json"], cwd=tree,
                            env={**os.environ, "PYTHONPATH": str(tree)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(err[-2000:])
    report = json.loads(out)
    return {"wall": wall, "updated": len(report["updated"]), "notes": report.get("notes", [])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--size", type=int, default=100000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--baseline", type=Path, default=None)
    args = ap.parse_args()
    docs, idx = args.work / f"docs-{args.size}", args.work / f"idx-{args.size}"
    trees = [("", ROOT.resolve(), idx)]
    if args.baseline:
        base_idx = args.work / f"idx-{args.size}-baseline"
        if not base_idx.exists():
            shutil.copytree(idx, base_idx)
        trees.append(("_baseline", args.baseline.resolve(), base_idx))
    files = sorted(docs.glob("*.md"))
    target = files[len(files) // 3]
    runs: dict[str, list] = {suffix: [] for suffix, _, _ in trees}
    for r in range(args.repeat + 1):
        with target.open("a", encoding="utf-8") as fh:
            fh.write(f"\n\nA paragraph of round {r} on the exchange of liaison officers, {time.time_ns()}.\n")
        for suffix, tree, where in trees:
            before = os.times()
            got = run(tree, where, docs)
            after = os.times()
            got["cpu"] = (after.children_user - before.children_user) + (after.children_system - before.children_system)
            assert got["updated"] == 1, got
            if r:  # round 0 warms up
                runs[suffix].append(got)
            print(f"round {r} {suffix or 'this tree'}: {got['wall']:.2f} s wall, {got['cpu']:.2f} s CPU"
                  f"{' notes: ' + '; '.join(got['notes']) if got['notes'] else ''}", file=sys.stderr)
    out: dict = {"bench": "changed_cli", "size": args.size, "machine": machine()}
    for suffix, _, _ in trees:
        walls = [g["wall"] for g in runs[suffix]]
        cpus = [g["cpu"] for g in runs[suffix]]
        out["cli" + suffix] = {"median_s": round(percentile(walls, 50), 2), "min_s": round(min(walls), 2),
                               "cpu_median_s": round(percentile(cpus, 50), 2), "walls": [round(w, 2) for w in walls]}
    if args.baseline:
        now, before = out["cli"], out["cli_baseline"]
        out["ratio"] = {"wall": round(now["median_s"] / before["median_s"], 3),
                        "cpu": round(now["cpu_median_s"] / before["cpu_median_s"], 3)}
    out["loadavg_1m"] = round(os.getloadavg()[0], 2)
    emit(out)


if __name__ == "__main__":
    main()
