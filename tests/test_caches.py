"""Every cache is owned by the object that uses it and stays within its size (cachetools):
the answerer's sentence vectors, an ingest's memo of embedded texts, an index's re-embedded
vectors, and the store's per-manifest views and server presence answers."""
from __future__ import annotations

import numpy as np
import pytest
from cachetools import LRUCache, TTLCache

from assistant import answer, embeddings, store
from assistant.answer import Candidate, ExtractiveAnswerer
from assistant.settings import Settings
from assistant.types import Passage
from support import HashEmbeddings


def _passage(i: int) -> Passage:
    text = f"Sentence number {i} of the test passage about border cooperation."
    return Passage(chunk_id=f"doc:{i}:x", doc_id="doc", title="Doc", section="", url="https://example.org",
                   text=text, score=1.0)


def _candidates(ids) -> list[Candidate]:
    out = []
    for i in ids:
        p = _passage(i)
        out.append(Candidate(0, p, 0, len(p.text)))
    return out


def test_answerer_sentence_cache_is_an_lru_of_its_named_size(monkeypatch):
    monkeypatch.setattr(answer, "CACHE_SENTENCES", 5)
    emb = HashEmbeddings()
    answerer = ExtractiveAnswerer(emb)
    assert isinstance(answerer._cache, LRUCache) and answerer._cache.maxsize == 5
    first = _candidates(range(5))
    answerer._vectors(first)
    assert emb.calls == 5 and len(answerer._cache) == 5
    assert np.allclose(first[0].vector, emb.encode([first[0].text])[0])
    emb.calls = 0
    answerer._vectors(_candidates([0]))  # a hit: not embedded again, and now the most recently used
    assert emb.calls == 0
    answerer._vectors(_candidates(range(5, 9)))  # four more: the four least recently used go
    assert len(answerer._cache) == 5
    assert set(answerer._cache) == {"doc:0:x:0", "doc:5:x:0", "doc:6:x:0", "doc:7:x:0", "doc:8:x:0"}
    many = _candidates(range(100, 130))  # more than fit in one call: every candidate still gets its vector
    answerer._vectors(many)
    assert len(answerer._cache) == 5 and all(c.vector is not None for c in many)


def test_each_answerer_owns_its_cache():
    a, b = ExtractiveAnswerer(HashEmbeddings()), ExtractiveAnswerer(HashEmbeddings())
    a._vectors(_candidates([1]))
    assert len(a._cache) == 1 and len(b._cache) == 0
    assert a._cache.maxsize == answer.CACHE_SENTENCES


def test_ingest_memo_is_bounded_and_dropped_after_the_run(monkeypatch):
    monkeypatch.setattr(embeddings, "MEMO_SIZE", 3)
    emb = embeddings.MiniLMEmbeddings(backend="onnx")
    fake = HashEmbeddings()
    monkeypatch.setattr(emb, "_encode_model", lambda texts, progress: fake.encode(texts))
    with emb.remembering():
        assert isinstance(emb._memo, LRUCache) and emb._memo.maxsize == 3
        emb.encode(["a b", "c d", "e f"])
        assert emb.encoded == 3
        emb.encode(["a b"])  # remembered: not encoded again, now the most recently used
        assert emb.encoded == 3
        emb.encode(["g h", "i j"])  # "c d" and "e f" go
        assert set(emb._memo) == {"a b", "g h", "i j"}
        emb.encode(["c d"])
        assert emb.encoded == 6 and len(emb._memo) == 3
        emb.encode([f"text {i}" for i in range(50)])
        assert len(emb._memo) == 3
    assert emb._memo is None  # outside an ingest nothing is remembered
    before = emb.encoded
    emb.encode(["a b"])
    assert emb.encoded == before + 1


def test_index_reembedded_vectors_are_bounded_per_index(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "REEMBED_CACHE", 4)
    settings = Settings(index_dir=tmp_path / "idx")
    emb = HashEmbeddings()
    index = store.Index(settings, emb, create=True)
    other = store.Index(settings, HashEmbeddings(), create=True, name="user")
    assert isinstance(index._reembedded, LRUCache) and index._reembedded.maxsize == 4
    metas = [{"title": "T", "section": ""}] * 10
    texts = [f"chunk text {i}" for i in range(10)]
    vecs = index._reembed([f"id{i}" for i in range(10)], texts, metas)
    assert len(vecs) == 10 and len(index._reembedded) == 4 and len(other._reembedded) == 0
    assert np.allclose(vecs[0], emb.encode([store.embed_text(texts[0], metas[0])])[0])
    emb.calls = 0
    again = index._reembed(["id9"], texts[9:], metas[9:])  # among the last four: not embedded again
    assert emb.calls == 0 and np.allclose(again[0], vecs[9])
    index._reembed(["id0"], texts[:1], metas[:1])  # evicted before: embedded again
    assert emb.calls == 1 and len(index._reembedded) == 4


def test_views_are_bounded_and_a_forgotten_view_is_not_trusted(tmp_path, monkeypatch):
    assert isinstance(store._views, LRUCache) and store._views.maxsize == store.MAX_VIEWS
    monkeypatch.setattr(store, "_views", LRUCache(maxsize=2))
    settings = Settings(index_dir=tmp_path / "idx")
    emb = HashEmbeddings()
    first = store.Index(settings, emb, create=True)
    first.save_manifest({"files": {}})
    assert first.view_is_current()
    for name in ("a", "b", "c"):
        store.Index(settings, emb, create=True, name=name)
    assert len(store._views) == 2
    assert not first.view_is_current()  # forgotten: its stored vectors are no longer trusted


def test_server_presence_answers_expire_and_are_bounded():
    assert isinstance(store._present, TTLCache)
    assert store._present.ttl == store.PRESENT_TTL_S == pytest.approx(1.0)
    assert store._present.maxsize == store.MAX_PRESENT
