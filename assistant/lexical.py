"""BM25 over chunk texts, persisted next to the Chroma data as segments that update incrementally.

Chroma is the source of truth: the lexical index follows it file by file (see
:meth:`assistant.store.Index.sync_lexical`): a changed file's old chunks are marked deleted and its
new chunks added as a new segment; scores are computed from the live postings, exactly as the
``bm25s`` index this replaced computed them (its default "lucene" BM25, k1 1.5, b 0.75).
"""
from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import re
import shutil
import sys
import tempfile
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
from filelock import FileLock

TOKEN_RE = re.compile(r"\w+", re.UNICODE)
FILTER_FIELDS = ("doc_id", "issuer", "type", "section")
# "Article 5", "Art. 42(7)", "Articles 2 and 3", "Chapter VII", "Recommendation 16", "Rule 3"
REF_RE = re.compile(
    r"\b(article|art\.?|chapter|recommendation|rule|section|annex|protocol|title|part)s?\s+"
    r"([0-9]+[a-z]?|[ivxlc]+)\b(?:\s*\((\d+)\))?",
    re.I,
)
_KIND = {"art": "article", "art.": "article"}


def references(text: str) -> list[tuple[str, str]]:
    """Structural references in a question or heading, e.g. [("article", "5"), ("chapter", "vii")]."""
    out = []
    for m in REF_RE.finditer(text):
        kind = m.group(1).lower()
        out.append((_KIND.get(kind, kind), m.group(2).lower()))
    return out


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


# bm25s's English stop words (``bm25s.stopwords.STOPWORDS_EN``, the Lucene list), copied:
# importing them from bm25s imports its whole package (scipy.sparse, tqdm: ~0.25 s of every
# `assistant ask`). tests/test_lexical_incremental.py checks the copy equals bm25s's list.
STOPWORDS_EN = ("a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
                "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these", "they",
                "this", "to", "was", "will", "with")


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    """English stop words (bm25s's list)."""
    return frozenset(STOPWORDS_EN)


def tokenize(text: str) -> list[str]:
    """Lowercase word tokens, stop words dropped, stemmed; numbers are kept whole ("1373")."""
    words = [w for w in TOKEN_RE.findall(text.lower()) if w not in stopwords()]
    words = [w for w in words if len(w) > 1 or w.isdigit()]
    return _stemmer().stemWords(words)


