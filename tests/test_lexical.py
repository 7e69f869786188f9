"""Unit tests of assistant/lexical.py: tokens, references, BM25 scores (checked against bm25s,
the library whose scores the index reproduces), filters, structural matches, updates and
persistence. No model: the lexical index reads text only."""
from __future__ import annotations

import numpy as np
import pytest

from assistant.lexical import LexicalIndex, references, tokenize

CHUNKS = [
    ("nato:0", "North Atlantic Treaty. Article 5 – Collective defence. An armed attack against one or more "
               "of the Parties shall be considered an attack against them all.",
     {"doc_id": "nato", "issuer": "NATO", "type": "treaty", "section": "Article 5 – Collective defence",
      "topics": "collective-defence|nato", "source": "nato.md"}),
    ("nato:1", "North Atlantic Treaty. Article 51 reference. Measures under the Charter's Article 51 on "
               "self-defence are reported to the Security Council.",
     {"doc_id": "nato", "issuer": "NATO", "type": "treaty", "section": "Article 51 reference",
      "topics": "collective-defence|nato", "source": "nato.md"}),
    ("budapest:0", "Budapest Convention. Article 16 – Expedited preservation. Each Party shall adopt measures "
                   "to order the expedited preservation of stored computer data for up to ninety days.",
     {"doc_id": "budapest", "issuer": "Council of Europe", "type": "convention",
      "section": "Article 16 – Expedited preservation", "topics": "cybercrime", "source": "budapest.md"}),
    ("budapest:1", "Budapest Convention. Article 35 – 24/7 Network. Each Party shall designate a point of "
                   "contact available twenty-four hours a day, seven days a week.",
     {"doc_id": "budapest", "issuer": "Council of Europe", "type": "convention", "section": "Article 35 – 24/7 Network",
      "topics": "cybercrime|police-cooperation", "source": "budapest.md"}),
]


def _index() -> LexicalIndex:
    return LexicalIndex.build([c[0] for c in CHUNKS], [c[1] for c in CHUNKS], [c[2] for c in CHUNKS])


def test_tokenize_drops_stop_words_stems_and_keeps_numbers_whole():
    assert tokenize("The Parties shall preserve the stored data for 90 days under resolution 1373") == \
        ["parti", "shall", "preserv", "store", "data", "90", "day", "under", "resolut", "1373"]
    assert tokenize("") == [] and tokenize("the of and") == []


def test_references_name_articles_and_chapters():
    assert references("What does Art. 5 say, and Chapter VII?") == [("article", "5"), ("chapter", "vii")]
    assert references("no reference here") == []


def test_bm25_scores_are_those_of_bm25s():
    import bm25s

    index = _index()
    query = "expedited preservation of stored computer data"
    corpus_tokens = [tokenize(c[1]) for c in CHUNKS]
    reference = bm25s.BM25()  # lucene, k1=1.5, b=0.75: the defaults the index reproduces
    reference.index(bm25s.tokenization.Tokenized(*_vocab_ids(corpus_tokens)), show_progress=False)
    vocab = _vocab_ids(corpus_tokens)[1]
    expected = reference.get_scores([vocab[t] for t in tokenize(query) if t in vocab])
    ours = index.get_scores([t for t in tokenize(query) if index.document_frequency(t)])
    assert np.allclose(ours, expected, rtol=1e-5)
    hits = index.search(query, k=4)
    assert hits[0][0] == "budapest:0" and all(score > 0 for _, score in hits)
    assert [cid for cid, _ in hits] == [CHUNKS[i][0] for i in np.argsort(-expected) if expected[i] > 0]


def _vocab_ids(corpus_tokens):
    vocab: dict[str, int] = {}
    ids = [[vocab.setdefault(t, len(vocab)) for t in doc] for doc in corpus_tokens]
    return ids, vocab


def test_search_applies_filters_and_returns_only_positive_scores():
    index = _index()
    assert {cid for cid, _ in index.search("Party shall", 10, {"doc_id": "budapest"})} == {"budapest:0", "budapest:1"}
    assert index.search("Party shall", 10, {"topic": "police-cooperation"})[0][0] == "budapest:1"
    assert {cid for cid, _ in index.search("Party shall", 10, {"issuer": ("NATO", "Council of Europe")})} \
        >= {"budapest:0", "budapest:1"}
    assert index.search("Party shall", 10, {"doc_id": "nowhere"}) == []
    assert index.search("lasagne recipe", 10) == []


def test_structural_matches_the_article_named_and_not_its_prefix():
    index = _index()
    assert index.structural("What does Article 5 say?", 5) == ["nato:0"]  # not "Article 51"
    assert index.structural("art 51", 5) == ["nato:1"]
    assert set(index.structural("Article 16 and Article 35", 5)) == {"budapest:0", "budapest:1"}
    assert index.structural("Article 16 and Article 5", 5, {"doc_id": "nato"}) == ["nato:0"]
    assert index.structural("no reference", 5) == []


