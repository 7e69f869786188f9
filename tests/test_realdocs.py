"""The answering stages on real official texts (../shared/realdocs): names, planning, the
answerability decision, comparisons, and a real-text smoke set with floors."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import REALDOCS

ROOT = Path(__file__).resolve().parent.parent


def _titles() -> dict[str, tuple[str, list[str]]]:
    """doc id -> (first heading, no aliases), as ingest derives them for files without front matter."""
    from assistant.loaders import slugify

    if REALDOCS is None or not REALDOCS.is_dir():
        pytest.skip("the real official texts are not on this machine")
    out = {}
    for path in sorted(REALDOCS.glob("*.md")):
        if path.name == "README.md":
            continue
        first = next(line for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("# "))
        out[slugify(path.stem)] = (first[2:].strip(), [])
    return out


def test_glossary_is_well_formed():
    from assistant.names import glossary

    g = glossary()
    assert len(g.entries) >= 150
    # every name form means one entry, unless the glossary lists it as ambiguous
    assert all(ids for ids in g.forms.values())
    for entry in g.entries.values():
        assert entry.name and entry.kind in {"instrument", "body", "office", "procedure", "term"}


@pytest.mark.parametrize("question, doc", [
    ("UNCAC definition of public official", "uncac"),
    ("can a state refuse to extradite its own nationals under ETS 24?", "european-extradition-convention"),
    ("the hijacking convention art 1", "hague-hijacking-convention"),
    ("art 13 reservation in the 1977 terrorism convention?", "european-suppression-terrorism"),
    ("what counts as racist material under the xenophobia protocol?", "cybercrime-xenophobia-protocol"),
    ("UN Charter art 51", "un-charter"),
    ("Rome Statute art 26", "rome-statute"),
    # place and year of adoption, from the glossary's `by` and `year`
    ("hijacking in Hague 1970 vs the Beijing convention", "hague-hijacking-convention"),
    # a numbered protocol named through its parent is the protocol, not the parent
    ("in absentia: 2nd protocol to the extradition convention", "second-protocol-extradition"),
    ("art 3 of the second additional protocol to the extradition convention", "second-protocol-extradition"),
    ("what does the 2nd protocol to ETS 24 say about amnesty?", "second-protocol-extradition"),
])
def test_names_typed_by_analysts_find_the_real_document(question, doc):
    from assistant.names import NameIndex, glossary
    from assistant.planning import plan

    names = NameIndex.build(glossary(), _titles())
    p = plan(question, None, names)
    assert p.focus_docs[:1] == [doc], (question, [(m.surface, m.docs) for m in p.mentions])
    assert p.search_query != question or doc in question  # the short name is followed by its full name


def test_everyday_word_acronyms_of_documents_match_only_in_capitals():
    """A document alias that is also an English word ("LED" for the Law Enforcement Directive)
    is a name only as typed in capitals: "what led to" names nothing."""
    from assistant.names import NameIndex, glossary

    names = NameIndex.build(glossary(), {"law-enforcement-directive": (
        "The Law Enforcement Directive (EU) 2016/680", ["LED"])})
    assert [m.docs for m in names.mentions("What does the LED say about transfers?")] == [("law-enforcement-directive",)]
    typed = "Which attack led the EU to list GRU officers, and what led to it?"
    assert [m.surface for m in names.mentions(typed) if m.surface.lower() == "led"] == []


def test_bodies_known_only_from_titles_stand_for_their_documents():
    """A body no document is named after stands for the few documents whose title holds its name,
    and its procedures for the same documents; an instrument never does (a protocol's title holds
    its parent convention's name)."""
    from assistant.names import NameIndex, glossary
    from assistant.planning import plan

    docs = {"interpol-notices": ("INTERPOL Notices, Diffusions, I-24/7 and Databases", []),
            "interpol-constitution": ("The Constitution of the ICPO-INTERPOL (1956)", []),
            "europol": ("Europol and the Europol Regulation (EU) 2016/794", []),
            "smuggling": ("Protocol against the Smuggling of Migrants by Land, Sea and Air, supplementing the "
                          "United Nations Convention against Transnational Organized Crime", [])}
    names = NameIndex.build(glossary(), docs)
    p = plan("What secure messaging systems do Europol and INTERPOL run?", None, names)
    assert [s.docs for s in p.subjects] == [("europol",), ("interpol-constitution", "interpol-notices")]
    red = names.mentions("Is an INTERPOL Red Notice an arrest warrant?")
    assert [m.docs for m in red] == [("interpol-constitution", "interpol-notices")]
    # UNTOC itself is not indexed: its name inside the protocol's title does not make it the protocol
    assert all(not m.docs for m in names.mentions("What does UNTOC article 5 require?"))


def test_a_body_named_as_an_instruments_author_does_not_stand_for_it():
    """"Council of Europe Convention on Laundering …" and "United Nations Convention against
    Corruption" are instruments by those bodies, not documents about them: "CoE" and "UN" do not
    stand for them. A body named just before a description tells apart instruments of one subject:
    "the CoE corruption convention" is ETS 173, not UNCAC."""
    from assistant.names import NameIndex, glossary
    from assistant.planning import plan

    names = NameIndex.build(glossary(), _titles())
    coe = [m for m in names.mentions("what does the CoE say about corruption?") if m.surface == "CoE"]
    assert coe and coe[0].docs == ()
    un = [m for m in names.mentions("what does the UN say about corruption?") if m.surface == "UN"]
    assert un and "uncac" not in un[0].docs
    p = plan("trading in influence - mandatory under UNCAC art 18 like under the CoE corruption convention?", None, names)
    assert p.focus_docs == ["uncac", "coe-criminal-law-corruption"], [(m.surface, m.docs) for m in p.mentions]
    # without its author the description is ambiguous (two conventions on corruption): no document
    assert "coe-criminal-law-corruption" not in plan("what does the corruption convention say?", None, names).focus_docs


@pytest.mark.integration
def test_a_comparison_is_decided_on_what_its_sides_find(corpus_bot):
    """Two things compared, one of them known only from titles: each side is searched within
    its documents, the decision sees both, and the answer has one cited part per side."""
    answer = corpus_bot.ask("For a person wanted for prosecution, how do the minimum penalty thresholds for an "
                            "INTERPOL Red Notice and a European Arrest Warrant compare?")
    assert not answer.abstained, answer.abstain_reason
    assert len(answer.parts) == 2 and all(part.citations for part in answer.parts)
    cited = {c.doc_id for part in answer.parts for c in part.citations}
    assert "european-arrest-warrant" in cited and cited & {"interpol-notices", "interpol-constitution"}


def test_words_in_any_script_count_as_words():
    from assistant.decision import WORD_RE

    assert "Căldăraru" in WORD_RE.findall("What did the Court say in Aranyosi and Căldăraru?")


def test_planning_answer_types_refs_and_comparisons():
    from assistant.names import NameIndex, glossary
    from assistant.planning import answer_type, plan

    assert answer_type("how long does the requested party have?") == "duration"
    assert answer_type("who picks the UN Secretary-General?") == "body"
    assert answer_type("does the ICC have jurisdiction over crimes before 2002?") == "yes-no"
    assert answer_type("what counts as a public official under UNCAC?") == "definition"
    assert answer_type("what are foreign officers not allowed to do during cross-border observation?") == "prohibition"
    assert answer_type("can the officers enter private homes?") == "yes-no"  # asked as yes/no, it stays one
    from assistant.planning import holds_answer

    assert holds_answer("prohibition", "Entry into private homes shall be prohibited.")
    assert holds_answer("prohibition", "The officers may neither stop and question, nor arrest, the person.")
    assert not holds_answer("prohibition", "The officers may carry their service weapons.")
    names = NameIndex.build(glossary(), _titles())
    p = plan("the hijacking convention vs the beijing convention on jurisdiction", None, names)
    assert [s.docs for s in p.subjects] == [("hague-hijacking-convention",), ("beijing-aviation-convention",)]
    p = plan("nato art 4 vs art 5", None, names)
    assert [s.refs for s in p.subjects] == [(("article", "4"),), (("article", "5"),)]
    # "its second protocol": the protocol of the instrument named before it
    p = plan("1959 MLA convention vs its second protocol on hearing witnesses who are abroad", None, names)
    assert [s.docs for s in p.subjects] == [("european-mla-convention",), ("second-protocol-mla",)]


def test_a_provision_belongs_to_the_instrument_named_beside_it():
    from assistant.names import NameIndex, glossary
    from assistant.planning import plan

    names = NameIndex.build(glossary(), _titles())
    # a body named as a provision's owner stands for its founding instrument...
    p = plan("nato art 5 vs UN charter art 51 - how do they fit together?", None, names)
    assert [(s.docs, s.refs) for s in p.subjects] == [(("north-atlantic-treaty",), (("article", "5"),)),
                                                      (("un-charter",), (("article", "51"),))]
    assert plan("what does Article 5 of NATO say?", None, names).focus_docs == ["north-atlantic-treaty"]
    assert plan("ICC's article 26 - what age?", None, names).focus_docs == ["rome-statute"]
    # ...a body that acts does not
    assert plan("why did NATO invoke Article 5 after Crimea?", None, names).focus_docs == []


@pytest.fixture(scope="module")
def realdocs_bot(tmp_path_factory):
    from assistant import Assistant

    if REALDOCS is None or not REALDOCS.is_dir():
        pytest.skip("the real official texts are not on this machine")
    bot = Assistant(index_dir=tmp_path_factory.mktemp("realdocs-index"))
    report = bot.ingest([REALDOCS])
    assert report.ok, report.failed
    return bot


@pytest.mark.integration
def test_comparison_gets_one_cited_part_per_side(realdocs_bot):
    answer = realdocs_bot.ask("nato art 4 vs art 5")
    assert not answer.abstained
    assert [p.subject for p in answer.parts] == ["Article 4", "Article 5"]
    assert all(p.citations and p.citations[0].doc_id == "north-atlantic-treaty" for p in answer.parts)
    assert "consult together" in answer.parts[0].text and "armed attack" in answer.parts[1].text
    stored = realdocs_bot.index().get([c.chunk_id for c in answer.citations])
    assert all(c.quote in stored[c.chunk_id][0] for c in answer.citations)
    from assistant import Answer

    assert Answer.from_dict(json.loads(json.dumps(answer.to_dict()))) == answer


@pytest.mark.integration
def test_a_yes_no_question_leads_with_the_sentence_that_settles_it(realdocs_bot):
    answer = realdocs_bot.ask("can a state refuse to extradite its own nationals under ETS 24?")
    assert not answer.abstained
    assert answer.text.startswith("(a)A Contracting Party shall have the right to refuse extradition of its nationals")
    assert answer.citations[0].doc_id == "european-extradition-convention"


@pytest.mark.integration
def test_a_name_is_held_only_where_its_words_stand_together(realdocs_bot):
    """The European arrest warrant is not in these texts, though one chunk speaks of a "warrant of
    arrest" and of the "European" convention: refused, naming it. NATO is, through the treaty that
    founded it (which never calls it NATO)."""
    answer = realdocs_bot.ask("what's the deadline for executing a European arrest warrant?")
    assert answer.abstained and "European arrest warrant" in answer.abstain_reason
    answer = realdocs_bot.ask("how soon can a country leave nato?")
    assert not answer.abstained and answer.citations[0].doc_id == "north-atlantic-treaty"


@pytest.mark.integration
def test_typing_errors_are_read_as_what_they_stand_for_and_said_so(realdocs_bot):
    answer = realdocs_bot.ask("whats an FIU according to the warsaw convnetion")
    assert not answer.abstained
    assert "Read “convnetion” as “convention”." in answer.notice
    assert answer.citations[0].doc_id == "warsaw-laundering-convention"
    assert "financial intelligence unit" in answer.text
    answer = realdocs_bot.ask("art 16 rome statue")
    assert not answer.abstained and answer.citations[0].doc_id == "rome-statute"
    assert answer.citations[0].section.startswith("Article 16")
    # shorthand, and bodies by their acronyms (the glossary's, one in the plural)
    answer = realdocs_bot.ask("plastic explosives conv - who appoints the members of the IETC?")
    assert not answer.abstained and "Read “conv” as “convention”." in answer.notice
    assert answer.citations[0].doc_id == "plastic-explosives-convention"
    assert "appointed by the Council of the International Civil Aviation Organization" in answer.text
    answer = realdocs_bot.ask("what does the 2nd addl protocol to the extradition conv say about amnesty?")
    assert "Read “2nd” as “second”, “addl” as “additional”, “conv” as “convention”." in answer.notice
    assert not answer.abstained and answer.citations[0].doc_id == "second-protocol-extradition"
    assert "amnesty" in answer.text
    answer = realdocs_bot.ask("CCM MSPs - who convenes the first one?")
    assert not answer.abstained and "Secretary-General of the United Nations" in answer.text


@pytest.mark.integration
def test_an_event_the_text_states_only_as_a_rule_is_not_answered_as_if_it_happened(realdocs_bot):
    answer = realdocs_bot.ask("when did the criminal law convention on corruption enter into force?")
    assert answer.abstained and answer.text.startswith("The sources give the rule, not whether or when it happened")
    assert answer.citations[0].doc_id == "coe-criminal-law-corruption"
    assert "shall enter into force" in answer.citations[0].quote
    # the rule itself is answered
    answer = realdocs_bot.ask("when does the criminal law convention on corruption enter into force?")
    assert not answer.abstained and "fourteen States" in answer.text


def test_a_provision_belongs_to_the_name_written_beside_it_only():
    from assistant.names import NameIndex, glossary
    from assistant.planning import asks_text_of, owns_provision

    names = NameIndex.build(glossary(), _titles())
    q = "what conduct does article 6 of the xenophobia protocol to the cybercrime convention cover, and can states opt out?"
    owners = {m.surface: owns_provision(q, m) for m in names.mentions(q)}
    assert owners == {"xenophobia protocol": True, "cybercrime convention": False, "opt out": False}
    q = "what does article 2 of the budapest convention on cybercrime say about illegal access?"
    assert [asks_text_of(q, m) for m in names.mentions(q)] == [True]
    q = "what does the 1971 montreal convention say about sabotage?"
    assert [asks_text_of(q, m) for m in names.mentions(q)] == [True]
    q = "does the Beijing convention replace the 1971 montreal convention?"
    assert not any(asks_text_of(q, m) for m in names.mentions(q))


def test_a_name_with_another_in_brackets_names_what_both_fit():
    """"the second additional protocol (ETS 182)": three instruments are "second additional
    protocols" (two of them here), ETS 182 is one of them: the question names that one."""
    from assistant.names import NameIndex, glossary
    from assistant.planning import answer_type, plan

    names = NameIndex.build(glossary(), _titles())
    assert plan("what's in art 20 of the second additional protocol (ETS 182)?", None, names).focus_docs \
        == ["second-protocol-mla"]
    assert len(plan("what's in art 20 of the second additional protocol?", None, names).focus_docs) == 2
    # a maximum or minimum asks for a quantity, however it is shortened
    assert [answer_type(q) for q in ("max prison term the icc can give?", "minimum age of criminal responsibility",
                                     "max out the budget")] == ["number", "number", "other"]


@pytest.mark.integration
def test_an_article_of_a_named_instrument_is_read_from_that_article(realdocs_bot):
    """"what's in art 20 of …" has no other words that point at Article 20: its chunks come first
    all the same (the structural ranking within the named document), and the answer quotes it."""
    answer = realdocs_bot.ask("what's in art 20 of the second additional protocol (ETS 182)?")
    assert not answer.abstained
    assert answer.citations[0].doc_id == "second-protocol-mla"
    assert answer.citations[0].section.startswith("Article 20")
    assert "joint investigation team" in answer.text


@pytest.mark.integration
def test_the_text_of_an_instrument_only_mentioned_is_not_quoted_from_others(realdocs_bot):
    """The Budapest Convention itself is not among the texts; its xenophobia protocol, which
    mentions it, is. Its article 2 is refused, naming why; the protocol's own text is answered."""
    answer = realdocs_bot.ask("what does article 2 of the budapest convention on cybercrime say about illegal access?")
    assert answer.abstained and "do not hold the text of" in answer.abstain_reason
    answer = realdocs_bot.ask("what does the xenophobia protocol say about racist and xenophobic material?")
    assert not answer.abstained and answer.citations[0].doc_id == "cybercrime-xenophobia-protocol"


@pytest.mark.integration
def test_instruments_outside_the_folder_and_off_topic_questions_are_refused(realdocs_bot):
    for question in ("what is the best sourdough recipe?", "What does the 2019 Geneva Convention on Drone Policing require?"):
        answer = realdocs_bot.ask(question)
        assert answer.abstained and not answer.citations, question


@pytest.mark.integration
def test_realdocs_smoke_set_meets_its_floors(realdocs_bot):
    from assistant.evaluation import evaluate

    result = evaluate(realdocs_bot, ROOT / "eval/questions/realdocs-smoke.jsonl", progress=False)
    assert result["retrieval"]["recall@5"] >= 0.9
    assert result["answer"]["quote_exact"] == 1.0
    assert result["answer"]["key_fact_coverage"] >= 0.5
    assert result["abstention"]["false_abstention_rate"] <= 0.15


@pytest.mark.integration
def test_a_false_premise_is_corrected_with_the_sentence_that_contradicts_it(realdocs_bot):
    # a figure the text gives differently, and a power the text denies
    answer = realdocs_bot.ask("ETS 24 lets you hold someone on provisional arrest for up to 90 days - what happens after that?")
    assert answer.abstained and answer.abstain_reason.startswith("a passage contradicts the question's premise")
    assert answer.text.startswith("The sources give a different figure from “90 days”")
    assert answer.citations[0].doc_id == "european-extradition-convention"
    assert "exceed 40 days" in answer.citations[0].quote
    answer = realdocs_bot.ask("why does the second MLA protocol let foreign police arrest the suspect during cross-border observation?")
    assert answer.abstained and answer.text.startswith("The sources say otherwise about “arrest”")
    assert answer.citations[0].doc_id == "second-protocol-mla" and "nor arrest" in answer.citations[0].quote
    stored = realdocs_bot.index().get([c.chunk_id for c in answer.citations])
    assert all(c.quote in stored[c.chunk_id][0] for c in answer.citations)


@pytest.mark.integration
def test_questions_that_assert_nothing_are_answered_not_corrected(realdocs_bot):
    # the same facts asked as yes/no or open questions: no premise to contradict
    for question in ("how long can provisional arrest last under ETS 24?", "ETS 24 - can provisional arrest last 90 days?",
                     "can officers on cross-border observation under ETS 182 arrest the person they watch?"):
        answer = realdocs_bot.ask(question)
        assert not answer.abstained and "premise" not in answer.text, question


@pytest.mark.integration
def test_a_yes_no_question_the_text_denies_gets_a_no_first(realdocs_bot):
    answer = realdocs_bot.ask("can officers on cross-border observation under ETS 182 arrest the person they watch?")
    assert answer.text.startswith("No. ") and "nor arrest" in answer.citations[0].quote
    assert answer.citations[0].doc_id == "second-protocol-mla"
    answer = realdocs_bot.ask("does the hague hijacking convention apply to military aircraft?")
    assert answer.text.startswith("No. ") and "shall not apply to aircraft used in military" in answer.citations[0].quote
    # a question the text grants gets no "No."
    answer = realdocs_bot.ask("can a state refuse to extradite its own nationals under ETS 24?")
    assert not answer.text.startswith("No")


@pytest.mark.integration
def test_a_plain_texts_preamble_does_not_crowd_out_its_articles(realdocs_bot):
    # recitals ("Convinced that…") and title pages sit under no heading; provisions sit under articles
    for question in ("what does UNCAC say about giving stolen assets back?",
                     "can a state withdraw from the cluster munitions convention in the middle of a war?"):
        passages = realdocs_bot.search(question, focus=realdocs_bot.plan(question).focus_docs).passages[:3]
        assert all(p.section.startswith("Article") for p in passages), [(p.doc_id, p.section) for p in passages]
    answer = realdocs_bot.ask("what does UNCAC say about giving stolen assets back?")
    assert answer.citations[0].section.startswith("Article 51")


@pytest.mark.integration
def test_pronouns_and_other_function_words_are_never_unknown_content(corpus_bot):
    from assistant.decision import function_words

    assert {"someone", "anyone", "something", "whereas", "the"} <= function_words()
    decision = corpus_bot.decide("Someone believes the Red Notice against them is politically motivated. "
                                 "Who can they complain to?")
    assert not {"someone", "Someone"} & set(decision.terms.get("unknown", []))


@pytest.mark.integration
def test_everyday_words_for_treaty_steps_find_the_legal_terms(realdocs_bot):
    # "leave" is what analysts type; the treaty says "cease to be a Party … notice of denunciation"
    plan = realdocs_bot.plan("how soon can a country leave nato?")
    assert "leave (denunciation)" in plan.search_query
    assert all(realdocs_bot.names().is_term(m) for m in plan.mentions if "leave" in m.surface.lower())
    answer = realdocs_bot.ask("how soon can a country leave nato?")
    assert answer.citations[0].doc_id == "north-atlantic-treaty" and "denunciation" in answer.citations[0].quote
    # a term names nothing: it never focuses a document nor counts as a known name
    assert realdocs_bot.plan("why would a state join a convention?").focus_docs == []


@pytest.mark.integration
def test_a_named_article_is_answered_from_its_opening_paragraph(realdocs_bot):
    # Article 9 of CETS 198 runs over several chunks; the question matches its later paragraphs
    # best, but the acts that count as laundering are the list of its first paragraph
    question = "art 9 warsaw convention - what acts count as money laundering?"
    answer = realdocs_bot.ask(question)
    assert not answer.abstained
    assert "the conversion or transfer of property" in answer.text
    assert answer.citations[0].section.startswith("Article 9")
    retrieved = {p.chunk_id for p in realdocs_bot.search(question, focus=realdocs_bot.plan(question).focus_docs).passages}
    assert answer.citations[0].chunk_id not in retrieved  # read around a retrieved chunk, not retrieved itself
    assert {c.chunk_id for c in answer.citations} <= {p.chunk_id for p in answer.passages}  # and then listed
    stored = realdocs_bot.index().get([c.chunk_id for c in answer.citations])
    assert all(c.quote in stored[c.chunk_id][0] for c in answer.citations)


@pytest.mark.integration
def test_the_chunks_around_a_passage_are_its_provision_in_order(realdocs_bot):
    from assistant.retrieval import chunk_position, expand_provisions

    question = "art 9 warsaw convention - what acts count as money laundering?"
    retrieval = realdocs_bot.search(question, focus=realdocs_bot.plan(question).focus_docs)
    expand_provisions(realdocs_bot.index(), retrieval, 3, 2, 1)
    assert retrieval.provisions
    for cid, group in retrieval.provisions.items():
        top = next(p for p in retrieval.passages if p.chunk_id == cid)
        assert cid in [p.chunk_id for p in group]
        assert {(p.doc_id, p.section) for p in group} == {(top.doc_id, top.section)}
        positions = [chunk_position(p.chunk_id) for p in group]
        assert positions == sorted(positions)
        assert group[0].chunk_id in retrieval.openings
        assert all(p.chunk_id in retrieval.spans for p in group)


@pytest.mark.integration
def test_a_word_of_a_documents_name_is_known_and_comparison_words_are_form(realdocs_bot):
    # "hijacking" is in no chunk of the Hague convention ("unlawful seizure of aircraft"), but it
    # is in its names; "difference" makes the question a comparison, it is not what it asks about
    decision = realdocs_bot.decide("extradite or prosecute - SUA vs the hijacking convention, any difference?")
    assert "difference" not in decision.terms.get("unsupported", []) + decision.terms.get("unknown", [])
    decision = realdocs_bot.decide("is hijacking an offence under Hague 1970?")
    assert "hijacking" not in decision.terms.get("unknown", []) + decision.terms.get("unsupported", [])
    assert "hijacking" in "".join(realdocs_bot.names().doc_names("hague-hijacking-convention")).lower()
    # a word in no chunk and no name stays unknown
    decision = realdocs_bot.decide("is hijacking a zeppelin an offence under Hague 1970?")
    assert "zeppelin" in decision.terms.get("unknown", [])


@pytest.mark.integration
def test_an_instrument_named_but_not_held_is_reported_and_a_held_one_is_not(corpus_bot):
    answer = corpus_bot.ask("What does the GDPR say about consent?")
    assert answer.not_held == ["GDPR (General Data Protection Regulation)"]
    assert corpus_bot.ask("what does the Arms Trade Treaty say about diversion?").not_held == []
    assert corpus_bot.ask("What does Article 5 of the North Atlantic Treaty say?").not_held == []
    from assistant import Answer

    assert Answer.from_dict(json.loads(json.dumps(answer.to_dict()))).not_held == answer.not_held


@pytest.mark.integration
def test_a_definition_question_is_answered_by_the_sentence_that_defines_the_term(realdocs_bot):
    from assistant.planning import defined_term, defines

    assert defined_term("what's a BCN weapon in the Beijing convention?") == "BCN weapon"
    assert defined_term("what's the 'administering State' in the prisoner transfer convention?") == "administering State"
    assert defined_term("What's the EU's definition of terrorism?") == "terrorism"
    assert defines("proceeds", "a. ‘‘proceeds’’ means any economic advantage")
    assert defines("FIU", "f. ‘‘financial intelligence unit’’ (hereinafter referred to as ‘‘FIU’’) means a central")
    assert defined_term("whats an FIU according to the warsaw convention") == "FIU"
    assert not defines("proceeds", "knowing that such property is proceeds, for the purpose of")
    # the article of definitions resembles the question less than the articles that use the term
    for question, start in (("what counts as 'proceeds' in the warsaw convention?", "‘‘proceeds’’ means any economic advantage"),
                            ("what's the 'administering State' in the prisoner transfer convention?",
                             '"administering State" means the State to which')):
        answer = realdocs_bot.ask(question)
        # the definition first, whole, its list marker ("a.") quoted with it; no lead-in before it
        assert re.sub(r"^[a-z]\. ?", "", answer.text).startswith(start), answer.text[:120]
        assert answer.citations[0].section.startswith("Article 1")
    fiu = realdocs_bot.ask("whats an FIU according to the warsaw convention")  # typed without the apostrophe
    assert fiu.text.startswith("f. ‘‘financial intelligence unit’’ (hereinafter referred to as ‘‘FIU’’) means"), fiu.text[:120]


@pytest.mark.integration
def test_each_side_of_a_comparison_is_searched_without_the_other_sides_names(realdocs_bot):
    plan = realdocs_bot.plan("bribery of foreign officials: UNCAC vs ETS 173 - is passive bribery covered too?")
    uncac, ets = plan.subjects
    query, alternatives = realdocs_bot._side_query(plan, uncac)
    assert "UNCAC" in query and "ETS 173" not in query and "Criminal Law Convention" not in query
    assert [typed for typed, _ in alternatives] == ["UNCAC"]
    query, alternatives = realdocs_bot._side_query(plan, ets)
    assert "ETS 173" in query and "UNCAC" not in query and "bribery" in query
    assert [typed for typed, _ in alternatives] == ["ETS 173"]
    answer = realdocs_bot.ask("bribery of foreign officials: UNCAC vs ETS 173 - is passive bribery covered too?")
    assert [p.citations[0].doc_id for p in answer.parts] == ["uncac", "coe-criminal-law-corruption"]


@pytest.mark.integration
def test_a_comparisons_sides_choose_sentences_for_what_it_asks_of_each(realdocs_bot):
    """Each side's sentences are chosen for the question without its sides' names and the "vs"
    ("on hearing witnesses who are abroad"): the 1959 convention's side leads with a provision on
    witnesses. (Its closing formula, "IN WITNESS WHEREOF …", still comes third: not yet fixed.)"""
    question = "1959 MLA convention vs its second protocol on hearing witnesses who are abroad"
    plan = realdocs_bot.plan(question)
    assert plan.topic == "on hearing witnesses who are abroad"
    assert plan.focus_query is None  # a comparison's sides are searched on their own
    assert realdocs_bot.plan("nato art 5 vs UN charter art 51 - how do they fit together?").topic == \
        "how do they fit together"
    assert realdocs_bot.plan("UNCAC vs ETS 173").topic == ""  # nothing asked of the sides: the question stands
    answer = realdocs_bot.ask(question)
    first = answer.parts[0]
    assert first.citations and first.citations[0].doc_id == "european-mla-convention"
    lead = first.citations[0].quote
    assert "witness" in lead.lower() and "WHEREOF" not in lead, first.text


def test_the_topic_is_the_question_without_the_names_of_its_documents():
    from assistant.names import Mention
    from assistant.planning import topic

    question = "Hague 1970 - what exactly is the offence?"
    hague = Mention(0, 10, "Hague 1970", entries=("hague",), docs=("hague-hijacking-convention",))
    assert topic(question, [hague]) == "what exactly is the offence"
    # a name the index holds no document for stays (it says what is asked about); so do words
    # that only look like a comparison's when the question names no document
    assert topic(question, [Mention(0, 10, "Hague 1970", entries=("hague",))]) == "Hague 1970 - what exactly is the offence"
    assert topic("UNCAC vs ETS 173", [Mention(0, 5, "UNCAC", docs=("uncac",)), Mention(9, 16, "ETS 173", docs=("coe",))]) == ""
    assert topic("art 17 of ETS 182 - what can't foreign officers do?", [Mention(10, 17, "ETS 182", docs=("p",))]) == \
        "of - what can't foreign officers do"


@pytest.mark.integration
def test_within_a_named_document_the_search_by_meaning_looks_for_the_topic(realdocs_bot):
    """ "Hague 1970 - what exactly is the offence?": the name, which every passage of the Hague
    convention shares, no longer pulls the search within it toward its final clauses; the answer
    quotes Article 1, which defines the offence."""
    plan = realdocs_bot.plan("Hague 1970 - what exactly is the offence?")
    assert plan.focus_docs == ["hague-hijacking-convention"] and plan.focus_query == "what exactly is the offence"
    answer = realdocs_bot.ask("Hague 1970 - what exactly is the offence?")
    assert "seizes, or exercises control of" in answer.text, answer.text


@pytest.mark.integration
def test_a_follow_up_that_names_nothing_searches_the_document_the_conversation_is_about(realdocs_bot):
    history = [{"role": "user", "content": "what does article 5 of the north atlantic treaty say?"},
               {"role": "assistant", "content": "The Parties agree that an armed attack against one or more of them …"}]
    plan = realdocs_bot.plan("and where exactly does that apply - is turkey covered?", history)
    assert plan.focus_docs == ["north-atlantic-treaty"]
    answer = realdocs_bot.ask("and where exactly does that apply - is turkey covered?", history=history)
    assert "on the territory of Turkey" in answer.text, answer.text
    # an earlier question that names two documents leaves the follow-up unfocused
    two = [{"role": "user", "content": "compare ETS 24 and ETS 90 on political offences"}]
    assert realdocs_bot.plan("and what about reservations?", two).focus_docs == []


@pytest.mark.integration
def test_a_comparison_side_that_names_a_provision_quotes_that_provision(realdocs_bot):
    """ "nato art 5 vs UN charter art 51": the Charter's side quotes Article 51 (the named article
    comes first within the side, as for a question that names one), not other articles of the Charter."""
    answer = realdocs_bot.ask("nato art 5 vs UN charter art 51 - how do they fit together?")
    charter = answer.parts[1]
    assert charter.citations and charter.citations[0].section.startswith("Article 51"), charter.text
    assert "inherent right" in charter.text, charter.text


@pytest.mark.integration
def test_a_term_is_held_by_a_passage_that_uses_any_of_its_names(realdocs_bot):
    """ "join" is the everyday word for accession: a passage on accession holds it (the decision
    does not count it among the words no passage mentions)."""
    decision = realdocs_bot.decide("can a state outside the council of europe join the sentenced persons convention?")
    assert decision.answer and "join" not in decision.terms["unsupported"]


@pytest.mark.integration
def test_a_question_about_what_a_provision_says_gets_that_provision_whole_and_once(realdocs_bot):
    """ "CCM art 20?", "what does article 11 of ETS 112 provide?": the article itself, in the
    order of the text, up to PROVISION_WORDS, nothing from other articles; a list item at the end
    of one chunk that opens the next (chunks overlap) is quoted once."""
    answer = realdocs_bot.ask("CCM art 20?")
    assert not answer.abstained and "shall only take effect six months after the receipt" in answer.text
    assert answer.text.index("unlimited duration") < answer.text.index("six months after the receipt")
    assert all(c.section.startswith("Article 20") for c in answer.citations)
    answer = realdocs_bot.ask("what does article 11 of ETS 112 provide?")
    assert answer.text.count("shall deduct the full period") == 1 and "shall not aggravate" in answer.text
    assert all(c.section.startswith("Article 11") for c in answer.citations)
    stored = realdocs_bot.index().get([c.chunk_id for c in answer.citations])
    assert all(c.quote in stored[c.chunk_id][0] for c in answer.citations)
    # a question about something in the article is answered as before, by its sentences
    answer = realdocs_bot.ask("under article 11 of ETS 112, can the administering state convert a prison term to a fine?")
    assert "may not convert a sanction involving deprivation of liberty to a pecuniary sanction" in answer.text
