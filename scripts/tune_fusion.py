"""Measure fusion settings (RRF k, lexical and structural weights) on eval/questions/dev.jsonl.

Each question's dense, BM25 and structural rankings are computed once; every setting then fuses
the same rankings, so the comparison is exact. Prints recall@5 and MRR@10 (document level).
Usage: python scripts/tune_fusion.py
"""
from __future__ import annotations

import itertools
import json
from pathlib import Path

from assistant import Assistant
from assistant.answer import standalone_query
from assistant.evaluation import load_questions
from assistant.retrieval import DENSE_FLOOR, IDENTIFIER_RE, rrf

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    bot = Assistant()
    index = bot.index()
    lex = index.lexical()
    qs, _ = load_questions(ROOT / "eval" / "questions" / "dev.jsonl")
    data = []
    for q in qs:
        if not q.answerable:
            continue
        query = standalone_query(q.question, q.history)
        vec = bot.embeddings.encode([query])[0].tolist()
        dense = [(cid, sim, meta["doc_id"]) for cid, sim, _, meta in index.dense(vec, 30, {})]
        bm25 = [cid for cid, _ in lex.search(query, 30)]
        structural = lex.structural(query, 30)
        data.append((q, query, dense, bm25, structural))
    doc_of = {cid: meta["doc_id"] for cid, meta in zip(lex.ids, lex.metas)}

    results = []
    for k, w_lex, w_struct, floor in itertools.product([10, 30, 60], [0.5, 0.75, 1.0], [0.5, 1.0], [0.0, DENSE_FLOOR]):
        hits, rr = 0, 0.0
        for q, query, dense, bm25, structural in data:
            d = [cid for cid, sim, _ in dense if sim >= floor]
            wl = 2 * w_lex if IDENTIFIER_RE.search(query) else w_lex
            fused = rrf([d, bm25, structural], k, [1.0, wl, w_struct])
            docs = list(dict.fromkeys(doc_of[c] for c in sorted(fused, key=lambda c: -fused[c])))
            rank = next((i for i, doc in enumerate(docs[:10]) if doc in q.must_cite), None)
            hits += rank is not None and rank < 5
            rr += 1 / (rank + 1) if rank is not None else 0
        results.append({"rrf_k": k, "lexical_weight": w_lex, "structural_weight": w_struct, "dense_floor": floor,
                        "recall@5": round(hits / len(data), 4), "mrr@10": round(rr / len(data), 4)})
    dense_only = sum(any(doc in q.must_cite for doc in list(dict.fromkeys(x[2] for x in dense))[:5])
                     for q, _, dense, _, _ in data) / len(data)
    results.sort(key=lambda r: (-r["mrr@10"], -r["recall@5"]))
    print(json.dumps({"questions": len(data), "dense_only_recall@5": round(dense_only, 4), "best": results[:8]}, indent=1))


if __name__ == "__main__":
    main()
