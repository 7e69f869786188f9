"""Extractive answers: the sentences of the retrieved passages that best answer the question,
each followed by its citation marker, or an abstention when the sources do not support one.

Nothing in an extractive answer is written by the assistant except the abstention notice:
every answer sentence is a verbatim span of a cited chunk, and that span is the citation's quote.
"""
from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .chunking import sentence_spans
from .lexical import LexicalIndex, Vocabulary, references, tokenize
from .retrieval import Retrieval
from .types import Answer, Citation, Passage

CACHE_SENTENCES = 20000  # sentence vectors kept between questions
PART_EXTRA_WORDS = 40  # a question that asks two things may get one sentence more, this much longer
ABSTAIN_TEXT = "The sources I have do not cover this question, so I cannot answer it from them."
PRONOUNS = re.compile(r"\b(it|its|it's|they|them|their|this|that|these|those|he|she|there|the same)\b", re.I)
FOLLOW_UP_START = re.compile(r"^(and|what about|how about|but|also|so|then|why|when|which|who)\b", re.I)
SPECIFIC_RE = re.compile(r"\b(\d{2,}|[A-Z][A-Za-z0-9’'-]{2,})\b")
# A name of several capitalised words ("Geneva Convention on Drone Policing").
NAME_RE = re.compile(
    r"\b[A-Z][\w’'-]*(?:\s+(?:(?:of|on|for|the|against|and|to|in)\s+)*[A-Z0-9][\w’'-]*)+"
)
# Where a question asks a second thing: ", and when was it presented?", " and where is it based?"
PART_RE = re.compile(r"(?:,\s*|\s+)and\s+(?=(?:what|how|which|when|where|who|whom|why|is|are|does|do|did|"
                     r"can|could|must|has|have|was|were)\b)", re.I)
# Capitalised only because they open a sentence: never the start of a name ("My ETIAS application").
LEADING_WORDS = {"my", "our", "your", "his", "her", "their", "its", "this", "that", "these", "those", "some",
                 "any", "all", "each", "every", "no", "one", "another", "since", "because", "while",
                 "although", "after", "before", "as", "we", "they", "it", "there", "besides", "apart",
                 "beyond", "aside", "unlike", "like", "despite", "given", "following", "during", "within",
                 "without", "between", "among", "regarding", "concerning", "across", "other", "once",
                 "so", "then", "also", "now", "still", "yet", "but", "or", "not", "only", "even"}
QUESTION_WORDS = {"what", "which", "who", "whom", "whose", "when", "where", "why", "how", "does",
                  "did", "do", "is", "are", "was", "were", "can", "could", "should", "would",
                  "will", "has", "have", "under", "and", "the", "tell", "explain", "list", "give",
                  "compare", "describe", "summarize", "summarise", "according", "if", "in", "on",
                  "for", "about", "a", "an", "i", "please", "whats", "what's"}
NOT_A_NAME_START = QUESTION_WORDS | LEADING_WORDS


@dataclass
class Candidate:
    passage_rank: int
    passage: Passage
    start: int
    end: int
    score: float = 0.0
    vector: np.ndarray | None = None

    @property
    def text(self) -> str:
        return self.passage.text[self.start : self.end]


def standalone_query(question: str, history: list[dict] | None) -> str:
    """Rule-based follow-up rewrite: a question that leans on earlier turns (pronouns, "and …",
    very short) borrows the last user question, so retrieval sees the entities it refers to.

    The new question comes first. A MiniLM vector of two joined questions leans towards the
    opening one (on the 28 follow-ups of dev and held-out: cosine 0.89 to the earlier question
    and 0.57 to the new one when the earlier comes first; 0.80 and 0.69 the other way round), and
    the answer's sentences are chosen by their similarity to that vector, so with the earlier
    question first they answered it again (key facts 0.61 against 0.75 on dev's follow-ups).
    """
    if not history:
        return question
    previous = [t.get("content", "") for t in history if t.get("role") == "user" and t.get("content")]
    if not previous:
        return question
    return f"{question} {previous[-1]}" if leans_on_history(question) else question


def leans_on_history(question: str) -> bool:
    """Does the question refer back (pronouns, "and …", very short)?"""
    return bool(PRONOUNS.search(question)) or bool(FOLLOW_UP_START.match(question)) or len(question.split()) < 6


