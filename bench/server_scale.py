"""Scale of the incremental lexical index and of a shared Chroma server (issue 17).

Two measurements, each printing one JSON line on stdout (and a short table on stderr):

``changed`` — one changed file at N chunks, end to end:
    .venv/bin/python bench/server_scale.py changed --sizes 10000 100000 [--server]
  A folder of N/12 synthetic Markdown files (~12 chunks each, as the corpus's briefs; sentences drawn from the
  corpus's own briefs, so the vocabulary is real) is indexed: every file is parsed and chunked by
  the real loader and chunker, the chunks stored with **synthetic vectors** (random unit vectors:
  encoding 100k chunks would take ~15 min of this shared CPU and the vectors play no part in
  what is measured), the manifest and the lexical index written as an ingest writes them. Then
  one file gets a new paragraph and is ingested (a) in-process (``assistant.ingest.ingest``: scan,
  hash, repair check, parse, encode the new chunk for real, write, lexical sync) and (b) as a
  fresh ``assistant ingest`` process (adds interpreter start and imports). In the same run, the
  cost of the previous design (rebuilding BM25 whole) is measured as a whole build of the same
  chunks: the ratio is the point. ``--server``: the same through a `chroma run` process.

``query`` — retrieval and answer latency and client memory through a Chroma server:
    .venv/bin/python bench/server_scale.py query --size 1000000 --queries 30 [--base INDEX]
  The real corpus index (``--base``, default: built from corpus/ here) is the seed; synthetic
  chunk i copies real chunk i mod n with its sentences shuffled and " Variant i." appended, doc
  id "<doc>~v<round>", vector = real vector + Gaussian noise (sigma 0.02) re-normalized (as
  bench/query_bench.py does). They are written to a fresh `chroma run` server with shared
  manifest records (one per 100 chunks). A fresh client process with an empty index folder then
  opens it (deriving its lexical index from the server: timed), answers a warm-up question, and
  the dev questions are timed: retrieve p50/p95, extractive ask p50/p95, client peak RSS, server
  peak RSS.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CORPUS, PY, ROOT, Timer, emit, machine, peak_rss_mb, shuffled_sentences, table  # noqa: E402

sys.path.insert(0, str(ROOT / "tests"))
from support import ChromaServer  # noqa: E402

BIN = Path(PY).parent / "assistant"
CHUNKS_PER_FILE = 12  # a brief of the corpus has ~10 chunks (722 in 71 files)
DIM = 384


def _sentences() -> list[str]:
    """Sentences of the corpus briefs (front matter and headings left out), those the chunker's
    fast sentence splitter takes (no abbreviations: pysbd, its fallback, costs ~20 ms a
    paragraph here and would make building 100k chunks take most of an hour; the changed file
    is parsed by the real chunker either way)."""
    try:
        from assistant.chunking import fast_sentences
    except ImportError:  # another chunker: take every sentence
        fast_sentences = lambda s: ()  # noqa: E731
    out: list[str] = []
    for path in sorted(CORPUS.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        text = re.sub(r"^---\n.*?\n---\n", "", text, flags=re.S)
        for line in text.splitlines():
            if line.strip() and not line.startswith("#"):
                out += [s.strip() for s in re.split(r"(?<=[.!?])\s+", line) if len(s.split()) >= 6]
    out = [s for s in out if s[0].isupper() and s.endswith(".") and s.count(".") == 1
           and not s.split()[-1].rstrip(".").isdigit()]
    return [s for s in out if fast_sentences(s + " " + s) is not None]


def _write_folder(folder: Path, n_files: int, seed: int = 0) -> None:
    """``n_files`` Markdown files of ~CHUNKS_PER_FILE chunks each."""
    rng = random.Random(seed)
    pool = _sentences()
    folder.mkdir(parents=True, exist_ok=True)
    for f in range(n_files):
        parts = [f"---\nid: synth-{f:06d}\ntitle: Synthetic brief {f}\nissuer: Bench\ntype: brief\n"
                 f"topics: [bench]\n---\n\n# Synthetic brief {f}\n"]
        for sec in range(max(CHUNKS_PER_FILE // 4, 1)):
            parts.append(f"\n## Section {sec + 1}\n")
            for _ in range(4):  # ~4 paragraphs of ~140 words: one chunk each
                words, para = 0, []
                while words < 120:
                    s = rng.choice(pool)
                    para.append(s)
                    words += len(s.split())
                parts.append("\n" + " ".join(para) + "\n")
        (folder / f"brief-{f:06d}.md").write_text("".join(parts), encoding="utf-8")


def _populate_from_files(index, folder: Path, progress: bool = True) -> dict:
    """Index ``folder`` as an ingest would, except that vectors are synthetic."""
    from assistant.ingest import parse_file, file_sha1

    rng = np.random.default_rng(0)
    manifest = index.load_manifest()
    written: dict[str, tuple[str, dict]] = {}
    ids, texts, metas = [], [], []
    t0 = time.perf_counter()
    files = sorted(folder.glob("*.md"))

    def flush() -> None:
        if ids:
            v = rng.normal(size=(len(ids), DIM)).astype(np.float32)
            index.upsert(ids, texts, metas, v / np.linalg.norm(v, axis=1, keepdims=True))
            ids.clear(), texts.clear(), metas.clear()

    for n, path in enumerate(files, 1):
        doc_id, title, aliases, chunks = parse_file(path, index.settings)
        manifest["files"][str(path.resolve())] = {"sha1": file_sha1(path), "doc_id": doc_id, "title": title,
                                                  "aliases": list(aliases), "chunks": [c.chunk_id for c in chunks]}
        for c in chunks:
            ids.append(c.chunk_id)
            texts.append(c.text)
            metas.append(c.metadata)
            written[c.chunk_id] = (c.text, c.metadata)
        if len(ids) >= 5000:
            flush()
            index.save_manifest(manifest)
        if progress and n % 100 == 0:
            print(f"  populated {n}/{len(files)} files, {len(written)} chunks, {time.perf_counter() - t0:.0f} s",
                  file=sys.stderr)
    flush()
    index.save_manifest(manifest)
    t_store = time.perf_counter() - t0
    with Timer() as t_lex:
        index.sync_lexical(manifest, written)
    return {"chunks": index.collection.count(), "files": len(files), "store_s": round(t_store, 1),
            "lexical_build_s": round(t_lex.wall, 2), "written": written}


def changed(size: int, server: bool, work: Path) -> dict:
    """One changed file at ``size`` chunks: in-process and as a fresh CLI process."""
    from assistant.embeddings import MiniLMEmbeddings
    from assistant.ingest import ingest
    from assistant.lexical import LexicalIndex
    from assistant.settings import Settings
    from assistant.store import Index, forget_clients

    folder, idx = work / f"docs-{size}", work / f"idx-{size}"
    chroma = ChromaServer(work / f"server-{size}") if server else None
    env = {}
    try:
        if chroma:
            os.environ["ASSISTANT_CHROMA_URL"] = env["ASSISTANT_CHROMA_URL"] = chroma.url
        settings = Settings(index_dir=idx, chroma_url=chroma.url if chroma else None)
        emb = MiniLMEmbeddings(backend=settings.encoder, cache_dir=Path(settings.models_dir).resolve())
        from assistant.chunking import embed_text

        if chroma is None and (idx / "manifest.json").exists() and folder.is_dir():
            index = Index(settings, emb)  # kept from an earlier run with the same --work: reuse it
            written = {}
            for offset in range(0, index.collection.count(), 30_000):
                got = index.collection.get(include=["documents", "metadatas"], limit=30_000, offset=offset)
                written.update(zip(got["ids"], zip(got["documents"], got["metadatas"])))
            built = {"chunks": len(written), "files": len(list(folder.glob("*.md"))), "store_s": None,
                     "lexical_build_s": None}
        else:
            _write_folder(folder, max(1, size // CHUNKS_PER_FILE))
            index = Index(settings, emb, create=True)
            built = _populate_from_files(index, folder)
            written = built.pop("written")
        # The previous design's cost for any change: BM25 rebuilt whole (tokenize every chunk).
        with Timer() as t_whole:
            LexicalIndex.build(list(written), [embed_text(t, m) for t, m in written.values()],
                               [m for _, m in written.values()])
        del written
        emb.encode(["warm the encoder up"])  # the in-process run is timed without loading the model

        target = sorted(folder.glob("*.md"))[len(list(folder.glob("*.md"))) // 2]
        rounds = []
        for r in range(3):
            with target.open("a", encoding="utf-8") as fh:
                fh.write(f"\n\nA new closing paragraph, round {r}, on the exchange of liaison officers.\n")
            fresh = Index(settings, emb)  # a fresh view, as a new ingest opens it
            with Timer() as t_in:
                report = ingest(fresh, [folder])
            assert report.ok and report.updated == [str(target.resolve())], report
            rounds.append({"in_process_s": round(t_in.wall, 2), "embedded_chunks": report.chunks_embedded})
        with target.open("a", encoding="utf-8") as fh:
            fh.write("\n\nOne more paragraph for the fresh process on the duties of the depositary.\n")
        forget_clients()
        t0 = time.perf_counter()
        proc = subprocess.run([str(BIN), "--index", str(idx), "ingest", str(folder)], capture_output=True, text=True,
                              env={**os.environ, **env}, cwd=ROOT, timeout=1800)
        cli_s = time.perf_counter() - t0
        assert proc.returncode == 0 and "updated 1" in proc.stdout, proc.stdout + proc.stderr
        lex = LexicalIndex.load(idx / "lexical")
        result = {
            "chunks": built["chunks"], "files": built["files"], "store": "chroma-server" if chroma else "embedded",
            "populate_store_s": built["store_s"], "populate_lexical_build_s": built["lexical_build_s"],
            "whole_bm25_rebuild_s": round(t_whole.wall, 2),
            "changed_file_in_process_s": [r["in_process_s"] for r in rounds],
            "changed_file_in_process_median_s": sorted(r["in_process_s"] for r in rounds)[1],
            "changed_file_cli_s": round(cli_s, 2),
            "chunks_embedded_per_change": [r["embedded_chunks"] for r in rounds],
            "lexical_segments_after": len(lex.segments) if lex else None,
            "peak_rss_mb": peak_rss_mb(), "loadavg_1m": round(os.getloadavg()[0], 2),
        }
        if chroma:
            result["server_peak_rss_mb"] = chroma.peak_rss_mb()
        return result
    finally:
        os.environ.pop("ASSISTANT_CHROMA_URL", None)
        if chroma:
            chroma.stop()
        forget_clients()


# --- query latency through a server ----------------------------------------------------------------
def _base_index(base: Path | None, work: Path) -> Path:
    if base is not None:
        return base
    out = work / "base"
    proc = subprocess.run([str(BIN), "--index", str(out), "ingest", str(CORPUS)], capture_output=True, text=True,
                          cwd=ROOT, timeout=3600, env={k: v for k, v in os.environ.items() if k != "ASSISTANT_CHROMA_URL"})
    assert proc.returncode == 0, proc.stderr
    return out


def fill_server(base: Path, url: str, size: int, seed: int = 0, start: int = 0) -> dict:
    """Write ``size`` chunks (the real ones, then synthetic variants) and their shared manifest
    records to the server at ``url``. ``start`` (a multiple of 100 past the real chunks): the
    server already holds the first ``start`` of them (an earlier, smaller fill): only the rest
    are written."""
    import chromadb

    from assistant.chunking import encode_spans
    from assistant.settings import Settings
    from assistant.store import SharedManifest, make_client

    real_col = chromadb.PersistentClient(path=str(base / "chroma")).get_collection("policy")
    got = real_col.get(include=["documents", "metadatas", "embeddings"])
    real = [(cid, doc, meta, np.asarray(vec, dtype=np.float32))
            for cid, doc, meta, vec in zip(got["ids"], got["documents"], got["metadatas"], got["embeddings"])]
    settings = Settings(chroma_url=url, index_dir=Path(tempfile.mkdtemp()))
    client = make_client(settings)
    col = client.get_or_create_collection("policy", metadata={"hnsw:space": "cosine"}, embedding_function=None)
    shared = SharedManifest(client, "policy")
    manifest = shared.load()
    step = min(client.get_max_batch_size(), 2000)
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    ids, docs, metas, vecs = [], [], [], []
    file_chunks: list[str] = []
    for i in range(start, size):
        cid, text, meta, vec = real[i % len(real)]
        if i >= len(real):
            new_text, new_spans = shuffled_sentences(text, meta, rng)
            text = new_text + f" Variant {i}."
            meta = dict(meta)
            meta["doc_id"] = f"{meta.get('doc_id', 'doc')}~v{i // len(real)}"
            meta["sents"] = encode_spans(new_spans)
            meta["source"] = f"synthetic://{i // 100}"
            cid = f"synthetic:{i}:{cid}"
            v = vec + rng.normal(0, 0.02, size=vec.shape).astype(np.float32)
            vec = v / np.linalg.norm(v)
        ids.append(cid)
        docs.append(text)
        metas.append(meta)
        vecs.append(vec)
        file_chunks.append(cid)
        if i >= len(real) and (i + 1) % 100 == 0:
            manifest["files"][f"synthetic://{i // 100}"] = {"sha1": "synthetic", "doc_id": meta["doc_id"],
                                                           "title": meta.get("title", ""), "aliases": [],
                                                           "chunks": list(file_chunks)}
            file_chunks = []
        elif i == len(real) - 1:  # the real corpus: one record per real file
            by_source: dict[str, list[str]] = {}
            for r in real:
                by_source.setdefault(r[2].get("source", ""), []).append(r[0])
            for src, cids in by_source.items():
                m = next(r[2] for r in real if r[2].get("source", "") == src)
                manifest["files"][src] = {"sha1": "real", "doc_id": m.get("doc_id", ""), "title": m.get("title", ""),
                                          "aliases": [], "chunks": cids}
            file_chunks = []
        if len(ids) >= step or i == size - 1:
            col.upsert(ids=ids, documents=docs, metadatas=metas, embeddings=np.stack(vecs))
            ids, docs, metas, vecs = [], [], [], []
            shared.save(manifest, step)
            if (i + 1) % 50000 < step:
                print(f"  server holds {i + 1} chunks, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    if file_chunks:
        manifest["files"][f"synthetic://{size // 100}"] = {"sha1": "synthetic", "doc_id": "rest", "title": "",
                                                           "aliases": [], "chunks": file_chunks}
        shared.save(manifest, step)
    return {"chunks": col.count(), "fill_s": round(time.perf_counter() - t0, 1)}


def query(size: int, n_queries: int, base: Path | None, work: Path, server_dir: Path | None = None,
          settle: float = 0, trees: list[Path] | None = None) -> dict:
    """Fill a server to ``size`` chunks and time a fresh client against it.

    ``server_dir``: a server data folder kept between runs: only the chunks it lacks are written
    (so 100k, then 500k, then 1M grow one store). ``settle``: after the fill, wait (at most that
    many seconds) until the server process is idle (< 5 % of a core over 15 s) before any client
    starts: right after a large fill the server is still compacting, and a client timed then
    measures that. ``trees``: run the client of each of these checkouts (its own
    ``bench/server_scale.py serve``, so its own ``assistant`` package) one after the other
    against the same server, each with a fresh, empty index folder (before/after in one run)."""
    base = _base_index(base, work)
    with ChromaServer(server_dir or work / f"qserver-{size}", timeout=600) as chroma:
        filled = fill_server(base, chroma.url, size, start=_held(chroma.url))
        if settle:
            filled["settle"] = wait_idle(chroma.proc.pid, settle)
        runs = []
        for n, tree in enumerate(trees or [ROOT]):
            client_dir = work / f"client-{size}-{n}"
            shutil.rmtree(client_dir, ignore_errors=True)
            env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
            load_before = round(os.getloadavg()[0], 2)
            out = subprocess.run([PY, str(Path(tree).resolve() / "bench" / "server_scale.py"), "serve", "--index",
                                  str(client_dir), "--queries", str(n_queries)], capture_output=True, text=True,
                                 cwd=tree, timeout=7200,
                                 env={**env, "ASSISTANT_CHROMA_URL": chroma.url, "ASSISTANT_ENCODER": "onnx"})
            if out.returncode != 0:
                raise RuntimeError(out.stderr[-3000:])
            served = json.loads(out.stdout.strip().splitlines()[-1])
            served.update(filled)
            served["tree"] = str(tree)
            served["loadavg_1m_at_client_start"] = load_before
            served["server_peak_rss_mb"] = chroma.peak_rss_mb()
            served["server_cpu_s_so_far"] = _cpu_s(chroma.proc.pid)
            print(json.dumps(served), file=sys.stderr)
            runs.append(served)
        if len(runs) == 1:
            return runs[0]
        return {**runs[-1], "runs": runs}


def _held(url: str) -> int:
    """How many chunks the server's "policy" collection holds already (0: none)."""
    import chromadb

    from assistant.settings import Settings
    from assistant.store import make_client

    client = make_client(Settings(chroma_url=url, index_dir=Path(tempfile.mkdtemp())))
    try:
        return client.get_collection("policy").count()
    except Exception:  # noqa: BLE001 - no collection yet
        return 0


