"""What the chat adds to an answer to show its sources (prints one JSON line).

    .venv/bin/python bench/chat_sources.py --index DIR [--repeat 5]

For each of a few questions, times ``Assistant.ask`` (the baseline, same run) and what the chat
then does for the sources panel: the library read (one chunk per document, ``where
position == 0``, as the app does; and, for comparison, every chunk's metadata) and
``sources.enrich`` (kind of source, dates, quote context, follow-ups). Reports medians and the
ratio of the chat's extra work to the answer itself.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import emit  # noqa: E402

QUESTIONS = [
    "What does Article 5 of the North Atlantic Treaty commit the parties to?",
    "What is PESCO?",
    "What does the Budapest Convention say about the expedited preservation of stored computer data?",
    "How does Europol support police cooperation between EU member states?",
]


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, (time.perf_counter() - t0) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", required=True, help="an index folder (e.g. of corpus/)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from assistant import Assistant
    from assistant.sources import enrich, library

    bot = Assistant(index_dir=args.index)
    bot.ask(QUESTIONS[0])  # warm: model, index, caches
    collection = bot.index().collection
    ask_ms, lib_ms, lib_all_ms, enrich_ms = [], [], [], []
    for _ in range(args.repeat):
        for q in QUESTIONS:
            answer, ms = timed(lambda: bot.ask(q))  # noqa: B023
            ask_ms.append(ms)
            docs, ms = timed(lambda: library(collection.get(where={"position": 0}, include=["metadatas"])["metadatas"]))
            lib_ms.append(ms)
            _, ms = timed(lambda: library(collection.get(include=["metadatas"])["metadatas"]))
            lib_all_ms.append(ms)
            by_id = {d["doc_id"]: d for d in docs}
            _, ms = timed(lambda: enrich(answer.to_dict(), answer.passages, by_id))  # noqa: B023
            enrich_ms.append(ms)
    med = statistics.median
    extra = med(lib_ms) + med(enrich_ms)
    result = {"bench": "chat_sources", "questions": len(QUESTIONS), "repeat": args.repeat,
              "ask_ms_median": round(med(ask_ms), 2), "library_first_chunks_ms_median": round(med(lib_ms), 2),
              "library_all_chunks_ms_median": round(med(lib_all_ms), 2), "enrich_ms_median": round(med(enrich_ms), 2),
              "extra_vs_ask_ratio": round(extra / med(ask_ms), 3), "documents": len(docs)}
    print(f"ask {result['ask_ms_median']} ms; library (first chunks) {result['library_first_chunks_ms_median']} ms "
          f"vs all chunks {result['library_all_chunks_ms_median']} ms; enrich {result['enrich_ms_median']} ms; "
          f"extra/ask {result['extra_vs_ask_ratio']}", file=sys.stderr)
    emit(result)


if __name__ == "__main__":
    main()
