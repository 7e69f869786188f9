"""Ablations for ``assistant eval --compare``: dense only, BM25 only, hybrid, and a naive baseline
(fixed 1,000-character splits, dense only, top-4: what a quick LangChain tutorial builds)."""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from .evaluation import PASSAGES, Question, answer_metrics, evaluate_answer, retrieval_metrics
from .retrieval import Retrieval, passage_from


def _naive_index(bot):
    """Split every indexed file into 1,000-character pieces and embed them in memory."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from .loaders import load

    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=0)
    ids, texts, metas = [], [], []
    for path in bot.index().load_manifest()["files"]:
        doc = load(__import__("pathlib").Path(path))
        full = "\n\n".join(s.text for s in doc.sections)
        for i, piece in enumerate(splitter.split_text(full)):
            ids.append(f"{doc.meta['id']}:naive:{i}")
            texts.append(piece)
            metas.append({"doc_id": doc.meta["id"], "title": doc.meta["title"], "url": doc.meta["url"], "section": ""})
    client = chromadb.EphemeralClient(settings=ChromaSettings(anonymized_telemetry=False))
    name = f"naive{int(time.time() * 1000)}"
    col = client.create_collection(name, metadata={"hnsw:space": "cosine"}, embedding_function=None)
    vecs = bot.embeddings.encode(texts)
    step = client.get_max_batch_size()
    for i in range(0, len(ids), step):
        col.add(ids=ids[i : i + step], documents=texts[i : i + step], metadatas=metas[i : i + step], embeddings=vecs[i : i + step])
    return col


def _naive_retrieve(bot, col, query: str, k: int = 4) -> Retrieval:
    qvec = np.asarray(bot.embeddings.encode([query])[0], dtype=np.float32)
    got = col.query(query_embeddings=[qvec], n_results=k, include=["documents", "metadatas", "distances"])
    passages = [
        passage_from(cid, text, meta, 1.0 / (1 + rank), 1.0 - dist)
        for rank, (cid, text, meta, dist) in enumerate(
            zip(got["ids"][0], got["documents"][0], got["metadatas"][0], got["distances"][0])
        )
    ]
    return Retrieval(passages, qvec, {})


def run_ablations(bot, questions: list[Question], k: int = 5) -> dict[str, dict[str, Any]]:
    """Retrieval and answer metrics for each system on the same questions, in one run: the same
    planning, decision and answerer over hybrid, dense-only, BM25-only and naive retrieval."""
    from .decision import decide

    lexical = bot.index().lexical()
    names = bot.names()
    systems: dict[str, Any] = {"hybrid": "hybrid", "dense": "dense", "bm25": "bm25"}
    naive = _naive_index(bot)
    out: dict[str, dict[str, Any]] = {}
    for name in [*systems, "naive"]:
        rows = []
        for q in questions:
            plan = bot.plan(q.question, q.history or None)
            start = time.perf_counter()
            if name == "naive":
                retrieval = _naive_retrieve(bot, naive, plan.query)
            else:
                focus = plan.focus_docs if name == "hybrid" else None
                query = plan.search_query if name == "hybrid" else plan.query
                alternatives = plan.alternatives if name == "hybrid" else None
                retrieval = bot.search(query, PASSAGES, None, systems[name], focus=focus, alternatives=alternatives,
                                       focus_query=plan.focus_query if name == "hybrid" else None)
            decision = decide(plan, retrieval.passages, lexical, names, threshold=bot.settings.answer_threshold)
            answer = (bot.answerer.answer(plan, retrieval, lexical) if decision.answer
                      else bot.answerer.abstention(q.question, retrieval.passages, decision.reason))
            answer.latency_ms = (time.perf_counter() - start) * 1000
            texts = {p.chunk_id: p.text for p in retrieval.passages}
            rows.append(evaluate_answer(q, answer, texts))
        metrics = retrieval_metrics(rows, k) | answer_metrics(rows)
        metrics.pop("quote_exact", None)
        lat = sorted(r["latency_ms"] for r in rows)
        metrics["latency_p50_ms"] = round(lat[len(lat) // 2], 1) if lat else None
        out[name] = metrics
    return out
