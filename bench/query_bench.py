"""Query latency at growing index sizes, embedded Chroma or a Chroma server, with a per-stage
breakdown of ask().

Build (one process):
    .venv/bin/python bench/query_bench.py build --base INDEX --out DIR --size 10000
Serve (fresh process per size and backend; prints one JSON line):
    .venv/bin/python bench/query_bench.py serve --index DIR --backend onnx --queries 30
    .venv/bin/python bench/query_bench.py serve --index DIR --backend onnx --server   # via `chroma run`

How the larger indexes are made: the real corpus index (~680 chunks, real vectors) is copied,
then synthetic chunks are upserted straight through ``assistant.store.Index.upsert`` until the
collection holds ``size`` chunks. Synthetic chunk i copies real chunk j = i mod n: its sentences
are shuffled (sentence spans recomputed, so the answerer still finds them), " Variant i." is
appended, its doc_id becomes "<doc_id>~v<round>" (so the per-document cap and the dedup by text
see distinct documents), and its vector is the real vector plus Gaussian noise (sigma 0.02 per
dimension, cosine ~0.9 to the original) re-normalized. The BM25 index is then rebuilt from Chroma. Served through a Chroma server, the index folder's
manifest is first copied to the server's shared records (as an ingest through the server writes
it); the client then derives its BM25 cache from the server on its first question.
So the big indexes have the real corpus's vocabulary and vector geometry, with many near-duplicate
distractors: a hard case for both search sides, not an easy one.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEV, ROOT, Timer, emit, peak_rss_mb, percentile, shuffled_sentences  # noqa: E402

sys.path.insert(0, str(ROOT / "tests"))
from support import ChromaServer  # noqa: E402  (the test suite's `chroma run` helper)

NOISE = 0.02


def build(base: Path, out: Path, size: int, seed: int = 0) -> dict:
    from assistant.chunking import encode_spans
    from assistant.embeddings import MiniLMEmbeddings
    from assistant.settings import Settings
    from assistant.store import Index

    if out != base:
        shutil.rmtree(out, ignore_errors=True)
        shutil.copytree(base, out)
    index = Index(Settings(index_dir=out), MiniLMEmbeddings(backend="torch"))
    have = index.collection.count()
    got = index.collection.get(include=["documents", "metadatas", "embeddings"], limit=100000)
    real = [(cid, doc, meta, np.asarray(vec, dtype=np.float32))
            for cid, doc, meta, vec in zip(got["ids"], got["documents"], got["metadatas"], got["embeddings"])
            if "~v" not in meta.get("doc_id", "")]
    rng = np.random.default_rng(seed + have)
    todo = size - have
    t0 = time.perf_counter()
    batch_ids, batch_texts, batch_metas, batch_vecs = [], [], [], []
    for i in range(have, size):
        cid, text, meta, vec = real[i % len(real)]
        rnd = i // len(real)
        new_text, new_spans = shuffled_sentences(text, meta, rng)
        new_text += f" Variant {i}."
        new_meta = dict(meta)
        new_meta["doc_id"] = f"{meta.get('doc_id', 'doc')}~v{rnd}"
        new_meta["sents"] = encode_spans(new_spans)
        v = vec + rng.normal(0, NOISE, size=vec.shape).astype(np.float32)
        batch_ids.append(f"synthetic:{i}:{cid}")
        batch_texts.append(new_text)
        batch_metas.append(new_meta)
        batch_vecs.append(v / np.linalg.norm(v))
        if len(batch_ids) == 5000 or i == size - 1:
            index.upsert(batch_ids, batch_texts, batch_metas, np.stack(batch_vecs))
            batch_ids, batch_texts, batch_metas, batch_vecs = [], [], [], []
    t_upsert = time.perf_counter() - t0
    with Timer() as t_lex:
        index.rebuild_lexical()
    manifest = index.load_manifest()
    index.save_manifest(manifest)  # touch: the index is "current" for readers
    return {"size": index.collection.count(), "added": max(todo, 0), "upsert_s": round(t_upsert, 2),
            "bm25_rebuild_s": round(t_lex.wall, 2), "peak_rss_mb": peak_rss_mb()}


def questions(n: int) -> list[str]:
    rows = [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [r for r in rows if not r.get("history")]
    step = max(1, len(rows) // n)
    return [r["question"] for r in rows[::step][:n]]


class Stages:
    """Accumulate wall time spent inside selected functions (patched on their classes)."""

    def __init__(self) -> None:
        self.total: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.active: list[str] = []

    def wrap(self, owner, name: str, label: str, inside: dict[str, str] | None = None) -> None:
        """``inside``: relabel when called from within another stage (e.g. who embeds)."""
        original = getattr(owner, name)
        stages = self
        base_label = label

        def timed(*a, **kw):
            label = (inside or {}).get(stages.active[-1], base_label) if stages.active else base_label
            t0 = time.perf_counter()
            stages.active.append(label)
            try:
                return original(*a, **kw)
            finally:
                stages.active.pop()
                dt = time.perf_counter() - t0
                stages.total[label] = stages.total.get(label, 0.0) + dt
                stages.calls[label] = stages.calls.get(label, 0) + 1
                # Time of the outer stage excludes nested stages (exclusive timing).
                if stages.active:
                    parent = stages.active[-1]
                    stages.total[parent] = stages.total.get(parent, 0.0) - dt

        setattr(owner, name, timed)

    def reset(self) -> None:
        self.total, self.calls = {}, {}


def serve(index_dir: Path, backend: str, n_queries: int, server: bool = False) -> dict:
    """Latency of retrieve() and ask() over ``index_dir``; with ``server``, the same index served
    by a Chroma server process (``ASSISTANT_CHROMA_URL``) instead of the embedded client."""
    os.environ["ASSISTANT_ENCODER"] = backend
    chroma = None
    if server:
        chroma = ChromaServer(index_dir / "chroma")
        os.environ["ASSISTANT_CHROMA_URL"] = chroma.url
        _publish_manifest(index_dir, chroma.url)
    try:
        result = measure_queries(index_dir, backend, n_queries)
        result["store"] = "chroma-server" if server else "embedded"
        if chroma:
            result["server_start_s"] = chroma.start_s
            result["server_peak_rss_mb"] = chroma.peak_rss_mb()
        return result
    finally:
        if chroma:
            chroma.stop()


def _publish_manifest(index_dir: Path, url: str) -> None:
    """With a Chroma server the manifest lives with the collection (assistant.store.SharedManifest):
    copy the embedded index's manifest.json there, as the ingest that built it would have."""
    from assistant.settings import Settings
    from assistant.store import SharedManifest, make_client

    client = make_client(Settings(chroma_url=url, index_dir=index_dir))
    shared = SharedManifest(client, "policy")
    manifest = shared.load()
    manifest["files"].update(json.loads((index_dir / "manifest.json").read_text(encoding="utf-8"))["files"])
    shared.save(manifest, client.get_max_batch_size())


