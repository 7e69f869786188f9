"""Start-up stays light (issue 17): each command imports only what it needs, and the lazy paths
give the same results as the ones they replaced (LangChain's Runnable for ``ask``,
langchain_chroma for dense search, bm25s's stop words, the title scan of the name index)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from assistant.names import WORD_RE, NameIndex, glossary, words

# Start-up is measured on real processes, the real model and real indexes: the integration layer.
pytestmark = pytest.mark.integration

HEAVY = ("chromadb", "langchain_core", "langchain_chroma", "onnxruntime", "torch", "bm25s", "wordfreq", "scipy")

# Runs the command line in this process, then reports which of these packages it imported.
# (The report is printed by an atexit handler: `ask` ends the process right after its output,
# running the atexit handlers but not the interpreter's teardown.)
PROBE = """
import atexit, json, sys
watch = json.loads(sys.argv[1])
sys.argv = ["assistant", *sys.argv[2:]]
outcome = {"code": None}
atexit.register(lambda: print(json.dumps({"code": outcome["code"], "loaded": sorted(m for m in watch if m in sys.modules)}),
                              file=sys.stderr, flush=True))
from assistant.cli import main
outcome["code"] = 0  # what a fast exit after a finished command means
try:
    main()
except SystemExit as exc:
    outcome["code"] = exc.code or 0
