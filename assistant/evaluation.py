"""``assistant eval``: retrieval, answer, citation and abstention quality on a question set.

Retrieval metrics come from ``ir-measures`` at document level (a question's relevant documents
are its ``must_cite`` ids; a run ranks documents by their first retrieved passage). This module
returns data; the command line (``assistant/cli.py``) prints it.
"""
from __future__ import annotations

import json
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import BadInput
from .types import Passage

MARKER_RE = re.compile(r"\s*\[\d+\]")
# Passages each question retrieves in an evaluation (and its ablations): the documents of the
# passages, in order, are the ranking that recall@k, MRR@10 and nDCG@10 score.
PASSAGES = 10


@dataclass
class Question:
    id: str
    question: str
    answerable: bool
    must_cite: list[str]
    key_facts: list[str]
    kind: str = ""
    history: list[dict] = field(default_factory=list)
    answer: str = ""


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _has_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return any("\ud800" <= ch <= "\udfff" for ch in value)
    if isinstance(value, list):
        return any(_has_surrogate(v) for v in value)
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    return False


def _check_row(row: dict) -> None:
    """Refuse (as this line's problem, not the run's) what would fail later: "answerable" that is
    not a JSON boolean ("no" used to count as answerable), key facts or documents that are not
    lists of strings, a history that is not a list of user/assistant turns, lone surrogates
    (which used to crash --json output after every question had run)."""
    if "question" not in row:
        raise KeyError("question")
    if "answerable" in row and not isinstance(row["answerable"], bool):
        raise ValueError(f"answerable must be true or false, got {row['answerable']!r}")
    for key in ("must_cite", "key_facts"):
        if row.get(key) is not None and not _strings(row[key]):
            raise ValueError(f"{key} must be a list of strings")
    history = row.get("history")
    if history is not None and not (isinstance(history, list) and all(
            isinstance(t, dict) and t.get("role") in ("user", "assistant") and isinstance(t.get("content"), str)
            for t in history)):
        raise ValueError('history must be a list of {"role": "user"|"assistant", "content": str}')
    if _has_surrogate(row):
        raise ValueError("text with a lone surrogate (not valid Unicode)")


def load_questions(path: Path) -> tuple[list[Question], list[str]]:
    """Parse a JSONL question set; bad lines are returned as messages with their line number."""
    if not path.exists():
        raise BadInput(f"no such question file: {path}")
    questions: list[Question] = []
    problems: list[str] = []
    seen: set[str] = set()
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError("not a JSON object")
            _check_row(row)
            q = Question(
                id=str(row.get("id") or f"line{n}"),
                question=row["question"],
                answerable=row.get("answerable", True),
                must_cite=list(row.get("must_cite") or []),
                key_facts=list(row.get("key_facts") or []),
                kind=str(row.get("kind", "")),
                history=list(row.get("history") or []),
                answer=str(row.get("answer", "")),
            )
            if not isinstance(q.question, str) or not q.question.strip():
                raise ValueError("empty question")
            if q.id in seen:
                raise ValueError(f"duplicate id {q.id}")
            seen.add(q.id)
        except (ValueError, KeyError, TypeError) as exc:
            problems.append(f"line {n}: skipped ({exc.__class__.__name__}: {exc})")
            continue
        questions.append(q)
    return questions, problems


def strip_markers(text: str) -> str:
    return MARKER_RE.sub("", text)


def ranked_docs(doc_ids: list[str]) -> list[str]:
    """Documents in the order of their first passage."""
    return list(dict.fromkeys(doc_ids))


