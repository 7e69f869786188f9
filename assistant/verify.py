"""Citation verification for generated answers.

A generated sentence reaches the user only if a passage it cites supports it: enough of its
words occur in the passage and it is close in meaning to one of the passage's sentences (or very
close alone), and every number it states occurs in the passage. Markers to passages that do not
exist are dropped; each kept citation carries the passage sentence that supports it, verbatim.
Sentences arrive incrementally (streaming), so verification works sentence by sentence.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from .chunking import sentence_spans
from .lexical import tokenize
from .types import Citation, Passage

MARKER_RE = re.compile(r"\[(\d{1,3})\]")
LEADING_MARKERS_RE = re.compile(r"^((?:\s*\[\d{1,3}\])+)\s*")
NUMBER_RE = re.compile(r"\d+(?:[.,]\d+)*")
# A sentence is supported when cos >= COS_ALONE, or when cos >= COS_WITH_WORDS and at least
# WORDS share of its content words occur in the passage. Chosen with
# scripts/measure_verification.py on eval/questions/dev.jsonl: remove nearly every unsupported
# sentence, then keep as many supported ones as that allows (a wrong citation costs more than a
# missing one). Figures: docs/measurements.md and docs/evaluation.md.
COS_ALONE = 0.70
COS_WITH_WORDS = 0.55
WORDS = 0.4


@dataclass
class Support:
    supported: bool
    cosine: float
    overlap: float
    quote: str
    numbers_ok: bool


@dataclass
class VerifiedWriter:
    """Feed generated text in pieces; get back only verified sentences with renumbered markers."""

    passages: list[Passage]
    embeddings: object
    spans: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    buffer: str = ""
    citations: list[Citation] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    dropped_markers: int = 0
    _marker_of: dict[int, int] = field(default_factory=dict)
    _sentence_vectors: dict[int, tuple[list[str], np.ndarray]] = field(default_factory=dict)

    def feed(self, text: str) -> list[str]:
        """Add generated text; return the verified pieces completed so far."""
        self.buffer += text
        segments = _segments(self.buffer)
        # Hold back the tail, and the sentence before it when the tail may be its marker ("[1").
        hold = 2 if segments and segments[-1].lstrip().startswith("[") else 1
        if len(segments) <= hold:
            return []
        done = segments[:-hold]
        self.buffer = self.buffer[self.buffer.index(segments[-hold]) :] if segments[-hold] in self.buffer else " ".join(segments[-hold:])
        return [p for p in (self._check(s) for s in done) if p]

    def finish(self) -> list[str]:
        """Flush the last sentence."""
        rest, self.buffer = self.buffer, ""
        return [p for p in (self._check(s) for s in _segments(rest)) if p]

    @property
    def text(self) -> str:
        return " ".join(self.kept)

    # ------------------------------------------------------------------------------------
    def _passage_sentences(self, n: int) -> tuple[list[str], np.ndarray]:
        if n not in self._sentence_vectors:
            p = self.passages[n - 1]
            spans = self.spans.get(p.chunk_id) or sentence_spans(p.text)
            sentences = [p.text[s:e] for s, e in spans] or [p.text]
            self._sentence_vectors[n] = (sentences, self.embeddings.encode(sentences))
        return self._sentence_vectors[n]

    def support(self, sentence: str, vector: np.ndarray, n: int) -> Support:
        """How well passage ``n`` (1-based) supports ``sentence``."""
        passage = self.passages[n - 1]
        sentences, vectors = self._passage_sentences(n)
        cosines = vectors @ vector
        best = int(np.argmax(cosines))
        words = set(tokenize(sentence))
        passage_words = set(tokenize(passage.text + " " + passage.title + " " + passage.section))
        overlap = len(words & passage_words) / len(words) if words else 0.0
        numbers = set(NUMBER_RE.findall(sentence))
        numbers_ok = all(num in passage.text or num in passage.title or num in passage.section for num in numbers)
        cos = float(cosines[best])
        ok = numbers_ok and (cos >= COS_ALONE or (cos >= COS_WITH_WORDS and overlap >= WORDS))
        return Support(ok, cos, overlap, sentences[best], numbers_ok)

    def _check(self, segment: str) -> str | None:
        cited = [int(m) for m in MARKER_RE.findall(segment)]
        plain = " ".join(MARKER_RE.sub("", segment).split())
        plain = re.sub(r"\s+([.,;:!?])", r"\1", plain)
        if not plain:
            return None
        valid = [n for n in dict.fromkeys(cited) if 1 <= n <= len(self.passages)]
        self.dropped_markers += len(set(cited)) - len(valid)
        if not valid:
            self.removed.append(plain)
            return None
        vector = self.embeddings.encode([plain])[0]
        supported = [(n, self.support(plain, vector, n)) for n in valid]
        supported = [(n, s) for n, s in supported if s.supported]
        if not supported:
            self.removed.append(plain)
            return None
        markers = []
        for n, s in supported:
            if n not in self._marker_of:
                self._marker_of[n] = len(self._marker_of) + 1
                p = self.passages[n - 1]
                self.citations.append(Citation(
                    marker=self._marker_of[n], doc_id=p.doc_id, title=p.title, section=p.section, url=p.url,
                    quote=s.quote, chunk_id=p.chunk_id, score=round(s.cosine, 4), issuer=p.issuer,
                    adopted=p.adopted, page=p.page, reviewed=p.reviewed or None,
                ))
            markers.append(f"[{self._marker_of[n]}]")
        piece = f"{plain} {' '.join(markers)}"
        self.kept.append(piece)
        return piece


def _segments(text: str) -> list[str]:
    """Sentences of generated text; a marker-only piece ("[2].") joins the sentence before it."""
    out: list[str] = []
    for s, e in sentence_spans(text):
        piece = text[s:e]
        lead = LEADING_MARKERS_RE.match(piece)
        if out and lead:  # "X. [1] Next sentence" → the markers belong to X
            out[-1] = f"{out[-1]} {lead.group(1).strip()}"
            piece = piece[lead.end() :]
        if out and not MARKER_RE.sub("", piece).strip(" .,;:"):
            if piece.strip():
                out[-1] = f"{out[-1]} {piece}"
        elif piece.strip():
            out.append(piece)
    return out