def test_an_update_removes_and_adds_without_changing_the_original(tmp_path):
    index = _index()
    removed = index.slots_of("budapest.md")
    new = ("budapest:2", "Budapest Convention. Article 29 – Preservation on request. A Party may request another "
                         "to order the expedited preservation of data.",
           {"doc_id": "budapest", "issuer": "Council of Europe", "type": "convention",
            "section": "Article 29 – Preservation on request", "topics": "cybercrime", "source": "budapest.md"})
    updated = index.updated(removed, [(new[0], new[1], new[2], "budapest.md")], files={"budapest.md": "x"})
    assert set(updated.ids) == {"nato:0", "nato:1", "budapest:2"}
    assert set(index.ids) == {c[0] for c in CHUNKS}  # the original is unchanged
    assert updated.search("expedited preservation", 3)[0][0] == "budapest:2"
    updated.save(tmp_path / "lexical")
    loaded = LexicalIndex.load(tmp_path / "lexical")
    assert loaded is not None and set(loaded.ids) == set(updated.ids)
    got, expected = loaded.search("expedited preservation", 3), updated.search("expedited preservation", 3)
    assert [cid for cid, _ in got] == [cid for cid, _ in expected]
    assert [score for _, score in got] == pytest.approx([score for _, score in expected])


def test_load_of_a_missing_or_broken_folder_is_none(tmp_path):
    assert LexicalIndex.load(tmp_path / "none") is None
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "state.json").write_text("{not json", encoding="utf-8")
    assert LexicalIndex.load(tmp_path / "broken") is None


def test_a_name_written_twice_scores_as_one_name():
    """ "NATO (North Atlantic Treaty Organization)": the typed name and its full form are one
    name, scored as the better of the two, so the question's own words decide the ranking; with
    no alternatives given, the query scores as before (every word summed)."""
    from assistant.lexical import LexicalIndex

    texts = {"a": "As of March 2024, NATO has 32 member countries.",
             "b": "NATO, the North Atlantic Treaty Organization, was founded in 1949.",
             "c": "The North Atlantic Treaty Organization meets in Brussels.",
             "d": "The North Atlantic Treaty Organization has a Secretary General.",
             "e": "Weather in Brussels."}
    index = LexicalIndex.build(list(texts), list(texts.values()), [{"doc_id": k} for k in texts])
    query = "How many members does NATO (North Atlantic Treaty Organization) have?"
    pair = ("NATO", "North Atlantic Treaty Organization")
    summed = dict(index.search(query, 5))
    one_name = dict(index.search(query, 5, alternatives=[pair]))
    rest = index.get_scores(tokenize("How many members does have?"))
    typed, full = index.get_scores(tokenize(pair[0])), index.get_scores(tokenize(pair[1]))
    for i, cid in enumerate(index.slot_ids):
        if cid in one_name:
            assert one_name[cid] == pytest.approx(float(rest[i] + max(typed[i], full[i])), rel=1e-5)
        if cid in summed:
            assert summed[cid] == pytest.approx(float(rest[i] + typed[i] + full[i]), rel=1e-5)
    # "b" writes the name both ways: summed, it counts twice and outranks the chunk that answers
    order = lambda scores: sorted(scores, key=lambda c: -scores[c])  # noqa: E731
    assert order(summed).index("b") < order(summed).index("a")
    assert order(one_name).index("a") < order(one_name).index("b")
    # a name the index does not hold as typed ("UNCAC" in the treaty's own text) scores by its full form
    unknown = index.search("UNCAC (North Atlantic Treaty Organization)", 5, alternatives=[("UNCAC", pair[1])])
    assert unknown == index.search(pair[1], 5)


def test_a_name_is_in_the_index_only_where_its_words_stand_together():
    """All of a name's words in one chunk is not enough when the texts can be read: they must
    stand within a few words of each other (any order, any ending)."""
    from assistant.decision import name_in_index

    texts = {"a": "A European state may ask for a warrant of arrest to be issued.",
             "b": "The Protocols to the Budapest Convention on Cybercrime."}
    index = LexicalIndex.build(list(texts), list(texts.values()), [{"doc_id": k} for k in texts])

    def fetch(ids):
        return {cid: texts[cid] for cid in ids}

    assert name_in_index("European arrest warrant", index)  # words only: all in chunk "a"
    assert not name_in_index("European arrest warrant", index, fetch)
    assert name_in_index("arrest warrant", index, fetch)  # "warrant of arrest"
    assert name_in_index("Budapest protocol", index, fetch)
    assert not name_in_index("Geneva protocol", index, fetch)
