"""Cold start of the command line, each run a fresh process (prints one JSON line).

    .venv/bin/python bench/coldstart.py --index DIR --docs DOCS_DIR [--repeat 3] [--skip-torch] [--baseline TREE]

Measures ``assistant --help``, ``assistant ask`` per encoder backend (model load included),
``assistant ingest`` of an unchanged folder (the re-ingest a user runs by habit), and the chat's
first answer: a fresh process runs ``app.py`` headlessly (Streamlit's AppTest, no browser), shows
the first screen, then answers one question; both moments are timed from process start.

``--baseline TREE`` (another checkout of the repository, e.g. a ``git worktree`` of main) runs
every command a second time with ``PYTHONPATH`` pointing at that tree's ``assistant`` package
(and its ``app.py``), the two alternating run by run, and reports ``<name>_baseline`` and the
ratio ``<name>_ratio`` (this tree / baseline, of CPU and of wall medians): a before/after
comparison measured under the same load.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, emit, percentile  # noqa: E402

CLI = str(Path(sys.executable).parent / "assistant")
CHAT = """
import json, sys, time
t0 = time.perf_counter()
from streamlit.testing.v1 import AppTest
at = AppTest.from_file(sys.argv[1], default_timeout=300)
at.run()
first_screen = time.perf_counter() - t0
at.chat_input(key="chat_input").set_value(sys.argv[2]).run()
assert not at.exception, at.exception
# an answer was shown: cited sources, or (quick mode's smaller index) an abstention
last = at.session_state["messages"][-1]
assert last["role"] == "assistant" and (last["answer"]["citations"] or last["answer"]["abstained"]), "no answer shown"
print(json.dumps({"first_screen_s": first_screen, "first_answer_s": time.perf_counter() - t0}))
"""


CPU: list[float] = []  # CPU seconds (user + system) of each child timed, in order


def timed(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MB of that child from os.wait4's rusage, its stdout); the child's
    CPU seconds are appended to ``CPU`` (far less disturbed than wall time by a busy machine)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    stdout, stderr = proc.stdout.read(), proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    CPU.append(usage.ru_utime + usage.ru_stime)
    if proc.returncode != 0:
        raise RuntimeError(f"{args} failed: {stderr[-2000:]}")
    return wall, round(usage.ru_maxrss / 1024, 1), stdout


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--docs", type=Path, required=True)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-torch", action="store_true", help="only the default (ONNX) encoder: no torch runs")
    ap.add_argument("--baseline", type=Path, default=None,
                    help="another checkout: run every command with its package too, alternating (before/after)")
    args = ap.parse_args()
    out: dict = {}

    trees = [("", ROOT)] + ([("_baseline", args.baseline.resolve())] if args.baseline else [])

    def median(name: str, cmd: list[str], env: dict[str, str], reported: tuple[str, ...] = (),
               app: bool = False) -> None:
        """Median wall time of ``repeat`` runs of ``cmd`` per tree (alternating): ``out[name]``
        and, with a baseline, ``out[name + "_baseline"]`` and ``out[name + "_ratio"]``.
        ``reported``: also the medians of these keys of the JSON line the child prints (moments
        it timed itself); ``app``: the command's last argument but one is this tree's app.py."""
        runs: dict[str, dict[str, list]] = {suffix: {"walls": [], "peaks": [], "inner": [], "cpus": []}
                                            for suffix, _ in trees}
        for _ in range(args.repeat):
            for suffix, tree in trees:
                full = list(cmd)
                if app:
                    full[-2] = str(tree / "app.py")
                w, p, stdout = timed(full, {**env, "PYTHONPATH": str(tree)})
                r = runs[suffix]
                r["walls"].append(w)
                r["peaks"].append(p)
                r["cpus"].append(CPU[-1])
                if reported:
                    r["inner"].append(json.loads(stdout.strip().splitlines()[-1]))
        for suffix, _ in trees:
            r = runs[suffix]
            res = {"median_s": round(percentile(r["walls"], 50), 2), "min_s": round(min(r["walls"]), 2),
                   "peak_rss_mb": max(r["peaks"]), "cpu_median_s": round(percentile(r["cpus"], 50), 2)}
            for key in reported or ():
                res[f"{key}_median"] = round(percentile([x[key] for x in r["inner"]], 50), 2)
            out[name + suffix] = res
        if args.baseline:
            now, before = out[name], out[name + "_baseline"]
            out[name + "_ratio"] = {"wall": round(now["median_s"] / before["median_s"], 3),
                                    "cpu": round(now["cpu_median_s"] / before["cpu_median_s"], 3)}

    median("help", [CLI, "--help"], {})
    if not args.skip_torch:
        median("import_torch", [sys.executable, "-c", "import torch"], {})
    q = "What does Article 5 of the North Atlantic Treaty commit members to?"
    for backend in ("onnx",) if args.skip_torch else ("torch", "onnx"):
        median(f"ask_{backend}", [CLI, "--index", str(args.index), "ask", q, "--json"], {"ASSISTANT_ENCODER": backend})
    ingest = [CLI, "--index", str(args.index), "ingest", str(args.docs), "--json"]
    # The kept index was built from a folder of the same files elsewhere; the first ingest from
    # this folder takes them over (moved files, re-embedded), so it is not an unchanged re-ingest.
    timed(ingest, {})
    median("reingest_unchanged_cli", ingest, {})
    median("chat_first_answer", [sys.executable, "-c", CHAT, str(ROOT / "app.py"), q],
           {"ASSISTANT_INDEX_DIR": str(args.index)}, reported=("first_screen_s", "first_answer_s"), app=True)
    emit(out)


if __name__ == "__main__":
    main()