def question_parts(question: str) -> list[str]:
    """The separate things a question asks, when it joins them with "and" + a question word.

    >>> question_parts("What replaced the EU Security Union Strategy, and when was it presented?")
    ['What replaced the EU Security Union Strategy', 'when was it presented']
    >>> question_parts("Which countries are permanent members of the UN Security Council?")
    ['Which countries are permanent members of the UN Security Council']
    """
    parts = [part.strip(" ,?") for part in PART_RE.split(question)]
    return [part for part in parts if len(part.split()) >= 3]


def specific_terms(question: str) -> list[str]:
    """Names and numbers of a question ("Iran", "2016", "PESCO"), not its question words."""
    out: list[str] = []
    for m in SPECIFIC_RE.finditer(question):
        word = m.group(1)
        before = question[: m.start()].rstrip()
        sentence_start = not before or before[-1] in ".?!:;\"“("
        if word.lower() in QUESTION_WORDS or (sentence_start and not word[0].isdigit()):
            continue
        parts = word.split("-")
        if any(part[:1].islower() for part in parts):
            # "EU-wide", "Anti-terrorism", "NATO-led": a common word, or an acronym with one;
            # only the acronym (all capitals) or a number is a name to look for.
            word = "-".join(part for part in parts if part.isupper() or part[:1].isdigit())
            if len(word) < 3:
                continue
        out.append(word)
    return list(dict.fromkeys(out))


@lru_cache(maxsize=4096)
def _mentions(text: str) -> tuple[frozenset[str], frozenset[str]]:
    """A passage's word tokens, and the runs of 2–5 initials of its words ("mla" for "mutual
    legal assistance"); cached, since the same passages come back question after question."""
    words = [w for w in re.findall(r"[A-Za-z]+", text) if len(w) > 2 or w[0].isupper()]
    firsts = "".join(w[0].lower() for w in words)
    initials = frozenset(firsts[i : i + n] for n in (2, 3, 4, 5) for i in range(len(firsts) - n + 1))
    return frozenset(tokenize(text)), initials


def unsupported_terms(question: str, passages: list[Passage]) -> list[str]:
    """Names and numbers of the question that none of the retrieved passages mention.

    The index knows them (else :func:`unknown_terms` applies) but not next to what was found:
    "Why did the EU sanction Iran over WannaCry?" retrieves the WannaCry sanctions, which name
    North Korea. An extractive answer would then answer a question that was not asked. An
    acronym counts as mentioned when a passage spells it out ("MLA": "mutual legal assistance").
    """
    terms = specific_terms(question)
    if not terms:
        return []
    tokens: set[str] = set()
    initials: set[str] = set()
    for p in passages:
        passage_tokens, passage_initials = _mentions(f"{p.title} {p.section} {p.text}")
        tokens |= passage_tokens
        initials |= passage_initials
    found = Vocabulary(tokens)
    out = []
    for word in terms:
        toks = tokenize(word)
        if not toks or all(found.variants(t) for t in toks):
            continue
        if word.isupper() and 2 <= len(word) <= 5 and word.lower() in initials:
            continue
        out.append(word)
    return out


def unknown_terms(question: str, lexical: LexicalIndex) -> list[str]:
    """Specific terms of the question (names, numbers) that occur nowhere in the index."""
    out: list[str] = []
    for word in specific_terms(question):
        tokens = tokenize(word)
        if tokens and not any(lexical.variants(t) for t in tokens):
            out.append(word)
    # Every word of a multi-word name must occur together in at least one chunk.
    for m in NAME_RE.finditer(question):
        words = m.group(0).split()
        while words and words[0].lower() in NOT_A_NAME_START:
            words = words[1:]
        capitals = [w for w in words if w[0].isupper() or w[0].isdigit()]
        tokens = tokenize(" ".join(words))
        if len(capitals) >= 2 and len(tokens) >= 2 and lexical.chunks_with_all(tokens) == 0:
            # "the UN Charter and the NPT" may be two names, each found on its own.
            parts = [tokenize(part) for part in re.split(r"\s+and\s+(?:the\s+)?", " ".join(words))]
            if len(parts) > 1 and all(part and lexical.chunks_with_all(part) > 0 for part in parts):
                continue
            out.append(" ".join(words))
    return list(dict.fromkeys(out))


