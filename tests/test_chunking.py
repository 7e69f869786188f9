"""Chunking and sentence splitting of documents of any shape and size (issue 17, item 1).

Linear work is asserted by counting what the sentence splitters are given (never more than
``MAX_BLOCK_CHARS`` at once, and every character once), not by timing; the ingests use the real
model and a real embedded Chroma.
"""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

import assistant.chunking as chunking
from assistant import Assistant
from assistant.chunking import MAX_BLOCK_CHARS, chunk_document, max_chunk_chars, sentence_spans, windows
from assistant.embeddings import MiniLMEmbeddings
from assistant.loaders import LoadedDoc, Section

VOCAB = ("member states exchange information border security police cooperation treaty article council "
         "parties agree defence mutual assistance request extradition offence jurisdiction liaison officers "
         "maritime interdiction cargo inspection").split()


def prose(n_chars: int, seed: int = 7, abbreviations: bool = False) -> str:
    """Synthetic policy-like prose of about ``n_chars`` characters, one sentence after another on
    one line (no line breaks: the shape of text extracted from many PDFs and web pages)."""
    rng = random.Random(seed)
    out, size = [], 0
    while size < n_chars:
        words = [rng.choice(VOCAB) for _ in range(rng.randint(8, 25))]
        if abbreviations and rng.random() < 0.5:
            words.insert(3, "e.g.")  # a doubtful stop: the whole window goes to pysbd
        sentence = " ".join(words).capitalize() + ". "
        out.append(sentence)
        size += len(sentence)
    return "".join(out).strip()


def doc(text: str, title: str = "Shapes") -> LoadedDoc:
    meta = {"id": "shapes", "title": title, "url": "file:///shapes.txt", "issuer": "", "type": "document",
            "adopted": "", "topics": []}
    return LoadedDoc(meta, [Section(path=[], text=text)])


@pytest.fixture
def splitter_inputs(monkeypatch) -> list[int]:
    """Lengths of every text handed to a sentence splitter (the fast path, and pysbd behind it)."""
    seen: list[int] = []
    original = chunking._block_sentences.__wrapped__

    def counting(block: str, *args):
        seen.append(len(block))
        return original(block, *args)

    monkeypatch.setattr(chunking, "_block_sentences", counting)
    return seen


@pytest.mark.parametrize("abbreviations,size", [(False, 1_000_000), (True, 300_000)])
def test_sentence_splitting_of_one_huge_paragraph_is_bounded_and_linear(splitter_inputs, abbreviations, size):
    """A 1 MB paragraph (300 KB when pysbd must read it all) is split in windows of at most MAX_BLOCK_CHARS (pysbd's cost grows faster
    than linearly with its input; the old fast path copied the rest of the block at every full
    stop), each character is handed to a splitter once, and the spans match the text's sentences."""
    text = prose(size, abbreviations=abbreviations)
    spans = sentence_spans(text)
    assert max(splitter_inputs) <= MAX_BLOCK_CHARS
    assert len(text) - len(splitter_inputs) <= sum(splitter_inputs) <= len(text)  # each window once
    assert len(splitter_inputs) <= 2 * len(text) // MAX_BLOCK_CHARS + 1
    # Spans are ordered, disjoint, exact; almost all are whole sentences (a window cut, at most
    # one a window, falls after a stop too, so none is lost).
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))
    sentences = [text[s:e] for s, e in spans]
    assert sum(s.endswith(".") for s in sentences) >= 0.99 * len(sentences)
    assert len(sentences) >= (text.count(". ") - text.count("e.g. ")) * 0.99


def test_the_same_text_chunks_alike_with_or_without_line_breaks(splitter_inputs):
    """One paragraph and the same sentences one per line give the same number of chunks, and the
    splitting work (characters handed to splitters) is the text's length in both shapes."""
    text = prose(300_000)
    lines = text.replace(". ", ".\n")
    one = chunk_document(doc(text), "one.txt", max_chunks=10_000)
    work_one = sum(splitter_inputs)
    splitter_inputs.clear()
    many = chunk_document(doc(lines), "lines.txt", max_chunks=10_000)
    work_lines = sum(splitter_inputs)
    assert abs(len(one) - len(many)) <= 0.05 * len(many)
    limit = max_chunk_chars(150)
    assert max(len(c.text) for c in one + many) <= limit
    # chunk_document asks for the spans of the section, of each chunk (its metadata) and of each
    # chunk's predecessor (the overlap): about three times the text, in either shape
    assert work_one <= 4 * len(text) and work_lines <= 4 * len(lines)
    assert 0.5 < work_one / work_lines < 2


def test_a_five_megabyte_word_becomes_many_bounded_passages():
    """One 5 MB "word" (no space, no full stop) was one 5 MB passage: now bounded chunks that
    together are the whole text."""
    word = "x" * 5_000_000
    chunks = chunk_document(doc(word), "word.txt", max_chunks=20_000)
    limit = max_chunk_chars(150)
    assert len(chunks) >= 5_000_000 // limit
    assert max(len(c.text) for c in chunks) <= limit
    assert "".join(c.text for c in chunks) == word
    assert len({c.chunk_id for c in chunks}) == len(chunks)


def test_windows_cut_at_sentence_ends_then_spaces_then_anywhere():
    text = "Alpha beta. Gamma delta epsilon zeta eta theta"
    assert windows(text, 100) == [(0, len(text))]
    cuts = windows(text, 20)
    assert cuts[0] == (0, 12)  # after "Alpha beta. "
    assert "".join(text[s:e] for s, e in cuts) == text and all(e - s <= 20 for s, e in cuts)
    spaced = "word " * 50
    assert all(spaced[s:e].endswith(" ") for s, e in windows(spaced, 32)[:-1])
    assert windows("y" * 95, 40) == [(0, 40), (40, 80), (80, 95)]


