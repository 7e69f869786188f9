"""The fast ingest path: sentence splitting without pysbd where it is safe, parallel encoder
workers, and the parse → embed → write pipeline with grouped Chroma writes."""
from __future__ import annotations

import re
import threading
from pathlib import Path

import numpy as np
import pytest

from conftest import CORPUS, REALDOCS


# --- sentence splitting -------------------------------------------------------------------------
def _pysbd_spans(block: str) -> list[tuple[int, int]]:
    from assistant.chunking import _segmenter

    out = []
    for sp in _segmenter().segment(block):
        piece = block[sp.start : sp.end]
        s, e = sp.start + len(piece) - len(piece.lstrip()), sp.end - (len(piece) - len(piece.rstrip()))
        if e > s:
            out.append((s, e))
    return out


def _sentences(text: str) -> list[str]:
    from assistant.chunking import sentence_spans

    return [text[s:e] for s, e in sentence_spans(text)]


@pytest.mark.parametrize("text, expected", [
    ("The Council met in 2015. It agreed on a plan.", ["The Council met in 2015.", "It agreed on a plan."]),
    # abbreviations go to pysbd, which keeps them inside the sentence
    ("See Art. 5 of the Treaty. It applies to all Parties.", ["See Art. 5 of the Treaty.", "It applies to all Parties."]),
    ("States share data, e.g. passenger records. Europol helps.",
     ["States share data, e.g. passenger records.", "Europol helps."]),
    ("The rate was 2.5 per cent. It fell.", ["The rate was 2.5 per cent.", "It fell."]),
    # pysbd splits "Article 3" | "(c) of ..."; the fast path does not
    ("Article 3(c) of the Protocol covers children. Article 3(d) defines a child.",
     ["Article 3(c) of the Protocol covers children.", "Article 3(d) defines a child."]),
    # paragraph numbers stay with the sentence they open
    ("The Assembly may discuss it. 3. The Assembly may call attention to risks. 4. The powers stand.",
     ["The Assembly may discuss it.", "3. The Assembly may call attention to risks.", "4. The powers stand."]),
    ("1.  Each Party shall assist. It shall reply quickly.", ["1.  Each Party shall assist.", "It shall reply quickly."]),
    ('He said "we act now." Then the vote was taken.', ['He said "we act now."', "Then the vote was taken."]),
    ("Is this covered? Yes, under Article 7.", ["Is this covered?", "Yes, under Article 7."]),
    ("Heading without a stop", ["Heading without a stop"]),
    ("One line.\nAnother line.", ["One line.", "Another line."]),
])
def test_sentence_spans_cases(text, expected):
    assert _sentences(text) == expected


@pytest.mark.integration
def test_fast_path_matches_pysbd_on_real_texts():
    """On the corpus and real treaty texts the fast path takes most blocks, and where it does it
    agrees with pysbd except where pysbd splits a paragraph number, "Article 3(c)" or
    "paragraph 1b)(iii)" apart."""
    from assistant.chunking import _blocks, fast_sentences
    from assistant.loaders import load

    files = sorted(p for p in CORPUS.glob("*.md") if p.name != "SOURCES.md")
    if REALDOCS.is_dir():
        files += sorted(p for p in REALDOCS.glob("*.md") if p.name != "README.md")
    blocks = {b for f in files for sec in load(f).sections for _, b in _blocks(sec.text)}
    fast = {b: fast_sentences(b) for b in blocks}
    taken = [b for b, spans in fast.items() if spans is not None]
    assert len(taken) >= 0.85 * len(blocks), (len(taken), len(blocks))
    differ = []
    for b in taken:
        mine = [(s + len(b[s:e]) - len(b[s:e].lstrip()), e - (len(b[s:e]) - len(b[s:e].rstrip()))) for s, e in fast[b]]
        mine = [(s, e) for s, e in mine if e > s]
        if mine != _pysbd_spans(b):
            differ.append(b)
    unexplained = []
    for b in differ:
        # pysbd's known errors: it cuts a lone paragraph number or an "Article N" from its text,
        # or cuts a provision reference before its sub-paragraph letter ("paragraph 1b)" |
        # "(iii) or ...", "paragraph " | "b), of ..."). On numbered treaty paragraphs that is
        # most paragraphs, so the share of differences says nothing; what is left must be rare.
        pieces = [b[s:e] for s, e in _pysbd_spans(b)]
        if any(p.rstrip(".").isdigit() or p.startswith("Article ") and p[8:].isdigit() for p in pieces):
            continue
        if any(re.match(r"\(?[a-z]{1,4}\)[ ,;.]", nxt) for nxt in pieces[1:]):
            continue
        unexplained.append(b)
    # one seen: pysbd keeps '... in the domestic law of a State Party. However, ...' whole
    # after a ``term" quoted with odd marks; the fast path splits it, rightly
    assert len(unexplained) <= 0.002 * len(taken), unexplained


