"""Structure-aware chunking: headings and articles first, then paragraphs, then sentences.

A chunk never straddles two sections, stays under ``max_words`` words (the embedding model reads
256 word-pieces), and carries the sentence boundaries of its text so that answers can quote
exact sentences without re-splitting at question time.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache

from .loaders import LoadedDoc

PARA_RE = re.compile(r"\n\s*\n")


@dataclass(frozen=True)
class Chunk:
    """A piece of a document ready to embed and store."""

    chunk_id: str
    text: str
    metadata: dict

    @property
    def embed_text(self) -> str:
        """What is embedded and indexed: title and section give the chunk its context."""
        return embed_text(self.text, self.metadata)


def embed_text(text: str, meta: dict) -> str:
    """The text that the encoder and BM25 see for a chunk: title, section, then body."""
    head = meta.get("title", "")
    if meta.get("section"):
        head = f"{head} — {meta['section']}"
    return f"{head}\n{text}" if head else text


@lru_cache(maxsize=1)
def _segmenter():
    import pysbd

    return pysbd.Segmenter(language="en", clean=False, char_span=True)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of ``text`` (whitespace trimmed, exact offsets)."""
    spans: list[tuple[int, int]] = []
    for block in _blocks(text):
        start0, block_text = block
        for span in _segmenter().segment(block_text):
            s, e = span.start, span.end
            piece = block_text[s:e]
            lead = len(piece) - len(piece.lstrip())
            trail = len(piece) - len(piece.rstrip())
            s, e = s + lead, e - trail
            if e > s:
                spans.append((start0 + s, start0 + e))
    return spans


def _blocks(text: str) -> list[tuple[int, str]]:
    """Paragraphs and list lines as (offset, text): a sentence never crosses a line break."""
    out = []
    pos = 0
    for line in text.split("\n"):
        if line.strip():
            out.append((pos, line))
        pos += len(line) + 1
    return out


def encode_spans(spans: list[tuple[int, int]]) -> str:
    """Spans as a compact metadata string "0-120,121-300"."""
    return ",".join(f"{s}-{e}" for s, e in spans)


def decode_spans(value: str) -> list[tuple[int, int]]:
    """Inverse of :func:`encode_spans`."""
    if not value:
        return []
    return [tuple(int(x) for x in part.split("-", 1)) for part in value.split(",")]  # type: ignore[misc]


def _words(text: str) -> int:
    return len(text.split())


def _split_long(paragraph: str, max_words: int) -> list[str]:
    """Split one over-long paragraph at sentence boundaries (words as a last resort)."""
    sentences = [paragraph[s:e] for s, e in sentence_spans(paragraph)]
    pieces: list[str] = []
    for sent in sentences:
        if _words(sent) <= max_words:
            pieces.append(sent)
            continue
        words = sent.split()
        pieces += [" ".join(words[i : i + max_words]) for i in range(0, len(words), max_words)]
    return pieces


def _pack(units: list[str], max_words: int, sep: str) -> list[str]:
    chunks: list[str] = []
    current: list[str] = []
    count = 0
    for unit in units:
        n = _words(unit)
        if current and count + n > max_words:
            chunks.append(sep.join(current))
            current, count = [], 0
        current.append(unit)
        count += n
    if current:
        chunks.append(sep.join(current))
    return chunks


def _section_chunks(text: str, max_words: int, overlap: int) -> list[str]:
    paragraphs = [p.strip() for p in PARA_RE.split(text) if p.strip()]
    units: list[str] = []
    for para in paragraphs:
        if _words(para) <= max_words:
            units.append(para)
        else:
            units.append("\n".join(_pack(_split_long(para, max_words), max_words, " ")))
    # Paragraphs made of several packed pieces were joined by "\n"; unfold them for packing.
    flat: list[str] = []
    for unit in units:
        flat += unit.split("\n") if _words(unit) > max_words else [unit]
    chunks = _pack(flat, max_words, "\n\n")
    if overlap <= 0 or len(chunks) < 2:
        return chunks
    out = [chunks[0]]
    for prev, nxt in zip(chunks, chunks[1:]):
        spans = sentence_spans(prev)
        tail = prev[spans[-overlap][0] :] if len(spans) >= overlap else ""
        if tail and _words(tail) + _words(nxt) <= max_words and _words(tail) <= 40:
            nxt = f"{tail}\n\n{nxt}"
        out.append(nxt)
    return out


def chunk_document(doc: LoadedDoc, source: str, max_words: int = 150, overlap: int = 1) -> list[Chunk]:
    """Cut a loaded document into chunks with full metadata and stable ids.

    ``chunk_id`` = ``{doc_id}:{position}:{sha1(text)[:10]}``: the same text at the same place
    always gets the same id, so re-ingesting unchanged content is an idempotent upsert.
    """
    meta = doc.meta
    chunks: list[Chunk] = []
    for section in doc.sections:
        for text in _section_chunks(section.text, max_words, overlap):
            position = len(chunks)
            digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:10]
            md = {
                "doc_id": meta["id"],
                "title": meta["title"],
                "section": " > ".join(section.path),
                "url": meta["url"],
                "issuer": meta["issuer"],
                "type": meta["type"],
                "adopted": meta["adopted"],
                "topics": "|".join(meta["topics"]),
                "page": section.page if section.page is not None else -1,
                "source": source,
                "position": position,
                "sents": encode_spans(sentence_spans(text)),
            }
            for topic in meta["topics"]:
                md[f"topic_{topic}"] = True
            chunks.append(Chunk(f"{meta['id']}:{position:04d}:{digest}", text, md))
    return chunks