def _cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) of process ``pid`` so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_idle(pid: int, limit: float, window: float = 15.0, busy: float = 0.05) -> dict:
    """Wait until process ``pid`` used less than ``busy`` of a core over ``window`` seconds (at
    most ``limit`` seconds): the server's background work after a fill."""
    t0 = time.perf_counter()
    last = _cpu_s(pid)
    samples = []
    while time.perf_counter() - t0 < limit:
        time.sleep(window)
        now = _cpu_s(pid)
        if now is None or last is None:
            break
        share = (now - last) / window
        samples.append(round(share, 2))
        last = now
        print(f"  server CPU {share:.0%} over {window:g} s, load {os.getloadavg()[0]:.2f}", file=sys.stderr)
        if share < busy:
            break
    return {"waited_s": round(time.perf_counter() - t0, 1), "server_cpu_share_samples": samples,
            "idle": bool(samples) and samples[-1] < busy, "loadavg_1m": round(os.getloadavg()[0], 2)}


def serve(index_dir: Path, n_queries: int) -> dict:
    """In a fresh process: open the shared index from an empty folder, then time the questions."""
    from query_bench import measure_queries

    from assistant import Assistant

    import gc

    with Timer() as t_open:
        bot = Assistant(index_dir=index_dir)
        lex = bot.index().lexical()
    derived = {"derive_lexical_s": round(t_open.wall, 2), "lexical_chunks": len(lex),
               "peak_rss_mb_after_derive": peak_rss_mb()}
    del bot, lex  # measure_queries opens its own client, which loads the cache this one saved
    gc.collect()
    result = measure_queries(index_dir, "onnx", n_queries)
    result.update(derived)
    result["rss_mb_after_questions"] = _rss_now_mb()
    return result


