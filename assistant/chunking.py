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


# The list structure of legal text, at the level of sentences: a list item ("(a) …", "b. …",
# "2. …") and a lead-in that announces items ("… as follows:", "… including").
_MARKER = r"(?:\(?[a-z]\)|\(?[ivx]{1,4}\)|[a-z]\.|\d{1,2}\.)"  # "(a)", "b)", "(iv)", "c.", "2."
LIST_ITEM_RE = re.compile(rf"^\W{{0,2}}{_MARKER}\s*\S", re.I)
LEAD_IN_RE = re.compile(r"(?::|\bfollowing|\bincluding|\bnamely|\bas follows)\W*$", re.I)


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


@lru_cache(maxsize=1)
def _abbreviations() -> frozenset[str]:
    from pysbd.lang.english import English

    return frozenset(a.strip().lower() for a in English.Abbreviation.ABBREVIATIONS)


_STOP = re.compile(r"[.!?]")
_CLOSERS = ")]\"'”’"
# A full stop, optional closing quotes/brackets, whitespace, then what can open a sentence.
_BOUNDARY = re.compile(r"\.([)\]\"'”’]*)(\s+)(?=[A-Z0-9(\"“‘])")
_WORD_BEFORE = re.compile(r"([^\W\d_]+|\d+|\))$")


def fast_sentences(block: str, mixed: bool = False) -> list[tuple[int, int]] | None:
    """Sentence spans of a block whose every full stop is unambiguous, else ``None``.

    pysbd's cost is mostly its abbreviation rules. Most paragraphs of policy prose have no
    abbreviation at all: each full stop ends the text, sits inside a number ("2.5"), or follows a
    plain word and precedes a capital. Those are split here; any block with an abbreviation, an
    initial, a "?"/"!", or another doubtful stop goes to pysbd. Where it differs from pysbd it is
    pysbd that errs ("Article 3" | "(c) of ...", a lone "3." after "1.  "); the share of blocks
    it takes and the costs are in docs/measurements.md.

    ``mixed`` (for the windows of a line too long to be one block): a doubtful stop does not
    send the whole window to pysbd, only the run of text between the two sure sentence ends
    around it, so a huge paragraph with an "e.g." every few sentences still costs what prose
    does, not what pysbd costs per character.

    Linear in the block: each full stop looks at a bounded neighbourhood (the word before it,
    at most :data:`_WORD_LOOKBACK` characters, and the characters after it), never at a copy
    of the rest of the block (which made a 1 MB paragraph take minutes).
    """
    text = block.rstrip()
    # Past ``tail`` only closing quotes and brackets remain: a stop there ends the block.
    tail = len(text)
    while tail > 0 and text[tail - 1] in _CLOSERS:
        tail -= 1
    cuts: list[tuple[int, int]] = []
    doubts: list[bool] = []  # per sentence run ending at the cut of the same index: doubtful?
    doubtful = False
    for m in _STOP.finditer(text):
        i = m.start()
        if m.group() != ".":
            if not mixed:
                return None
            doubtful = True
            continue
        if i + 1 >= tail:
            continue  # the end of the block
        if i > 0 and text[i - 1].isdigit() and text[i + 1].isdigit():
            continue  # a decimal or a section number: 2.5
        boundary = _BOUNDARY.match(text, i)
        word = _WORD_BEFORE.search(text, max(0, i - _WORD_LOOKBACK), i)
        sure = bool(boundary and word)
        if sure:
            w = word.group(1)
            if w.isdigit():
                j = word.start() - 1
                while j >= 0 and text[j].isspace():
                    j -= 1
                if len(w) <= 3 and (j < 0 or text[j] in ".:;"):
                    continue  # a paragraph number ("3. The ...") belongs to the sentence it opens
                if len(w) < 4:
                    sure = False  # "paragraph 3. Requests ...": let pysbd decide
            elif w != ")" and (len(w) < 2 or w.lower() in _abbreviations()):
                sure = False
        if not sure:
            if not mixed:
                return None
            doubtful = True
            continue
        cuts.append(boundary.span(2))
        doubts.append(doubtful)
        doubtful = False
    spans, start = [], 0
    for (s, e), doubt in zip([*cuts, (len(text), len(text))], [*doubts, doubtful]):
        if doubt:
            spans += [(start + sp.start, start + sp.end) for sp in _segmenter().segment(text[start:s])]
        else:
            spans.append((start, s))
        start = e
    return spans


