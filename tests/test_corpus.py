"""The corpus and question sets keep to the contract."""
from __future__ import annotations

import json
import sys

from conftest import CORPUS, QUESTIONS, ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import check_corpus  # noqa: E402
import make_sources  # noqa: E402


def test_corpus_briefs_are_valid():
    problems, docs = check_corpus.check_corpus(CORPUS)
    assert problems == []
    assert len(docs) >= 50


def test_question_sets_are_valid():
    _, docs = check_corpus.check_corpus(CORPUS)
    for name in ("dev.jsonl", "smoke.jsonl", "heldout.jsonl", "fresh.jsonl", "added-briefs.jsonl", "added-2.jsonl"):
        assert check_corpus.check_questions(QUESTIONS / name, docs) == [], name


def test_heldout_sets_are_separate_from_dev_and_each_other():
    """The held-out sets share no id and no question with the set everything was tuned on, nor
    with each other."""
    load = lambda name: [json.loads(line) for line in (QUESTIONS / name).read_text().splitlines() if line.strip()]  # noqa: E731
    dev, held, fresh = load("dev.jsonl"), load("heldout.jsonl"), load("fresh.jsonl")
    assert len(held) == 60 and sum(not r["answerable"] for r in held) == 20
    assert len(fresh) == 50 and sum(not r["answerable"] for r in fresh) == 16
    added2 = load("added-2.jsonl")  # the second edition's new briefs: 2+ questions each, a quarter unanswerable
    assert len(added2) >= 2 * 30 and sum(not r["answerable"] for r in added2) >= len(added2) // 4
    norm = lambda q: " ".join(q.lower().split())  # noqa: E731
    for a, b in ((dev, held), (dev, fresh), (held, fresh), (dev, added2), (held, added2), (fresh, added2)):
        assert not {r["id"] for r in a} & {r["id"] for r in b}
        assert not {norm(r["question"]) for r in a} & {norm(r["question"]) for r in b}


def test_dev_set_mix():
    rows = [json.loads(line) for line in (QUESTIONS / "dev.jsonl").read_text().splitlines() if line.strip()]
    assert len(rows) >= 200
    assert sum(not r["answerable"] for r in rows) >= 40
    assert sum(bool(r.get("history")) for r in rows) >= 15
    assert len({r["id"] for r in rows}) == len(rows)
    smoke = [json.loads(line) for line in (QUESTIONS / "smoke.jsonl").read_text().splitlines() if line.strip()]
    assert len(smoke) == 20


def test_sources_table_in_sync():
    assert (CORPUS / "SOURCES.md").read_text(encoding="utf-8") == make_sources.render(CORPUS)


def test_sources_md_is_not_ingested(corpus_bot):
    assert "sources" not in corpus_bot.facets()["doc_id"]


def test_no_corpus_chunk_exceeds_the_model_length(corpus_bot):
    from assistant.chunking import embed_text
    from assistant.embeddings import MAX_TOKENS, load_model

    got = corpus_bot.index().collection.get(include=["documents", "metadatas"])
    tokenizer = load_model().tokenizer
    lengths = [len(tokenizer(embed_text(t, m))["input_ids"]) for t, m in zip(got["documents"], got["metadatas"])]
    assert len(lengths) > 500 and max(lengths) <= MAX_TOKENS