def retrieval_metrics(rows: list[dict], k: int = 5) -> dict[str, float | None]:
    """recall@k (= success@k), MRR@10 and nDCG@10 with ir-measures over answerable questions."""
    import ir_measures
    from ir_measures import RR, Success, nDCG

    rows = [r for r in rows if r["answerable"] and r["must_cite"]]
    if not rows:
        return {f"recall@{k}": None, "mrr@10": None, "ndcg@10": None}
    qrels = [ir_measures.Qrel(r["id"], d, 1) for r in rows for d in r["must_cite"]]
    run = [
        ir_measures.ScoredDoc(r["id"], d, float(len(r["retrieved_docs"]) - i))
        for r in rows for i, d in enumerate(r["retrieved_docs"])
    ]
    measures = [Success @ k, RR @ 10, nDCG @ 10]
    # Per-query values, so that a question with nothing retrieved counts as a zero.
    per_query: dict[str, dict] = {r["id"]: {} for r in rows}
    for metric in ir_measures.iter_calc(measures, qrels, run):
        per_query[metric.query_id][metric.measure] = metric.value
    def mean(measure) -> float:
        return round(sum(v.get(measure, 0.0) for v in per_query.values()) / len(per_query), 4)
    return {f"recall@{k}": mean(Success @ k), "mrr@10": mean(RR @ 10), "ndcg@10": mean(nDCG @ 10)}


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def percentile(values: list[float], pct: float) -> float | None:
    """The ``pct`` percentile of ``values`` (linear interpolation, numpy's default), None when empty;
    the one definition the evaluation and the benches share."""
    if not values:
        return None
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=float), pct))


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def answer_metrics(rows: list[dict]) -> dict[str, float | None]:
    """Key-fact coverage, citation precision/recall and quote exactness (see the contract)."""
    answerable = [r for r in rows if r["answerable"]]
    coverage = [len(r["facts_found"]) / len(r["key_facts"]) for r in answerable if r["key_facts"]]
    cited = [(d in r["must_cite"]) for r in rows if r["must_cite"] for d in r["cited_docs"]]
    recall = [bool(set(r["cited_docs"]) & set(r["must_cite"])) for r in answerable if r["must_cite"]]
    exact = [q for r in rows for q in r["quotes_exact"]]
    return {
        "key_fact_coverage": _mean(coverage),
        "citation_precision": _mean([float(c) for c in cited]),
        "citation_recall": _mean([float(c) for c in recall]),
        "quote_exact": _mean([float(e) for e in exact]),
    }


def abstention_metrics(rows: list[dict]) -> dict[str, float | None]:
    """Abstention as the positive class; ``answerable: false`` as the truth."""
    tp = sum(1 for r in rows if r["abstained"] and not r["answerable"])
    fp = sum(1 for r in rows if r["abstained"] and r["answerable"])
    fn = sum(1 for r in rows if not r["abstained"] and not r["answerable"])
    n_answerable = sum(1 for r in rows if r["answerable"])
    return {
        "precision": round(tp / (tp + fp), 4) if tp + fp else None,
        "recall": round(tp / (tp + fn), 4) if tp + fn else None,
        "false_abstention_rate": round(fp / n_answerable, 4) if n_answerable else None,
    }


def summarize(rows: list[dict], k: int = 5) -> dict[str, Any]:
    """The contract's result object from per-question rows."""
    latencies = [r["latency_ms"] for r in rows]
    return {
        "n": len(rows),
        "answerable": sum(1 for r in rows if r["answerable"]),
        "unanswerable": sum(1 for r in rows if not r["answerable"]),
        "retrieval": retrieval_metrics(rows, k),
        "answer": answer_metrics(rows),
        "abstention": abstention_metrics(rows),
        "latency_ms": {"p50": _rounded(percentile(latencies, 50)), "p95": _rounded(percentile(latencies, 95))},
    }


def evaluate_answer(q: Question, answer, chunk_text: dict[str, str],
                    ranked: list[Passage] | None = None) -> dict[str, Any]:
    """One per-question row: what was retrieved (``ranked``: the retrieval measured, by default
    the answer's passages), cited, found and missed."""
    plain = strip_markers(answer.text).lower()
    plain_ws = " ".join(plain.split())
    found = [f for f in q.key_facts if " ".join(f.lower().split()) in plain_ws]
    return {
        "id": q.id,
        "kind": q.kind,
        "question": q.question,
        "answerable": q.answerable,
        "must_cite": q.must_cite,
        "key_facts": q.key_facts,
        "abstained": answer.abstained,
        "abstain_reason": getattr(answer, "abstain_reason", ""),
        "best_similarity": round(max((p.similarity for p in answer.passages), default=0.0), 4),
        "confidence": getattr(answer, "confidence", None),
        "signals": getattr(answer, "signals", {}),
        "parts": [p.subject for p in getattr(answer, "parts", [])],
        "retrieved_docs": ranked_docs([p.doc_id for p in (answer.passages if ranked is None else ranked)]),
        "cited_docs": [c.doc_id for c in answer.citations],
        "quotes_exact": [c.quote in chunk_text.get(c.chunk_id, "") for c in answer.citations],
        "facts_found": found,
        "facts_missed": [f for f in q.key_facts if f not in found],
        "answer": answer.text,
        "latency_ms": answer.latency_ms,
    }