def fingerprint(ids: Iterable[str]) -> str:
    """Order-independent digest of a set of chunk ids."""
    h = hashlib.sha1()
    for cid in sorted(ids):
        h.update(cid.encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


# Endings that turn a place into its people or language, after stemming: Korea/Korean,
# Russia/Russian, China/Chinese ("chines"), Germany/German ("germani"/"german"), Iran/Iranian.
_DEMONYM_ENDINGS = frozenset({"", "a", "n", "an", "ian", "ean", "ese", "es", "i", "ani", "ish", "y"})


# Demonyms that are not their place plus an ending ("Dutch" for the Netherlands).
_IRREGULAR_DEMONYMS = [
    ("Dutch", "Netherlands"), ("French", "France"), ("Greek", "Greece"), ("Polish", "Poland"),
    ("Turkish", "Turkey"), ("Turkish", "Türkiye"), ("British", "Britain"), ("Swiss", "Switzerland"),
    ("Danish", "Denmark"), ("Swedish", "Sweden"), ("Finnish", "Finland"), ("Spanish", "Spain"),
    ("Irish", "Ireland"), ("Norwegian", "Norway"), ("Belgian", "Belgium"), ("Maltese", "Malta"),
    ("Cypriot", "Cyprus"), ("Portuguese", "Portugal"), ("Welsh", "Wales"), ("Scottish", "Scotland"),
    ("English", "England"), ("Icelandic", "Iceland"), ("Lebanese", "Lebanon"), ("Afghan", "Afghanistan"),
    ("Filipino", "Philippines"), ("Thai", "Thailand"), ("Czech", "Czechia"), ("Slovak", "Slovakia"),
    ("Croatian", "Croatia"), ("Lithuanian", "Lithuania"), ("Emirati", "Emirates"),
]


@lru_cache(maxsize=1)
def _irregular_pairs() -> dict[str, frozenset[str]]:
    """Stemmed demonym <-> stemmed place, both ways."""
    pairs: dict[str, set[str]] = {}
    for demonym, place in _IRREGULAR_DEMONYMS:
        for a, b in ((demonym, place), (place, demonym)):
            ta, tb = tokenize(a), tokenize(b)
            if len(ta) == 1 and len(tb) == 1 and ta[0] != tb[0]:
                pairs.setdefault(ta[0], set()).add(tb[0])
    return {k: frozenset(v) for k, v in pairs.items()}


def same_word(a: str, b: str) -> bool:
    """Whether two stemmed tokens are one word or a place and its demonym ("korea", "korean";
    "dutch", "netherland").

    Regular pairs must share at least four letters and differ only by such endings, so
    "iran"/"iraq", "niger"/"nigeria" and "austria"/"australia" stay apart.
    """
    if a == b:
        return True
    if b in _irregular_pairs().get(a, ()):
        return True
    n = len(os.path.commonprefix([a, b]))
    return n >= 4 and a[n:] in _DEMONYM_ENDINGS and b[n:] in _DEMONYM_ENDINGS


def same_stem(a: str, b: str) -> bool:
    """Two forms of one word by their shared beginning (see :meth:`Vocabulary.related`)."""
    if a == b:
        return True
    n = len(os.path.commonprefix([a, b]))
    return n >= 5 and n >= 0.7 * min(len(a), len(b))


class Vocabulary:
    """A set of stemmed tokens, looked up with :func:`same_word` (a place finds its demonym)."""

    def __init__(self, tokens: Iterable[str]) -> None:
        self.tokens = set(tokens)
        self._by_prefix: dict[str, list[str]] = {}
        for token in self.tokens:
            self._by_prefix.setdefault(token[:4], []).append(token)

    def variants(self, token: str) -> list[str]:
        """The tokens here that are ``token`` or its place/demonym pair."""
        irregular = [t for t in _irregular_pairs().get(token, ()) if t in self.tokens]
        if len(token) < 4:
            return ([token] if token in self.tokens else []) + irregular
        regular = [t for t in self._by_prefix.get(token[:4], ()) if same_word(token, t)]
        return list(dict.fromkeys(regular + irregular))

    def related(self, token: str) -> list[str]:
        """:meth:`variants`, and the tokens here that are another form of the same word
        ("xenophobia"/"xenophob", "terror"/"terrorist": a shared stem of five letters or more,
        at least 70% of the shorter one)."""
        out = self.variants(token)
        if len(token) >= 5:
            out += [t for t in self._by_prefix.get(token[:4], ()) if t not in out and same_stem(token, t)]
        return out


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# BM25 as bm25s computes it by default ("lucene"), so rankings match the index it replaces.
K1, B = 1.5, 0.75
FORMAT = 2
STATE = "state.json"
SCORE_CACHE_BYTES = 64 * 2**20  # per-token BM25 parts kept between questions
def idf_weights(text: str, stats) -> dict[str, float]:
    """The tokens of ``text`` with their inverse document frequency over ``stats`` (anything with
    ``len()`` and ``document_frequency()``: a LexicalIndex or LexicalUnion), log(1 + N / (1 + df)):
    how much a word of a question says, for the answerability decision and the answerer."""
    n = max(len(stats), 1)
    return {t: math.log(1 + n / (1 + stats.document_frequency(t))) for t in set(tokenize(text))}


EMPTY = "∅"  # the token of a chunk without words: keeps its length (1) as bm25s counted it


def _idf(df: int, n: int) -> float:
    return math.log(1 + (n - df + 0.5) / (df + 0.5))


class Segment:
    """An immutable batch of chunks with its postings: for each token (column), the chunks
    that hold it (ascending) and how often. Saved once as ``<name>.npz`` + ``<name>.json``."""

    def __init__(self, name: str, ids: list[str], metas: list[dict], owners: list[str] | tuple[list[str], np.ndarray],
                 tokens: list[str], indptr: np.ndarray, docs: np.ndarray, tfs: np.ndarray, lengths: np.ndarray) -> None:
        self.name = name
        self.ids, self.metas, self.tokens = ids, metas, tokens
        self.indptr, self.docs, self.tfs, self.lengths = indptr, docs, tfs, lengths
        self.vocab = {t: i for i, t in enumerate(tokens)}
        # The manifest path that owns each chunk, as a table and a number per chunk.
        self.owner_table, self.owner_of = owners if isinstance(owners, tuple) else _table(owners, lambda o: o)
        self.owner_index = {o: i for i, o in enumerate(self.owner_table)}
        self._docs: tuple[dict[str, int], np.ndarray, np.ndarray] | None = None

    @property
    def owners(self) -> list[str]:
        """The owner of each chunk."""
        return [self.owner_table[i] for i in self.owner_of.tolist()]

    def slots_of(self, owner: str) -> np.ndarray:
        """The positions of the chunks ``owner`` owns."""
        n = self.owner_index.get(owner)
        return np.zeros(0, dtype=np.int64) if n is None else np.flatnonzero(self.owner_of == n)

    def __len__(self) -> int:
        return len(self.ids)

    def section_slots(self, doc_id: str, section: str) -> np.ndarray:
        """The positions of the chunks of ``doc_id`` under heading ``section`` (dead ones too),
        ascending. The table behind it (each document's chunks) is built on first use and kept:
        a segment never changes."""
        table = self._docs
        if table is None:
            keys: dict[str, int] = {}
            codes = np.fromiter((keys.setdefault(m.get("doc_id", ""), len(keys)) for m in self.metas),
                                dtype=np.int32, count=len(self.metas))
            order = np.argsort(codes, kind="stable").astype(np.int32)
            bounds = np.searchsorted(codes[order], np.arange(len(keys) + 1))
            table = self._docs = (keys, order, bounds)
        keys, order, bounds = table
        c = keys.get(doc_id)
        if c is None:
            return np.zeros(0, dtype=np.int64)
        slots = order[bounds[c]:bounds[c + 1]]  # one document's chunks: a few, or a few thousand
        metas = self.metas
        return np.asarray([i for i in slots.tolist() if metas[i].get("section", "") == section], dtype=np.int64)

    @classmethod
    def build(cls, ids: list[str], texts: list[str], metas: list[dict], owners: list[str]) -> "Segment":
        """Tokenize ``texts`` (title, section and body, as embedded) into a new segment."""
        return cls.build_from(zip(ids, texts, metas, owners))

    @classmethod
    def build_from(cls, items: Iterable[tuple[str, str, dict, str]]) -> "Segment":
        """A segment of (id, embedded text, metadata, owner) items, consumed one by one: the
        texts are not kept, and postings go into compact arrays every few thousand chunks (as
        Python lists cost tens of bytes a posting: gigabytes at a million chunks)."""
        vocab: dict[str, int] = {}
        ids: list[str] = []
        metas: list[dict] = []
        owners: list[str] = []
        lengths: list[int] = []
        cols: list[int] = []
        docs: list[int] = []
        tfs: list[int] = []
        packed: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        seen: dict[tuple, dict] = {}
        share = _Sharing()

        def pack() -> None:
            packed.append((np.asarray(cols, dtype=np.int32), np.asarray(docs, dtype=np.int32),
                           np.minimum(np.asarray(tfs, dtype=np.int64), 65535).astype(np.uint16)))
            cols.clear(), docs.clear(), tfs.clear()

        for d, (cid, text, meta, owner) in enumerate(items):
            toks = tokenize(text) or [EMPTY]
            lengths.append(len(toks))
            for tok, n in Counter(toks).items():
                cols.append(vocab.setdefault(tok, len(vocab)))
                docs.append(d)
                tfs.append(n)
            ids.append(cid)
            slim = _slim(meta)
            key = _meta_key(slim)
            kept = seen.get(key)
            if kept is None:
                kept = seen[key] = share.meta(slim)
            metas.append(kept)
            owners.append(sys.intern(owner))
            if len(cols) > 1_000_000:
                pack()
        pack()
        tokens = list(vocab)
        del vocab, seen, share, cols, docs, tfs  # before the sort, its peak: not held through it
        triples = [np.concatenate([p[k] for p in packed]) for k in range(3)]
        packed.clear()
        return cls._from_triples(ids, metas, owners, tokens, triples, np.asarray(lengths, dtype=np.int32))

    @classmethod
    def _from_triples(cls, ids, metas, owners, tokens, triples: list[np.ndarray], lengths) -> "Segment":
        """A segment from its postings as (column, chunk, count) arrays, in ``triples``, which
        this empties: each array is let go as soon as it is sorted (at 200k chunks a build's
        peak was the unsorted and the sorted copies of all three at once)."""
        cols, docs, tfs = triples
        triples.clear()
        order = np.lexsort((docs, cols))  # by column, chunks ascending within one
        counts = np.bincount(cols, minlength=len(tokens)) if len(tokens) else np.zeros(0, dtype=np.int64)
        del cols
        indptr = np.zeros(len(tokens) + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        docs = docs[order]
        tfs = tfs[order]
        del order
        return cls(_new_name(), ids, metas, owners, tokens, indptr, docs, tfs, lengths)

    @classmethod
    def merge(cls, parts: list[tuple["Segment", np.ndarray]]) -> "Segment":
        """One segment holding the live chunks of ``parts`` ((segment, alive mask)), from their
        postings: nothing is tokenized again."""
        vocab: dict[str, int] = {}
        ids: list[str] = []
        metas: list[dict] = []
        owners: list[str] = []
        cols, docs, tfs, lengths = [], [], [], []
        base = 0
        for seg, alive in parts:
            live = np.flatnonzero(alive)
            newpos = np.full(len(seg), -1, dtype=np.int64)
            newpos[live] = np.arange(len(live)) + base
            colmap = np.asarray([vocab.setdefault(t, len(vocab)) for t in seg.tokens], dtype=np.int64)
            c = np.repeat(colmap, np.diff(seg.indptr))
            keep = alive[seg.docs]
            cols.append(c[keep])
            docs.append(newpos[seg.docs[keep]].astype(np.int32))
            tfs.append(seg.tfs[keep])
            lengths.append(seg.lengths[live])
            ids += [seg.ids[i] for i in live]
            metas += [seg.metas[i] for i in live]
            owners += [seg.owner_table[i] for i in seg.owner_of[live].tolist()]
            base += len(live)
        col = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
        used = np.bincount(col, minlength=len(vocab)) > 0  # tokens only dead chunks had are dropped
        remap = np.cumsum(used) - 1
        tokens = [t for t, u in zip(vocab, used) if u]
        triples = [remap[col] if len(col) else col, np.concatenate(docs) if docs else np.zeros(0, dtype=np.int32),
                   np.concatenate(tfs) if tfs else np.zeros(0, dtype=np.int32)]
        del col, cols, docs, tfs
        return cls._from_triples(ids, metas, owners, tokens, triples,
                                 np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.int32))

    def save(self, directory: Path) -> None:
        """Write both files and fsync them (a segment is immutable and named once). Metadata and
        owners are stored once each with a number per chunk: loading 100k chunk dicts from JSON
        cost most of an update at that size."""
        metas, meta_of = _table(self.metas, lambda m: id(m))
        with (directory / f"{self.name}.npz").open("wb") as fh:
            np.savez(fh, indptr=self.indptr, docs=self.docs, tfs=self.tfs, lengths=self.lengths,
                     meta_of=meta_of, owner_of=self.owner_of)
            fh.flush()
            os.fsync(fh.fileno())
        with (directory / f"{self.name}.json").open("w", encoding="utf-8") as fh:
            fh.write(json.dumps({"ids": _joined(self.ids), "metas": metas, "owners": self.owner_table,
                                 "tokens": _joined(self.tokens)}))
            fh.flush()
            os.fsync(fh.fileno())

    @classmethod
    def load(cls, directory: Path, name: str) -> "Segment":
        with np.load(directory / f"{name}.npz") as arrays:
            indptr, docs, tfs, lengths, meta_of, owner_of = (
                arrays[k] for k in ("indptr", "docs", "tfs", "lengths", "meta_of", "owner_of"))
        data = json.loads((directory / f"{name}.json").read_text(encoding="utf-8"))
        ids, tokens = _split(data["ids"]), _split(data["tokens"])
        meta_table, owner_table = data["metas"], data["owners"]
        if not all(isinstance(m, dict) and isinstance(m.get("topics"), list) for m in meta_table) \
                or not all(isinstance(o, str) for o in owner_table):
            raise ValueError(f"segment {name} has malformed metadata")
        metas = [meta_table[i] for i in meta_of.tolist()]
        if not (len(ids) == len(metas) == len(owner_of) == len(lengths) and len(indptr) == len(tokens) + 1
                and len(docs) == len(tfs) == indptr[-1] and (not len(docs) or docs.max() < len(ids))
                and (not len(owner_of) or (owner_of.min() >= 0 and owner_of.max() < len(owner_table)))):
            raise ValueError(f"segment {name} is inconsistent")
        return cls(name, ids, metas, (owner_table, owner_of.astype(np.int32)), tokens, indptr, docs, tfs, lengths)


class _Sharing:
    """One object for each equal string and topic list among a segment's metadata dicts: JSON and
    Chroma give every dict its own copies, and most of them repeat (a document's id in each of
    its sections, issuer, type, headings, topics). Measured with tracemalloc on 100k synthetic
    chunks (a dict per section, as bench/server_scale.py makes them): the built index's Python
    objects 136 -> 76 MB. The dicts and lists are never changed in place (a segment is immutable)."""

    def __init__(self) -> None:
        self.strings: dict[str, str] = {}
        self.lists: dict[tuple, list] = {}

    def meta(self, m: dict) -> dict:
        out = {}
        for k, v in m.items():
            if isinstance(v, str):
                v = self.strings.setdefault(v, v)
            elif isinstance(v, list) and all(isinstance(x, str) for x in v):
                v = self.lists.setdefault(tuple(v), [self.strings.setdefault(x, x) for x in v])
            out[self.strings.setdefault(k, k)] = v
        return out


@lru_cache(maxsize=1)
def _malloc_trim():
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


def _release_free_memory() -> None:
    """Give the C heap's free pages back to the OS (glibc's ``malloc_trim``). Building a segment
    frees hundreds of MB (unsorted postings, pages of chunk texts) that glibc keeps for reuse;
    measured on a 200k-chunk build, ~150 MB of the process's resident memory is such free space.
    A no-op where the C library is not glibc."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _shared(metas: list[dict]) -> list[dict]:
    """The same list with equal metadata dicts made one object (the chunks of a section share
    theirs): a few bytes per chunk instead of a dict each, at a million chunks ~0.3 GB less."""
    seen: dict[tuple, dict] = {}
    out = []
    for m in metas:
        out.append(seen.setdefault(_meta_key(m), m))
    return out


def _meta_key(m: dict) -> tuple:
    return tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in sorted(m.items()))


def _joined(strings: list[str]) -> str | list[str]:
    """Strings as one NUL-separated string (JSON decodes one long string much faster than many), or
    the list itself when one of them holds a NUL."""
    if any("\x00" in x for x in strings):
        return strings
    return "\x00".join(strings) + "\x00"


def _split(value: str | list[str]) -> list[str]:
    if isinstance(value, list):
        return value
    if not isinstance(value, str):
        raise ValueError("a list of strings was expected")
    return value.split("\x00")[:-1]


def _table(values: list, key) -> tuple[list, np.ndarray]:
    """(distinct values, the number of each value's entry) for ``values``."""
    where: dict = {}
    table: list = []
    numbers = np.empty(len(values), dtype=np.int32)
    for i, v in enumerate(values):
        k = key(v)
        n = where.get(k)
        if n is None:
            n = where[k] = len(table)
            table.append(v)
        numbers[i] = n
    return table, numbers


def _new_name() -> str:
    return f"seg-{uuid.uuid4().hex[:16]}"


class LexicalIndex:
    """BM25 scores for every chunk, with the metadata needed to apply filters.

    Held as a few immutable segments plus, per segment, the chunks deleted since it was written
    (the state). An update (:meth:`updated`) marks the changed files' old chunks deleted and adds
    one segment with their new chunks; small segments are merged when there are too many, and a
    segment with many deleted chunks is rewritten. Scores are computed at query time from the live
    postings (document frequencies, chunk count and mean length of the live chunks), so an
    updated index ranks exactly as one built from scratch. ``files`` maps each manifest path to
    the key of the entry it was indexed from; ``stamp`` is the shared state's stamp (server).
    """

    def __init__(self, segments: list[Segment], dead: dict[str, np.ndarray] | None = None,
                 files: dict[str, str] | None = None, stamp: int = 0) -> None:
        self.segments = segments
        dead = dead or {}
        self.alive_by_seg = {}
        for seg in segments:
            alive = np.ones(len(seg), dtype=bool)
            if seg.name in dead and len(dead[seg.name]):
                alive[np.asarray(dead[seg.name], dtype=np.int64)] = False
            self.alive_by_seg[seg.name] = alive
        self.files = dict(files or {})
        self.stamp = stamp
        self.offsets = []
        total = 0
        for seg in segments:
            self.offsets.append(total)
            total += len(seg)
        self.total = total
        self.alive = (np.concatenate([self.alive_by_seg[s.name] for s in segments]) if segments
                      else np.zeros(0, dtype=bool))
        self.whole = bool(self.alive.all())
        self.n_live = int(self.alive.sum())
        self.len_sum = int(sum(int(s.lengths[self.alive_by_seg[s.name]].sum()) for s in segments))
        self.slot_ids: list[str] = [cid for s in segments for cid in s.ids]
        self.slot_metas: list[dict] = [m for s in segments for m in s.metas]
        self._ids: list[str] | None = None
        self._metas: list[dict] | None = None
        self._pos: dict[str, int] | None = None
        self._fingerprint: str | None = None
        self._refs: dict[tuple[str, str], list[int]] | None = None  # ("article", "5") -> chunks whose heading names it
        self._vocabulary: Vocabulary | None = None  # the live vocabulary, for variants()
        self._alive_f: np.ndarray | None = None
        self._headed: frozenset[str] | None = None  # documents with a chunk under a heading
        self._column_scores: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}  # token -> [(slots, scores)]
        self._cached_bytes = 0

    def __len__(self) -> int:
        return self.n_live

    def headed_docs(self) -> frozenset[str]:
        """Documents that have at least one live chunk under a heading (their unheaded chunks are
        front matter; a text with no heading at all is all body)."""
        if self._headed is None:
            self._headed = frozenset(m.get("doc_id", "") for m, a in zip(self.slot_metas, self.alive)
                                     if a and m.get("section"))
        return self._headed

    # --- views -----------------------------------------------------------------------------
    @property
    def ids(self) -> list[str]:
        """The live chunk ids."""
        if self._ids is None:
            self._ids = self.slot_ids if self.whole else [c for c, a in zip(self.slot_ids, self.alive) if a]
        return self._ids

    @property
    def metas(self) -> list[dict]:
        """The live chunks' filter metadata (doc_id, issuer, type, section, topics)."""
        if self._metas is None:
            self._metas = self.slot_metas if self.whole else [m for m, a in zip(self.slot_metas, self.alive) if a]
        return self._metas

    def section_ids(self, doc_id: str, section: str) -> list[str]:
        """The live chunk ids of ``doc_id`` under heading ``section``: what a Chroma get filtered
        by both finds, without the request (through a server at a million chunks, seconds)."""
        out: list[str] = []
        for seg in self.segments:
            slots = seg.section_slots(doc_id, section)
            if len(slots):
                alive = self.alive_by_seg[seg.name]
                out += [seg.ids[i] for i in slots[alive[slots]].tolist()]
        return out

    @property
    def fingerprint(self) -> str:
        """Order-independent digest of the live chunk ids."""
        if self._fingerprint is None:
            self._fingerprint = fingerprint(self.ids)
        return self._fingerprint

    def slots_of(self, owner: str) -> list[int]:
        """The live slots of the chunks a manifest path owns."""
        out: list[int] = []
        for seg, off in zip(self.segments, self.offsets):
            local = seg.slots_of(owner)
            if len(local):
                out += (local[self.alive_by_seg[seg.name][local]] + off).tolist()
        return out

    def owners(self) -> set[str]:
        """Every manifest path that owns a chunk of a segment (live or deleted)."""
        return {o for seg in self.segments for o in seg.owner_table}

    # --- building and updating ---------------------------------------------------------------
    @classmethod
    def build(cls, ids: list[str], texts: list[str], metas: list[dict], owners: list[str] | None = None,
              files: dict[str, str] | None = None, stamp: int = 0) -> "LexicalIndex":
        """Index ``texts`` (already prefixed with title and section) as one segment."""
        if owners is None:
            owners = [str(m.get("source", "")) for m in metas]
        segments = [Segment.build(list(ids), list(texts), list(metas), list(owners))] if ids else []
        return cls(segments, {}, files, stamp)

    @classmethod
    def build_from(cls, items: Iterable[tuple[str, str, dict, str]], files: dict[str, str] | None = None,
                   stamp: int = 0, segment_chunks: int = 200_000) -> "LexicalIndex":
        """An index of (id, embedded text, metadata, owner) items, consumed one by one, cut into
        segments of ``segment_chunks`` (bounded memory while a million chunks are indexed)."""
        segments: list[Segment] = []
        it = iter(items)
        while True:
            first = next(it, None)
            if first is None:
                break
            batch = itertools.chain([first], itertools.islice(it, segment_chunks - 1))
            segments.append(Segment.build_from(batch))
            _release_free_memory()  # a segment's transient arrays and pages: to the OS, not kept
        return cls(segments, {}, files, stamp)

    def dead(self) -> dict[str, list[int]]:
        return {s.name: np.flatnonzero(~self.alive_by_seg[s.name]).tolist() for s in self.segments
                if not self.alive_by_seg[s.name].all()}

    def updated(self, remove: Iterable[int], add: list[tuple[str, str, dict, str]],
                files: dict[str, str], stamp: int | None = None, max_segments: int = 8) -> "LexicalIndex":
        """A new index: the slots in ``remove`` deleted, the chunks in ``add`` ((id, embedded
        text, metadata, owner)) in one new segment, small segments merged when there are more
        than ``max_segments``, a segment more than a third deleted rewritten. ``self`` is unchanged."""
        alive = {name: mask.copy() for name, mask in self.alive_by_seg.items()}
        remove = np.asarray(sorted(set(remove)), dtype=np.int64)
        if len(remove):
            offsets = np.asarray(self.offsets, dtype=np.int64)
            which = np.searchsorted(offsets, remove, side="right") - 1
            for k in np.unique(which):
                seg = self.segments[k]
                alive[seg.name][remove[which == k] - offsets[k]] = False
        segments = [s for s in self.segments if alive[s.name].any()]
        if add:
            new = Segment.build([a[0] for a in add], [a[1] for a in add], [a[2] for a in add], [a[3] for a in add])
            segments.append(new)
            alive[new.name] = np.ones(len(new), dtype=bool)
        segments = _merged(segments, alive, max_segments)
        dead = {s.name: np.flatnonzero(~alive[s.name]) for s in segments if s.name in alive}
        return LexicalIndex(segments, dead, files, self.stamp if stamp is None else stamp)

    # --- persistence ---------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        """Commit this index to ``directory``: write the segments not there yet (fsynced), then
        replace the state file atomically (the commit point), then remove what no state names.
        Killed at any point, the folder holds the previous state or this one, never a mix."""
        directory.mkdir(parents=True, exist_ok=True)
        with FileLock(str(directory / "commit.lock")):
            discard_leftovers(directory)
            for seg in self.segments:
                if not (directory / f"{seg.name}.npz").exists() or not (directory / f"{seg.name}.json").exists():
                    seg.save(directory)
            _fsync(directory)
            state = {"format": FORMAT, "segments": [s.name for s in self.segments], "dead": self.dead(),
                     "files": self.files, "stamp": self.stamp, "count": len(self)}
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=STATE, suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    json.dump(state, fh)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, directory / STATE)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            _fsync(directory)
            shutil.rmtree(directory / "bm25", ignore_errors=True)  # the whole-index format before segments
            (directory / "chunks.json").unlink(missing_ok=True)
            keep = {f"{s.name}{ext}" for s in self.segments for ext in (".npz", ".json")}
            for item in directory.iterdir():
                if item.name.startswith("seg-") and item.name not in keep:
                    item.unlink(missing_ok=True)
                elif item.name.startswith(STATE) and item.name.endswith(".tmp"):
                    item.unlink(missing_ok=True)  # of a commit killed before its rename

    @classmethod
    def load(cls, directory: Path, cache: "LexicalIndex | None" = None) -> "LexicalIndex | None":
        """Load a committed index, or None when there is none (or it is unreadable). Segments
        that ``cache`` already holds are reused, not read again."""
        try:
            state = json.loads((directory / STATE).read_text(encoding="utf-8"))
            if not (isinstance(state, dict) and state.get("format") == FORMAT):
                return None
            names, dead, files = state["segments"], state["dead"], state["files"]
            if not (isinstance(names, list) and isinstance(dead, dict) and isinstance(files, dict)):
                return None
            known = {s.name: s for s in cache.segments} if cache is not None else {}
            segments = [known.get(n) or Segment.load(directory, n) for n in names]
            lex = cls(segments, {k: np.asarray(v, dtype=np.int64) for k, v in dead.items()}, files,
                      int(state.get("stamp") or 0))
            if lex.total and (not lex.len_sum or len(lex) != state.get("count", len(lex))):
                return None
        except Exception:  # noqa: BLE001 - any damage means "rebuild it", never a failed question
            return None
        return lex

    # --- scoring -------------------------------------------------------------------------------
    def _alive_float(self) -> np.ndarray:
        if self._alive_f is None:
            self._alive_f = self.alive.astype(np.float32)
        return self._alive_f

    def _column(self, k: int, token: str) -> tuple[np.ndarray, np.ndarray] | None:
        seg = self.segments[k]
        col = seg.vocab.get(token)
        if col is None:
            return None
        a, b = seg.indptr[col], seg.indptr[col + 1]
        return seg.docs[a:b], seg.tfs[a:b]

    def get_scores(self, tokens: list[str]) -> np.ndarray:
        """BM25 of every slot for ``tokens`` (a repeated token counts again, as in bm25s); 0 for
        deleted chunks."""
        scores = np.zeros(self.total, dtype=np.float32)
        if not self.n_live:
            return scores
        for token in tokens:
            for slots, part in self._token_scores(token):
                scores[slots] += part
        if not self.whole:
            scores *= self._alive_float()
        return scores

    def _token_scores(self, token: str) -> list[tuple[np.ndarray, np.ndarray]]:
        """(slots, float32 BM25 part) of one token per segment; computed once per token for this
        (immutable) index and kept for the next questions, up to ``SCORE_CACHE_BYTES`` in all
        (unbounded, the common words of a few dozen questions held gigabytes at a million chunks)."""
        cached = self._column_scores.get(token)
        if cached is not None:
            return cached  # type: ignore[return-value]
        out = []
        df = self.document_frequency(token)
        if df:
            n, avgdl = self.n_live, self.len_sum / self.n_live
            idf = float(np.float32(_idf(df, n)))  # bm25s keeps idf in float32, then scores in float64
            for k, seg in enumerate(self.segments):
                got = self._column(k, token)
                if got is None:
                    continue
                docs, tfs = got
                tf = tfs.astype(np.float64)
                part = idf * (tf / (K1 * ((1 - B) + B * seg.lengths[docs] / avgdl) + tf))
                slots = docs.astype(np.int64 if self.total >= 2**31 else np.int32) + self.offsets[k]
                out.append((slots, part.astype(np.float32)))
        size = sum(a.nbytes + b.nbytes for a, b in out)
        if self._cached_bytes + size > SCORE_CACHE_BYTES:
            self._column_scores.clear()
            self._cached_bytes = 0
        if size <= SCORE_CACHE_BYTES // 4:
            self._column_scores[token] = out
            self._cached_bytes += size
        return out

    def mask(self, filters: dict[str, str] | None) -> np.ndarray | None:
        """1.0 for live slots that pass the equality filters, else 0.0 (None: no filter)."""
        if not filters:
            return None
        keep = self._alive_float().copy()
        for i, meta in enumerate(self.slot_metas):
            for key, value in filters.items():
                if isinstance(value, tuple):  # several values: any of them
                    ok = bool(set(value) & set(meta["topics"])) if key == "topic" else meta.get(key) in value
                elif key == "topic":
                    ok = value in meta["topics"]
                else:
                    ok = meta.get(key) == value
                if not ok:
                    keep[i] = 0.0
                    break
        return keep

    def _known(self, query: str) -> list[str]:
        return [t for t in tokenize(query) if self.document_frequency(t)]

    def search(self, query: str, k: int, filters: dict[str, str] | None = None,
               alternatives: Sequence[tuple[str, str]] = ()) -> list[tuple[str, float]]:
        """Top ``k`` (chunk_id, bm25 score) with a positive score that pass the filters.

        ``alternatives``: names of the query written twice, as typed and in full ("NATO (North
        Atlantic Treaty Organization)": ``("NATO", "North Atlantic Treaty Organization")``). Each
        scores as the better of its two forms, not their sum (a disjunction, as search engines
        score synonyms): otherwise the full name's four words outweigh what the question asks
        about, and every chunk that spells the name out outranks the one that answers.
        """
        scores = self._query_scores(query, alternatives)
        if scores is None:
            return []
        mask = self.mask(filters)
        if mask is not None:
            scores = scores * mask
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [(self.slot_ids[i], float(scores[i])) for i in top if scores[i] > 0]

    def _query_scores(self, query: str, alternatives: Sequence[tuple[str, str]]) -> np.ndarray | None:
        """BM25 of every slot for ``query``, each of ``alternatives`` scored as the better of its
        forms (see :meth:`search`); None when no word of the query is in the index."""
        rest, groups = query, []
        for typed, full in alternatives:
            written = f"{typed} ({full})"
            if written in rest:
                rest = rest.replace(written, " ", 1)
                groups.append((self._known(typed), self._known(full)))
        tokens = self._known(rest)
        if not tokens and not any(a or b for a, b in groups):
            return None
        scores = self.get_scores(tokens)
        for forms in groups:
            scores += np.maximum(*(self.get_scores(f) for f in forms))
        return scores

    def structural(self, query: str, k: int, filters: dict[str, str] | None = None) -> list[str]:
        """Chunks whose section heading names an article/chapter/... that the query names.

        "Article 5" matches the section "Article 5 – Collective defence" but not "Article 51";
        matches are ordered by BM25 score so the right instrument comes first.
        """
        refs = set(references(query))
        if not refs or not self.n_live:
            return []
        mask = self.mask(filters)
        table = self._reference_table()
        hits = sorted({i for ref in refs for i in table.get(ref, ()) if mask is None or mask[i] > 0})
        if not hits:
            return []
        tokens = self._known(query)
        scores = self.get_scores(tokens) if tokens else np.zeros(self.total)
        hits.sort(key=lambda i: -scores[i])
        return [self.slot_ids[i] for i in hits[:k]]

    def _reference_table(self) -> dict[tuple[str, str], list[int]]:
        """Which live slots each heading reference points at; built once, on the first query that
        names one (a scan of every heading per question costs in proportion to the index)."""
        if self._refs is None:
            per_section: dict[str, list[tuple[str, str]]] = {}
            table: dict[tuple[str, str], list[int]] = {}
            for i, meta in enumerate(self.slot_metas):
                if not self.alive[i]:
                    continue
                section = meta.get("section", "")
                if section not in per_section:
                    per_section[section] = sorted(set(references(section)))
                for ref in per_section[section]:
                    table.setdefault(ref, []).append(i)
            self._refs = table
        return self._refs

    def vocabulary(self) -> "Vocabulary":
        """The tokens of the live chunks."""
        if self._vocabulary is None:
            tokens: set[str] = set()
            for seg in self.segments:
                alive = self.alive_by_seg[seg.name]
                if alive.all():
                    tokens.update(seg.tokens)
                elif len(seg.docs):
                    live = np.add.reduceat(alive[seg.docs].astype(np.int64), seg.indptr[:-1])
                    tokens.update(t for t, n in zip(seg.tokens, live) if n)
            self._vocabulary = Vocabulary(tokens)
        return self._vocabulary

    def variants(self, token: str) -> list[str]:
        """The indexed tokens that are ``token`` or its place/demonym pair (see :func:`same_word`)."""
        return self.vocabulary().variants(token) if self.n_live else []

    def related(self, token: str) -> list[str]:
        """The indexed tokens that are ``token`` in another form (see :meth:`Vocabulary.related`)."""
        return self.vocabulary().related(token) if self.n_live else []

    def _postings(self, token: str) -> np.ndarray:
        """The live slots holding ``token`` (ascending)."""
        out = []
        for k in range(len(self.segments)):
            got = self._column(k, token)
            if got is not None:
                out.append(got[0].astype(np.int64) + self.offsets[k])
        if not out:
            return np.zeros(0, dtype=np.int64)
        slots = np.concatenate(out)
        return slots if self.whole else slots[self.alive[slots]]

    def chunks_with_all(self, tokens: list[str]) -> int:
        """How many chunks contain every one of ``tokens`` (already tokenized; a token also
        matches its place/demonym pair, so "North Korean" is found beside "North Korea")."""
        return int(len(self._slots_with_all(tokens)))

    def ids_with_all(self, tokens: list[str], limit: int) -> list[str]:
        """The ids of up to ``limit`` chunks that contain every one of ``tokens`` (as
        :meth:`chunks_with_all` counts them)."""
        return [self.slot_ids[i] for i in self._slots_with_all(tokens)[:limit]]

    def _slots_with_all(self, tokens: list[str]) -> np.ndarray:
        empty = np.zeros(0, dtype=np.int64)
        if not self.n_live or not tokens:
            return empty
        postings = []
        for token in set(tokens):
            cols = self.variants(token)
            if not cols:
                return empty
            if len(cols) == 1:
                postings.append(self._postings(cols[0]))
            else:
                postings.append(np.unique(np.concatenate([self._postings(c) for c in cols])))
        postings.sort(key=len)  # rarest first: the intersection shrinks at once (numpy, not Python
        common = postings[0]  # sets: common words have tens of thousands of chunks at 100k)
        for docs in postings[1:]:
            common = np.intersect1d(common, docs, assume_unique=True)
            if not len(common):
                return empty
        return common

    def document_frequency(self, token: str) -> int:
        """How many live chunks contain a (tokenized) term; 0 for unknown terms."""
        df = 0
        for k, seg in enumerate(self.segments):
            got = self._column(k, token)
            if got is None:
                continue
            alive = self.alive_by_seg[seg.name]
            df += len(got[0]) if self.whole or alive.all() else int(alive[got[0]].sum())
        return df


def _merged(segments: list[Segment], alive: dict[str, np.ndarray], max_segments: int) -> list[Segment]:
    """Tiered merging: a segment more than a third deleted is rewritten; past ``max_segments``,
    the smallest segments are merged into one (the large ones are left alone, so an update's cost
    stays near the size of what changed)."""
    out = []
    for seg in segments:
        mask = alive[seg.name]
        if len(seg) > 64 and (~mask).sum() * 3 > len(seg):
            new = Segment.merge([(seg, mask)])
            alive[new.name] = np.ones(len(new), dtype=bool)
            out.append(new)
        else:
            out.append(seg)
    if len(out) > max(max_segments, 1):
        by_size = sorted(out, key=lambda s: int(alive[s.name].sum()))
        small = by_size[: len(out) - max(max_segments // 2, 1) + 1]
        new = Segment.merge([(s, alive[s.name]) for s in small])
        alive[new.name] = np.ones(len(new), dtype=bool)
        names = {s.name for s in small}
        out = [s for s in out if s.name not in names] + [new]
    return out


def discard_leftovers(directory: Path) -> None:
    """Remove the ``.tmp``/``.old`` folders that a save of the older whole-index format killed
    half-way leaves beside ``directory``."""
    for suffix in (".tmp", ".old"):
        shutil.rmtree(directory.with_name(directory.name + suffix), ignore_errors=True)


def _slim(meta: dict) -> dict:
    if "topics" in meta and isinstance(meta["topics"], list):
        return meta  # already slim
    out = {k: meta.get(k, "") for k in FILTER_FIELDS}
    out["topics"] = [t for t in str(meta.get("topics", "")).split("|") if t]
    return out


class LexicalUnion:
    """Term statistics over several lexical indexes (the corpus and the user's uploads)."""

    def __init__(self, parts: list[LexicalIndex]) -> None:
        self.parts = parts

    def __len__(self) -> int:
        return sum(len(p) for p in self.parts)

    def document_frequency(self, token: str) -> int:
        return sum(p.document_frequency(token) for p in self.parts)

    def chunks_with_all(self, tokens: list[str]) -> int:
        return sum(p.chunks_with_all(tokens) for p in self.parts)

    def ids_with_all(self, tokens: list[str], limit: int) -> list[str]:
        return [cid for p in self.parts for cid in p.ids_with_all(tokens, limit)][:limit]

    def variants(self, token: str) -> list[str]:
        return list(dict.fromkeys(v for p in self.parts for v in p.variants(token)))

    def related(self, token: str) -> list[str]:
        return list(dict.fromkeys(v for p in self.parts for v in p.related(token)))