class ExtractiveAnswerer:
    """Select answer sentences by similarity to the question and word overlap, then cite them."""

    def __init__(self, embeddings, threshold: float, max_sentences: int = 3, passages_used: int = 4,
                 keep_ratio: float = 0.8, max_words: int = 120) -> None:
        self.embeddings = embeddings
        self.threshold = threshold
        self.max_sentences = max_sentences
        self.passages_used = passages_used
        self.keep_ratio = keep_ratio  # a further sentence must score at least this share of the best
        self.max_words = max_words
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()

    # -- support gate --------------------------------------------------------------------
    def abstain_reason(self, question: str, passages: list[Passage], lexical: LexicalIndex) -> str | None:
        """Why the sources cannot support an answer, or None when they may."""
        if not passages:
            return "nothing in the index matches the question"
        best = max(p.similarity for p in passages)
        if best < self.threshold:
            # Rounded down, so 0.5396 under a 0.54 gate reads "0.53 < 0.54", not "0.54 < 0.54".
            shown = math.floor(best * 100 + 1e-9) / 100  # + 1e-9: 0.57 is stored as 0.5699…
            return f"the closest passage is too far from the question (similarity {shown:.2f} < {self.threshold:.2f})"
        unknown = unknown_terms(question, lexical)
        if unknown:
            return "the sources never mention " + ", ".join(f"“{u}”" for u in unknown[:3])
        unsupported = unsupported_terms(question, passages)
        if unsupported:
            return "none of the passages found mention " + ", ".join(f"“{u}”" for u in unsupported[:3])
        return None

    def abstention(self, question: str, passages: list[Passage], reason: str) -> Answer:
        nearest = list(OrderedDict((p.doc_id, p.title) for p in passages[:3] if p.title).values())
        text = ABSTAIN_TEXT + f" ({reason}.)"
        if nearest:
            text += " The nearest documents I found: " + "; ".join(nearest) + "."
        return Answer(question=question, text=text, citations=[], abstained=True, passages=passages,
                      abstain_reason=reason)

    # -- sentence selection --------------------------------------------------------------
    def _vectors(self, cands: list[Candidate]) -> None:
        """Sentence vectors, cached (least recently used out first) and shared by every thread."""
        keys = [f"{c.passage.chunk_id}:{c.start}" for c in cands]
        found: dict[str, np.ndarray] = {}
        with self._cache_lock:
            for key in keys:
                if key in self._cache:
                    self._cache.move_to_end(key)
                    found[key] = self._cache[key]
        todo = [i for i, key in enumerate(keys) if key not in found]
        if todo:
            vecs = self.embeddings.encode([cands[i].text for i in todo])
            with self._cache_lock:
                for i, vec in zip(todo, vecs):
                    found[keys[i]] = self._cache[keys[i]] = vec
                    while len(self._cache) > CACHE_SENTENCES:
                        self._cache.popitem(last=False)
        for cand, key in zip(cands, keys):
            cand.vector = found[key]

    def candidates(self, passages: list[Passage], spans: dict[str, list[tuple[int, int]]]) -> list[Candidate]:
        """Sentences of the top passages (stored spans; split afresh only when absent)."""
        out: list[Candidate] = []
        for rank, p in enumerate(passages[: self.passages_used]):
            spans_p = spans.get(p.chunk_id) or sentence_spans(p.text)
            for start, end in spans_p:
                sentence = p.text[start:end]
                if len(sentence.split()) >= 4 and sentence.count("|") < 2:
                    out.append(Candidate(rank, p, start, end))
        return out

    def score(self, question: str, qvec: np.ndarray, cands: list[Candidate], lexical: LexicalIndex) -> list[Candidate]:
        """Score every candidate against the question (``Candidate.score``). For a question that
        asks several things (:func:`question_parts`), return the best sentence for each part."""
        self._vectors(cands)
        context: dict[str, set[str]] = {}
        for c in cands:
            # A sentence inherits the words of its heading: it is "in Article 5" even if
            # it never says so.
            if c.passage.chunk_id not in context:
                context[c.passage.chunk_id] = set(tokenize(f"{c.passage.title} {c.passage.section}"))
        words = {id(c): set(tokenize(c.text)) | context[c.passage.chunk_id] for c in cands}
        refs = set(references(question))
        for c, value in zip(cands, self._scores(question, qvec, cands, words, lexical)):
            # The user named "Article 5": sentences under that heading are what they asked about.
            named = 0.15 if refs and refs & set(references(c.passage.section)) else 0.0
            c.score = value + named
        parts = question_parts(question)
        if len(parts) < 2:
            return []
        best: list[Candidate] = []
        for part, pvec in zip(parts, self.embeddings.encode(parts)):
            values = self._scores(part, pvec, cands, words, lexical)
            best.append(cands[int(np.argmax(values))])
        return best

    @staticmethod
    def _scores(question: str, qvec: np.ndarray, cands: list[Candidate], words: dict[int, set[str]],
                lexical: LexicalIndex) -> list[float]:
        """Similarity to ``qvec``, share of the question's rare words, passage similarity, rank."""
        n_docs = max(len(lexical), 1)
        idf = {t: math.log(1 + n_docs / (1 + lexical.document_frequency(t))) for t in set(tokenize(question))}
        total = sum(idf.values()) or 1.0
        out = []
        for c in cands:
            overlap = sum(w for t, w in idf.items() if t in words[id(c)]) / total
            cosine = float(np.dot(qvec, c.vector))
            out.append(0.45 * cosine + 0.35 * overlap + 0.2 * c.passage.similarity - 0.02 * c.passage_rank)
        return out

    def select(self, cands: list[Candidate], part_best: list[Candidate] | None = None) -> list[Candidate]:
        """The best sentences, then for each part of the question whose best sentence is not
        among them, that sentence (one more at most, and up to PART_EXTRA_WORDS more words)."""
        ranked = sorted(cands, key=lambda c: -c.score)
        chosen: list[Candidate] = []
        words = 0
        for c in ranked:
            if len(chosen) == self.max_sentences:
                break
            if chosen and c.score < self.keep_ratio * chosen[0].score:
                break
            if self._repeats(c, chosen):
                continue
            n = len(c.text.split())
            if chosen and words + n > self.max_words:
                continue
            chosen.append(c)
            words += n
        for c in part_best or []:
            n = len(c.text.split())
            if c not in chosen and not self._repeats(c, chosen) and words + n <= self.max_words + PART_EXTRA_WORDS:
                chosen.append(c)
                break
        return chosen

    @staticmethod
    def _repeats(c: Candidate, chosen: list[Candidate]) -> bool:
        return any(float(np.dot(c.vector, o.vector)) > 0.9 for o in chosen)

    def answer(self, question: str, retrieval: Retrieval, lexical: LexicalIndex) -> Answer:
        """Build the answer (or abstention) for ``question`` from a retrieval result."""
        passages, qvec = retrieval.passages, retrieval.query_vector
        reason = self.abstain_reason(question, passages, lexical)
        if reason:
            return self.abstention(question, passages, reason)
        cands = self.candidates(passages, retrieval.spans)
        if not cands:
            return self.abstention(question, passages, "the passages found hold no usable sentence")
        part_best = self.score(question, qvec, cands, lexical)
        chosen = self.select(cands, part_best)
        return compose(question, chosen, passages)


