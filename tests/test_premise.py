"""The premise check (assistant/premise.py) on sentences of the real texts, without a model."""
from __future__ import annotations

import re

import pytest

from assistant import premise
from assistant.types import Passage

from conftest import REALDOCS


def _article(file: str, number: str) -> Passage:
    """Article ``number`` of a real text, as one passage (read in place, never copied); the test
    is skipped on a machine without the real texts."""
    if not REALDOCS.is_dir():
        pytest.skip("the real official texts are not on this machine")
    text = (REALDOCS / file).read_text(encoding="utf-8")
    match = re.search(rf"^### Article {number}\n(.*?)(?=^### Article )", text, re.S | re.M)
    assert match, (file, number)
    return Passage(chunk_id=f"{file}:{number}", doc_id=file, title=file, section=f"Article {number}", url="",
                   text=match.group(1).strip(), score=1.0)


@pytest.fixture(scope="module")
def provisional_arrest() -> Passage:
    return _article("european_extradition_convention.md", "16")


def test_only_questions_that_assert_something_have_a_premise():
    assert premise.presupposes("why does the protocol let police arrest suspects?")
    assert premise.presupposes("ETS 24 lets you hold someone for 90 days - what happens after that?")
    assert premise.presupposes("the UN Security Council appoints the commission, right?")
    assert not premise.presupposes("can police arrest suspects under the protocol?")
    assert not premise.presupposes("ETS 24 - can you be extradited for a military offence?")
    assert not premise.presupposes("Under the EU e-Evidence rules, can a prosecutor order content data?")


def test_numbers_that_name_or_date_are_not_quantities():
    words = premise._words("Article 26 of ETS 24, adopted on 28 January 2004, sets 18 years and the other three members")
    assert [v for _, v in premise._quantities(words)] == [18]


def test_a_different_figure_for_the_same_thing_contradicts(provisional_arrest):
    conflict = premise.check("ETS 24 lets you hold someone on provisional arrest for up to 90 days - what happens after that?",
                             [provisional_arrest], {"ets"})
    assert conflict and conflict.kind == "quantity" and conflict.claim == "90 days"
    assert "exceed 40 days" in conflict.sentence
    assert provisional_arrest.text[conflict.start:conflict.end] == conflict.sentence
    # the figure the text gives is no contradiction, nor is a question that asks for the figure
    assert premise.check("ETS 24 lets you hold someone on provisional arrest for up to 40 days - what happens after that?",
                         [provisional_arrest], {"ets"}) is None
    assert premise.check("how many days can provisional arrest last under ETS 24?", [provisional_arrest], {"ets"}) is None


def test_a_denied_act_contradicts_only_when_the_question_assumes_it():
    observation = _article("second_protocol_mla.md", "17")
    conflict = premise.check("why does the second MLA protocol let foreign police arrest the suspect during "
                             "cross-border observation?", [observation], {"second", "mla", "protocol"})
    assert conflict and conflict.kind == "negation" and conflict.claim == "arrest"
    assert "nor arrest" in conflict.sentence
    # asked whether, asked with its own negation, or asked as a comparison: nothing assumed
    for question, comparison in (("can foreign police arrest the suspect during cross-border observation?", False),
                                 ("why can't foreign police arrest the suspect during cross-border observation?", False),
                                 ("how does arrest during cross-border observation differ from hot pursuit?", True)):
        assert premise.check(question, [observation], set(), comparison) is None, question


def test_a_different_year_for_the_same_event_contradicts():
    final = _article("hague_hijacking_convention.md", "13")
    conflict = premise.check("why was the hague hijacking convention opened for signature in 1975?", [final],
                             {"hague", "hijacking", "convention"})
    assert conflict and conflict.kind == "date" and conflict.claim == "1975"
    assert "16 December 1970" in conflict.sentence
    # the year the text gives, or a year that is part of an act's number, contradicts nothing
    assert premise.check("why was the hague hijacking convention opened for signature in 1970?", [final],
                         {"hague", "hijacking", "convention"}) is None
    assert premise.check("why was the convention opened for signature under Regulation (EU) 1975/12?", [final],
                         set()) is None