def run_questions(bot, questions: list[Question], progress: bool = True, k: int = PASSAGES) -> list[dict]:
    """Ask every question (warm model) and score it.

    Each question is answered as a user would get it (the default number of passages,
    ``Settings.top_k``); the retrieval metrics are measured on a separate search of the same
    planned query for the ``k`` best passages, so that asking for more passages to measure
    MRR@10 does not change the answers measured (fusion ranks differ with the pool size)."""
    from rich.progress import Progress

    bot.ask("warm-up question about Article 5")  # load the model before timing anything
    rows: list[dict] = []
    with Progress(transient=True, disable=not (progress and sys.stderr.isatty())) as bar:
        task = bar.add_task("Questions", total=len(questions))
        for q in questions:
            answer = bot.ask(q.question, history=q.history or None)
            the_plan = bot.plan(q.question, q.history or None)
            ranked = bot.search(the_plan.search_query, k, focus=the_plan.focus_docs,
                                alternatives=the_plan.alternatives, focus_query=the_plan.focus_query).passages
            ids = [c.chunk_id for c in answer.citations]
            texts = {cid: t for cid, (t, _, _) in bot.index().get(ids).items()}
            rows.append(evaluate_answer(q, answer, texts, ranked))
            bar.advance(task)
    return rows


def evaluate(bot, path: Path, k: int = 5, progress: bool = True) -> dict[str, Any]:
    """Run a question file and return the contract's result (with ``problems`` for bad lines)."""
    questions, problems = load_questions(path)
    start = time.perf_counter()
    rows = run_questions(bot, questions, progress)
    result = summarize(rows, k)
    result["per_question"] = rows
    result["problems"] = problems
    result["seconds"] = round(time.perf_counter() - start, 2)
    return result


def calibrate(rows: list[dict], max_false_abstention: float = 0.05) -> dict[str, Any]:
    """Choose the answerability threshold on one half of the questions, report it on the other.

    The halves are split by id (stable). A question abstains at threshold t when the model's
    probability that the sources answer it (``confidence``) is below t. The chosen t catches the
    most unanswerable questions (abstention recall) while wrongly abstaining on at most
    ``max_false_abstention`` of the answerable ones: refusing a question the sources do answer
    costs the user more than a cited answer to a shaky one. Use it with
    ``ASSISTANT_ANSWER_THRESHOLD``, or refit the model (scripts/fit_answerability.py).
    """
    def at(t: float, subset: list[dict]) -> dict[str, float | None]:
        shifted = [dict(r, abstained=(r["confidence"] if r.get("confidence") is not None else 1.0) < t)
                   for r in subset]
        return abstention_metrics(shifted)

    def balanced(t: float, subset: list[dict]) -> float:
        m = at(t, subset)
        return ((m["recall"] or 0.0) + (1 - (m["false_abstention_rate"] or 0.0))) / 2

    import hashlib

    halves: tuple[list[dict], list[dict]] = ([], [])
    for r in rows:
        halves[int(hashlib.sha1(r["id"].encode()).hexdigest(), 16) % 2].append(r)
    fit, test = halves
    grid = [round(0.05 + 0.01 * i, 2) for i in range(91)]
    allowed = [t for t in grid if (at(t, fit)["false_abstention_rate"] or 0.0) <= max_false_abstention] or [grid[0]]
    best = max(allowed, key=lambda t: ((at(t, fit)["recall"] or 0.0), -t))
    return {
        "threshold": best,
        "objective": f"max abstention recall with false abstention <= {max_false_abstention}",
        "fit": {"n": len(fit), "balanced_accuracy": round(balanced(best, fit), 4), **at(best, fit)},
        "test": {"n": len(test), "balanced_accuracy": round(balanced(best, test), 4), **at(best, test)},
    }