"""


def probe(*args: str, watch: tuple[str, ...]) -> tuple[str, dict]:
    out = subprocess.run([sys.executable, "-c", PROBE, json.dumps(list(watch)), *args],
                         capture_output=True, text=True, timeout=300)
    return out.stdout, json.loads(out.stderr.strip().splitlines()[-1])


def test_help_imports_no_store_model_or_langchain():
    stdout, report = probe("--help", watch=HEAVY)
    assert report["code"] == 0 and "ask" in stdout
    assert report["loaded"] == []


def test_ask_imports_neither_langchain_runnables_nor_langchain_chroma(corpus_index_dir):
    watch = ("chromadb", "onnxruntime", "langchain_core.runnables.base", "langchain_chroma", "bm25s", "torch",
             "scipy")
    stdout, report = probe("--index", str(corpus_index_dir), "ask",
                           "What does Article 5 of the North Atlantic Treaty commit the parties to?", "--json",
                           watch=watch)
    assert report["code"] == 0
    assert "nato-treaty" in [c["doc_id"] for c in json.loads(stdout)["citations"]]
    # the store and the encoder it needs, and nothing of LangChain's chains, bm25s or torch
    assert report["loaded"] == ["chromadb", "onnxruntime"]


def _same(a, b) -> bool:
    x, y = a.to_dict(), b.to_dict()
    x.pop("latency_ms"), y.pop("latency_ms")
    return x == y


@pytest.mark.parametrize("question", [
    "What does Article 5 of the North Atlantic Treaty commit members to?",
    "hague 1970 vs beijing 2010 on jurisdiction",
    "how many judges does the ICC have?",
])
def test_ask_answers_as_the_chain_does(corpus_bot, question):
    direct = corpus_bot.ask(question)
    assert _same(direct, corpus_bot.chain.invoke({"question": question}))
    assert _same(direct, corpus_bot.chain.invoke(question))


def test_dense_search_equals_langchain_chroma(corpus_bot):
    index = corpus_bot.index()
    for query, filters in [("armed attack against one or more of the parties", {}),
                           ("preservation of stored computer data", {"topic": "cybercrime"}),
                           ("extradition", {"type": ("treaty", "convention")}),
                           ("Article 5", {"doc_id": "nato-treaty"})]:
        vec = corpus_bot.embeddings.embed_query(query)
        from assistant.store import chroma_where

        ours = index.dense(vec, 12, filters)
        theirs = index.vectorstore.similarity_search_by_vector_with_relevance_scores(vec, k=12,
                                                                                     filter=chroma_where(filters))
        assert ours and len(ours) == len(theirs)
        assert ours == [(d.id, 1.0 - float(dist), d.page_content, d.metadata) for d, dist in theirs]


def test_policy_retriever_is_still_importable_from_retrieval(corpus_bot):
    from assistant.chain import PolicyRetriever
    from assistant.retrieval import PolicyRetriever as same

    assert same is PolicyRetriever
    import typing

    from assistant.retrieval import Mode

    assert typing.get_args(PolicyRetriever.model_fields["mode"].annotation) == typing.get_args(Mode)
    docs = corpus_bot.retriever(k=3).invoke("Article 5 of the North Atlantic Treaty")
    assert len(docs) == 3 and docs[0].metadata["doc_id"] == "nato-treaty"


def test_stop_words_are_bm25s_list():
    from bm25s.stopwords import STOPWORDS_EN

    from assistant.lexical import STOPWORDS_EN as ours, stopwords

    assert ours == STOPWORDS_EN and stopwords() == frozenset(STOPWORDS_EN)


def _join_by_scan(index: NameIndex) -> None:
    """The title join as it was written before (every name against every title), for reference."""
    titles = {d: (words(t), set(WORD_RE.findall(t))) for d, t in index.docs.items()}
    joined: dict[str, set[str]] = {}
    for eid, entry in index.gloss.entries.items():
        if eid in index.entry_docs or entry.kind in {"instrument", "term"}:
            continue
        hits: set[str] = set()
        for name in entry.names:
            form = words(name)
            acronym = name in entry.acronyms
            if not form or (len(form) < 2 and not acronym):
                continue
            for doc, (title_words, raw) in titles.items():
                if acronym and len(form) == 1:
                    if name in raw:
                        hits.add(doc)
                elif any(title_words[i: i + len(form)] == form for i in range(len(title_words))):
                    hits.add(doc)
        if 0 < len(hits) <= 2:
            joined[eid] = hits
    index.entry_docs.update(joined)
    for eid, entry in index.gloss.entries.items():
        if eid in index.entry_docs or not entry.by or entry.kind not in {"procedure", "office"}:
            continue
        owners = index.gloss.forms.get(words(entry.by), set())
        if len(owners) == 1:
            docs = index.entry_docs.get(next(iter(owners)), set())
            if 0 < len(docs) <= 2:
                index.entry_docs[eid] = set(docs)


def test_title_join_equals_the_scan_it_replaced(corpus_bot, monkeypatch):
    gloss = glossary()
    corpus = {doc: (title, []) for doc, title in corpus_bot.names().docs.items()}
    # titles holding a name of every glossary entry, and of the body it belongs to
    made = {f"made-{i}": (f"Annual report of the {name} on the {entry.by or 'Council'}", [])
            for i, entry in enumerate(gloss.entries.values()) for name in entry.names[:1]}
    for documents in (corpus, {**corpus, **made}):
        seen: list[dict] = []
        original = NameIndex._join_by_title

        def both(self, seen=seen, original=original):
            copy = NameIndex(self.gloss, dict(self.docs), {}, {k: set(v) for k, v in self.entry_docs.items()})
            _join_by_scan(copy)
            seen.append({"before": len(self.entry_docs), "expected": copy.entry_docs})
            original(self)

        monkeypatch.setattr(NameIndex, "_join_by_title", both)
        index = NameIndex.build(gloss, documents)
        monkeypatch.setattr(NameIndex, "_join_by_title", original)
        assert len(seen[0]["expected"]) > seen[0]["before"], "the scan joined nothing: nothing is compared"
        assert index.entry_docs == seen[0]["expected"]


def test_problem_and_names_parse_the_manifest_once_per_version(tmp_path, docs_dir, monkeypatch):
    from assistant import Assistant
    from assistant.store import Index

    bot = Assistant(index_dir=tmp_path / "idx")
    assert bot.ingest([docs_dir]).ok
    fresh = Assistant(index_dir=tmp_path / "idx")
    index = fresh.index()
    reads = []
    original = Index.load_manifest
    monkeypatch.setattr(Index, "load_manifest", lambda self: reads.append(1) or original(self))
    assert index.problem() is None
    assert "alpha-pact" in fresh.names().docs
    assert len(reads) == 1
    # a new version of the manifest (another ingest) is read again, and what it says is seen
    (docs_dir / "gamma.md").write_text("---\nid: gamma-accord\ntitle: The Gamma Accord (2020)\n---\n\n"
                                       "# The Gamma Accord\n\nThe Gamma Accord sets up a joint patrol.\n",
                                       encoding="utf-8")
    assert bot.ingest([docs_dir]).ok
    assert index.problem() is None and "gamma-accord" in fresh.names().docs
    assert len(reads) == 2


def test_dense_search_of_an_empty_index_finds_nothing(tmp_path):
    """No count() before the query (one request less per search through a server): an empty
    collection must answer with no hits, filtered or not."""
    from assistant import Assistant

    index = Assistant(index_dir=tmp_path / "idx").index(create=True)
    assert index.collection.count() == 0
    vec = [0.05] * 384
    assert index.dense(vec, 5, {}) == []
    assert index.dense(vec, 5, {"doc_id": "nato-treaty", "topic": ("nato", "eu")}) == []
