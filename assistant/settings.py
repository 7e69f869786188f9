"""One settings object, read from ``ASSISTANT_*`` environment variables and a ``.env`` file."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every tunable of the assistant, with its default.

    Example:
        >>> Settings(index_dir="/tmp/idx").index_dir
        PosixPath('/tmp/idx')
    """

    model_config = SettingsConfigDict(env_prefix="ASSISTANT_", env_file=".env", extra="ignore")

    index_dir: Path = Path(".assistant/index")
    corpus_dir: Path = Path("corpus")
    chroma_url: str | None = None
    # Seconds a Chroma server may take to answer one request before the command fails with one
    # line naming it (a frozen server made `ask` hang for good).
    chroma_timeout_s: float = 30.0
    collection: str = "policy"
    generator: Literal["extractive", "openai"] = "extractive"
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = None
    llm_timeout_s: float = 30.0
    llm_stream: bool = True

    # Chunking: all-MiniLM-L6-v2 reads at most 256 word-pieces.
    chunk_max_words: int = 150
    chunk_overlap_sentences: int = 1

    # Extraction budgets, per file, checked as text streams out of the parser (assistant/loaders.py
    # Budget): a small file that expands without bound (a PDF whose pages share one huge compressed
    # content stream, a DOCX of a million tiny paragraphs) is refused with "too much text: ..."
    # while it is read, so the ingest lock is never held for it past these. Generous: the longest
    # real text here (the Rome Statute) has ~185,000 characters, 1,100 chunks would be ~170,000 words.
    max_file_bytes: int = 200 * 2**20  # size of the file itself: larger ones fail with "file too large"
    max_file_chars: int = 10_000_000  # characters of extracted text
    max_file_pages: int = 10_000  # PDF pages
    max_pdf_content_bytes: int = 50 * 2**20  # decoded PDF page content (a shared stream counts per page)
    max_file_paragraphs: int = 200_000  # DOCX paragraphs
    max_file_chunks: int = 20_000  # chunks of one file

    # Lexical index: past this many segments, the smallest are merged (assistant/lexical.py).
    lexical_max_segments: int = 8

    # Retrieval
    top_k: int = 6
    candidates: int = 30
    # Fusion, measured with scripts/tune_fusion.py on eval/questions/dev.jsonl (docs/evaluation.md):
    # RRF constant, and the weights of the BM25 and "Article N" heading rankings (dense = 1).
    rrf_k: int = 30
    lexical_weight: float = 0.5
    structural_weight: float = 0.5
    max_chunks_per_doc: int = 3
    # Weight of the rankings run within a document the question names (assistant/planning.py).
    focus_weight: float = 1.0

    # Answering. The answerability model (assistant/decision.py, assistant/data/answerability.json)
    # gives the probability that the sources answer a question; below this threshold the assistant
    # abstains. Unset: the threshold fitted with the model (scripts/fit_answerability.py).
    answer_threshold: float | None = None
    # Extractive answer shape, measured with scripts/tune_answerer.py on eval/questions/dev.jsonl
    # (81 settings): key-fact coverage 0.604 → 0.679 for ~24 more words, citation precision kept.
    answer_max_sentences: int = 4
    answer_passages: int = 3
    answer_keep_ratio: float = 0.7
    answer_max_words: int = 120
    # The answerer reads, beside each passage it reads, the chunks of the same provision (same
    # document and heading) up to this many positions before and after it (0 and 0: off).
    provision_before: int = 2
    provision_after: int = 1
    max_question_chars: int = 2000
    embed_batch_size: int = 32
    # Embedding backend: "torch" (SentenceTransformer) or "onnx" (int8 ONNX Runtime, exported
    # once to <index_dir>/../models; see assistant/onnx_encoder.py and docs/performance.md).
    # Default "onnx": same retrieval quality on eval/questions/dev.jsonl (recall@5 0.9933 vs
    # 0.9867 with torch), about 2x faster ingest, 5x faster answers, a quarter of the memory
    # (docs/performance.md). The model is exported once, at set-up, into ``models_dir``.
    encoder: Literal["torch", "onnx"] = "onnx"
    models_dir: Path = Path(".assistant/models")