def test_a_name_the_question_assumes_and_no_passage_mentions(provisional_arrest):
    passages = [provisional_arrest]
    assert premise.unsupported_names("Why did Canada hold the person on provisional arrest for 18 days?",
                                     passages) == ["Canada"]
    # a hypothesis, a yes/no question, acronyms, hyphenated names and the names the question's
    # own glossary mentions assume nothing
    for question, named in (("If Canada asks for provisional arrest, how long can it last?", set()),
                            ("Can Canada hold the person on provisional arrest for 18 days?", set()),
                            ("Why does the EU-wide rule let the INTERPOL channel carry the request?", set()),
                            ("Why did Canada hold the person on provisional arrest for 18 days?", {"canada"})):
        assert premise.unsupported_names(question, passages, named) == [], question
    # a name the passages do mention (or its demonym) is supported
    assert premise.unsupported_names("Why does the Interpol channel carry the request?", passages) == []


def test_a_denial_stated_as_a_lead_in_and_its_list_items_counts_as_one_sentence():
    scope = _article("sua_convention.md", "2")  # "This Convention does not apply to: (a) a warship; …"
    conflict = premise.check("which article of SUA brings warships used for terrorist attacks within the convention?",
                             [scope], {"sua"})
    assert conflict is not None and conflict.kind == "negation" and conflict.claim == "warships"
    assert "does not apply to" in scope.text[conflict.start:conflict.end]
    assert "warship" in scope.text[conflict.start:conflict.end]
    # asked without the premise, nothing is contradicted
    assert premise.check("which ships does SUA not apply to?", [scope], {"sua"}) is None



def test_a_question_about_what_a_text_says_assumes_nothing():
    secrecy = Passage(chunk_id="w:28", doc_id="w", title="w", section="Article 28", url="", score=1.0,
                      text="A Party shall not invoke bank secrecy as a ground to refuse any co-operation under this chapter.")
    assert not premise.presupposes("what does the convention say about bank secrecy?")
    assert not premise.presupposes("what do ETS 24 and ETS 90 say about political offences?")
    assert premise.check("what does the convention say about invoking bank secrecy?", [secrecy], set()) is None
    assert premise.presupposes("what does the convention say about bank secrecy, right?")  # a tag asserts
    assert premise.presupposes("which article lets a state invoke bank secrecy?")


def test_superscripts_and_other_non_decimal_digits_are_not_quantities():
    # "²".isdigit() is True but int("²") fails: a question with one must not crash the check
    assert premise._value("²") is None and premise._value("١٢") == 12 and premise._value("ten") == 10
    p = Passage(chunk_id="x:1", doc_id="x", title="x", section="Article 1", url="", score=1.0,
                text="The area shall not exceed 40 km² in total.")
    assert premise._quantities(premise._words("why is the area ² times 50 km² under the treaty?")) == [(6, 50)]
    conflict = premise.check("why may the area be 50 km² under the treaty?", [p], set())
    assert conflict is not None and conflict.kind == "quantity" and conflict.claim == "50 km²"


def test_the_words_of_one_term_count_as_one_word_shared():
    """ "What's needed for CETS 198 to enter into force?" shares only the term "enter into force"
    with "… the amendment shall not enter into force": one term, not two words, so no premise is
    denied (with the term's words counted apart, "enter" and "force" made a false correction)."""
    amendments = _article("warsaw_laundering_convention.md", "54")
    question = "what's needed for CETS 198 to enter into force?"
    # (the article's own sentence is a rule for a case, "If … shall not enter into force", which
    # contradicts no premise in any case; the same denial stated outright, in our words:)
    outright = Passage(chunk_id="x:1", doc_id="x", title="x", section="Article 54", url="", score=1.0,
                       text="The amendment shall not enter into force for a Party that objects to it.")
    assert premise.check(question, [amendments], {"cets", "198"}) is None
    assert premise.check(question, [outright], {"cets", "198"}) is not None
    assert premise.check(question, [outright], {"cets", "198"}, phrases=["enter into force"]) is None


def test_a_wrong_figure_stated_before_a_yes_no_question_is_a_premise():
    """ "under the CCM states get 15 years …, can they extend that?" states the 15 years before it
    asks: a sentence giving another figure corrects the premise. In the asking clause ("does the
    CCM give 15 years …?") the figure is what is asked, and the same sentence says no."""
    passage = Passage(chunk_id="ccm:3", doc_id="ccm", title="CCM", section="Article 3", url="", score=1.0,
                      text="2. Each State Party undertakes to destroy all cluster munitions as soon as possible "
                           "but not later than eight years after the entry into force of this Convention.")
    stated = "under the CCM states get 15 years to destroy their cluster munitions, can they extend that?"
    conflict = premise.check(stated, [passage], {"ccm"}, whether=True)
    assert conflict is not None and conflict.kind == "quantity" and premise.stated_before(stated, conflict)
    asked = "does the CCM give states 15 years to destroy their cluster munitions?"
    conflict = premise.check(asked, [passage], {"ccm"}, whether=True)
    assert conflict is not None and not premise.stated_before(asked, conflict)


