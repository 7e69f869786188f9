"""The answerability decision: one small, calibrated model over a few documented features.

Features (all computed from the plan, the retrieval and the index, before any answer is built):

- ``similarity``: cosine similarity of the best passage to the (expanded) query.
- ``lexical``: the largest IDF-weighted share of the question's words that one of the top
  passages (with its title and heading) contains.
- ``unknown``: the share of the question's *specific* terms that occur nowhere in the index.
  A term is specific when it is rare in general English (``wordfreq`` Zipf frequency below
  ``SPECIFIC_ZIPF``) and rare in the index (in under ``SPECIFIC_DF`` of its chunks), or a number
  of two or more digits. A term inside a name the index knows (through any of its aliases) is known.
- ``unsupported``: the share of specific terms that none of the retrieved passages mention (a
  likely false premise: "Why did the EU sanction Iran over WannaCry?").
- ``name_unknown``: 1 when the question uses a glossary name (an instrument, a body) that the
  index does not know by any of its names ("NPT" asked of the treaty texts). A proper name is
  known where its words stand together in a chunk (:func:`name_in_index`), a body also through
  the instrument that founded it.
- ``named_doc``: 1 when the question names a document of the index and a top passage is from it.
- ``type_missing``: 1 when the question asks for a period, a date or a number and no sentence
  of the top passages holds one.
- ``asks_now``: 1 when the question asks about the state of things now or since ("today",
  "so far", "ever", "the latest"): the sources state facts as of a date.
- ``content_unknown`` / ``content_unsupported``: as ``unknown``/``unsupported`` over every content
  word of the question, however common in English ("Germany", "laptop").

A logistic regression, fitted by ``scripts/fit_answerability.py`` with cross-validation on the
brief sets and the real-text development set, turns them into the probability that the sources
answer the question. Below ``threshold`` the assistant abstains; between ``threshold`` and
``threshold + hedge`` it answers with a hedge. The model is package data
(``assistant/data/answerability.json``).
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from .lexical import Vocabulary, idf_weights, stopwords, tokenize
from .names import KIND_RE
from .planning import COMPARE_RE, QueryPlan, holds_answer
from .chunking import sentence_spans
from .types import Passage

FEATURES = ("similarity", "lexical", "unknown", "unsupported", "name_unknown", "named_doc", "type_missing", "asks_now",
            "content_unknown", "content_unsupported")
# A question about the state of the world now or since ("how many countries are party today?",
# "has it ever been invoked?", "the latest evaluation"): texts and briefs state facts as of a date.
NOW_RE = re.compile(r"\b(?:today|nowadays|currently|current|now|so far|to date|latest|recent(?:ly)?|ever|"
                    r"these days|this year)\b", re.I)
SPECIFIC_ZIPF = 3.5  # rarer than this in general English (wordfreq's Zipf scale: 3 = once per million words)
DESCRIBING_ZIPF = 5.0  # words this common in English ("current" 5.3, "new" 6.3) are left out of a name check
SPECIFIC_DF = 0.02  # and in under 2% of the index's chunks
WORD_RE = re.compile(r"[^\W\d_](?:[^\W\d_]|['’-])*[^\W\d_]|\d{2,}")  # words in any script ("Căldăraru")
QUESTION_WORDS = frozenset({"what", "which", "who", "whom", "whose", "when", "where", "why", "how", "does", "did",
                            "do", "is", "are", "was", "were", "can", "could", "should", "would", "will", "has",
                            "have", "vs", "versus", "art", "arts", "para", "tell", "explain", "compare"})
TOP = 3  # passages the lexical and answer-type features look at (the answerer's passages)
SEEN = 6  # passages the name and term features look at (the default top_k), whatever k a caller asks for
PHRASE_CHECK = 50  # chunks holding a name's words whose texts are read for the name itself
NAME_SLACK = 3  # words besides its own that may come between a name's words ("Protocols to the Budapest Convention")


@dataclass
class Model:
    """Standardised logistic regression: p = sigmoid(intercept + sum coef_i * (x_i - mean_i) / scale_i)."""

    coef: dict[str, float]
    intercept: float
    mean: dict[str, float]
    scale: dict[str, float]
    threshold: float = 0.5
    hedge: float = 0.1
    info: dict = field(default_factory=dict)

    def probability(self, x: dict[str, float]) -> float:
        z = self.intercept + sum(self.coef[f] * (x[f] - self.mean[f]) / (self.scale[f] or 1.0) for f in self.coef)
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def contributions(self, x: dict[str, float]) -> dict[str, float]:
        """Each feature's share of the log-odds, relative to an average question."""
        return {f: self.coef[f] * (x[f] - self.mean[f]) / (self.scale[f] or 1.0) for f in self.coef}

    def to_dict(self) -> dict:
        return {"features": list(self.coef), "coef": self.coef, "intercept": self.intercept, "mean": self.mean,
                "scale": self.scale, "threshold": self.threshold, "hedge": self.hedge, "info": self.info}

    @classmethod
    def from_dict(cls, data: dict) -> "Model":
        return cls(coef=data["coef"], intercept=data["intercept"], mean=data["mean"], scale=data["scale"],
                   threshold=data.get("threshold", 0.5), hedge=data.get("hedge", 0.1), info=data.get("info", {}))


