"""Evaluation metrics on hand-made cases, and the eval command on the smoke set."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.evaluation import (abstention_metrics, answer_metrics, calibrate, load_questions,
                                  retrieval_metrics, summarize)
from conftest import QUESTIONS


def row(**kw):
    base = {"id": "q", "kind": "factual", "answerable": True, "must_cite": ["a"], "key_facts": ["x"],
            "abstained": False, "abstain_reason": "", "best_similarity": 0.8, "retrieved_docs": ["a"],
            "cited_docs": ["a"], "quotes_exact": [True], "facts_found": ["x"], "facts_missed": [],
            "answer": "x [1]", "latency_ms": 10.0}
    return base | kw


def test_retrieval_metrics_known_values():
    rows = [row(id="1", retrieved_docs=["a", "b"]), row(id="2", retrieved_docs=["b", "a"]),
            row(id="3", retrieved_docs=["b", "c", "d", "e", "f", "a"])]
    m = retrieval_metrics(rows, k=5)
    assert m["recall@5"] == round(2 / 3, 4)
    assert m["mrr@10"] == round((1 + 1 / 2 + 1 / 6) / 3, 4)


def test_retrieval_metrics_nothing_retrieved_counts_as_zero():
    m = retrieval_metrics([row(id="1"), row(id="2", retrieved_docs=[])], k=5)
    assert m["recall@5"] == 0.5 and m["mrr@10"] == 0.5


def test_no_answerable_questions():
    rows = [row(answerable=False, must_cite=[], key_facts=[], abstained=True, cited_docs=[], quotes_exact=[])]
    assert retrieval_metrics(rows)["recall@5"] is None
    a = answer_metrics(rows)
    assert a["key_fact_coverage"] is None and a["citation_recall"] is None and a["quote_exact"] is None
    ab = abstention_metrics(rows)
    assert ab == {"precision": 1.0, "recall": 1.0, "false_abstention_rate": None}


def test_answer_and_abstention_metrics():
    rows = [
        row(id="1", key_facts=["x", "y"], facts_found=["x"], cited_docs=["a", "b"], quotes_exact=[True, False]),
        row(id="2", abstained=True, cited_docs=[], quotes_exact=[], facts_found=[]),
        row(id="3", answerable=False, must_cite=[], key_facts=[], abstained=True, cited_docs=[], quotes_exact=[]),
        row(id="4", answerable=False, must_cite=[], key_facts=[], abstained=False, cited_docs=["z"], quotes_exact=[True]),
    ]
    a = answer_metrics(rows)
    assert a["key_fact_coverage"] == 0.25          # (1/2 + 0) / 2
    assert a["citation_precision"] == 0.5          # a in, b out; q4 skipped (empty must_cite)
    assert a["citation_recall"] == 0.5
    assert a["quote_exact"] == round(2 / 3, 4)
    ab = abstention_metrics(rows)
    assert ab == {"precision": 0.5, "recall": 0.5, "false_abstention_rate": 0.5}
    s = summarize(rows)
    assert s["n"] == 4 and s["answerable"] == 2 and s["latency_ms"]["p50"] == 10.0


def test_calibration_respects_false_abstention_budget():
    # the answerability model's probability that the sources answer each question
    rows = [row(id=f"a{i}", confidence=0.5 + i / 100) for i in range(40)]
    rows += [row(id=f"u{i}", answerable=False, must_cite=[], confidence=0.3 + i / 100) for i in range(20)]
    cal = calibrate(rows, max_false_abstention=0.05)
    assert 0.45 <= cal["threshold"] <= 0.52
    assert cal["fit"]["false_abstention_rate"] <= 0.05


def test_bad_lines_are_reported_and_skipped(tmp_path):
    f = tmp_path / "q.jsonl"
    f.write_text('{"id": "a", "question": "What is NATO?", "answerable": true}\nnot json\n{"id": "b"}\n\n', encoding="utf-8")
    qs, problems = load_questions(f)
    assert [q.id for q in qs] == ["a"]
    assert problems[0].startswith("line 2") and problems[1].startswith("line 3")


@pytest.mark.integration
def test_eval_cli_on_smoke_set(corpus_index_dir, tmp_path):
    report = tmp_path / "report.md"
    out = subprocess.run(
        [str(Path(sys.executable).parent / "assistant"), "--index", str(corpus_index_dir), "eval",
         str(QUESTIONS / "smoke.jsonl"), "--json", "--report", str(report)],
        capture_output=True, text=True, env=os.environ.copy(), timeout=600,
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["n"] == 20 and len(data["per_question"]) == 20
    # Floors set from measurement (smoke: recall@5 1.0, key facts 0.71 on 2026-11-27), with margin.
    assert data["retrieval"]["recall@5"] >= 0.9
    assert data["answer"]["key_fact_coverage"] >= 0.5
    assert data["answer"]["quote_exact"] == 1.0
    assert data["abstention"]["false_abstention_rate"] <= 0.15
    text = report.read_text()
    assert f"| retrieval.recall@5 | {data['retrieval']['recall@5']} |" in text
    assert (tmp_path / "report-kinds.png").stat().st_size > 1000
    assert (tmp_path / "report-latency.png").stat().st_size > 1000