def compose(question: str, chosen: list[Candidate], passages: list[Passage]) -> Answer:
    """Write chosen sentences with markers; adjacent sentences of one chunk share a citation."""
    # Group adjacent sentences of one chunk (ordered by passage rank, then position).
    chosen = sorted(chosen, key=lambda c: (c.passage_rank, c.start))
    groups: list[list[Candidate]] = []
    for c in chosen:
        last = groups[-1][-1] if groups else None
        gap = c.passage.text[last.end : c.start] if last and last.passage is c.passage else None
        if gap is not None and gap.strip() == "":
            groups[-1].append(c)
        else:
            groups.append([c])
    # The best-supported sentence leads; markers are numbered in reading order.
    groups.sort(key=lambda g: -max(c.score for c in g))
    parts: list[str] = []
    citations: list[Citation] = []
    for marker, group in enumerate(groups, 1):
        p = group[0].passage
        quote = p.text[group[0].start : group[-1].end]
        parts.append(f"{' '.join(quote.split())} [{marker}]")
        citations.append(
            Citation(
                marker=marker, doc_id=p.doc_id, title=p.title, section=p.section, url=p.url,
                quote=quote, chunk_id=p.chunk_id, score=round(max(c.score for c in group), 4),
                issuer=p.issuer, adopted=p.adopted, page=p.page,
            )
        )
    return Answer(question=question, text=" ".join(parts), citations=citations, abstained=False, passages=passages)

