"""The int8 ONNX encoder: close to the torch model, exported once and then reused from the cache."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import CORPUS

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
pytestmark = pytest.mark.integration  # the real encoder, exported and compared with torch


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx-models")


def corpus_sentences(n: int = 50) -> list[str]:
    """~n real sentences spread over the corpus (every few documents, a few sentences each)."""
    from assistant.chunking import sentence_spans
    from assistant.loaders import load

    out: list[str] = []
    docs = sorted(p for p in CORPUS.glob("*.md") if p.name != "SOURCES.md")
    for path in docs[::4]:
        doc = load(path)
        text = "\n\n".join(section.text for section in doc.sections)
        for start, end in sentence_spans(text)[3:9]:
            sentence = " ".join(text[start:end].split())
            if len(sentence.split()) >= 5 and not sentence.startswith("#"):
                out.append(sentence)
    assert len(out) >= n, len(out)
    step = len(out) / n
    return [out[int(i * step)] for i in range(n)]


def test_onnx_matches_torch_and_exports_once(model_cache):
    from assistant import onnx_encoder
    from assistant.embeddings import MiniLMEmbeddings

    before = onnx_encoder.exports
    enc = onnx_encoder.OnnxMiniLMEncoder(cache_dir=model_cache)
    assert onnx_encoder.exports == before + 1
    path = enc.path
    assert path.exists() and path.name.endswith(".int8.onnx")
    mtime = path.stat().st_mtime_ns

    sentences = corpus_sentences(50)
    fast = enc.encode(sentences)
    ref = MiniLMEmbeddings(backend="torch").encode(sentences)
    assert fast.shape == ref.shape == (50, 384) and fast.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-4)
    cosine = (fast * ref).sum(axis=1)
    assert cosine.min() >= 0.98, (cosine.min(), sentences[int(cosine.argmin())])

    # A second construction (same process, then via the backend switch) reuses the cached file.
    again = onnx_encoder.OnnxMiniLMEncoder(cache_dir=model_cache)
    switched = MiniLMEmbeddings(backend="onnx", cache_dir=model_cache)
    assert again.path == path and onnx_encoder.exports == before + 1
    assert path.stat().st_mtime_ns == mtime
    # One text per run: a vector does not depend on what it was batched with.
    np.testing.assert_allclose(switched.encode(sentences[:5]), fast[:5], atol=1e-5)
    assert switched.calls == 5


def test_tokenizer_matches_transformers():
    """The light ``tokenizers`` path gives the same ids as transformers.AutoTokenizer."""
    from transformers import AutoTokenizer

    from assistant.onnx_encoder import MAX_TOKENS, load_tokenizer, source_model_dir

    texts = corpus_sentences(50) + ["x " * 400, "Ünïcödé – “quotes” Article 42(7) TEU"]
    ref = AutoTokenizer.from_pretrained(str(source_model_dir()), local_files_only=True)
    want = ref(texts, padding=True, truncation=True, max_length=MAX_TOKENS)
    got = load_tokenizer(source_model_dir()).encode_batch(texts)
    assert [e.ids for e in got] == want["input_ids"]
    assert [e.attention_mask for e in got] == want["attention_mask"]


def test_fresh_process_does_not_reexport(model_cache):
    """A new process finds the stamp and loads the int8 file without importing torch."""
    import subprocess
    import sys

    from assistant import onnx_encoder

    onnx_encoder.ensure_model(model_cache)  # no-op when the first test ran
    code = (
        "import sys; from assistant import onnx_encoder as o;"
        f"e = o.OnnxMiniLMEncoder(cache_dir={str(model_cache)!r}); v = e.encode(['Article 5']);"
        "print(o.exports, v.shape, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split()[0] == "0"
    assert out.stdout.strip().endswith("False"), out.stdout


def test_order_empty_and_settings_switch(model_cache, monkeypatch):
    from assistant.embeddings import MiniLMEmbeddings
    from assistant.onnx_encoder import OnnxMiniLMEncoder
    from assistant.settings import Settings

    enc = OnnxMiniLMEncoder(cache_dir=model_cache, batch_size=2)
    texts = ["a much longer sentence about extradition between states", "NATO", "Europol supports police"]
    seen: list[int] = []
    vecs = enc.encode(texts, progress=seen.append)
    assert sum(seen) == 3
    for i, t in enumerate(texts):
        np.testing.assert_allclose(vecs[i], enc.encode([t])[0], atol=1e-4)
    assert enc.encode([]).shape == (0, 384)

    assert Settings().encoder == "onnx"  # the default since the dev-set comparison
    monkeypatch.setenv("ASSISTANT_ENCODER", "torch")
    assert Settings().encoder == "torch"
    assert MiniLMEmbeddings().backend == "torch"
    with pytest.raises(ValueError):
        MiniLMEmbeddings(backend="tensorflow")
