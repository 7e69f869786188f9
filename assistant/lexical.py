"""BM25 over chunk texts with ``bm25s``, persisted next to the Chroma data.

Chroma is the source of truth: the lexical index is rebuilt from it after every ingest and
records a fingerprint of the chunk ids it covers, so a reader can tell when it is stale.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import numpy as np

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


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    """English stop words (bm25s's list)."""
    from bm25s.stopwords import STOPWORDS_EN

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


def _fsync_tree(path: Path) -> None:
    """fsync every file under ``path``, then the folders themselves (their entries)."""
    for item in sorted(path.rglob("*"), key=lambda p: -len(p.parts)):
        _fsync(item)
    _fsync(path)


class LexicalIndex:
    """BM25 scores for every chunk, with the metadata needed to apply filters."""

    def __init__(self, ids: list[str], metas: list[dict], bm25, fp: str) -> None:
        self.ids = ids
        self.metas = metas
        self.bm25 = bm25
        self.fingerprint = fp
        self._pos = {cid: i for i, cid in enumerate(ids)}
        self._refs: dict[tuple[str, str], list[int]] | None = None  # ("article", "5") -> chunks whose heading names it
        self._vocabulary: Vocabulary | None = None  # the BM25 vocabulary, for variants()
        self._headed: frozenset[str] | None = None  # documents with a chunk under a heading

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def build(cls, ids: list[str], texts: list[str], metas: list[dict]) -> "LexicalIndex":
        """Index ``texts`` (already prefixed with title and section)."""
        import bm25s

        slim = [_slim(m) for m in metas]
        bm25 = None
        if ids:
            bm25 = bm25s.BM25()
            # An empty token list would break bm25s; "∅" keeps positions aligned.
            bm25.index([tokenize(t) or ["∅"] for t in texts], show_progress=False)
        return cls(list(ids), slim, bm25, fingerprint(ids))

    def save(self, directory: Path) -> None:
        """Write atomically: build in a temp dir, then swap it in."""
        tmp = directory.with_name(directory.name + ".tmp")
        discard_leftovers(directory)
        tmp.mkdir(parents=True)
        if self.bm25 is not None:
            self.bm25.save(str(tmp / "bm25"), show_progress=False)
        (tmp / "chunks.json").write_text(
            json.dumps({"fingerprint": self.fingerprint, "ids": self.ids, "metas": self.metas}),
            encoding="utf-8",
        )
        _fsync_tree(tmp)  # on disk before the swap: a power cut leaves the old or the new index
        old = directory.with_name(directory.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if directory.exists():
            os.replace(directory, old)
        os.replace(tmp, directory)
        _fsync(directory.parent)
        shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, directory: Path) -> "LexicalIndex | None":
        """Load a saved index, or None when there is none (or it is unreadable)."""
        import bm25s

        try:
            data = json.loads((directory / "chunks.json").read_text(encoding="utf-8"))
            ids, metas, fp = data["ids"], data["metas"], data["fingerprint"]
            if not (isinstance(ids, list) and isinstance(metas, list) and len(ids) == len(metas)
                    and all(isinstance(m, dict) for m in metas) and isinstance(fp, str)):
                return None
            bm25 = None
            if ids:
                bm25 = bm25s.BM25.load(str(directory / "bm25"), show_progress=False, verbosity=0)
                # A params file that is valid JSON with wrong values loads, then fails on every
                # query (TypeError): try one query here, so such an index counts as unreadable.
                probe = bm25.get_scores([next(iter(bm25.vocab_dict))])
                if len(probe) != len(ids):
                    return None
        except Exception:  # noqa: BLE001 - any damage means "rebuild it", never a failed question
            return None
        return cls(ids, metas, bm25, fp)

    def mask(self, filters: dict[str, str] | None) -> np.ndarray | None:
        """1.0 for chunks that pass the equality filters, else 0.0 (None: no filter)."""
        if not filters:
            return None
        keep = np.ones(len(self.ids), dtype=np.float32)
        for i, meta in enumerate(self.metas):
            for key, value in filters.items():
                if isinstance(value, tuple):  # any of several values (store.validate_filters)
                    ok = bool(set(value) & set(meta["topics"])) if key == "topic" else meta.get(key) in value
                elif key == "topic":
                    ok = value in meta["topics"]
                else:
                    ok = meta.get(key) == value
                if not ok:
                    keep[i] = 0.0
                    break
        return keep

    def search(self, query: str, k: int, filters: dict[str, str] | None = None) -> list[tuple[str, float]]:
        """Top ``k`` (chunk_id, bm25 score) with a positive score that pass the filters."""
        if self.bm25 is None:
            return []
        tokens = [t for t in tokenize(query) if t in self.bm25.vocab_dict]
        if not tokens:
            return []
        scores = self.bm25.get_scores(tokens)
        mask = self.mask(filters)
        if mask is not None:
            scores = scores * mask
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [(self.ids[i], float(scores[i])) for i in top if scores[i] > 0]

    def structural(self, query: str, k: int, filters: dict[str, str] | None = None) -> list[str]:
        """Chunks whose section heading names an article/chapter/... that the query names.

        "Article 5" matches the section "Article 5 – Collective defence" but not "Article 51";
        matches are ordered by BM25 score so the right instrument comes first.
        """
        refs = set(references(query))
        if not refs or self.bm25 is None:
            return []
        mask = self.mask(filters)
        table = self._reference_table()
        hits = sorted({i for ref in refs for i in table.get(ref, ()) if mask is None or mask[i] > 0})
        if not hits:
            return []
        tokens = [t for t in tokenize(query) if t in self.bm25.vocab_dict]
        scores = self.bm25.get_scores(tokens) if tokens else np.zeros(len(self.ids))
        hits.sort(key=lambda i: -scores[i])
        return [self.ids[i] for i in hits[:k]]

    def _reference_table(self) -> dict[tuple[str, str], list[int]]:
        """Which chunks each heading reference points at; built once, on the first query that
        names one (a scan of every heading per question cost 23 ms at 100k chunks)."""
        if self._refs is None:
            per_section: dict[str, list[tuple[str, str]]] = {}
            table: dict[tuple[str, str], list[int]] = {}
            for i, meta in enumerate(self.metas):
                section = meta.get("section", "")
                if section not in per_section:
                    per_section[section] = sorted(set(references(section)))
                for ref in per_section[section]:
                    table.setdefault(ref, []).append(i)
            self._refs = table
        return self._refs

    def variants(self, token: str) -> list[str]:
        """The indexed tokens that are ``token`` or its place/demonym pair (see :func:`same_word`)."""
        if self.bm25 is None:
            return []
        if self._vocabulary is None:
            self._vocabulary = Vocabulary(self.bm25.vocab_dict)
        return self._vocabulary.variants(token)

    def related(self, token: str) -> list[str]:
        """The indexed tokens that are ``token`` in another form (see :meth:`Vocabulary.related`)."""
        if self.bm25 is None:
            return []
        self.variants(token)  # builds the vocabulary
        return self._vocabulary.related(token)  # type: ignore[union-attr]

    def chunks_with_all(self, tokens: list[str]) -> int:
        """How many chunks contain every one of ``tokens`` (already tokenized; a token also
        matches its place/demonym pair, so "North Korean" is found beside "North Korea")."""
        if self.bm25 is None or not tokens:
            return 0
        indptr, indices = self.bm25.scores["indptr"], self.bm25.scores["indices"]
        postings = []
        for token in set(tokens):
            cols = [self.bm25.vocab_dict[v] for v in self.variants(token)]
            if not cols:
                return 0
            if len(cols) == 1:  # one column: each chunk appears in it once already
                postings.append(indices[indptr[cols[0]] : indptr[cols[0] + 1]])
            else:
                postings.append(np.unique(np.concatenate([indices[indptr[c] : indptr[c + 1]] for c in cols])))
        postings.sort(key=len)  # rarest first: the intersection shrinks at once (numpy, not Python
        common = postings[0]  # sets: common words have tens of thousands of chunks at 100k)
        for docs in postings[1:]:
            common = np.intersect1d(common, docs, assume_unique=True)
            if not len(common):
                return 0
        return int(len(common))

    def headed_docs(self) -> frozenset[str]:
        """Documents that have at least one chunk under a heading (their unheaded chunks are
        front matter; a text with no heading at all is all body)."""
        if self._headed is None:
            self._headed = frozenset(m.get("doc_id", "") for m in self.metas if m.get("section"))
        return self._headed

    def document_frequency(self, token: str) -> int:
        """How many chunks contain a (tokenized) term; 0 for unknown terms."""
        if self.bm25 is None or token not in self.bm25.vocab_dict:
            return 0
        col = self.bm25.vocab_dict[token]
        indptr = self.bm25.scores["indptr"]
        return int(indptr[col + 1] - indptr[col])


def discard_leftovers(directory: Path) -> None:
    """Remove the ``.tmp``/``.old`` folders that a save killed half-way leaves beside ``directory``."""
    for suffix in (".tmp", ".old"):
        shutil.rmtree(directory.with_name(directory.name + suffix), ignore_errors=True)


def _slim(meta: dict) -> dict:
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

    def variants(self, token: str) -> list[str]:
        return list(dict.fromkeys(v for p in self.parts for v in p.variants(token)))

    def related(self, token: str) -> list[str]:
        return list(dict.fromkeys(v for p in self.parts for v in p.related(token)))
