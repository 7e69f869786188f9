"""Typing errors (assistant/spelling.py and the glossary's near matches), on real components:
wordfreq's English list, rapidfuzz's edit distance and the lexical index."""
from __future__ import annotations

from assistant import spelling
from assistant.lexical import LexicalIndex


def _index(texts: list[str]) -> LexicalIndex:
    ids = [f"c{i}" for i in range(len(texts))]
    return LexicalIndex.build(ids, texts, [{"doc_id": i} for i in ids])


def test_a_misspelt_word_is_read_as_the_nearest_word_the_index_holds():
    lexical = _index(["Extradition shall not be granted for political offences.",
                      "A request for extradition shall be in writing.",
                      "The convention enters into force on ratification."])
    # "extradtion" is one edit from "extraction" (more common in English) and from "extradition":
    # the index holds the second
    fixes = spelling.corrections("can you refuse extradtion of nationals under the convnetion?", lexical)
    assert fixes == {"extradtion": "extradition", "convnetion": "convention"}
    assert spelling.apply("refuse extradtion?", fixes) == "refuse extradition?"
    assert spelling.notice(fixes) == "Read “extradtion” as “extradition”, “convnetion” as “convention”."


def test_real_words_names_acronyms_and_words_the_index_holds_are_left_alone():
    lexical = _index(["The Căldăraru case and the zanzibarite mineral.", "Extradition rules."])
    for text in ("does it apply to landmines?",  # English, even if the index lacks it
                 "what about the Căldăraru case",  # a name (capitalised)
                 "is UNCTAD involved",  # an acronym
                 "what is zanzibarite",  # not English, but the index holds it
                 "is a qwrtyzx allowed"):  # nothing near it in the index
        assert spelling.corrections(text, lexical) == {}, text


def test_a_name_typed_one_letter_off_is_still_the_name():
    from assistant.names import glossary

    found = glossary().find("what does art 16 of the rome statue say")
    assert [m.entries for m in found] == [("rome-statute",)]
    assert found[0].surface == "rome statue"
    # only words of five letters or more may be off, and only by one edit
    assert all("rome-statute" not in m.entries for m in glossary().find("the rome stat"))
    assert all("rome-statute" not in m.entries for m in glossary().find("the rome statues of emperors"))


def test_a_shortened_word_is_read_as_the_word_of_the_index_it_shortens():
    """Analysts' shorthand: a truncation ("conv"), a contraction ("addl", "jurisd") and an
    ordinal in figures ("2nd"), each read as the word of the index it stands for; words of their
    own ("art", "para"), words the index holds and shortenings of nothing it holds stay."""
    lexical = _index(["The Second Additional Protocol to the European Convention on Extradition.",
                      "Each Party shall establish its jurisdiction over the offences.",
                      "Article 3 of the Convention: requests for extradition."])
    fixes = spelling.shortenings("art 3 of the 2nd addl protocol to the extradition conv - jurisd?", lexical)
    assert fixes == {"2nd": "second", "addl": "additional", "conv": "convention", "jurisd": "jurisdiction"}
    assert (spelling.apply("art 3 of the 2nd addl protocol to the extradition conv", fixes)
            == "art 3 of the second additional protocol to the extradition convention")
    for text in ("what does art 3 para 2 say", "the extradition convention", "is a qzrt needed", "the 7th protocol"):
        assert spelling.shortenings(text, lexical) == {}, text
    # a word already read (a name the glossary knows, a typing error) is left to that reading
    assert spelling.shortenings("the extradition conv", lexical, skip={"conv"}) == {}


def test_an_acronym_in_the_plural_names_what_its_singular_names():
    from assistant.names import glossary

    found = glossary().find("CCM MSPs - who convenes them? and how many JITs under ets 182?")
    assert [m.entries for m in found] == [("ccm",), ("ccm-meeting-of-states-parties",), ("joint-investigation-team",),
                                          ("mla-second-protocol",)]
    assert glossary().find("the msps") == []  # in lower case, "msps" is not an acronym in the plural
