"""Settings: every tunable has one home (assistant/settings.py), the environment is read there
only, and what a Settings object holds is what runs: an override changes retrieval, answers and
verification in a real run, and the defaults of the modules are the Settings defaults."""
from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from assistant import Assistant
from assistant.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "assistant"
QUESTION = "What does Article 5 of the North Atlantic Treaty commit members to?"
# no number of two or more digits (no identifier boost), no document named (no focus rankings)
PLAIN = "Which provision lets a member ask for consultations when it feels threatened?"


# --- the environment, read in one place -----------------------------------------------------------
def _environment_uses(path: Path) -> list[tuple[int, str]]:
    """(line, what) for every use of os.environ / os.getenv / os.putenv in a module."""
    uses = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os" \
                and node.attr in {"environ", "getenv", "putenv", "unsetenv"}:
            uses.append((node.lineno, node.attr))
        if isinstance(node, ast.ImportFrom) and node.module == "os" and \
                {a.name for a in node.names} & {"environ", "getenv", "putenv"}:
            uses.append((node.lineno, "from os import"))
    return uses


def test_no_module_but_the_package_init_touches_the_environment():
    found = {p.name: _environment_uses(p) for p in sorted(PACKAGE.glob("*.py"))}
    assert {name: uses for name, uses in found.items() if uses and name != "__init__.py"} == {}
    # __init__ only sets the third-party libraries' defaults, and reads nothing of ours
    init = (PACKAGE / "__init__.py").read_text(encoding="utf-8")
    assert found["__init__.py"] and all(
        line.startswith('os.environ.setdefault("') for line in init.splitlines() if "os.environ" in line)
    assert "ASSISTANT_" not in "".join(line for line in init.splitlines() if "os.environ" in line)


def test_environment_variables_reach_the_assistant_through_settings(monkeypatch):
    from assistant import onnx_encoder

    for name, value in {"TOP_K": "4", "RRF_K": "12", "ENCODER_THREADS": "3", "ANSWER_MAX_SENTENCES": "2",
                        "VERIFY_COS_ALONE": "0.9", "HISTORY_TURNS": "2", "DENSE_FLOOR": "0.25"}.items():
        monkeypatch.setenv(f"ASSISTANT_{name}", value)
    bot = Assistant()
    s = bot.settings
    assert (s.top_k, s.rrf_k, s.encoder_threads, s.answer_max_sentences, s.verify_cos_alone, s.history_turns,
            s.dense_floor) == (4, 12, 3, 2, 0.9, 2, 0.25)
    assert bot.answerer.max_sentences == 2 and bot.retriever().k == 4
    assert onnx_encoder.workers() == 3
    monkeypatch.setenv("ASSISTANT_ENCODER_THREADS", "0")
    assert onnx_encoder.workers() == (os.cpu_count() or 1)
    assert onnx_encoder.workers(2) == 2


def test_a_bad_environment_value_names_the_setting(monkeypatch):
    monkeypatch.setenv("ASSISTANT_TOP_K", "many")
    with pytest.raises(ValidationError, match="top_k"):
        Settings()
    monkeypatch.setenv("ASSISTANT_TOP_K", "5")
    monkeypatch.setenv("ASSISTANT_ENCODER_THREADS", "two")  # parsed by Settings, like every other value
    with pytest.raises(ValidationError, match="encoder_threads"):
        Settings()


# --- one default for each tunable -----------------------------------------------------------------
def test_module_defaults_are_the_settings_defaults():
    from assistant.answer import ExtractiveAnswerer
    from assistant.retrieval import PolicyRetriever, rrf, search
    from assistant.verify import VerifiedWriter

    s = Settings()
    a = ExtractiveAnswerer(embeddings=None)
    assert (a.max_sentences, a.passages_used, a.keep_ratio, a.max_words) == \
        (s.answer_max_sentences, s.answer_passages, s.answer_keep_ratio, s.answer_max_words)
    w = VerifiedWriter([], None)
    assert (w.cos_alone, w.cos_with_words, w.words) == (s.verify_cos_alone, s.verify_cos_with_words, s.verify_words)
    # no second default that could contradict Settings: the fusion constant and k come from it
    import inspect

    assert inspect.signature(rrf).parameters["k"].default is inspect.Parameter.empty
    assert "settings" in inspect.signature(search).parameters
    assert PolicyRetriever.model_fields["k"].default is None
    # what ran before Settings held them all (issue 19): top_k 6, rrf_k 30, answer shape 4 / 3 / 0.7
    assert (s.top_k, s.rrf_k, s.answer_max_sentences, s.answer_passages, s.answer_keep_ratio) == (6, 30, 4, 3, 0.7)


# --- an override changes what runs (real model, real Chroma) --------------------------------------
def _with(bot: Assistant, **update) -> Assistant:
    return Assistant(settings=bot.settings.model_copy(update=update))


@pytest.mark.integration
def test_top_k_is_the_default_k_of_every_entry_point(corpus_bot):
    k = corpus_bot.settings.top_k
    assert len(corpus_bot.retrieve(QUESTION)) == k
    assert len(corpus_bot.search(QUESTION).passages) == k
    assert len(corpus_bot.retriever().invoke(QUESTION)) == k
    assert len(corpus_bot.ask(QUESTION).passages) == k
    four = _with(corpus_bot, top_k=4)
    assert len(four.retrieve(QUESTION)) == 4 and len(four.ask(QUESTION).passages) == 4
    assert len(four.retrieve(QUESTION, k=7)) == 7  # an explicit k still wins