# --- encoder workers ----------------------------------------------------------------------------
@pytest.mark.integration
def test_encoder_threads_do_not_change_vectors(monkeypatch):
    from assistant import onnx_encoder
    from assistant.embeddings import MiniLMEmbeddings

    texts = [f"Article {i} of the Convention on Cybercrime concerns {w}." for i, w in
             enumerate(["expedited preservation", "search and seizure", "extradition", "mutual assistance"] * 5)]
    enc = MiniLMEmbeddings(backend="onnx")
    parallel = enc.encode(texts)
    assert onnx_encoder.workers() >= 1
    one_by_one = np.stack([enc.encode([t])[0] for t in texts])
    np.testing.assert_array_equal(parallel, one_by_one)
    # the worker pool is shared by threads asking at the same time
    results: dict[int, np.ndarray] = {}

    def run(n: int) -> None:
        results[n] = enc.encode(texts)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for vecs in results.values():
        np.testing.assert_array_equal(vecs, parallel)


# --- the ingest pipeline ------------------------------------------------------------------------
def _many_docs(folder: Path, n: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        body = "\n\n".join(
            f"Paragraph {p} of brief {i}: member states exchange information on border crossings and "
            f"serious crime through liaison officers, under rules number {i * 100 + p}." for p in range(16))
        (folder / f"brief-{i:02d}.md").write_text(
            f"---\nid: brief-{i:02d}\ntitle: Test brief {i}\nurl: https://example.org/{i}\nissuer: EU\n"
            f"type: brief\nadopted: 2020-01-01\ntopics: [border-security]\n---\n\n# Section\n\n{body}\n",
            encoding="utf-8")
    return folder


@pytest.mark.integration
def test_ingest_writes_in_groups_and_reports_from_the_calling_thread(tmp_path, monkeypatch):
    from assistant import Assistant
    from assistant.store import Index

    folder = _many_docs(tmp_path / "docs", 30)
    calls: list[int] = []
    original = Index.upsert

    def counting(self, ids, *a, **kw):
        calls.append(len(ids))
        return original(self, ids, *a, **kw)

    monkeypatch.setattr(Index, "upsert", counting)
    caller = threading.get_ident()
    seen: list[tuple[str, int, int, bool]] = []
    bot = Assistant(index_dir=tmp_path / "idx")
    report = bot.ingest([folder], progress=lambda s, d, t: seen.append((s, d, t, threading.get_ident() == caller)))
    assert report.ok and len(report.added) == 30
    total = report.chunks_added
    assert sum(calls) == total and 1 < len(calls) < 10  # grouped: not one Chroma call per file
    assert all(same for *_, same in seen)  # progress is safe for Streamlit: never from a worker thread
    embeds = [(d, t) for s, d, t, _ in seen if s == "embed"]
    assert embeds[-1] == (total, total)
    assert [d for d, _ in embeds] == sorted(d for d, _ in embeds)
    assert [d for s, d, _, _ in seen if s == "parse"] == list(range(1, 31))
    # everything is searchable, and the BM25 index built from memory equals one built from Chroma
    lex = bot.index().lexical()
    assert sorted(lex.ids) == sorted(bot.index().all_ids())
    rebuilt = bot.index().rebuild_lexical()
    assert sorted(rebuilt.ids) == sorted(lex.ids) and rebuilt.fingerprint == lex.fingerprint
    hits = bot.retrieve("liaison officers border crossings rules number 1703", k=3)
    assert hits and hits[0].doc_id == "brief-17"


@pytest.mark.integration
def test_a_failing_write_stops_the_ingest_and_a_rerun_repairs(tmp_path, monkeypatch):
    from assistant import Assistant
    from assistant.store import Index

    folder = _many_docs(tmp_path / "docs", 30)
    original = Index.upsert
    calls = {"n": 0}

    def failing(self, *a, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        return original(self, *a, **kw)

    monkeypatch.setattr(Index, "upsert", failing)
    with pytest.raises(OSError, match="disk full"):
        Assistant(index_dir=tmp_path / "idx").ingest([folder])
    monkeypatch.setattr(Index, "upsert", original)
    from assistant import store

    store._clients.clear()
    bot = Assistant(index_dir=tmp_path / "idx")
    manifest = bot.index().load_manifest()
    assert 0 < len(manifest["files"]) < 30  # the first group was recorded, the failed one was not
    report = bot.ingest([folder])
    assert report.ok and len(report.unchanged) == len(manifest["files"])
    assert len(report.added) == 30 - len(manifest["files"])
    fresh = Assistant(index_dir=tmp_path / "clean")
    fresh.ingest([folder])
    assert sorted(bot.index().all_ids()) == sorted(fresh.index().all_ids())


@pytest.mark.integration
def test_parse_failures_among_good_files(tmp_path):
    from assistant import Assistant

    folder = _many_docs(tmp_path / "docs", 5)
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 this is not a pdf")
    (folder / "no-front-matter-dup.md").write_text("---\nid: brief-03\ntitle: Same id\n---\n\nText.\n", encoding="utf-8")
    report = Assistant(index_dir=tmp_path / "idx").ingest([folder])
    failed = dict(report.failed)
    assert len(report.added) == 5
    assert any(k.endswith("broken.pdf") for k in failed)
    assert any("duplicate document id 'brief-03'" in v for v in failed.values())
