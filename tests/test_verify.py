"""Unit tests of assistant/verify.py: how generated text is checked against the passages it
cites. The mechanics (markers, numbers, renumbering, streaming, quotes) run on a small
deterministic embedder; the thresholds' quality on real answers is measured with the real model
by scripts/measure_verification.py and tested end to end in tests/test_generation.py."""
from __future__ import annotations

import numpy as np

from assistant.types import Passage
from assistant.settings import Settings
from assistant.verify import VerifiedWriter, _segments

COS_ALONE = Settings().verify_cos_alone
from support import HashEmbeddings

P1 = Passage(chunk_id="alpha:0", doc_id="alpha-pact", title="The Alpha Pact", section="Article 2 – Withdrawal",
             url="https://example.org/alpha", text="A party may withdraw from the Alpha Pact by giving six months' "
             "written notice to the depositary. The depositary is the Government of Norway.", score=1.0)
P2 = Passage(chunk_id="beta:0", doc_id="beta-code", title="The Beta Code", section="Article 7 – Preservation",
             url="https://example.org/beta", text="A party must be able to order the preservation of stored "
             "computer data for up to 90 days. Each party keeps a point of contact available at all times.",
             score=0.9, issuer="Other Org", adopted="2010-05-06")


def writer() -> VerifiedWriter:
    return VerifiedWriter(passages=[P1, P2], embeddings=HashEmbeddings())


def test_a_sentence_taken_from_its_passage_is_kept_with_its_verbatim_quote():
    w = writer()
    w.feed("A party may withdraw from the Alpha Pact by giving six months' written notice to the depositary [1].")
    w.finish()
    assert w.kept == ["A party may withdraw from the Alpha Pact by giving six months' written notice to the depositary. [1]"]
    (c,) = w.citations
    assert c.marker == 1 and c.doc_id == "alpha-pact" and c.quote in P1.text
    assert c.quote.startswith("A party may withdraw")


def test_markers_are_renumbered_in_order_of_first_use_and_carry_the_passage_metadata():
    w = writer()
    w.feed("A party must be able to order the preservation of stored computer data for up to 90 days [2]. ")
    w.feed("The depositary is the Government of Norway [1].")
    w.finish()
    assert [p.rsplit(" ", 1)[1] for p in w.kept] == ["[1]", "[2]"]
    assert [(c.marker, c.doc_id) for c in w.citations] == [(1, "beta-code"), (2, "alpha-pact")]
    assert w.citations[0].issuer == "Other Org" and w.citations[0].adopted == "2010-05-06"


def test_a_number_the_passage_does_not_state_removes_the_sentence():
    w = writer()
    w.feed("A party must be able to order the preservation of stored computer data for up to 180 days [2].")
    w.finish()
    assert w.kept == [] and w.citations == []
    assert w.removed == ["A party must be able to order the preservation of stored computer data for up to 180 days."]


def test_an_unrelated_sentence_and_a_citation_to_no_passage_are_removed():
    w = writer()
    w.feed("Lasagne needs a slow oven and fresh pasta sheets [1]. ")
    w.feed("The depositary is the Government of Norway [7].")
    w.finish()
    assert w.kept == [] and len(w.removed) == 2 and w.dropped_markers == 1


def test_a_sentence_without_a_marker_is_removed():
    w = writer()
    w.feed("The depositary is the Government of Norway.")
    w.finish()
    assert w.kept == [] and w.removed == ["The depositary is the Government of Norway."]


def test_streaming_holds_back_a_sentence_whose_marker_may_still_come():
    w = writer()
    assert w.feed("The depositary is the Government of Norway") == []
    assert w.feed(". [") == []  # "[" may start this sentence's marker
    out = w.feed("1] A party must be able to order the preservation of stored computer data for up to 90 days [2]. ")
    out += w.finish()
    assert out == ["The depositary is the Government of Norway. [1]",
                   "A party must be able to order the preservation of stored computer data for up to 90 days. [2]"]
    assert w.text == " ".join(out)


def test_support_reports_its_reasons():
    w = writer()
    sentence = "The depositary is the Government of Norway."
    vector = HashEmbeddings().encode([sentence])[0]
    support = w.support(sentence, vector, 1)
    assert support.supported and support.numbers_ok and support.quote == "The depositary is the Government of Norway."
    assert support.cosine >= COS_ALONE and support.overlap == 1.0
    other = w.support(sentence, vector, 2)
    assert not other.supported and other.cosine < support.cosine


def test_segments_join_a_marker_to_the_sentence_before_it():
    assert _segments("First sentence here. [1] Second one follows. [2].") == \
        ["First sentence here. [1]", "Second one follows. [2] ."]
    assert _segments("") == []
    assert np.isclose(np.linalg.norm(HashEmbeddings().encode(["a b c"])[0]), 1.0)