# A block (one line of text) longer than this is cut into windows before any sentence splitter
# sees it: pysbd's time grows faster than linearly with the block (docs/measurements.md), and a
# 1 MB paragraph never finished. Above the longest block of the corpus and the real treaty texts.
MAX_BLOCK_CHARS = 6000
_WORD_LOOKBACK = 64  # characters before a full stop in which its word is looked for
# Where a window may end, best first: after a sentence-like stop, else at whitespace.
_SOFT_STOP = re.compile(r"[.!?;:][)\]\"'”’]*\s+")
_SPACE = re.compile(r"\s+")


def windows(text: str, limit: int) -> list[tuple[int, int]]:
    """Cut ``text`` into consecutive spans of at most ``limit`` characters that cover it: each
    ends after the last sentence-like stop in its second half, else at the last whitespace there,
    else (one huge "word") exactly at ``limit``. Linear: each character is looked at a bounded
    number of times. Text of at most ``limit`` characters is one span."""
    out: list[tuple[int, int]] = []
    start, n = 0, len(text)
    while n - start > limit:
        lo, hi = start + limit // 2, start + limit
        cut = None
        for pattern in (_SOFT_STOP, _SPACE):
            last = None
            for m in pattern.finditer(text, lo, hi):
                last = m
            if last is not None:
                cut = last.end()
                break
        if cut is None or cut <= start:
            cut = hi
        out.append((start, cut))
        start = cut
    out.append((start, n))
    return out


@lru_cache(maxsize=8192)
def _block_sentences(block: str, mixed: bool = False) -> tuple[tuple[int, int], ...]:
    """Trimmed sentence spans of one line of text of at most :data:`MAX_BLOCK_CHARS` characters
    (cached: chunking asks twice for many); ``mixed``: see :func:`fast_sentences`."""
    fast = fast_sentences(block, mixed)
    raw = fast if fast is not None else [(sp.start, sp.end) for sp in _segmenter().segment(block)]
    out = []
    for s, e in raw:
        piece = block[s:e]
        s, e = s + len(piece) - len(piece.lstrip()), e - (len(piece) - len(piece.rstrip()))
        if e > s:
            out.append((s, e))
    return tuple(out)


def clear_sentence_cache() -> None:
    """Forget the cached sentence spans of blocks (a bench measuring a first ingest splits afresh,
    as a new process would)."""
    _block_sentences.cache_clear()


def _line_sentences(line: str) -> list[tuple[int, int]]:
    """Sentence spans of one line of any length: a line longer than :data:`MAX_BLOCK_CHARS` is
    split by :func:`windows` first, so no sentence splitter ever sees more than that at once,
    and within those windows only the doubtful runs go to pysbd."""
    if len(line) <= MAX_BLOCK_CHARS:
        return list(_block_sentences(line))
    return [(w0 + s, w0 + e) for w0, w1 in windows(line, MAX_BLOCK_CHARS)
            for s, e in _block_sentences(line[w0:w1], True)]


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of ``text`` (whitespace trimmed, exact offsets); linear
    in the length of the text, whatever its shape."""
    return mend_markers(text, [(start0 + s, start0 + e) for start0, block in _blocks(text)
                               for s, e in _line_sentences(block)])


_MARKER_ONLY_RE = re.compile(rf"^\W{{0,2}}(?:{_MARKER}|[ivx]{{1,4}}\.)$", re.I)


def mend_markers(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``spans`` with each span that is only a list marker ("a.", "(iv)", "2.": a splitter reads
    "a." as a sentence's end) joined to the sentence after it on the same line, so that a list item
    is one sentence that starts with its marker. Also applied to spans stored by older versions."""
    out: list[tuple[int, int]] = []
    k = 0
    while k < len(spans):
        s, e = spans[k]
        if (k + 1 < len(spans) and _MARKER_ONLY_RE.match(text[s:e].strip())
                and "\n" not in text[e:spans[k + 1][0]]):
            out.append((s, spans[k + 1][1]))
            k += 2
            continue
        out.append((s, e))
        k += 1
    return out


def stored_spans(text: str, meta: dict) -> list[tuple[int, int]] | None:
    """The sentence spans stored with a chunk at ingest (metadata ``sents``), mended as
    :func:`mend_markers` mends them; None when none were stored."""
    return mend_markers(text, decode_spans(meta["sents"])) if meta.get("sents") else None


