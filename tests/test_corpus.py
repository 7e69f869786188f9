"""The corpus and question sets keep to the contract."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

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


@pytest.mark.integration
def test_sources_md_is_not_ingested(corpus_bot):
    assert "sources" not in corpus_bot.facets()["doc_id"]


@pytest.mark.integration
def test_no_corpus_chunk_exceeds_the_model_length(corpus_bot):
    from assistant.chunking import embed_text
    from assistant.embeddings import MAX_TOKENS, load_model

    got = corpus_bot.index().collection.get(include=["documents", "metadatas"])
    tokenizer = load_model().tokenizer
    lengths = [len(tokenizer(embed_text(t, m))["input_ids"]) for t, m in zip(got["documents"], got["metadatas"])]
    assert len(lengths) > 500 and max(lengths) <= MAX_TOKENS


def _brief(front: str, body_sentence: str) -> str:
    paragraph = " ".join(["The brief describes its instrument in the team's own words."] * 12)
    return f"---\n{front}---\n\n# Title\n\n{body_sentence}\n\n" + "\n\n".join([paragraph] * 6) + "\n"


_FRONT = ("id: x-brief\ntitle: X\nissuer: UN\ntype: brief\nadopted: 2001-01-01\n"
          "url: https://example.org/x\ntopics: [un]\n")


def test_time_sensitive_sentences_must_carry_an_as_of_date():
    """Counts of parties or members, sums of money and 'currently' need 'as of <Month YYYY>' in the
    sentence; counts fixed by a legal text and dated past events do not."""
    flag = check_corpus.undated_time_sensitive
    for undated in ("The CWC has 193 states parties.",
                    "More than 185 states are parties to the BWC.",
                    "NATO has 32 member countries.",
                    "The Schengen area today comprises 29 countries.",
                    "The agency currently employs analysts.",
                    "Its current legal basis is Regulation (EU) 2018/1727.",
                    "The Silver Notice is INTERPOL's newest notice type.",
                    "SAFE allows the Commission to raise up to €150 billion on capital markets."):
        assert flag(undated), undated
    for dated in ("As of March 2024, NATO has 32 member countries.",
                  "As of October 2024, 76 states were Parties to the Budapest Convention.",
                  "Article 23 of the UN Charter provides that the Security Council consists of 15 Members.",
                  "In 2014, when the pledge was agreed, only three Allies spent 2% of GDP.",
                  "Regulation (EU) 2021/697 sets the envelope at €7.953 billion for 2021–2027.",
                  "Data must be kept up to date.",
                  "The envelope is €7.953 billion in current prices for 2021–2027.",
                  "As of November 2026, its legal basis is Regulation (EU) 2018/1727.",
                  "The Committee set up by resolutions 1267 (1999) and 1989 (2011) has all 15 members of the Council.",
                  "Data that were not extracted are deleted five years after receipt at the latest."):
        assert flag(dated) is None, dated
    assert flag("The latest report lists 40 countries.")


def test_every_brief_has_a_reviewed_date_that_is_not_in_the_future(tmp_path):
    problems, docs = check_corpus.check_corpus(CORPUS)
    assert problems == [] and len(docs) >= 50
    import datetime as dt

    import yaml
    for path in CORPUS.glob("*.md"):
        if path.name == "SOURCES.md":
            continue
        meta = yaml.safe_load(path.read_text(encoding="utf-8").split("---\n")[1])
        assert isinstance(meta["reviewed"], dt.date) and meta["reviewed"] <= dt.date.today(), path.name
    # The checker refuses a missing, malformed or future date and an undated count.
    cases = {"missing": (_FRONT, "Nothing dated here.", "missing reviewed"),
             "bad": (_FRONT + "reviewed: soon\n", "Nothing dated here.", "reviewed must be a YYYY-MM-DD date"),
             "future": (_FRONT + "reviewed: 2999-01-01\n", "Nothing dated here.", "is in the future"),
             "undated": (_FRONT + "reviewed: 2026-01-05\n", "The treaty has 120 States parties.", "without 'as of")}
    for name, (front, sentence, needle) in cases.items():
        folder = tmp_path / name
        folder.mkdir()
        (folder / "x-brief.md").write_text(_brief(front, sentence), encoding="utf-8")
        found, _ = check_corpus.check_corpus(folder)
        assert any(needle in p for p in found), (name, found)
    ok = tmp_path / "ok"
    ok.mkdir()
    (ok / "x-brief.md").write_text(_brief(_FRONT + "reviewed: 2026-01-05\n",
                                          "As of January 2026, the treaty has 120 States parties."), encoding="utf-8")
    assert check_corpus.check_corpus(ok)[0] == []


def _reviewed_of(doc_id: str) -> str:
    import yaml
    meta = yaml.safe_load((CORPUS / f"{doc_id}.md").read_text(encoding="utf-8").split("---\n")[1])
    return meta["reviewed"].isoformat()


@pytest.mark.integration
def test_citations_carry_the_briefs_reviewed_date(corpus_bot):
    answer = corpus_bot.ask("How many states are parties to the Chemical Weapons Convention?")
    assert not answer.abstained and answer.citations
    for c in answer.citations:
        assert c.reviewed == _reviewed_of(c.doc_id), (c.doc_id, c.reviewed)
    assert "chemical-weapons-convention" in {c.doc_id for c in answer.citations}


@pytest.mark.integration
def test_cli_shows_the_reviewed_date_beside_each_citation(corpus_index_dir):
    import os
    import subprocess

    bin_ = Path(sys.executable).parent / "assistant"
    out = subprocess.run([str(bin_), "--index", str(corpus_index_dir), "ask",
                          "When did Sweden join NATO and how many members does NATO have?"],
                         capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"}, timeout=300)
    assert out.returncode == 0, out.stderr
    data = subprocess.run([str(bin_), "--index", str(corpus_index_dir), "ask",
                           "When did Sweden join NATO and how many members does NATO have?", "--json"],
                          capture_output=True, text=True, timeout=300)
    cited = json.loads(data.stdout)["citations"]
    assert cited
    lines = [line for line in out.stdout.splitlines() if line.startswith("[")]
    assert len(lines) == len(cited)
    for line, c in zip(lines, cited):
        assert c["reviewed"] == _reviewed_of(c["doc_id"])
        assert f"(reviewed {c['reviewed']})" in line, line


@pytest.mark.integration
def test_a_question_about_now_is_answered_with_the_dated_fact(corpus_bot):
    """Counts of members or parties are quoted with their 'as of' date, so an answer about 'now'
    says when the figure was true."""
    for question, figure, date in (
            ("How many member countries does INTERPOL currently have?", "196", "As of November 2025"),
            ("How many parties does the Budapest Convention have today?", "76", "As of October 2024"),
            ("How many member countries does NATO have?", "32", "As of March 2024"),
            # "members" is the everyday word for the member countries the brief counts (glossary term)
            ("How many members does NATO have now?", "32", "As of March 2024")):
        answer = corpus_bot.ask(question)
        assert not answer.abstained, question
        quote = next((c.quote for c in answer.citations if figure in c.quote), "")
        assert date in quote, (question, answer.text)