@lru_cache(maxsize=1)
def packaged_model() -> Model:
    """The fitted model shipped with the package."""
    text = resources.files("assistant").joinpath("data/answerability.json").read_text(encoding="utf-8")
    return Model.from_dict(json.loads(text))


@lru_cache(maxsize=1)
def function_words() -> frozenset[str]:
    """Closed-class English words (pronouns such as "someone", determiners, prepositions): never
    content words, whatever the index holds. scikit-learn's English stop-word list, read from its
    one-file module without importing scikit-learn (which takes seconds)."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("sklearn")
    words: frozenset[str] = frozenset()
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = Path(root) / "feature_extraction" / "_stop_words.py"
        if path.is_file():
            module_spec = importlib.util.spec_from_file_location("_assistant_stop_words", path)
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)  # type: ignore[union-attr]
            words = frozenset(module.ENGLISH_STOP_WORDS)
            break
    return words | stopwords()


@lru_cache(maxsize=8192)
def english_zipf(word: str) -> float:
    """How common ``word`` is in general English (wordfreq's Zipf scale; 3 = once per million words)."""
    from .zipf import english_zipf as zipf  # wordfreq's value, without importing wordfreq for plain words

    return zipf(word)


def specific_terms(question: str, lexical) -> list[str]:
    """The question's words that pick out something in particular (see the module docstring)."""
    n = max(len(lexical), 1)
    out = []
    for word in WORD_RE.findall(question):
        low = word.lower().strip("'’-")
        if low in QUESTION_WORDS or low in stopwords():
            continue
        if word.isdigit():
            out.append(word)
            continue
        if english_zipf(low) >= SPECIFIC_ZIPF:
            continue
        tokens = tokenize(low)
        if tokens and all(lexical.document_frequency(t) / n >= SPECIFIC_DF for t in tokens):
            continue
        out.append(word)
    return list(dict.fromkeys(out))


@lru_cache(maxsize=4096)
def passage_tokens(text: str) -> frozenset[str]:
    """The word tokens of a passage (title, heading and text), cached: the decision and the premise
    check read the same passages for every question."""
    return frozenset(tokenize(text))


@dataclass
class Decision:
    """The answerability decision for one question."""

    probability: float
    answer: bool
    hedge: bool
    features: dict[str, float]
    reason: str = ""
    terms: dict[str, list[str]] = field(default_factory=dict)  # unknown / unsupported terms, for the reason


@lru_cache(maxsize=1024)
def number_forms(word: str) -> tuple[tuple[str, ...], ...]:
    """The tokens of each way a text may write a number the question gives in digits: "30",
    "thirty", "thirtieth" (treaties write their numbers in words); just the word otherwise."""
    forms = [tuple(tokenize(word))]
    if word.isdecimal() and 0 < int(word) < 1000:
        from num2words import num2words

        forms += [tuple(tokenize(num2words(int(word), to=kind))) for kind in ("cardinal", "ordinal")]
    return tuple(f for f in forms if f)


def _known(word: str, lexical, named: frozenset[str] = frozenset()) -> bool:
    """In the index: in a chunk, or in a name of a document (``named``: their tokens); a number
    in any of its forms (:func:`number_forms`)."""
    forms = number_forms(word)
    return not forms or any(all(t in named or lexical.related(t) for t in form) for form in forms)


def _held(word: str, vocab: Vocabulary) -> bool:
    """In the passages' words (``vocab``), a number in any of its forms."""
    forms = number_forms(word)
    return not forms or any(all(vocab.related(t) for t in form) for form in forms)


def name_in_index(name: str, lexical, texts: Callable[[list[str]], dict[str, str]] | None = None) -> bool:
    """Does the index hold ``name``: all its words in one chunk and, when ``texts`` can fetch the
    chunks' texts, close together in one of the first ``PHRASE_CHECK`` of them: within
    ``NAME_SLACK`` words more than the name has, in any order, a word with any ending ("the
    Protocols to the Budapest Convention" hold "Budapest protocol"; a text that speaks of a
    "warrant of arrest" and, elsewhere, of "European" states does not hold "European arrest warrant")."""
    tokens = tokenize(name)
    if not tokens or not lexical.chunks_with_all(tokens):
        return False
    wanted = [w.lower() for w in WORD_RE.findall(name) if w.lower() not in stopwords()]
    if texts is None or len(wanted) < 2:
        return True
    width = len(wanted) + NAME_SLACK
    for text in texts(lexical.ids_with_all(tokens, PHRASE_CHECK)).values():
        words = [w.lower() for w in WORD_RE.findall(text)]
        hits = [(i, k) for i, w in enumerate(words) for k, want in enumerate(wanted) if w.startswith(want)]
        for start, _ in hits:
            if len({k for i, k in hits if start <= i < start + width}) == len(wanted):
                return True
    return False


def _proper(name: str) -> bool:
    """A proper name: every word but the function words capitalised ("Convention on Cybercrime",
    "European Arrest Warrant"; not "Aut dedere aut judicare", not "denunciation")."""
    content = [w for w in WORD_RE.findall(name) if w.lower() not in function_words()]
    return bool(content) and all(w[:1].isupper() or w[:1].isdigit() for w in content)


def features(plan: QueryPlan, passages: list[Passage], lexical, names,
             texts: Callable[[list[str]], dict[str, str]] | None = None) -> tuple[dict[str, float], dict[str, list[str]]]:
    """The decision's features (module docstring) and the terms behind ``unknown``/``unsupported``.
    ``texts``: chunk id -> text (title, heading and body) for the name check (:func:`name_in_index`)."""
    passages = passages[:SEEN]
    if not passages:
        return {f: 0.0 for f in FEATURES} | {"unknown": 1.0, "unsupported": 1.0}, {}
    similarity = max(p.similarity for p in passages)
    # lexical: IDF-weighted share of the question's words in one top passage
    idf = idf_weights(plan.question, lexical)
    total = sum(idf.values()) or 1.0
    lex = 0.0
    for p in passages[:TOP]:
        toks = passage_tokens(f"{p.title} {p.section} {p.text}")
        lex = max(lex, sum(w for t, w in idf.items() if t in toks) / total)
    # names: a mention is known when any of its names is a document's or occurs in a chunk
    mention_words: set[str] = set()
    name_unknown = 0.0
    unknown_phrases: list[str] = []
    unknown_names: list[str] = []
    terms = []
    for m in plan.mentions:
        if names.is_term(m):
            terms.append(m)  # "leave", "join": ordinary words of the question, with a legal synonym
            continue
        mention_words |= {w.lower() for w in WORD_RE.findall(m.surface)}
        # The words of a proper name ("European Arrest Warrant") stand together in a text that names
        # it; what the glossary writes in lower case ("aut dedere aut judicare") is described in
        # other words. A body is known by the instrument that founded it ("NATO" by the North
        # Atlantic Treaty, which never calls it so).
        proper = all(_proper(names.gloss.entries[e].name) for e in m.entries if e in names.gloss.entries)
        known = bool(m.docs) or bool(names.founding_docs(m)) or any(
            name_in_index(name, lexical, texts if proper else None) for name in [m.surface, *names.names_of(m)])
        if not known:
            name_unknown = 1.0
            unknown_names.append(m.surface)
    for phrase in names.instrument_phrases(plan.question):
        # "the 2019 Geneva Convention on Drone Policing": its words together nowhere in the index
        # (everyday words such as "current" or "new" describe, they do not name)
        tokens = tokenize(" ".join(w for w in WORD_RE.findall(phrase) if english_zipf(w.lower()) < DESCRIBING_ZIPF
                                   or KIND_RE.fullmatch(w)))
        if len(tokens) >= 2 and lexical.chunks_with_all(tokens) == 0 and not any(
                lexical.chunks_with_all(tokenize(n)) for n in _doc_names_within(phrase, names)):
            name_unknown = 1.0
            unknown_phrases.append(phrase)
    specific = [w for w in specific_terms(plan.question, lexical)
                if w.lower() not in mention_words and not COMPARE_RE.fullmatch(w)]
    named = names.name_tokens()
    unknown = [w for w in specific if not _known(w, lexical, named)]
    seen: set[str] = set()
    for p in passages:
        seen |= passage_tokens(f"{p.title} {p.section} {p.text}")
    # a passage mentions a word through its document's names: "hijacking" is in a passage of
    # the Hague Hijacking Convention, whose text says "unlawful seizure"
    for doc in dict.fromkeys(p.doc_id for p in passages[:TOP]):
        seen |= names.name_tokens(doc)
    vocab = Vocabulary(seen)
    # a term is held by a passage that uses any of its names ("join" by "accession")
    said = {w for m in terms if any(all(vocab.related(t) for t in tokenize(n)) for n in [m.surface, *names.names_of(m)])
            for w in WORD_RE.findall(m.surface)}
    unsupported = [w for w in specific if w not in unknown and w not in said and not _held(w, vocab)]
    # the words that make a question a comparison ("difference", "compared", "unlike") are its
    # form, as "what" and "which" are, not what it asks about
    content = [w for w in dict.fromkeys(WORD_RE.findall(plan.question)) if len(w) > 2
               and w.lower() not in QUESTION_WORDS and w.lower() not in function_words() and w.lower() not in mention_words
               and not COMPARE_RE.fullmatch(w)]
    c_unknown = [w for w in content if not _known(w, lexical, named)]
    c_unsupported = [w for w in content if w not in c_unknown and w not in said and not _held(w, vocab)]
    named_doc = 1.0 if any(p.doc_id in plan.focus_docs for p in passages[:TOP]) else 0.0
    type_missing = 0.0
    if plan.answer_type in {"duration", "date", "number"}:
        found = any(holds_answer(plan.answer_type, p.text[s:e]) for p in passages[:TOP]
                    for s, e in sentence_spans(p.text))
        type_missing = 0.0 if found else 1.0
    x = {
        "similarity": similarity,
        "lexical": lex,
        "unknown": len(unknown) / len(specific) if specific else 0.0,
        "unsupported": len(unsupported) / len(specific) if specific else 0.0,
        "name_unknown": name_unknown,
        "named_doc": named_doc,
        "type_missing": type_missing,
        "asks_now": 1.0 if NOW_RE.search(plan.question) else 0.0,
        # every content word, however common in English ("Germany", "laptop", "Crimea")
        "content_unknown": len(c_unknown) / len(content) if content else 0.0,
        "content_unsupported": len(c_unsupported) / len(content) if content else 0.0,
    }
    return x, {"unknown": unknown_phrases + unknown_names + unknown + c_unknown,
               "unsupported": list(dict.fromkeys(unsupported + c_unsupported))}


def _doc_names_within(phrase: str, names) -> list[str]:
    """Names of documents the phrase itself names ("the hijacking convention"), which may be
    worded differently from the document's text."""
    mentions = names.mentions(phrase)
    return [names.docs[d] for m in mentions for d in m.docs if d in names.docs] or \
        [n for m in mentions for n in names.names_of(m)]


def decide(plan: QueryPlan, passages: list[Passage], lexical, names, model: Model | None = None,
           threshold: float | None = None, texts: Callable[[list[str]], dict[str, str]] | None = None) -> Decision:
    """Answer, answer with a hedge, or abstain; with the reason in words when abstaining
    (``texts``: see :func:`features`)."""
    model = model or packaged_model()
    x, terms = features(plan, passages, lexical, names, texts)
    if not passages:
        return Decision(0.0, False, False, x, "nothing in the index matches the question", terms)
    p = model.probability(x)
    t = model.threshold if threshold is None else threshold
    answer = p >= t
    decision = Decision(round(p, 4), answer, answer and p < t + model.hedge, x, "", terms)
    if not answer:
        decision.reason = _reason(model, x, terms)
    return decision


def _reason(model: Model, x: dict[str, float], terms: dict[str, list[str]]) -> str:
    """The abstention in words, from the feature that pulled the probability down most."""
    contributions = model.contributions(x)
    worst = min(contributions, key=lambda f: contributions[f])

    def quoted(words: list[str]) -> str:
        return ", ".join(f"“{w}”" for w in list(dict.fromkeys(words))[:4])

    if worst in {"unknown", "name_unknown", "content_unknown"} and terms.get("unknown"):
        return "the sources never mention " + quoted(terms["unknown"])
    if worst in {"unsupported", "content_unsupported"} and terms.get("unsupported"):
        return "none of the passages found mention " + quoted(terms["unsupported"])
    if terms.get("unknown"):
        return "the sources never mention " + quoted(terms["unknown"])
    if worst == "type_missing":
        return "no passage found gives the kind of answer asked for"
    shown = math.floor(x["similarity"] * 100 + 1e-9) / 100
    return f"the passages found are too far from the question (best similarity {shown:.2f})"