def chunk_position(chunk_id: str) -> int | None:
    """A chunk's position in its document, from its id ``{doc_id}:{position}:{digest}``."""
    parts = chunk_id.rsplit(":", 2)
    return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None


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


def max_chunk_chars(max_words: int) -> int:
    """The most characters a chunk may have: 16 per word allowed (a 150-word chunk of the corpus
    or the real treaty texts has at most 1,253), so that text without spaces (a 5 MB "word", a
    long run of symbols) becomes many bounded chunks instead of one huge passage."""
    return max(200, 16 * max_words)


def _split_long(paragraph: str, max_words: int) -> list[str]:
    """Split one over-long paragraph at sentence boundaries (words, then characters, as a last resort)."""
    limit = max_chunk_chars(max_words)
    sentences = [paragraph[s:e] for s, e in sentence_spans(paragraph)]
    pieces: list[str] = []
    for sent in sentences:
        if _words(sent) <= max_words:
            parts = [sent]
        else:
            words = sent.split()
            parts = [" ".join(words[i : i + max_words]) for i in range(0, len(words), max_words)]
        for part in parts:
            if len(part) <= limit:
                pieces.append(part)
            else:
                pieces += [p for p in (part[s:e].strip() for s, e in windows(part, limit)) if p]
    return pieces


def _pack(units: list[str], max_words: int, sep: str, max_chars: int | None = None) -> list[str]:
    chunks: list[str] = []
    current: list[str] = []
    count = chars = 0
    for unit in units:
        n = _words(unit)
        if current and (count + n > max_words or (max_chars is not None and chars + len(sep) + len(unit) > max_chars)):
            chunks.append(sep.join(current))
            current, count, chars = [], 0, 0
        chars += len(unit) + (len(sep) if current else 0)
        current.append(unit)
        count += n
    if current:
        chunks.append(sep.join(current))
    return chunks


def _section_chunks(text: str, max_words: int, overlap: int) -> list[str]:
    limit = max_chunk_chars(max_words)
    paragraphs = [p.strip() for p in PARA_RE.split(text) if p.strip()]
    units: list[str] = []
    for para in paragraphs:
        if _words(para) <= max_words and len(para) <= limit:
            units.append(para)
        else:
            units.append("\n".join(_pack(_split_long(para, max_words), max_words, " ", limit)))
    # Paragraphs made of several packed pieces were joined by "\n"; unfold them for packing.
    flat: list[str] = []
    for unit in units:
        flat += unit.split("\n") if (_words(unit) > max_words or len(unit) > limit) else [unit]
    chunks = _pack(flat, max_words, "\n\n", limit)
    if overlap <= 0 or len(chunks) < 2:
        return chunks
    out = [chunks[0]]
    for prev, nxt in zip(chunks, chunks[1:]):
        spans = sentence_spans(prev)
        tail = prev[spans[-overlap][0] :] if len(spans) >= overlap else ""
        if tail and _words(tail) + _words(nxt) <= max_words and _words(tail) <= 40 \
                and len(tail) + 2 + len(nxt) <= limit:
            nxt = f"{tail}\n\n{nxt}"
        out.append(nxt)
    return out


def chunk_document(doc: LoadedDoc, source: str, max_words: int = 150, overlap: int = 1,
                   max_chunks: int | None = None) -> list[Chunk]:
    """Cut a loaded document into chunks with full metadata and stable ids; raise
    :class:`BadDocument` ("too many chunks") as soon as there are more than ``max_chunks``.

    ``chunk_id`` = ``{doc_id}:{position}:{sha1(text)[:10]}``: the same text at the same place
    always gets the same id, so re-ingesting unchanged content is an idempotent upsert.
    """
    meta = doc.meta
    chunks: list[Chunk] = []
    for section in doc.sections:
        for text in _section_chunks(section.text, max_words, overlap):
            position = len(chunks)
            if max_chunks is not None and position >= max_chunks:
                from .errors import BadDocument

                raise BadDocument(f"too many chunks: more than {max_chunks:,}")
            digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:10]
            md = {
                "doc_id": meta["id"],
                "title": meta["title"],
                "section": " > ".join(section.path),
                "url": meta["url"],
                "issuer": meta["issuer"],
                "type": meta["type"],
                "adopted": meta["adopted"],
                "reviewed": meta.get("reviewed") or "",
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