@pytest.mark.integration
def test_chunking_of_real_documents_is_unchanged_by_the_guard(corpus_bot):
    """The corpus's own chunks: none is longer than the character bound and no block reaches the
    window size, so the guard changes nothing for ordinary documents (chunk ids stay stable)."""
    got = corpus_bot.index().collection.get(include=["documents"])
    assert got["ids"] and max(len(d) for d in got["documents"]) <= max_chunk_chars(150)
    from conftest import CORPUS

    longest_line = max(len(line) for p in CORPUS.glob("*.md") for line in p.read_text(encoding="utf-8").split("\n"))
    assert longest_line < MAX_BLOCK_CHARS


@pytest.mark.integration
def test_identical_texts_are_encoded_once_by_the_real_encoder():
    emb = MiniLMEmbeddings()
    texts = ["Article 5 of the North Atlantic Treaty", "Mutual legal assistance", "Article 5 of the North Atlantic Treaty"] * 40
    seen: list[int] = []
    vectors = emb.encode(texts, progress=seen.append)
    assert emb.encoded == 2 and emb.calls == len(texts) and sum(seen) == len(texts)
    np.testing.assert_array_equal(vectors[0], vectors[2])
    fresh = MiniLMEmbeddings().encode(["Mutual legal assistance"])
    np.testing.assert_allclose(vectors[1], fresh[0], atol=1e-5)
    # Outside an ingest nothing is remembered between calls: a fresh encoding is a fresh encoding.
    emb.encode(texts[:1])
    assert emb.encoded == 3
    with emb.remembering():
        emb.encode(texts[:1])
        emb.encode(texts)
    # inside an ingest's memory: the first call encodes its one text, the second only the other
    assert emb.encoded == 5


@pytest.mark.integration
def test_one_megabyte_of_one_repeated_sentence_ingests_encoding_each_text_once(tmp_path):
    """1.16 MB of one repeated sentence did not finish in 5 minutes (quadratic splitting) and
    embedded the same chunk text thousands of times: now it is ~850 bounded chunks, each distinct
    text encoded once by the real model."""
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "repeated.txt").write_text("Member states exchange information on border security. " * 20_000,
                                         encoding="utf-8")
    bot = Assistant(index_dir=tmp_path / "idx")
    report = bot.ingest([folder])
    assert report.ok and report.chunks_added >= 1_000_000 // max_chunk_chars(150)
    distinct = set(bot.index().collection.get(include=["documents"])["documents"])
    assert bot.embeddings.encoded == len(distinct) <= 5
    assert bot.retrieve("border security information exchange", k=1)[0].doc_id == "repeated"


@pytest.mark.integration
def test_a_paragraph_without_line_breaks_ingests_like_the_same_text_with_them(tmp_path):
    """The same 150 KB of prose as one line and one sentence a line: both ingest with the real
    model into about the same chunks (a 1 MB paragraph took more than 6 minutes; with its line
    breaks, 13 s)."""
    text = prose(150_000, seed=11)
    counts = {}
    for shape, body in (("paragraph", text), ("lines", text.replace(". ", ".\n"))):
        folder = tmp_path / shape
        folder.mkdir()
        (folder / f"{shape}.txt").write_text(body, encoding="utf-8")
        bot = Assistant(index_dir=tmp_path / f"idx-{shape}")
        report = bot.ingest([folder])
        assert report.ok
        counts[shape] = (report.chunks_added, bot.embeddings.encoded)
        docs = bot.index().collection.get(include=["documents"])["documents"]
        assert max(len(d) for d in docs) <= max_chunk_chars(150)
    (chunks_p, encoded_p), (chunks_l, encoded_l) = counts["paragraph"], counts["lines"]
    assert abs(chunks_p - chunks_l) <= 0.05 * chunks_l and abs(encoded_p - encoded_l) <= 0.05 * encoded_l


@pytest.mark.integration
def test_a_five_megabyte_word_file_ingests_as_bounded_passages(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "word.txt").write_text("y" * 5_000_000, encoding="utf-8")
    bot = Assistant(index_dir=tmp_path / "idx")
    report = bot.ingest([folder])
    assert report.ok and report.chunks_added >= 5_000_000 // max_chunk_chars(150)
    docs = bot.index().collection.get(include=["documents"])["documents"]
    assert max(len(d) for d in docs) <= max_chunk_chars(150) and sum(map(len, docs)) == 5_000_000
    assert bot.embeddings.encoded <= 3  # the same 2,400 "y"s, and the shorter last piece


def test_windows_of_a_long_line_split_like_whole_blocks_on_real_texts():
    """Inside the windows of a line too long to be one block, a doubtful stop ("e.g.", "Art.")
    sends only the sentences around it to pysbd. On every block of the corpus and the real
    treaty texts, that gives the same spans as the whole-block splitting used for ordinary blocks
    (4,088 of 4,091 blocks identical when written)."""
    from assistant.chunking import _block_sentences, _blocks
    from assistant.loaders import load
    from conftest import CORPUS, REALDOCS

    files = sorted(p for p in CORPUS.glob("*.md") if p.name != "SOURCES.md")
    if REALDOCS.is_dir():
        files += sorted(p for p in REALDOCS.glob("*.md") if p.name != "README.md")
    blocks = {b for f in files for sec in load(f).sections for _, b in _blocks(sec.text)}
    same = sum(_block_sentences(b) == _block_sentences(b, True) for b in blocks)
    assert len(blocks) > 1000 and same >= 0.995 * len(blocks), (same, len(blocks))