@pytest.mark.integration
def test_search_fuses_with_the_settings_rrf_k_and_weights(corpus_bot):
    from assistant.retrieval import gather

    s = corpus_bot.settings
    r = gather(corpus_bot.index(), PLAIN, {}, s.candidates)
    dense = [d[0] for d in r.dense if d[1] >= s.dense_floor]

    def by_hand(cid: str, rrf_k: int, lexical_weight: float) -> float:
        lists = [(dense, 1.0), (r.lexical, lexical_weight), (r.structural, s.structural_weight)]
        return sum(w / (rrf_k + ranking.index(cid) + 1) for ranking, w in lists if cid in ranking)

    for rrf_k, lexical_weight in [(s.rrf_k, s.lexical_weight), (1000, s.lexical_weight), (s.rrf_k, 2.0)]:
        bot = corpus_bot if (rrf_k, lexical_weight) == (s.rrf_k, s.lexical_weight) else \
            _with(corpus_bot, rrf_k=rrf_k, lexical_weight=lexical_weight)
        passages = bot.search(PLAIN).passages
        assert passages
        for p in passages:
            if p.section or p.issuer:  # (an unheaded preamble chunk would be demoted as well)
                assert p.score == pytest.approx(by_hand(p.chunk_id, rrf_k, lexical_weight), abs=2e-6), (rrf_k, p)


@pytest.mark.integration
def test_tuning_selects_exactly_what_search_returns(corpus_bot):
    """scripts/tune_fusion.py gathers once and selects per setting: the same code as search()."""
    from assistant.retrieval import gather, select

    s = corpus_bot.settings
    plan = corpus_bot.plan("nato art 4 vs art 5")
    assert plan.focus_docs
    got = corpus_bot.search(plan.search_query, 8, focus=plan.focus_docs)
    rankings = gather(corpus_bot.index(), plan.search_query, {}, s.candidates, "hybrid", plan.focus_docs)
    again = select(corpus_bot.index(), rankings, s, 8)
    assert [(p.chunk_id, p.score) for p in again.passages] == [(p.chunk_id, p.score) for p in got.passages]
    # and another setting selects differently from the same rankings
    other = select(corpus_bot.index(), rankings, s.model_copy(update={"max_chunks_per_doc": 1}), 8)
    assert len({p.doc_id for p in other.passages}) == len(other.passages)
    assert len({p.doc_id for p in got.passages}) < len(got.passages)  # two articles of the treaty, at least


@pytest.mark.integration
def test_answer_shape_settings_change_the_answer(corpus_bot):
    full = corpus_bot.ask(QUESTION)
    one = _with(corpus_bot, answer_max_sentences=1).ask(QUESTION)
    assert not full.abstained and not one.abstained
    markers = lambda a: len(re.findall(r"\[\d+\]", a.text))  # noqa: E731 - one marker after each sentence
    assert markers(one) == 1 < markers(full)


@pytest.mark.integration
def test_a_reshaped_answerer_shares_the_sentence_vectors(corpus_bot):
    plan = corpus_bot.plan(QUESTION)
    retrieval = corpus_bot.search(plan.search_query, focus=plan.focus_docs)
    lexicon = corpus_bot.lexicon()
    first = corpus_bot.answerer.answer(plan, retrieval, lexicon)
    calls = corpus_bot.embeddings.calls
    short = corpus_bot.answerer.reshaped(max_sentences=1)
    answer = short.answer(plan, retrieval, lexicon)
    assert corpus_bot.embeddings.calls == calls  # nothing embedded again
    assert short.max_sentences == 1 and corpus_bot.answerer.max_sentences == corpus_bot.settings.answer_max_sentences
    assert len(answer.citations) <= len(first.citations)
    with pytest.raises(TypeError):
        corpus_bot.answerer.reshaped(threshold=0.5)


@pytest.mark.integration
def test_verification_thresholds_come_from_settings(corpus_index_dir):
    from fake_llm import FakeLLM, passages_in

    def verbatim(messages):  # the first sentence of passage 1, word for word: supported at any sane threshold
        return {"content": re.split(r"(?<=[.;])\s", passages_in(messages)[1].strip())[0] + " [1]"}

    with FakeLLM() as llm:
        llm.reply = verbatim
        base = Settings(index_dir=corpus_index_dir, generator="openai", llm_base_url=llm.url, llm_model="fake",
                        llm_timeout_s=5.0)
        kept = Assistant(settings=base).ask(QUESTION)
        strict = Assistant(settings=base.model_copy(update={"verify_cos_alone": 1.01,
                                                            "verify_cos_with_words": 1.01})).ask(QUESTION)
    assert kept.generator == "openai" and kept.unsupported_removed == 0
    assert strict.generator == "extractive" and strict.unsupported_removed == 1
    assert "extractive answer" in strict.notice


@pytest.mark.integration
def test_history_turns_bounds_what_a_follow_up_sees(corpus_bot):
    history = [{"role": "user", "content": "What is the Budapest Convention on Cybercrime?"},
               {"role": "assistant", "content": "It is a treaty of the Council of Europe."}]
    follow_up = "When did it enter into force?"
    assert "Budapest" in corpus_bot.plan(follow_up, history).query  # default: the last 6 turns
    assert "Budapest" in _with(corpus_bot, history_turns=2).plan(follow_up, history).query
    # one turn: only the assistant's reply, which does not name the convention
    assert "Budapest" not in _with(corpus_bot, history_turns=1).plan(follow_up, history).query
    assert _with(corpus_bot, history_turns=0).plan(follow_up, history).query == follow_up