def test_a_scope_clause_and_a_denied_which_contradict_and_a_named_text_speaks_of_itself():
    """Three constructions of legal text: a scope clause excludes its object ("shall not apply to
    aircraft used in military … services"), "no reservations may be made" denies what a
    which-question asks about, and a sentence of the document the question names that says "this
    Convention" / "this Statute" shares the question's name for it (one of the two shared words)."""
    hague = _article("hague_hijacking_convention.md", "3")
    conflict = premise.check("since the hague hijacking convention also covers military and police aircraft, how is "
                             "jurisdiction split when an air force jet is seized?", [hague], {"hague", "hijacking", "convention"},
                             named_docs={hague.doc_id})
    assert conflict and conflict.kind == "negation" and "military, customs or police services" in conflict.sentence
    # a scope clause contradicts only a question that assumes what it excludes
    assert premise.check("since the hague hijacking convention covers civil aircraft in flight, when does a flight start?",
                         [hague], {"hague", "hijacking", "convention"}, named_docs={hague.doc_id}) is None
    # ... and what marks it out, not its kind: "services" of "aircraft used in … police services"
    # is not the "service" of "when is an aircraft 'in service'?"
    assert premise.check("hague hijacking convention - when is an aircraft 'in service'?",
                         [hague], {"hague", "hijacking", "convention"}, named_docs={hague.doc_id}) is None
    rome = _article("rome_statute.md", "120")
    asked = "which reservations did states lodge to article 8 of the rome statute?"
    conflict = premise.check(asked, [rome], {"rome", "statute"}, named_docs={rome.doc_id})
    assert conflict and conflict.claim == "reservations"
    # without knowing that the question names this document, "this Statute" is no shared word
    assert premise.check(asked, [rome], {"rome", "statute"}) is None
    sua = _article("sua_convention.md", "2")
    conflict = premise.check("what penalties does the SUA convention set for warship crews who seize merchant vessels?",
                             [sua], {"sua", "convention"}, named_docs={sua.doc_id})
    assert conflict and conflict.claim == "warship"


def test_a_denial_for_one_case_only_contradicts_no_premise():
    """A negation in a rule for a case ("If …, it must not authorise the export"; "… should not
    be refused where …") does not deny the act in general; the same negation stated outright does."""
    def passage(text: str) -> Passage:
        return Passage(chunk_id="x:1", doc_id="x", title="x", section="Article 7", url="", text=text, score=1.0)

    question = "How long do parties have to keep records of their export authorisations?"
    outright = passage("The exporting State must not authorise the export of such arms.")
    assert premise.check(question, [outright], set()) is not None
    for text in ("If the exporting State finds an overriding risk, it must not authorise the export.",
                 "The exporting State must not authorise the export where the risk is overriding.",
                 "The Parties shall act as follows:\n\na) the exporting State must not authorise the export where a risk remains;"):
        assert premise.check(question, [passage(text)], set()) is None, text
    assert premise.check(question, [passage("Article 7(3) provides that if a risk remains, the exporting State must "
                                            "not authorise the export.")], set()) is None


def test_a_no_answers_the_clause_that_asks():
    """ "who can trigger an ICC investigation - can the UNSC refer cases?": a "No." must deny a word
    of the yes/no clause, not of the wh-clause before it ("No investigation may be commenced …")."""
    p = Passage(chunk_id="x:1", doc_id="rome", title="x", section="Article 16", url="", score=1.0,
                text="No investigation may be commenced under this Statute for twelve months after the Security "
                     "Council has so requested.")
    question = "who can trigger an ICC investigation - can the UNSC refer cases?"
    assert premise.check(question, [p], {"icc", "unsc"}, whether=True, named_docs={"rome"}) is None
    # "No investigation may be commenced …" denies commencing one, not that there are any: "for
    # how long can the SC freeze an ICC investigation?" assumes nothing it denies
    assert premise.check("for how long can the security council freeze an investigation under the rome statute?",
                         [p], {"rome", "statute"}, named_docs={"rome"}) is None
    assert premise.check("why can an investigation be commenced under the rome statute at once after the "
                         "security council asks?", [p], {"rome", "statute"}, named_docs={"rome"}) is not None
    # the denied word in the asking clause: the "No." stands
    asked = "under the Rome Statute, can an investigation start at once after the Security Council asks?"
    assert premise.check(asked, [p], {"rome", "statute"}, whether=True, named_docs={"rome"}) is not None


