"""Ingest throughput for one encoder backend (run in a fresh process; prints one JSON line).

    .venv/bin/python bench/ingest_bench.py --backend torch [--docs 15] [--keep DIR]

1. raw encoder: ``MiniLMEmbeddings.encode`` on the chunk texts ingest would embed (the ceiling);
2. ``Assistant.ingest`` of the same files into a fresh temp index (model already warm), with the
   time per stage (parse+chunk / embed / write / BM25) taken from the progress callback;
3. re-ingest of the unchanged files, then of the folder with one file changed;
4. peak RSS of the process.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CORPUS, Timer, corpus_chunk_texts, emit, peak_rss_mb  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", choices=["torch", "onnx"], required=True)
    ap.add_argument("--docs", type=int, default=0, help="only the first N corpus files (0 = all)")
    ap.add_argument("--keep", type=Path, default=None, help="copy the finished index here")
    args = ap.parse_args()
    os.environ["ASSISTANT_ENCODER"] = args.backend

    from assistant import Assistant
    from assistant.embeddings import MiniLMEmbeddings

    files = sorted(p for p in CORPUS.glob("*.md") if p.name != "SOURCES.md")
    if args.docs:
        files = files[: args.docs]
    result: dict = {"backend": args.backend, "files": len(files)}

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        folder = Path(tmp) / "docs"
        folder.mkdir()
        for f in files:
            shutil.copy(f, folder / f.name)
        texts = corpus_chunk_texts(sorted(folder.glob("*.md")))
        result["chunks"] = len(texts)

        # Load the model outside the timings (first-use cost reported separately).
        enc = MiniLMEmbeddings()
        with Timer() as t_load:
            enc.encode(["warm-up"])
        result["model_load_s"] = round(t_load.wall, 2)
        with Timer() as t_raw:
            enc.encode(texts)
        result["raw"] = {"seconds": round(t_raw.wall, 2), "cpu_s": round(t_raw.cpu, 2),
                         "chunks_per_s": round(len(texts) / t_raw.wall, 1)}

        bot = Assistant(index_dir=Path(tmp) / "index")
        marks: dict[str, float] = {}

        def progress(stage: str, done: int, total: int) -> None:
            now = time.perf_counter()
            marks.setdefault(stage + ":first", now)
            marks[stage + ":last"] = now

        with Timer() as t_ing:
            start = time.perf_counter()
            report = bot.ingest([folder], progress=progress)
            end = time.perf_counter()
        assert report.ok, report.failed
        stages = {}
        if "parse:first" in marks and "embed:first" in marks:
            stages["open_scan_parse_chunk_s"] = round(marks["embed:first"] - start, 2)
        if "embed:first" in marks:
            stages["embed_s"] = round(marks["embed:last"] - marks["embed:first"], 2)
            lex0 = marks.get("lexical:first", end)
            stages["write_chroma_s"] = round(lex0 - marks["embed:last"], 2)
        if "lexical:first" in marks:
            stages["bm25_s"] = round(marks["lexical:last"] - marks["lexical:first"], 2)
        result["ingest"] = {
            "seconds": round(t_ing.wall, 2), "cpu_s": round(t_ing.cpu, 2),
            "chunks": report.chunks_added, "chunks_per_s": round(report.chunks_added / t_ing.wall, 1),
            "ratio_to_raw": round(t_ing.wall / t_raw.wall, 2), "stages": stages,
        }

        with Timer() as t_same:
            again = bot.ingest([folder])
        result["reingest_unchanged"] = {"seconds": round(t_same.wall, 3), "unchanged": len(again.unchanged),
                                        "embedded": len(again.added) + len(again.updated)}

        victim = sorted(folder.glob("*.md"))[0]
        victim.write_text(victim.read_text(encoding="utf-8") + "\n\nA benchmark paragraph was added to this file "
                          "to measure incremental re-ingestion of one changed document.\n", encoding="utf-8")
        with Timer() as t_one:
            one = bot.ingest([folder])
        result["reingest_one_changed"] = {"seconds": round(t_one.wall, 2), "updated": len(one.updated),
                                          "chunks_added": one.chunks_added, "chunks_removed": one.chunks_removed}
        result["peak_rss_mb"] = peak_rss_mb()
        if args.keep:
            from assistant import store

            store._clients.clear()
            shutil.rmtree(args.keep, ignore_errors=True)
            shutil.copytree(Path(tmp) / "index", args.keep)
            shutil.copytree(folder, args.keep.parent / f"{args.keep.name}-docs", dirs_exist_ok=True)
    emit(result)


if __name__ == "__main__":
    main()
