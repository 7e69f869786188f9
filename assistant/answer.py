"""Extractive answers: the sentences of the retrieved passages that best answer the question,
each followed by its citation marker; for a comparison, one part per instrument.

Nothing in an extractive answer is written by the assistant except the abstention notice and,
for a comparison, the name of each side: every answer sentence is a verbatim span of a cited
chunk, and that span is the citation's quote.
"""
from __future__ import annotations

import copy
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from cachetools import LRUCache

from .chunking import LEAD_IN_RE, LIST_ITEM_RE, sentence_spans
from .lexical import idf_weights, references, tokenize
from .planning import QueryPlan, answer_type, defines, holds_answer, leans_on_history, question_parts, standalone_query  # noqa: F401
from .retrieval import Retrieval
from .settings import default
from .types import Answer, AnswerPart, Citation, Passage

CACHE_SENTENCES = 20000  # sentence vectors an answerer keeps between questions (~30 MB), least recently used out
PROVISION_WORDS = 220  # a question that asks what a provision says is answered with up to this much of it
PART_EXTRA_WORDS = 40  # a question that asks two things may get one sentence more, this much longer
LIST_EXTRA_WORDS = 60  # a quoted list may run this much over the budget to be whole (lead-in and items)
ABSTAIN_TEXT = "The sources I have do not cover this question, so I cannot answer it from them."
HEDGE_NOTICE = "The sources may answer this only in part: check the quotes."
# Bonuses and penalties on a sentence's score (the base score is in [0, 1]):
NAMED_BONUS = 0.15  # it sits under, or itself names, the provision the question names
# it opens the provision the question names: a legal text states an article's rule in its first
# paragraph and qualifies it in the next ("paragraph 1 shall not apply where …")
# (chosen on a grid over realdocs-dev and dev: docs/evaluation.md)
OPENING_BONUS = 0.1
# At most this many sentences of the chunks read around the passages (their provisions) are
# scored, those sharing most of the question's rare words: each costs a sentence vector.
SIBLING_SENTENCES = 12
TYPE_BONUS = 0.08  # it holds the kind of answer asked for (a period for "how long", a body for "who")
# it defines the term a definition question asks about (“proceeds” means …): it is the answer
DEFINES_BONUS = 0.3
# it is from a document the question names, not from one that cites it ("Hague 1970" quoted by
# ETS 90); the best of a grid on the development sets, no loss on heldout (docs/measurements.md)
DOC_BONUS = 0.2
ANAPHORA_PENALTY = 0.04  # it opens with "This"/"Such"/"Following these" and its subject is elsewhere
ANAPHORA_RE = re.compile(r"^\W*(?:this|these|those|such|it|they|following (?:this|these|that)|the same|thereafter|"
                         r"in that case|in such (?:a )?cases?)\b", re.I)
# "… what measures are to be employed. These may include complete or partial interruption of …":
# a sentence that lists what the one before it names is that sentence's list (a lead-in in prose)
ELABORATION_RE = re.compile(r"^\W*(?:these|those|such \w+|they|this|it)\s+(?:may|shall|will|can|must)?\s*"
                            r"(?:also\s+)?(?:include|includes|comprise|comprises|consist|consists|cover|covers)\b", re.I)


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


