"""Speed and scale benchmarks: JSON (bench/results/<mode>.json) and a readable table.

    .venv/bin/python bench/run.py --quick     # ~2 min: 15 files, 1k chunks, onnx ingest only
    .venv/bin/python bench/run.py             # full (<20 min): whole corpus, both backends, 1k/10k/100k
    .venv/bin/python bench/run.py --recall    # also dev-set quality per backend (+~8 min)

Every measurement runs in a fresh process, so peak RSS and model loading are per scenario.
Each result records the 1-minute load average: on a shared 2-core box, compare CPU seconds
(``cpu_s``) as well as wall seconds.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, machine, run_json, table  # noqa: E402


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--recall", action="store_true", help="also run the dev set per backend")
    ap.add_argument("--sizes", type=str, default=None, help="comma-separated index sizes")
    ap.add_argument("--queries", type=int, default=None)
    args = ap.parse_args()
    quick = args.quick
    mode = "quick" if quick else "full"
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else ([1000] if quick else [1000, 10000, 100000])
    n_queries = args.queries or (10 if quick else 30)
    ingest_backends = ["onnx"] if quick else ["torch", "onnx"]
    serve_backends = ["onnx"] if quick else ["torch", "onnx"]
    docs = 15 if quick else 0

    results: dict = {"mode": mode, "machine": machine(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    t_start = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="bench-run-"))
    try:
        # The ONNX model is exported/quantized once into the cache; do it outside any timing.
        log("ensuring the ONNX model cache")
        from assistant.onnx_encoder import ensure_model

        t0 = time.perf_counter()
        ensure_model()
        results["onnx_cache_s"] = round(time.perf_counter() - t0, 2)

        results["ingest"] = {}
        for backend in ingest_backends:
            log(f"ingest ({backend})")
            keep = ["--keep", str(work / "corpus-index")] if backend == ingest_backends[-1] else []
            extra = ["--docs", str(docs)] if docs else []
            rounds = ["--rounds", "1" if quick else "5"]
            results["ingest"][backend] = run_json(["bench/ingest_bench.py", "--backend", backend, *rounds, *extra, *keep])

        base = work / "corpus-index"
        results["query"] = []
        results["build"] = []
        previous = base
        for size in sizes:
            out = work / f"index-{size}"
            log(f"build {size} chunks")
            results["build"].append(run_json(["bench/query_bench.py", "build", "--base", str(previous), "--out", str(out), "--size", str(size)]))
            if previous != base:
                shutil.rmtree(previous, ignore_errors=True)
            previous = out
            for backend in serve_backends:
                log(f"serve {size} chunks ({backend})")
                results["query"].append(run_json(["bench/query_bench.py", "serve", "--index", str(out), "--backend", backend, "--queries", str(n_queries)]))
            log(f"serve {size} chunks (onnx, through a Chroma server process)")
            results["query"].append(run_json(["bench/query_bench.py", "serve", "--index", str(out), "--backend", "onnx",
                                              "--queries", str(n_queries), "--server"]))

        log("cold start")
        results["coldstart"] = run_json(["bench/coldstart.py", "--index", str(base), "--docs", str(work / "corpus-index-docs"),
                                          "--repeat", "1" if quick else "3"])
        if args.recall:
            results["recall"] = {}
            for backend in ("torch", "onnx"):
                log(f"dev-set recall ({backend})")
                results["recall"][backend] = run_json(["bench/recall.py", "--backend", backend], timeout=3600)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["total_s"] = round(time.perf_counter() - t_start, 1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{mode}.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(json.dumps(results))
    print(report(results), file=sys.stderr)


def report(r: dict) -> str:
    m = r["machine"]
    lines = [f"\n== bench ({r['mode']}, {r['total_s']} s) on {m['cores']} cores, {m['cpu']}, load {m['loadavg_1m']} =="]
    rows = []
    for backend, x in r["ingest"].items():
        rows.append([backend, x["files"], x["chunks"], x["raw"]["chunks_per_s"], x["raw"]["cpu_s"], x["ingest"]["chunks_per_s"],
                     x["ingest"]["cpu_s"], x["ingest"]["ratio_to_raw"], x["ingest"]["rest_cpu_s"],
                     x["ingest"]["cpu_bound_ratio"], x["ingest_cold"]["chunks_per_s"],
                     x["reingest_unchanged"]["seconds"], x["reingest_one_changed"]["seconds"],
                     x["reingest_moved_folder"]["seconds"], x["reingest_moved_folder"]["chunks_embedded"], x["peak_rss_mb"]])
    lines.append(table(rows, ["backend", "files", "chunks", "raw chunk/s", "raw cpu s", "ingest chunk/s", "ingest cpu s",
                              "ingest/raw (median)", "ingest w/o encoder cpu s",
                              "cpu bound of ingest/raw", "cold ingest chunk/s", "re-ingest same s", "1 changed s",
                              "moved folder s", "moved: chunks embedded", "peak RSS MB"]))
    for backend, x in r["ingest"].items():
        lines.append(f"  {backend} ingest/raw per round: {[rd['ratio'] for rd in x['ingest']['rounds']]}; "
                     f"stages of the last round: {x['ingest']['stages_last_round']}")
    rows = [[b["size"], b["upsert_s"], b["bm25_rebuild_s"], b["peak_rss_mb"]] for b in r["build"]]
    lines.append("\n" + table(rows, ["chunks", "synthetic upsert s", "BM25 rebuild s", "build peak RSS MB"]))
    rows = []
    for q in r["query"]:
        rows.append([q["chunks"], q["backend"], q.get("store", "embedded"), q["retrieve_ms"]["p50"], q["retrieve_ms"]["p95"],
                     q["ask_ms"]["p50"], q["ask_ms"]["p95"], q["ask_repeat_ms"]["p50"], q["texts_embedded_per_ask"],
                     q["peak_rss_mb"], q.get("server_peak_rss_mb"), q["loadavg_1m"]])
    lines.append("\n" + table(rows, ["chunks", "backend", "store", "retrieve p50 ms", "p95", "ask p50 ms", "p95", "ask again p50",
                                     "texts embedded/ask", "serve RSS MB", "server RSS MB", "load"]))
    for q in r["query"]:
        lines.append(f"  ask breakdown {q['chunks']} {q['backend']} {q.get('store', 'embedded')} (mean ms): {q['ask_breakdown_ms_mean']}")
    c = r["coldstart"]
    rows = [[k, v["median_s"], v["peak_rss_mb"]] for k, v in c.items()]
    lines.append("\n" + table(rows, ["cold start (fresh process)", "median s", "peak RSS MB"]))
    if "recall" in r:
        rows = [[b, x["retrieval"]["recall@5"], x["retrieval"]["mrr@10"], x["answer"]["key_fact_coverage"],
                 x["abstention"]["recall"], x["abstention"]["false_abstention_rate"]] for b, x in r["recall"].items()]
        lines.append("\n" + table(rows, ["backend", "recall@5", "mrr@10", "key facts", "abstain recall", "false abstain"]))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