def test_an_event_asked_about_that_the_text_only_states_as_a_rule():
    """ "When did the Beijing convention enter into force?" asks for an event; Article 22 states the
    rule for it ("shall enter into force on the first day of the second month following …"), not
    the date. A narrated past anywhere in the passages answers it instead, and a question about
    the rule itself (present tense, a modal, or a past of its own with the event as an infinitive)
    is not an event question."""
    beijing = _article("beijing_aviation_convention.md", "22")
    names = {"beijing", "aviation", "convention"}
    rule = premise.rule_only("when did the beijing aviation convention actually enter into force?", [beijing], names)
    assert rule and rule.kind == "rule" and rule.claim == "enter" and "shall enter into force" in rule.sentence
    jit = _article("second_protocol_mla.md", "20")
    rule = premise.rule_only("how many joint investigation teams have been set up under ets 182 so far?", [jit], {"ets", "182"})
    assert rule and rule.claim == "set"
    for asked in ("when does the beijing aviation convention enter into force?",
                  "how many ratifications did the beijing aviation convention need to enter into force?",
                  "when can the beijing aviation convention enter into force?"):
        assert premise.rule_only(asked, [beijing], names) is None, asked
    narrated = Passage(chunk_id="b:1", doc_id="b", title="b", section="", url="", score=1.0,
                       text="The Beijing Convention entered into force on 1 July 2018, after the deposit of the "
                            "twenty-second instrument of ratification.")
    assert premise.rule_only("when did the beijing aviation convention actually enter into force?",
                             [beijing, narrated], names) is None


def test_what_is_a_rule_and_what_is_narrated():
    """A past inside a subordinate clause of a rule is the rule's condition ("shall enter into
    force … on which five States have expressed their consent"); inside a narrative sentence it is
    narration ("a protocol that the Committee adopted on 18 May 2018", where "May" is a month, not
    a modal); a participle after a determiner is an adjective ("a convicted person")."""
    def use(text: str, word: str) -> str | None:
        words = [t.lower() for t in premise.TOKEN_RE.findall(text)]
        return premise._verb_at(words, words.index(word))

    assert use("This Convention shall enter into force three months after the date on which five States have "
               "expressed their consent.", "expressed") == "rule"
    assert use("The Convention was amended by a protocol that the Committee adopted on 18 May 2018.", "adopted") == "narrated"
    assert use("The team may be set up for a limited period.", "set") == "rule"
    assert use("A convicted person may appeal.", "convicted") is None
    assert use("The Convention entered into force on 1 June 2007.", "entered") == "narrated"


def test_a_negated_state_denies_what_it_is_to_or_for():
    """ "The Articles of this Convention shall not be subject to reservations" denies the
    reservations a question assumes; an act and its object ("shall not be granted for an
    offence") and a classification ("shall not be deemed to be a political offence") do not
    deny the object."""
    ccm = _article("cluster_munitions_convention.md", "19")
    names = {"cluster", "munitions", "convention"}
    conflict = premise.check("since states may enter reservations to the cluster munitions convention, which articles "
                             "do they usually target?", [ccm], names, named_docs={ccm.doc_id})
    assert conflict and conflict.claim == "reservations" and "shall not be subject to reservations" in conflict.sentence
    ets24 = _article("european_extradition_convention.md", "3")
    assert premise.check("how does the political offence exception of the european convention on extradition work?",
                         [ets24], {"european", "convention", "extradition"}, named_docs={ets24.doc_id}) is None


def test_one_of_a_unit_is_a_quantity_and_a_paragraph_number_is_not():
    """ "at least one year" is a figure ("one of the Parties" is not); "2." opening a paragraph
    numbers it: a question's "2 years" is not held by it."""
    ets24 = _article("european_extradition_convention.md", "2")
    conflict = premise.check("since the european convention on extradition only covers offences punishable by at least "
                             "2 years, what about lesser ones?", [ets24], {"european", "convention", "extradition"},
                             named_docs={ets24.doc_id})
    assert conflict and conflict.kind == "quantity" and "at least one year" in conflict.sentence
    assert premise._quantities(["one", "of", "the", "parties"]) == []
