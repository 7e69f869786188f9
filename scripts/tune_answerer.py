"""Measure extractive-answer settings on eval/questions/dev.jsonl (key-fact coverage, citation
precision) with retrieval computed once per question. Usage: python scripts/tune_answerer.py"""
from __future__ import annotations

import itertools
import json
from pathlib import Path

from assistant import Assistant
from assistant.evaluation import answer_metrics, evaluate_answer, load_questions

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    bot = Assistant()
    lexical = bot.lexicon()
    qs, _ = load_questions(ROOT / "eval" / "questions" / "dev.jsonl")
    qs = [q for q in qs if q.answerable]
    plans = [bot.plan(q.question, q.history or None) for q in qs]
    retrievals = [bot.search(p.search_query, None, None, focus=p.focus_docs, alternatives=p.alternatives) for p in plans]
    out = []
    for max_sentences, passages_used, keep_ratio, max_words in itertools.product(
        [2, 3, 4], [3, 4, 6], [0.7, 0.8, 0.9], [90, 120, 160]
    ):
        answerer = bot.answerer.reshaped(max_sentences=max_sentences, passages_used=passages_used,
                                         keep_ratio=keep_ratio, max_words=max_words)  # shares sentence vectors
        rows = []
        for q, p, r in zip(qs, plans, retrievals):
            a = answerer.answer(p, r, lexical)
            rows.append(evaluate_answer(q, a, {p.chunk_id: p.text for p in r.passages}))
        m = answer_metrics(rows)
        words = sum(len(r["answer"].split()) for r in rows) / len(rows)
        out.append({"max_sentences": max_sentences, "passages_used": passages_used, "keep_ratio": keep_ratio,
                    "max_words": max_words, "key_fact_coverage": m["key_fact_coverage"],
                    "citation_precision": m["citation_precision"], "mean_words": round(words, 1)})
    out.sort(key=lambda r: -r["key_fact_coverage"])
    print(json.dumps(out[:10], indent=1))
    s = bot.settings  # the shape that runs
    print(json.dumps([r for r in out if (r["max_sentences"], r["passages_used"], r["keep_ratio"], r["max_words"])
                      == (s.answer_max_sentences, s.answer_passages, s.answer_keep_ratio, s.answer_max_words)], indent=1))


if __name__ == "__main__":
    main()