class ExtractiveAnswerer:
    """Select answer sentences by similarity to the question, word overlap, the provision named
    and the kind of answer asked for, then cite them."""

    def __init__(self, embeddings, max_sentences: int = default("answer_max_sentences"),
                 passages_used: int = default("answer_passages"), keep_ratio: float = default("answer_keep_ratio"),
                 max_words: int = default("answer_max_words"),
                 side_sentences: int = default("comparison_side_sentences")) -> None:
        self.embeddings = embeddings
        self.max_sentences = max_sentences
        self.passages_used = passages_used
        self.keep_ratio = keep_ratio  # a further sentence must score at least this share of the best
        self.max_words = max_words
        self.side_sentences = side_sentences  # sentences per side of a comparison
        self._cache: LRUCache[str, np.ndarray] = LRUCache(maxsize=CACHE_SENTENCES)
        self._cache_lock = threading.Lock()

    def clear_cache(self) -> None:
        """Forget the cached sentence vectors (a bench measuring answers from a cold cache)."""
        with self._cache_lock:
            self._cache.clear()

    def reshaped(self, **shape) -> "ExtractiveAnswerer":
        """This answerer with another answer shape (``max_sentences``, ``passages_used``,
        ``keep_ratio``, ``max_words``, ``side_sentences``), sharing its cache of sentence vectors (for tuning)."""
        other = copy.copy(self)
        for name, value in shape.items():
            if name not in {"max_sentences", "passages_used", "keep_ratio", "max_words", "side_sentences"}:
                raise TypeError(f"not an answer shape setting: {name}")
            setattr(other, name, value)
        return other

    def abstention(self, question: str, passages: list[Passage], reason: str) -> Answer:
        """The refusal, with the reason and the nearest documents."""
        nearest = list(OrderedDict((p.doc_id, p.title) for p in passages[:3] if p.title).values())
        text = ABSTAIN_TEXT + f" ({reason}.)"
        if nearest:
            text += " The nearest documents I found: " + "; ".join(nearest) + "."
        return Answer(question=question, text=text, citations=[], abstained=True, passages=passages,
                      abstain_reason=reason)

    def correction(self, question: str, conflict, passages: list[Passage]) -> Answer:
        """The answer to a question whose premise a passage contradicts: that passage's sentence,
        quoted and cited (``abstained`` is True: the question as asked has no answer in the sources)."""
        p = conflict.passage
        quote = p.text[conflict.start:conflict.end]
        claim = f"“{conflict.claim}”"
        reason = f"a passage contradicts the question's premise ({claim})"
        if conflict.kind == "rule":
            reason = f"the sources state the rule, not the event the question asks about ({claim})"
        lead = {"quantity": f"The sources give a different figure from {claim}",
                "date": f"The sources give a different date from {claim}",
                "rule": "The sources give the rule, not whether or when it happened"}.get(
                    conflict.kind, f"The sources say otherwise about {claim}")
        text = f"{lead}: {' '.join(quote.split())} [1]"
        citation = Citation(marker=1, doc_id=p.doc_id, title=p.title, section=p.section, url=p.url, quote=quote,
                            chunk_id=p.chunk_id, score=round(p.score, 4), issuer=p.issuer, adopted=p.adopted,
                            page=p.page, reviewed=p.reviewed or None)
        return Answer(question=question, text=text, citations=[citation], abstained=True, passages=passages,
                      abstain_reason=reason)

    # -- sentence selection --------------------------------------------------------------
    def _vectors(self, cands: list[Candidate]) -> None:
        """Sentence vectors, cached (least recently used out first) and shared by every thread."""
        keys = [f"{c.passage.chunk_id}:{c.start}" for c in cands]
        found: dict[str, np.ndarray] = {}
        with self._cache_lock:  # cachetools' caches are not thread-safe
            for key in keys:
                vec = self._cache.get(key)  # a hit becomes the most recently used
                if vec is not None:
                    found[key] = vec
        todo = [i for i, key in enumerate(keys) if key not in found]
        if todo:
            vecs = self.embeddings.encode([cands[i].text for i in todo])
            with self._cache_lock:
                for i, vec in zip(todo, vecs):
                    found[keys[i]] = self._cache[keys[i]] = vec
        for cand, key in zip(cands, keys):
            cand.vector = found[key]

    def candidates(self, passages: list[Passage], spans: dict[str, list[tuple[int, int]]],
                   n: int | None = None, provisions: dict[str, list[Passage]] | None = None) -> list[Candidate]:
        """Sentences of the top passages (stored spans; split afresh only when absent) and of the
        chunks of their provisions around them (``provisions``), which take the passage's rank."""
        top = passages[: n or self.passages_used]
        retrieved = {p.chunk_id for p in top}
        seen: set[str] = set()
        out: list[Candidate] = []
        for rank, p in enumerate(top):
            group = (provisions or {}).get(p.chunk_id) or [p]
            for q in group:
                if q.chunk_id in seen or (q is not p and q.chunk_id in retrieved):
                    continue  # a retrieved chunk counts under its own rank
                seen.add(q.chunk_id)
                for start, end in spans.get(q.chunk_id) or sentence_spans(q.text):
                    sentence = q.text[start:end]
                    if len(sentence.split()) >= 4 and sentence.count("|") < 2:
                        out.append(Candidate(rank, q, start, end))
        return out

    def score(self, plan: QueryPlan, qvec: np.ndarray, cands: list[Candidate], lexical,
              openings: set[str] | frozenset[str] = frozenset()) -> list[Candidate]:
        """Score every candidate (``Candidate.score``); for a question that asks several things,
        return the best sentence for each part."""
        self._vectors(cands)
        context: dict[str, set[str]] = {}
        for c in cands:
            # A sentence inherits the words of its heading: it is "in Article 5" even if it never says so.
            if c.passage.chunk_id not in context:
                context[c.passage.chunk_id] = set(tokenize(f"{c.passage.title} {c.passage.section}"))
        words = {id(c): set(tokenize(c.text)) | context[c.passage.chunk_id] for c in cands}
        refs = set(plan.refs)
        # a question that asks several things asks for each part's own kind of answer ("how many
        # judges … and how long are their terms": a number, then a period)
        kinds = [answer_type(part) for part in plan.parts] if len(plan.parts) >= 2 else [plan.answer_type]
        kinds = [k for k in dict.fromkeys(kinds) if k not in {"other", "yes-no"}]
        bonus: dict[int, float] = {}
        for c, value in zip(cands, self._scores(plan.question, qvec, cands, words, lexical)):
            named = 0.0
            if refs:
                heading = set(references(c.passage.section))
                # under the provision named, or naming it from a passage under no other provision
                # of the same kind ("the documents mentioned in Article 12", said in Article 16, is
                # a cross-reference, not Article 12)
                if refs & heading or (refs & set(references(c.text))
                                      and not {kind for kind, _ in heading} & {kind for kind, _ in refs}):
                    named = NAMED_BONUS
                if refs & heading and c.passage.chunk_id in openings:
                    named += OPENING_BONUS
            kind = TYPE_BONUS if any(holds_answer(k, c.text) for k in kinds) else 0.0
            if plan.term and defines(plan.term, c.text):
                kind += DEFINES_BONUS
            anaphora = ANAPHORA_PENALTY if ANAPHORA_RE.match(c.text) else 0.0
            own = DOC_BONUS if c.passage.doc_id in plan.focus_docs else 0.0
            c.score = value + named + kind + own - anaphora
            bonus[id(c)] = named + own - anaphora
        if len(plan.parts) < 2:
            return []
        best: list[Candidate] = []
        for part, pvec in zip(plan.parts, self.embeddings.encode(plan.parts)):
            asked = answer_type(part)
            typed = asked not in {"other", "yes-no"}
            values = [v + bonus[id(c)] + (TYPE_BONUS if typed and holds_answer(asked, c.text) else 0.0)
                      for c, v in zip(cands, self._scores(part, pvec, cands, words, lexical))]
            best.append(cands[int(np.argmax(values))])
        return best

    @staticmethod
    def _idf(question: str, lexical) -> tuple[dict[str, float], float]:
        """The question's words with their inverse document frequencies, and their sum."""
        idf = idf_weights(question, lexical)
        return idf, sum(idf.values()) or 1.0

    def _trim(self, question: str, cands: list[Candidate], passages: list[Passage], lexical) -> list[Candidate]:
        """Every sentence of a retrieved passage, and of the chunks read around them (their
        provisions) only the SIBLING_SENTENCES that share most of the question's rare words (a long
        article would otherwise cost a sentence vector for each of its paragraphs)."""
        retrieved = {p.chunk_id for p in passages}
        siblings = [c for c in cands if c.passage.chunk_id not in retrieved]
        if len(siblings) <= SIBLING_SENTENCES:
            return cands
        idf, _ = self._idf(question, lexical)
        heads: dict[str, set[str]] = {}

        def overlap(c: Candidate) -> float:
            if c.passage.chunk_id not in heads:
                heads[c.passage.chunk_id] = set(tokenize(f"{c.passage.title} {c.passage.section}"))
            own = set(tokenize(c.text)) | heads[c.passage.chunk_id]
            return sum(w for t, w in idf.items() if t in own)

        keep = {id(c) for c in sorted(siblings, key=overlap, reverse=True)[:SIBLING_SENTENCES]}
        return [c for c in cands if c.passage.chunk_id in retrieved or id(c) in keep]

    @classmethod
    def _scores(cls, question: str, qvec: np.ndarray, cands: list[Candidate], words: dict[int, set[str]],
                lexical) -> list[float]:
        """Similarity to ``qvec``, share of the question's rare words, passage similarity, rank."""
        idf, total = cls._idf(question, lexical)
        out = []
        for c in cands:
            overlap = sum(w for t, w in idf.items() if t in words[id(c)]) / total
            cosine = float(np.dot(qvec, c.vector))
            out.append(0.45 * cosine + 0.35 * overlap + 0.2 * c.passage.similarity - 0.02 * c.passage_rank)
        return out

    def select(self, cands: list[Candidate], part_best: list[Candidate] | None = None,
               max_sentences: int | None = None, max_words: int | None = None) -> list[Candidate]:
        """The best sentences, then for each part of the question whose best sentence is not
        among them, that sentence (one more at most, and up to PART_EXTRA_WORDS more words)."""
        limit = max_sentences or self.max_sentences
        budget = max_words or self.max_words
        ranked = sorted(cands, key=lambda c: -c.score)
        chosen: list[Candidate] = []
        words = 0
        for c in ranked:
            if len(chosen) == limit:
                break
            if chosen and c.score < self.keep_ratio * chosen[0].score:
                break
            if self._repeats(c, chosen):
                continue
            n = len(c.text.split())
            if chosen and words + n > budget:
                continue
            chosen.append(c)
            words += n
        for c in part_best or []:
            n = len(c.text.split())
            if c not in chosen and not self._repeats(c, chosen) and words + n <= budget + PART_EXTRA_WORDS:
                chosen.append(c)
                break
        return chosen

    @staticmethod
    def _repeats(c: Candidate, chosen: list[Candidate]) -> bool:
        return any(float(np.dot(c.vector, o.vector)) > 0.9 or (o.passage is c.passage and o.start == c.start)
                   for o in chosen)

    def _pick(self, plan: QueryPlan, retrieval: Retrieval, lexical, n_passages: int | None = None,
              max_sentences: int | None = None, max_words: int | None = None) -> list[Candidate]:
        cands = self.candidates(retrieval.passages, retrieval.spans, n_passages, retrieval.provisions)
        cands = self._trim(plan.question, cands, retrieval.passages, lexical)
        if not cands:
            return []
        qvec = retrieval.query_vector
        if plan.query != plan.question:
            # a follow-up was searched with the question it leans on; what it asks now is its own
            qvec = np.asarray(self.embeddings.encode([plan.question])[0], dtype=np.float32)
        part_best = self.score(plan, qvec, cands, lexical, retrieval.openings)
        return self.select(cands, part_best, max_sentences, max_words)

    def answer(self, plan: QueryPlan, retrieval: Retrieval, lexical, hedge: bool = False, denial=None) -> Answer:
        """The answer to a question the decision stage let through. ``denial`` (a yes/no question's
        :class:`assistant.premise.Conflict`) is the sentence that says no: it leads, after "No."."""
        whole = self._provision(plan, retrieval) if asks_whole_provision(plan) else []
        budget = max(self.max_words, PROVISION_WORDS) if whole else self.max_words
        chosen = whole or self._pick(plan, retrieval, lexical)
        if not chosen:
            return self.abstention(plan.question, retrieval.passages, "the passages found hold no usable sentence")
        lead = None
        if denial is not None:
            cands = self.candidates(retrieval.passages, retrieval.spans)
            lead = next((c for c in cands if c.passage is denial.passage and c.start < denial.end
                         and denial.start < c.end), None)
        if lead is not None:
            self._vectors([lead])
            top = max(c.score for c in chosen)
            chosen = [lead] + [c for c in chosen if not (c.passage is lead.passage and c.start == lead.start)]
            lead.score = top + 1.0  # compose puts the best-supported unit first
            chosen = chosen[:self.max_sentences]
        answer = compose(plan.question, chosen, retrieval.passages, retrieval.spans, budget + PART_EXTRA_WORDS,
                         provisions=retrieval.provisions)
        if lead is not None:
            answer.text = "No. " + answer.text
        if hedge:
            answer.notice = HEDGE_NOTICE
        return answer

    def _provision(self, plan: QueryPlan, retrieval: Retrieval) -> list[Candidate]:
        """The sentences of the provision a question names, in the order of the text, up to
        ``PROVISION_WORDS`` ("what does art 20 of the CCM say?" is answered by Article 20 itself);
        [] when the passages found do not hold it."""
        from .chunking import chunk_position

        refs = set(plan.refs)
        cands = [c for c in self.candidates(retrieval.passages, retrieval.spans, None, retrieval.provisions)
                 if c.passage.doc_id in plan.focus_docs and refs & set(references(c.passage.section))]
        cands.sort(key=lambda c: (chunk_position(c.passage.chunk_id) or 0, c.start))
        out: list[Candidate] = []
        words, seen = 0, set()
        for c in cands:
            # chunks overlap: a sentence that ends one opens the next (a partial overlap, "c. …
            # and d. …", is trimmed where every answer's is, in compose)
            key = " ".join(c.text.split())
            n = len(c.text.split())
            if key in seen or (out and words + n > PROVISION_WORDS):
                continue
            seen.add(key)
            out.append(c)
            words += n
        if out:
            self._vectors(out)
            for i, c in enumerate(out):
                c.score = float(len(out) - i)  # compose keeps the text's order
        return out

    def compare(self, plan: QueryPlan, sides: list[tuple[str, QueryPlan, Retrieval]], lexical,
                passages: list[Passage], hedge: bool = False) -> Answer:
        """One part per subject, each from passages retrieved within it, markers numbered across
        the whole answer; a side with nothing found says so (no marker)."""
        per_side = max(50, self.max_words // max(len(sides), 1) + 20) * self.side_sentences // 2
        citations: list[Citation] = []
        parts: list[AnswerPart] = []
        texts: list[str] = []
        for label, side_plan, retrieval in sides:
            chosen = self._pick(side_plan, retrieval, lexical, n_passages=2, max_sentences=self.side_sentences,
                                max_words=per_side)
            if not chosen:
                parts.append(AnswerPart(subject=label, text="(nothing found on this in the sources)", citations=[]))
                texts.append(f"{label}: nothing found on this in the sources.")
                continue
            sub = compose(side_plan.question, chosen, retrieval.passages, retrieval.spans, per_side + 20,
                          first_marker=len(citations) + 1, provisions=retrieval.provisions)
            citations += sub.citations
            cited = {c.chunk_id for c in sub.citations}
            passages = passages + [q for q in sub.passages if q.chunk_id in cited
                                   and q.chunk_id not in {x.chunk_id for x in passages}]
            parts.append(AnswerPart(subject=label, text=sub.text, citations=sub.citations))
            texts.append(f"{label}: {sub.text}")
        if not citations:
            return self.abstention(plan.question, passages, "no passage found for any side of the comparison")
        answer = Answer(question=plan.question, text=" ".join(texts), citations=citations, abstained=False,
                        passages=passages, parts=parts)
        if hedge:
            answer.notice = HEDGE_NOTICE
        return answer


def _extend(c: Candidate, spans: list[tuple[int, int]], budget: int) -> tuple[int, int]:
    """A chosen sentence's quoted span, made whole: a list item gets its lead-in, a lead-in its
    items, a sentence that opens with "This"/"Such" the sentence before it, and a sentence followed
    by one that lists what it names ("These may include …") that sentence (within ``budget`` words)."""
    text = c.passage.text
    start, end = c.start, c.end
    try:
        i = spans.index((c.start, c.end))
    except ValueError:
        return start, end

    def words(s: int, e: int) -> int:
        return len(text[s:e].split())

    def at(j: int) -> str:
        return text[spans[j][0] : spans[j][1]]

    sentence = at(i)
    if i > 0 and LIST_ITEM_RE.match(sentence) and not _DEFINING_ITEM_RE.match(sentence):
        j = _lead_in_index([at(x) for x in range(i + 1)], i)  # back over the sibling items to the lead-in
        if j is not None and j >= 0 and words(spans[j][0], end) <= budget + LIST_EXTRA_WORDS:
            start = spans[j][0]
    elif i > 0 and ANAPHORA_RE.match(sentence) and words(spans[i - 1][0], end) <= budget:
        start = spans[i - 1][0]
    if i + 1 < len(spans) and ELABORATION_RE.match(at(i + 1)) and words(start, spans[i + 1][1]) <= budget:
        end = spans[i + 1][1]
    elif LEAD_IN_RE.search(sentence):
        k = i + 1
        while (k < len(spans) and LIST_ITEM_RE.match(text[spans[k][0] : spans[k][1]])
               and words(start, spans[k][1]) <= budget + LIST_EXTRA_WORDS):
            end = spans[k][1]
            k += 1
    return start, end


# a lead-in and its first item split as one sentence: "… except in the following cases: (a) When …"
_INLINE_LEAD_IN_RE = re.compile(r":\s*(?:\(?[a-z]\)|\(?[ivx]{1,4}\)|[a-z]\.)\s*\S", re.I)
# a list item that defines a term is whole by itself: "a. ‘‘proceeds’’ means any economic advantage …"
_DEFINING_ITEM_RE = re.compile(r"^\W{0,2}\S{1,5}\s*[‘“\"'][^’”\"']{1,80}[’”\"'].{0,80}?\b(?:shall\s+)?means?\b")
_MARKER_RE = re.compile(r"^\W{0,2}?(\(?)([a-z]|[ivx]{2,4}|\d{1,2})([.)])", re.I)


def _style(sentence: str) -> tuple[str, str, str] | None:
    """A list item's marker style: (kind: letter, roman or digit; opening bracket; closing mark),
    so that "(b)" and "(a)" are siblings and "(ii)" or "2." are not; None for no marker."""
    m = _MARKER_RE.match(sentence.lstrip()) if LIST_ITEM_RE.match(sentence) else None
    if not m:
        return None
    label = m.group(2).lower()
    kind = "digit" if label.isdigit() else "roman" if (len(label) > 1 or label == "i") else "letter"
    return kind, m.group(1), m.group(3)


def _first_item(sentence: str) -> bool:
    m = _MARKER_RE.match(sentence.lstrip())
    return bool(m) and m.group(2).lower() in {"a", "i", "1"}


def _is_lead_in(sentence: str) -> bool:
    return bool(LEAD_IN_RE.search(sentence) or _INLINE_LEAD_IN_RE.search(sentence))


def _lead_in_index(texts: list[str], k: int) -> int | None:
    """Where the lead-in of the list item ``texts[k]`` is among the sentences before it: its
    index; -1 when the sentences run out before it (it may end the chunk before); None when it
    has none (a numbered paragraph, or the list's first item with no lead-in before it). The walk
    passes sibling items and the further sentences of an item; a sibling's own lead-in (an item
    that opens a sub-list) is not the item's."""
    own = _style(texts[k])
    if own is None:
        return None
    if _first_item(texts[k]):
        return (k - 1 if _is_lead_in(texts[k - 1]) else None) if k > 0 else -1
    for j in range(k - 1, -1, -1):
        st = _style(texts[j])
        if st == own:
            if _first_item(texts[j]):
                return (j - 1 if _is_lead_in(texts[j - 1]) else None) if j > 0 else -1
            continue
        if _is_lead_in(texts[j]):
            return j
        if st is not None and st[0] == "digit" and own[0] != "digit":
            return None
    return -1


def _words(text: str) -> int:
    return len(text.split())


def _items_from_start(p: Passage, own: list[tuple[int, int]], lead: str, room: int) -> tuple[int, int] | None:
    """The list items that open chunk ``p``, the rest of the list whose lead-in (``lead``) ends
    the chunk before: up to a sentence marked as the lead-in itself is (its sibling) or the next
    numbered paragraph, within ``room`` words; None when it opens with no item or none fits."""
    if not own or not LIST_ITEM_RE.match(p.text[own[0][0]:own[0][1]]):
        return None
    items = _style(p.text[own[0][0]:own[0][1]])
    stop = _style(lead)
    end = None
    for k, (s, e) in enumerate(own):
        st = _style(p.text[s:e])
        if k and st is not None and (st == stop or (st[0] == "digit" and items and items[0] != "digit")):
            break  # the list is over: the lead-in's sibling, or the provision's next paragraph
        if _words(p.text[own[0][0]:e]) > room:
            break
        end = e
    return None if end is None else (own[0][0], end)


def _across(p: Passage, s: int, e: int, spans: dict[str, list[tuple[int, int]]],
            chain: dict[str, tuple[list[Passage], int]], budget: int) -> tuple[tuple | None, tuple | None]:
    """What the unit ``p[s:e]`` needs from elsewhere so that no list is cut: (the lead-in of the
    list item it opens with, when the unit does not hold it: from the same chunk, as a quote of its
    own, or from the end of the chunk before in its provision; the items that follow the lead-in
    it holds in the chunk after, when the unit reaches its chunk's end). Each is
    (passage, start, end) or None. ``chain``: each chunk's provision and place in it."""
    own = spans.get(p.chunk_id) or sentence_spans(p.text)
    inside = [(a, b) for a, b in own if a >= s and b <= e]
    if not inside:
        return None, None
    group, i = chain.get(p.chunk_id, ([p], 0))
    room = budget - _words(p.text[s:e])
    before = after = None
    first = p.text[inside[0][0]:inside[0][1]]
    if LIST_ITEM_RE.match(first) and not _DEFINING_ITEM_RE.match(first):
        # the lead-in of the item the unit opens with: in this chunk (quoted on its own when the
        # stretch between is too long), or, when the chunk opens inside the list, the chunk before
        k = own.index(inside[0])
        texts = [p.text[a:b] for a, b in own[: k + 1]]
        j = _lead_in_index(texts, k)
        if j is not None and j >= 0 and _words(texts[j]) <= room:
            before = (p, *own[j])
        elif j == -1 and i > 0:
            prev = group[i - 1]
            back = spans.get(prev.chunk_id) or sentence_spans(prev.text)
            texts = [prev.text[a:b] for a, b in back] + [first]
            j = _lead_in_index(texts, len(back))
            if j is not None and j >= 0 and _words(texts[j]) <= room:
                before = (prev, *back[j])
        if before:
            room -= _words(before[0].text[before[1]:before[2]])
    leads = [p.text[a:b] for a, b in inside if _is_lead_in(p.text[a:b])]
    if i + 1 < len(group) and not p.text[e:].strip() and leads:
        nxt = group[i + 1]
        found = _items_from_start(nxt, spans.get(nxt.chunk_id) or sentence_spans(nxt.text), leads[-1], room)
        after = (nxt, *found) if found else None
    return before, after


def compose(question: str, chosen: list[Candidate], passages: list[Passage],
            spans: dict[str, list[tuple[int, int]]] | None = None, budget: int = 160,
            first_marker: int = 1, provisions: dict[str, list[Passage]] | None = None) -> Answer:
    """Write chosen sentences with markers; adjacent sentences of one chunk share a citation.

    A list item is quoted with its lead-in and a lead-in with its items, so no list is cut; a
    sentence that opens with "This"/"Such" brings the sentence before it. Where a list runs over
    two chunks of one provision (``provisions``: :attr:`Retrieval.provisions`), its other part is
    quoted from the other chunk, cited next to it.
    """
    spans = spans or {}
    # Extend each sentence to a whole unit, then merge overlapping/adjacent ones of a chunk.
    units: list[tuple[Candidate, int, int]] = []
    for c in chosen:
        own = spans.get(c.passage.chunk_id) or sentence_spans(c.passage.text)
        s, e = _extend(c, own, budget)
        units.append((c, s, e))
    units.sort(key=lambda u: (u[0].passage_rank, u[1]))
    groups: list[list] = []  # [passage, start, end, best score]
    for c, s, e in units:
        last = groups[-1] if groups else None
        if last and last[0] is c.passage and (s <= last[2] or c.passage.text[last[2] : s].strip() == ""):
            last[2] = max(last[2], e)
            last[3] = max(last[3], c.score)
        else:
            groups.append([c.passage, s, e, c.score])
    # The best-supported unit leads; markers are numbered in reading order.
    groups.sort(key=lambda g: -g[3])
    chain: dict[str, tuple[list[Passage], int]] = {}
    for group in (provisions or {}).values():
        for i, q in enumerate(group):
            chain.setdefault(q.chunk_id, (group, i))
    ordered: list[list] = []
    taken: set[int] = set()

    def join(seg: tuple | None, score: float, widen: bool) -> list[list]:
        """The group that quotes ``seg`` (the lead-in before a unit, or the items after it): a
        new one; for items, a chosen group of that chunk that touches them, widened; none when a
        chosen group holds a lead-in (it is quoted there: the unit's own sentence stays first)
        or a group already written holds the items."""
        if seg is None:
            return []
        q, s2, e2 = seg
        for k, g in enumerate(groups):
            if g[0].chunk_id == q.chunk_id and s2 <= g[2] and g[1] <= e2:
                if k in taken or not widen:
                    return []
                taken.add(k)
                g[1], g[2] = min(g[1], s2), max(g[2], e2)
                return [g]
        if any(g[0].chunk_id == q.chunk_id and s2 < g[2] and g[1] < e2 for g in ordered):
            return []  # already quoted for another unit (two items of one list share a lead-in)
        return [[q, s2, e2, score]]

    for k, g in enumerate(groups):
        if k in taken:
            continue
        taken.add(k)
        before, after = _across(g[0], g[1], g[2], spans, chain, budget + LIST_EXTRA_WORDS)
        ordered += join(before, g[3], False) + [g] + join(after, g[3], True)
    # chunks overlap: a unit that opens with what an earlier one ended with (a list item at the
    # end of one chunk and the start of the next) is quoted from where the earlier one stopped,
    # and one an earlier unit holds whole is not quoted again: no text twice
    written: list[list[str]] = []
    kept: list[list] = []
    for p, s, e, score in ordered:
        tokens = [(m.start(), m.group(0)) for m in re.finditer(r"\S+", p.text[s:e])]
        words = [w for _, w in tokens]
        if not words or any(_holds_run(prior, words) for prior in written):
            continue
        skip = max((k for prior in written for k in range(min(len(prior), len(words)), MIN_OVERLAP - 1, -1)
                    if prior[-k:] == words[:k]), default=0)
        if skip:
            s += tokens[skip][0] if skip < len(tokens) else e - s
            words = words[skip:]
        if words:
            written.append(words)
            kept.append([p, s, e, score])
    ordered = kept
    parts: list[str] = []
    citations: list[Citation] = []
    for marker, (p, s, e, score) in enumerate(ordered, first_marker):
        quote = p.text[s:e]
        parts.append(f"{' '.join(quote.split())} [{marker}]")
        citations.append(
            Citation(
                marker=marker, doc_id=p.doc_id, title=p.title, section=p.section, url=p.url,
                quote=quote, chunk_id=p.chunk_id, score=round(score, 4),
                issuer=p.issuer, adopted=p.adopted, page=p.page, reviewed=p.reviewed or None,
            )
        )
    # a sentence may come from a chunk read around a retrieved passage (its provision): that chunk
    # joins the passages, after the retrieved ones, so every citation's chunk is among them
    held = {p.chunk_id for p in passages}
    read = [g[0] for g in ordered if g[0].chunk_id not in held]
    passages = passages + list({p.chunk_id: p for p in read}.values())
    return Answer(question=question, text=" ".join(parts), citations=citations, abstained=False, passages=passages)


MIN_OVERLAP = 5  # words a unit must repeat from the end of an earlier one to be read as the overlap of two chunks


def _holds_run(prior: list[str], words: list[str]) -> bool:
    """Does ``prior`` hold ``words`` as one run (the same text quoted again)?"""
    n = len(words)
    return n <= len(prior) and any(prior[i:i + n] == words for i in range(len(prior) - n + 1))


# the words of a question that asks only what a provision says ("what does art 20 of the CCM
# say?", "art 3 of ETS 98 - what does it add?"): its topic holds nothing else
SAYING_RE = re.compile(r"(?:what|which|does|do|did|is|are|it|its|in|of|the|that|this|article|provision|"
                       r"say|says|provide|provides|state|states|contain|contains|cover|covers|add|adds|set|sets|"
                       r"out|lay|lays|down|require|requires|establish|establishes|mean|means|exactly|actually|"
                       r"whats|tell|me|about)", re.I)


def asks_whole_provision(plan: QueryPlan) -> bool:
    """Does the question name one provision of one document and ask only what it says?"""
    if len(plan.refs) != 1 or len(plan.focus_docs) != 1 or plan.is_comparison:
        return False
    return all(SAYING_RE.fullmatch(w) for w in re.findall(r"[^\W\d_]+", plan.topic))  # "UN charter art 2(4)?" too