def _rss_now_mb() -> float | None:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("changed", help="one changed file at each size")
    c.add_argument("--sizes", type=int, nargs="+", default=[10000, 100000])
    c.add_argument("--server", action="store_true", help="through a `chroma run` process")
    c.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temp folder, removed)")
    q = sub.add_parser("query", help="latency and memory through a Chroma server at one size")
    q.add_argument("--size", type=int, default=1_000_000)
    q.add_argument("--queries", type=int, default=30)
    q.add_argument("--base", type=Path, default=None, help="an index of corpus/ to seed from (default: built)")
    q.add_argument("--work", type=Path, default=None)
    q.add_argument("--server-dir", type=Path, default=None,
                   help="server data folder kept between runs (only the missing chunks are written)")
    q.add_argument("--settle", type=float, default=0,
                   help="after the fill, wait up to this many seconds for the server to go idle")
    q.add_argument("--tree", type=Path, action="append", default=None,
                   help="a checkout whose client is timed (repeat: before/after against one server)")
    q.add_argument("--fill-only", action="store_true", help="fill --server-dir to --size, then stop")
    s = sub.add_parser("serve", help=argparse.SUPPRESS)
    s.add_argument("--index", type=Path, required=True)
    s.add_argument("--queries", type=int, default=30)
    args = ap.parse_args()
    if args.cmd == "serve":
        emit(serve(args.index, args.queries))
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="server-scale-"))
    try:
        if args.cmd == "changed":
            rows = [changed(n, args.server, work) for n in args.sizes]
            print(table([[r["chunks"], r["store"], r["whole_bm25_rebuild_s"], r["changed_file_in_process_median_s"],
                          r["changed_file_cli_s"], r["peak_rss_mb"]] for r in rows],
                        ["chunks", "store", "whole BM25 rebuild s", "changed file s (in-process)",
                         "changed file s (CLI)", "RSS MB"]), file=sys.stderr)
            emit({"bench": "changed", "machine": machine(), "results": rows})
        elif args.fill_only:
            assert args.server_dir, "--fill-only needs --server-dir"
            with ChromaServer(args.server_dir, timeout=600) as chroma:
                have = _held(chroma.url)
                filled = fill_server(_base_index(args.base, work), chroma.url, args.size, start=have)
                filled["held_before"] = have
                if args.settle:
                    filled["settle"] = wait_idle(chroma.proc.pid, args.settle)
                filled["server_peak_rss_mb"] = chroma.peak_rss_mb()
            emit({"bench": "fill", "machine": machine(), "result": filled})
        else:
            r = query(args.size, args.queries, args.base, work, args.server_dir, args.settle, args.tree)
            print(table([[r["chunks"], r["retrieve_ms"]["p50"], r["ask_ms"]["p95"], r["peak_rss_mb"],
                          r["server_peak_rss_mb"], r["derive_lexical_s"]]],
                        ["chunks", "retrieve p50 ms", "ask p95 ms", "client RSS MB", "server RSS MB",
                         "derive lexical s"]), file=sys.stderr)
            emit({"bench": "query", "machine": machine(), "result": r})
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
