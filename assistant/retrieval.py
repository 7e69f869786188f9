"""Hybrid retrieval: dense (Chroma) + BM25 (bm25s), fused by reciprocal rank fusion.

Filters apply to both sides; a chunk found by both is counted once; identical texts from
different files are collapsed; at most ``max_chunks_per_doc`` chunks of one document are kept
so that comparative questions see more than one instrument.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from .chunking import chunk_position, stored_spans  # noqa: F401 - chunk_position: also imported from here
from .settings import Settings
from .store import Index
from .types import Passage

Mode = Literal["hybrid", "dense", "bm25"]


# A number of two or more digits ("ETS No. 185", "resolution 2396"): where embeddings are weakest
# and exact word matches strongest, so the lexical ranking counts more (Settings.identifier_lexical_boost).
IDENTIFIER_RE = re.compile(r"\b\d{2,}\b")


def rrf(rankings: list[list[str]], k: int, weights: list[float] | None = None) -> dict[str, float]:
    """Reciprocal rank fusion: score(d) = sum over rankings of w / (k + rank), rank from 1."""
    scores: dict[str, float] = {}
    for i, ranking in enumerate(rankings):
        w = weights[i] if weights else 1.0
        for rank, cid in enumerate(ranking, 1):
            scores[cid] = scores.get(cid, 0.0) + w / (k + rank)
    return scores


@dataclass
class Retrieval:
    """Passages (best first) and the query vector they were found with."""

    passages: list[Passage]
    query_vector: np.ndarray
    spans: dict[str, list[tuple[int, int]]]  # chunk_id -> sentence spans stored at ingest
    # chunk_id of a passage -> the chunks of its provision around it, in document order
    # (filled by :func:`expand_provisions` for the passages the answerer reads)
    provisions: dict[str, list[Passage]] = field(default_factory=dict)
    openings: set[str] = field(default_factory=set)  # chunk ids that open their provision (found so)


Hit = tuple[str, float, str, dict]  # a dense hit: (chunk id, similarity, text, metadata)


@dataclass
class Rankings:
    """What the index finds for one query, before fusion: :func:`gather` runs the searches,
    :func:`select` fuses and cuts them. ``scripts/tune_fusion.py`` gathers once per question and
    selects under each setting it compares, with the same code as :func:`search`."""

    query: str
    query_vector: np.ndarray
    filters: dict[str, str]
    mode: Mode
    dense: list[Hit]  # before the similarity floor
    lexical: list[str]
    structural: list[str]
    headed: frozenset[str]  # documents with headings (assistant/lexical.py headed_docs)
    # per document the question names: its dense hits (before the floor), BM25 and heading rankings
    focus: list[tuple[list[Hit], list[str], list[str]]] = field(default_factory=list)


def passage_from(cid: str, text: str, meta: dict, score: float, similarity: float) -> Passage:
    page = meta.get("page", -1)
    return Passage(
        chunk_id=cid,
        doc_id=meta.get("doc_id", ""),
        title=meta.get("title", ""),
        section=meta.get("section", ""),
        url=meta.get("url", ""),
        text=text,
        score=round(float(score), 6),
        similarity=round(float(similarity), 6),
        issuer=meta.get("issuer", ""),
        type=meta.get("type", ""),
        adopted=meta.get("adopted", ""),
        page=page if isinstance(page, int) and page > 0 else None,
        reviewed=str(meta.get("reviewed") or ""),
    )


def search(index: Index, query: str, k: int, filters: dict[str, str], settings: Settings,
           mode: Mode = "hybrid", focus: list[str] | None = None,
           alternatives: Sequence[tuple[str, str]] = (), focus_query: str | None = None) -> Retrieval:
    """Retrieve the ``k`` best passages for ``query`` (filters already validated), with the
    retrieval tunables of ``settings`` (candidates, fusion weights, floors, per-document cap).

    ``focus``: documents the question names (query planning); each adds the dense, BM25 and
    heading rankings run within that document, weighted ``settings.focus_weight``, so that "art 5
    of the NATO treaty" finds the treaty's Article 5 before any other document's.

    ``alternatives``: the names ``query`` writes twice, as typed and in full (``QueryPlan.alternatives``):
    the index-wide BM25 ranking scores each as one name (:meth:`assistant.lexical.LexicalIndex.search`).

    ``focus_query``: what the dense ranking within each focus document searches for, when it is not
    ``query`` (:attr:`assistant.planning.QueryPlan.focus_query`: the question without the names
    of the documents, which every passage of such a document shares).
    """
    return select(index, gather(index, query, filters, settings.candidates, mode, focus, alternatives, focus_query),
                  settings, k)


def gather(index: Index, query: str, filters: dict[str, str], candidates: int, mode: Mode = "hybrid",
           focus: list[str] | None = None, alternatives: Sequence[tuple[str, str]] = (),
           focus_query: str | None = None) -> Rankings:
    """Run the searches of ``query``: dense, BM25 and (hybrid) "Article N" heading rankings of
    ``candidates`` each, and (hybrid) the same within each focus document (half as many; the
    dense one for ``focus_query`` when given)."""
    qvec = np.asarray(index.embeddings.encode([query])[0], dtype=np.float32)
    dense = index.dense(qvec.tolist(), candidates, filters) if mode != "bm25" else []
    lex_index = index.lexical()
    lexical = lex_index.search(query, candidates, filters, alternatives) if mode != "dense" else []
    # Exact references ("Article 5", "Chapter VII") are a third ranking in hybrid mode.
    structural = lex_index.structural(query, candidates, filters) if mode == "hybrid" else []
    headed = lex_index.headed_docs() if hasattr(lex_index, "headed_docs") else frozenset()
    rankings = Rankings(query, qvec, filters, mode, list(dense), [cid for cid, _ in lexical], structural, headed)
    focused = [doc for doc in (focus or []) if filters.get("doc_id", doc) == doc] if mode == "hybrid" else []
    # measured: the question without the documents' names finds their provisions better by meaning
    # (realdocs-dev key facts 0.756 -> 0.781, fresh 0.750 -> 0.794; BM25 within them keeps the
    # whole query: without the names it lost, realdocs-dev-2 0.749 -> 0.680; docs/evaluation.md)
    fvec = (np.asarray(index.embeddings.encode([focus_query])[0], dtype=np.float32)
            if focused and focus_query and focus_query != query else qvec)
    for doc in focused:
        within = {**filters, "doc_id": doc}
        try:
            doc_dense = list(index.dense(fvec.tolist(), candidates // 2, within))
        except Exception:  # noqa: BLE001 - a filtered query during another process's write can fail
            doc_dense = []  # ("Error finding id"): the unfiltered rankings still stand
        # within the document a name names, its forms are not scored as one name: measured, that
        # lowered key facts (dev 0.739 -> 0.731, realdocs-dev 0.746 -> 0.733; docs/evaluation.md)
        rankings.focus.append((doc_dense, [cid for cid, _ in lex_index.search(query, candidates // 2, within)],
                               lex_index.structural(query, candidates // 2, within)))
    return rankings


def select(index: Index, rankings: Rankings, settings: Settings, k: int) -> Retrieval:
    """Fuse ``rankings`` (reciprocal rank fusion with the weights of ``settings``) and keep the
    ``k`` best passages: identical texts once, at most ``settings.max_chunks_per_doc`` per document,
    an unheaded chunk of a headed text without front matter demoted."""
    s, r = settings, rankings
    # Below this similarity a dense hit carries no signal (all-MiniLM-L6-v2 gives ~0.25 to
    # unrelated text); letting it vote in the fusion only pushes exact matches down.
    dense = [d for d in r.dense if d[1] >= s.dense_floor] if r.mode == "hybrid" else r.dense
    found = {cid: (text, meta, sim) for cid, sim, text, meta in dense}
    lexical_weight = s.lexical_weight * (s.identifier_lexical_boost if IDENTIFIER_RE.search(r.query) else 1.0)
    weights = [1.0, lexical_weight, s.structural_weight]
    ranked_lists = [[d[0] for d in dense], r.lexical, r.structural]
    for doc_dense, doc_lexical, doc_structural in r.focus:
        doc_dense = [d for d in doc_dense if d[1] >= s.dense_floor]
        for cid, sim, text, meta in doc_dense:
            found.setdefault(cid, (text, meta, sim))
        ranked_lists += [[d[0] for d in doc_dense], doc_lexical, doc_structural]
        weights += [s.focus_weight, s.focus_weight * lexical_weight, s.focus_weight * s.structural_weight]
    fused = rrf(ranked_lists, s.rrf_k, weights)
    ranked = sorted(fused, key=lambda cid: -fused[cid])
    max_per_doc = s.max_chunks_per_doc
    qvec = r.query_vector

    missing = [cid for cid in ranked[: k * 3 + max_per_doc] if cid not in found]
    for cid, (text, meta, vec) in index.get(missing, embeddings=True).items():
        found[cid] = (text, meta, float(np.dot(qvec, np.asarray(vec, dtype=np.float32))))

    # In a text that came as it is (no front matter of ours) and has headings, a chunk under no
    # heading is its title page, front matter or preamble: recitals, not provisions. (A brief's
    # unheaded opening is its summary, and a text with no heading at all is all body: both stay.)
    ranked = [cid for cid in ranked if cid in found]
    for cid in ranked:
        meta = found[cid][1]
        if not meta.get("section") and not meta.get("issuer") and meta.get("doc_id") in r.headed:
            fused[cid] *= s.unheaded_weight
    ranked.sort(key=lambda cid: -fused[cid])
    passages: list[Passage] = []
    spans: dict[str, list[tuple[int, int]]] = {}
    per_doc: dict[str, int] = {}
    seen_text: set[str] = set()
    for cid in ranked:
        if cid not in found:
            continue
        text, meta, sim = found[cid]
        digest = hashlib.sha1(" ".join(text.split()).encode("utf-8")).hexdigest()
        doc = meta.get("doc_id", "")
        if digest in seen_text or per_doc.get(doc, 0) >= max_per_doc:
            continue
        seen_text.add(digest)
        per_doc[doc] = per_doc.get(doc, 0) + 1
        passages.append(passage_from(cid, text, meta, fused[cid], sim))
        if meta.get("sents"):
            spans[cid] = stored_spans(text, meta)
        if len(passages) == k:
            break
    return Retrieval(passages, qvec, spans)


def find_definitions(index: Index, retrieval: Retrieval, term: str, docs: list[str], filters: dict[str, str],
                     candidates: int = 10) -> None:
    """Put the chunks that define ``term`` (“term” means …) first in ``retrieval``: searched by
    the term's words and "means" (within ``docs`` when the question names documents), kept when
    a sentence of theirs defines it (:func:`assistant.planning.defines`).

    A legal text defines its terms once, in an article of definitions that a question about the
    term rarely resembles: "what's a BCN weapon?" is closest to the articles that use BCN weapons.
    """
    from .planning import defines

    lex = index.lexical()
    found: list[str] = []
    for doc in docs or [None]:
        within = {**filters, "doc_id": doc} if doc else filters
        if doc and filters.get("doc_id", doc) != doc:
            continue
        found += [cid for cid, _ in lex.search(f"{term} means", candidates, within)]
    have = {p.chunk_id for p in retrieval.passages}
    got = index.get([cid for cid in dict.fromkeys(found) if cid not in have], embeddings=True)
    defining: list[Passage] = []
    for cid in dict.fromkeys(found):
        if cid in have:
            p = next(p for p in retrieval.passages if p.chunk_id == cid)
            if defines(term, p.text):
                defining.append(p)
            continue
        if cid in got and defines(term, got[cid][0]):
            defining.append(_fetched(retrieval, cid, *got[cid]))
    _put_first(retrieval, defining[:2])


def find_provisions(index: Index, retrieval: Retrieval, query: str, docs: list[str], filters: dict[str, str],
                    n: int, candidates: int = 10) -> None:
    """When none of the first ``n`` passages sits under a provision the query names in one of
    ``docs`` ("art 20 of ETS 182"), put that provision's best chunk (by the query's BM25 among
    the chunks under it) first: a question that names an article of a named instrument asks about
    that article, even when its other words ("what's in") match other articles better."""
    from .lexical import references

    refs = set(references(query))
    if not refs or not docs:
        return
    if any(refs & set(references(p.section)) for p in retrieval.passages[:n]):
        return
    lex = index.lexical()
    found: list[str] = []
    for doc in docs:
        if filters.get("doc_id", doc) != doc:
            continue
        found += lex.structural(query, candidates, {**filters, "doc_id": doc})[:1]
    got = index.get(found, embeddings=True)
    _put_first(retrieval, [_fetched(retrieval, cid, *got[cid]) for cid in found if cid in got])


def _fetched(retrieval: Retrieval, cid: str, text: str, meta: dict, vec) -> Passage:
    """A chunk fetched from the store as a passage of ``retrieval`` (scored as its best passage,
    its similarity to the query computed), its sentence spans recorded."""
    similarity = float(np.dot(retrieval.query_vector, np.asarray(vec, dtype=np.float32)))
    top = retrieval.passages[0].score if retrieval.passages else 0.0
    if meta.get("sents"):
        retrieval.spans[cid] = stored_spans(text, meta)
    return passage_from(cid, text, meta, top, similarity)


def _put_first(retrieval: Retrieval, passages: list[Passage]) -> None:
    """``passages`` at the head of ``retrieval``, each chunk once."""
    first = {p.chunk_id for p in passages}
    if first:
        retrieval.passages[:] = passages + [p for p in retrieval.passages if p.chunk_id not in first]


def expand_provisions(index: Index, retrieval: Retrieval, n: int, before: int, after: int) -> None:
    """Give each of the first ``n`` passages that sits under a heading the chunks of the same
    provision around it (``before`` chunks earlier, ``after`` later; same document, same heading),
    in ``retrieval.provisions``.

    A legal text's unit is the provision: an article cut into chunks states its rule in the first
    paragraph and qualifies it in the next ones, and the chunk that matches a question best is often
    a qualification. Reading the chunks around it lets the answer quote the paragraph that answers.
    The added chunks carry the score and similarity of the passage they were found through.
    """
    # The chunks around each passage are found in the lexical index, then fetched in one get by
    # id for all of them (a get filtered by document and heading per passage cost seconds
    # through a Chroma server at a million chunks).
    around: dict[str, list[str]] = {}
    for p in retrieval.passages[:n]:
        position = chunk_position(p.chunk_id)
        if not p.section or position is None or p.chunk_id in retrieval.provisions or p.chunk_id in around:
            continue
        try:
            around[p.chunk_id] = index.neighbour_ids(p.doc_id, p.section, position, before, after)
        except Exception:  # noqa: BLE001 - a store error: the passage alone stands, as before
            around[p.chunk_id] = []
    try:
        stored = index.get([cid for ids in around.values() for cid in ids])
    except Exception:  # noqa: BLE001 - a store error: the passages alone stand, as before
        stored = {}
    for p in retrieval.passages[:n]:
        if p.chunk_id not in around or p.chunk_id in retrieval.provisions:
            continue
        found = {cid: stored[cid][:2] for cid in around[p.chunk_id] if cid in stored}
        chunks = sorted(((chunk_position(cid) or 0, cid, text, meta) for cid, (text, meta) in found.items()
                         if meta.get("doc_id") == p.doc_id), key=lambda t: t[0])
        group = []
        for _, cid, text, meta in chunks:
            if cid == p.chunk_id:
                group.append(p)
                continue
            group.append(passage_from(cid, text, meta, p.score, p.similarity))
            if meta.get("sents") and cid not in retrieval.spans:
                retrieval.spans[cid] = stored_spans(text, meta)
        if group:
            retrieval.openings.add(group[0].chunk_id)
        if len(group) > 1:
            retrieval.provisions[p.chunk_id] = group


def __getattr__(name: str):
    """``PolicyRetriever`` (a LangChain ``BaseRetriever``) lives in :mod:`assistant.chain` and is
    imported on first use: searching never pays for LangChain's Runnable machinery (~0.5 s)."""
    if name == "PolicyRetriever":
        from .chain import PolicyRetriever

        return PolicyRetriever
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
