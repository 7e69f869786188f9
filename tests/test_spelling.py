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
