"""Measure fusion settings (RRF k, lexical and structural weights, dense floor) on eval/questions/dev.jsonl.

Each question is planned and its rankings gathered once, with the code ``Assistant.search`` runs
(``assistant.retrieval.gather``: dense, BM25, headings, and within the documents the question
names); every setting then fuses and cuts the same rankings with ``assistant.retrieval.select``,
so the comparison is exact and what is measured is what runs. Prints recall@5 and MRR@10 at
document level over the answerable questions, as ``assistant eval`` computes them (its
``retrieval_metrics`` on the documents of the first ``PASSAGES`` passages); the current settings
reproduce the eval's retrieval figures.

Usage: python scripts/tune_fusion.py [--index DIR] [--questions FILE]
"""
from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

from assistant import Assistant
from assistant.evaluation import PASSAGES, load_questions, ranked_docs, retrieval_metrics
from assistant.retrieval import gather, select

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", default=None)
    parser.add_argument("--questions", type=Path, default=ROOT / "eval" / "questions" / "dev.jsonl")
    args = parser.parse_args()

    bot = Assistant(index_dir=args.index)
    index = bot.index()
    current = bot.settings
    qs, _ = load_questions(args.questions)
    data = []
    for q in qs:
        if not (q.answerable and q.must_cite):
            continue
        plan = bot.plan(q.question, q.history or None)
        data.append((q, gather(index, plan.search_query, {}, current.candidates, "hybrid", plan.focus_docs, plan.alternatives)))

    def measure(**fusion) -> dict:
        settings = current.model_copy(update=fusion)
        rows = [{"id": q.id, "answerable": True, "must_cite": q.must_cite,
                 "retrieved_docs": ranked_docs([p.doc_id for p in select(index, rankings, settings, PASSAGES).passages])}
                for q, rankings in data]
        metrics = retrieval_metrics(rows, 5)
        return {**fusion, "recall@5": metrics["recall@5"], "mrr@10": metrics["mrr@10"]}

    fields = ("rrf_k", "lexical_weight", "structural_weight", "dense_floor")
    results = [measure(**dict(zip(fields, values)))
               for values in itertools.product([10, 30, 60], [0.5, 0.75, 1.0], [0.5, 1.0], [0.0, 0.3])]
    results.sort(key=lambda r: (-r["mrr@10"], -r["recall@5"]))
    print(json.dumps({"questions": len(data), "current": measure(**{f: getattr(current, f) for f in fields}),
                      "best": results[:8]}, indent=1))


if __name__ == "__main__":
    main()