def measure_queries(index_dir: Path, backend: str, n_queries: int) -> dict:
    from assistant import Assistant
    from assistant.answer import ExtractiveAnswerer
    from assistant.embeddings import MiniLMEmbeddings
    from assistant.lexical import LexicalIndex
    from assistant.store import Index

    qs = questions(n_queries)
    with Timer() as t_open:
        bot = Assistant(index_dir=index_dir)
        bot.ask("warm-up: what does Article 5 say?")  # model, index, BM25 loaded here
    size = bot.index().collection.count()

    stages = Stages()
    stages.wrap(MiniLMEmbeddings, "encode", "embed: query",
                inside={"answerer: sentence embeddings": "embed: answer sentences"})
    stages.wrap(ExtractiveAnswerer, "_vectors", "answerer: sentence embeddings")
    stages.wrap(Index, "dense", "chroma dense query")
    stages.wrap(Index, "get", "chroma get by id (+vectors)")
    stages.wrap(LexicalIndex, "search", "bm25 search")
    stages.wrap(LexicalIndex, "structural", "structural refs")
    stages.wrap(ExtractiveAnswerer, "score", "answerer: sentence scoring")
    # The Chroma requests themselves (exclusive of the stages above that make them), and the
    # shared-state poll of a client of a server (its requests counted inside it).
    from chromadb.api.models.Collection import Collection

    poll = {"shared state poll": "shared state poll: its requests"}
    stages.wrap(Collection, "count", "chroma count()", inside=poll)
    stages.wrap(Collection, "query", "chroma query() request", inside=poll)
    stages.wrap(Collection, "get", "chroma get() request", inside=poll)
    stages.wrap(Index, "_shared_lexical", "shared state poll")

    retrieve_ms = []
    for q in qs:
        t0 = time.perf_counter()
        bot.retrieve(q, k=bot.settings.top_k)
        retrieve_ms.append((time.perf_counter() - t0) * 1000)
    # ask() with the answerer's sentence cache emptied, so that it starts cold, like a new question would.
    bot.answerer.clear_cache()
    stages.reset()
    embedded_before = bot.embeddings.calls
    ask_ms = []
    for q in qs:
        t0 = time.perf_counter()
        bot.ask(q)
        ask_ms.append((time.perf_counter() - t0) * 1000)
    total_ask = sum(ask_ms)
    texts_per_ask = (bot.embeddings.calls - embedded_before) / len(qs)
    breakdown = {label: round(sec * 1000 / len(qs), 1) for label, sec in sorted(stages.total.items(), key=lambda kv: -kv[1])}
    breakdown["other (chain, fusion, scoring)"] = round(total_ask / len(qs) - sum(breakdown.values()), 1)
    # A second pass over the same questions: the answerer's sentence cache is warm.
    ask_warm = []
    for q in qs:
        t0 = time.perf_counter()
        bot.ask(q)
        ask_warm.append((time.perf_counter() - t0) * 1000)

    def pct(v):
        return {"p50": round(percentile(v, 50), 1), "p95": round(percentile(v, 95), 1), "mean": round(sum(v) / len(v), 1)}

    return {
        "backend": backend, "chunks": size, "queries": len(qs), "open_and_first_ask_s": round(t_open.wall, 2),
        "retrieve_ms": pct(retrieve_ms), "ask_ms": pct(ask_ms), "ask_repeat_ms": pct(ask_warm),
        "ask_breakdown_ms_mean": breakdown, "embed_calls_per_ask": round((stages.calls.get("embed: query", 0) + stages.calls.get("embed: answer sentences", 0)) / len(qs), 2),
        "texts_embedded_per_ask": round(texts_per_ask, 1),
        "peak_rss_mb": peak_rss_mb(), "loadavg_1m": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("--base", type=Path, required=True)
    b.add_argument("--out", type=Path, required=True)
    b.add_argument("--size", type=int, required=True)
    s = sub.add_parser("serve")
    s.add_argument("--index", type=Path, required=True)
    s.add_argument("--backend", choices=["torch", "onnx"], default="torch")
    s.add_argument("--queries", type=int, default=30)
    s.add_argument("--server", action="store_true", help="serve the index through a `chroma run` process")
    args = ap.parse_args()
    if args.cmd == "build":
        emit(build(args.base, args.out, args.size))
    else:
        emit(serve(args.index, args.backend, args.queries, args.server))


if __name__ == "__main__":
    main()
