"""One settings object, read from ``ASSISTANT_*`` environment variables and a ``.env`` file.

This is the one place where the assistant reads its environment: every tunable and default is a
field of :class:`Settings` (``ASSISTANT_<FIELD>`` in upper case sets it), read once by whoever
builds an :class:`assistant.Assistant` (or the app) and passed down to the modules that use it.
Module code takes the values as arguments and does not read the environment itself.

The environment the third-party libraries read (``HF_HUB_OFFLINE``, ``TRANSFORMERS_OFFLINE``,
``ANONYMIZED_TELEMETRY``, ``TOKENIZERS_PARALLELISM``) is set once, in ``assistant/__init__.py``,
before any of them loads.

Fixed design constants (module constants on purpose, not settings). Each is part of a rule whose
reason is given beside it, and changing one changes what the rule means rather than tuning it:

- ``assistant/decision.py``: ``SPECIFIC_ZIPF``, ``DESCRIBING_ZIPF``, ``SPECIFIC_DF``, ``TOP``,
  ``SEEN``. They define the features of the answerability model, which was fitted with exactly
  these values (``assistant/data/answerability.json``, ``scripts/fit_answerability.py``): a new
  value needs a refit, not a setting. ``TOP``/``SEEN`` stay 3/6 whatever ``answer_passages`` and
  ``top_k`` are set to, for the same reason.
- ``assistant/answer.py``: ``NAMED_BONUS``, ``OPENING_BONUS``, ``TYPE_BONUS``, ``DOC_BONUS``,
  ``ANAPHORA_PENALTY``, ``PART_EXTRA_WORDS``, ``SIBLING_SENTENCES``: the sentence-scoring rule of
  the extractive answerer (the measurements that chose them are cited beside them).
  ``CACHE_SENTENCES`` bounds a cache.
- ``assistant/premise.py``: ``NEGATION_SPAN``, ``MIN_SHARED``, ``COMMON_ZIPF``, ``NUMBER_SPAN``:
  the grammar of the premise check (how far a negation or a number reaches in a sentence).
- ``assistant/names.py``: ``TITLED_MAX``, ``EVERYDAY_ZIPF``: when a short name matches (glossary).
- ``assistant/lexical.py``: ``K1``, ``B`` (1.5, 0.75): BM25 as ``bm25s`` computes it by default,
  so that rankings match the index the segmented one replaced.
- ``assistant/chunking.py`` ``MAX_BLOCK_CHARS``, ``assistant/embeddings.py`` /
  ``assistant/onnx_encoder.py`` ``MAX_TOKENS``: limits of the sentence splitter and of the model.
- Formats and caches (``lexical.FORMAT``, ``lexical.SCORE_CACHE_BYTES``, ``store.GET_PAGE``,
  ``store.POLL_S``, ``ingest.FIRST_GROUP``/``MAX_GROUP``, ``embeddings.MEMO_SIZE``): how data is
  stored and batched, not what the assistant answers.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every tunable of the assistant, with its default.

    Example:
        >>> Settings(index_dir="/tmp/idx").index_dir
        PosixPath('/tmp/idx')
        >>> Settings().top_k, Settings().rrf_k
        (6, 30)
    """

    model_config = SettingsConfigDict(env_prefix="ASSISTANT_", env_file=".env", extra="ignore")

    # -- Where things are ------------------------------------------------------------------------
    index_dir: Path = Path(".assistant/index")  # the index: Chroma, the lexical index, the manifest
    corpus_dir: Path = Path("corpus")  # what `assistant ingest` and `make run` read by default
    chroma_url: str | None = None  # a Chroma server (http://host:port) instead of the embedded store
    # Seconds a Chroma server may take to answer one request before the command fails with one
    # line naming it (a frozen server made `ask` hang for good).
    chroma_timeout_s: float = 30.0
    collection: str = "policy"  # the Chroma collection (uploads: "<collection>-user[-<owner>]")

    # -- Generation ------------------------------------------------------------------------------
    generator: Literal["extractive", "openai"] = "extractive"
    llm_base_url: str | None = None  # an OpenAI-compatible endpoint (llama.cpp, vLLM, Ollama /v1)
    llm_model: str | None = None
    llm_api_key: str | None = None
    llm_timeout_s: float = 30.0  # past this the extractive answer is shown, with a notice
    llm_stream: bool = True
    # Citation verification of generated sentences (assistant/verify.py), chosen with
    # scripts/measure_verification.py on eval/questions/dev.jsonl (docs/evaluation.md): a sentence
    # is supported when its cosine to a sentence of the cited passage is at least
    # ``verify_cos_alone``, or at least ``verify_cos_with_words`` with at least ``verify_words`` of
    # its content words in the passage (and every number it states is in the passage).
    verify_cos_alone: float = 0.70
    verify_cos_with_words: float = 0.55
    verify_words: float = 0.4

    # -- Chunking: all-MiniLM-L6-v2 reads at most 256 word-pieces --------------------------------
    chunk_max_words: int = 150
    chunk_overlap_sentences: int = 1

    # -- Extraction budgets ----------------------------------------------------------------------
    # Per file, checked as text streams out of the parser (assistant/loaders.py Budget): a small
    # file that expands without bound (a PDF whose pages share one huge compressed content stream,
    # a DOCX of a million tiny paragraphs) is refused with "too much text: ..." while it is read,
    # so the ingest lock is never held for it past these. Generous: the longest real text here
    # (the Rome Statute) has ~185,000 characters, 1,100 chunks would be ~170,000 words.
    max_file_bytes: int = 200 * 2**20  # size of the file itself: larger ones fail with "file too large"
    max_file_chars: int = 10_000_000  # characters of extracted text
    max_file_pages: int = 10_000  # PDF pages
    max_pdf_content_bytes: int = 50 * 2**20  # decoded PDF page content (a shared stream counts per page)
    max_file_paragraphs: int = 200_000  # DOCX paragraphs
    max_file_chunks: int = 20_000  # chunks of one file

    # Lexical index: past this many segments, the smallest are merged (assistant/lexical.py).
    lexical_max_segments: int = 8

    # -- Retrieval (assistant/retrieval.py) ------------------------------------------------------
    top_k: int = 6  # passages returned when a caller gives no k (ask, retrieve, search, retriever)
    candidates: int = 30  # hits of each ranking (dense, BM25, headings) before fusion; half within a named document
    # Fusion, measured with scripts/tune_fusion.py on eval/questions/dev.jsonl (docs/evaluation.md):
    # RRF constant, and the weights of the BM25 and "Article N" heading rankings (dense = 1).
    rrf_k: int = 30
    lexical_weight: float = 0.5
    structural_weight: float = 0.5
    # A query with a number of two or more digits ("ETS No. 185", "resolution 2396"): the BM25
    # ranking's weight is multiplied by this (embeddings are weakest on numbers, exact matches strongest).
    identifier_lexical_boost: float = 2.0
    # Below this cosine similarity a dense hit does not vote in hybrid fusion (all-MiniLM-L6-v2
    # gives ~0.25 to unrelated text; letting it vote only pushes exact matches down).
    dense_floor: float = 0.3
    max_chunks_per_doc: int = 3  # so that comparative questions see more than one instrument
    # The fused score of an unheaded chunk (title page, preamble) of a text that has headings and
    # no front matter of ours is multiplied by this.
    unheaded_weight: float = 0.5
    # Weight of the rankings run within a document the question names (assistant/planning.py).
    focus_weight: float = 1.0
    # Passages each side of a comparison ("art 4 vs art 5") is searched for, within its instrument.
    comparison_side_k: int = 3

    # -- Questions and answers -------------------------------------------------------------------
    max_question_chars: int = 2000  # longer questions are truncated, with a notice
    history_turns: int = 6  # the last turns of a conversation that a follow-up question sees
    # The answerability model (assistant/decision.py, assistant/data/answerability.json) gives the
    # probability that the sources answer a question; below this threshold the assistant abstains.
    # Unset: the threshold fitted with the model (scripts/fit_answerability.py).
    answer_threshold: float | None = None
    # Extractive answer shape, chosen with scripts/tune_answerer.py on eval/questions/dev.jsonl
    # (figures: docs/measurements.md).
    answer_max_sentences: int = 4  # sentences in an answer
    answer_passages: int = 3  # the top passages whose sentences are candidates
    answer_keep_ratio: float = 0.7  # a further sentence must score at least this share of the best
    answer_max_words: int = 120
    # Sentences each side of a comparison gets (its words: its share of answer_max_words, +20,
    # times sentences/2). 3 rather than 2: comparisons' key facts rise on every set (figures and
    # the longer answers it costs: docs/evaluation.md, fifth session).
    comparison_side_sentences: int = 3
    # The answerer reads, beside each passage it reads, the chunks of the same provision (same
    # document and heading) up to this many positions before and after it (0 and 0: off).
    provision_before: int = 2
    provision_after: int = 1

    # -- Embedding -------------------------------------------------------------------------------
    embed_batch_size: int = 32
    # Embedding backend: "torch" (SentenceTransformer) or "onnx" (int8 ONNX Runtime, exported
    # once to <index_dir>/../models; see assistant/onnx_encoder.py and docs/performance.md).
    # Default "onnx": the same retrieval quality as torch, faster ingest and answers, less memory
    # (figures: docs/performance.md, docs/measurements.md). The model is exported once, at
    # set-up, into ``models_dir``.
    encoder: Literal["torch", "onnx"] = "onnx"
    models_dir: Path = Path(".assistant/models")
    # Worker threads of the ONNX encoder (one process-wide pool); 0 = one per CPU core.
    encoder_threads: int = 0


def default(name: str) -> Any:
    """The default of the :class:`Settings` field ``name``, for a function's own default argument
    (so that a module used without settings behaves as the assistant does with none)."""
    return Settings.model_fields[name].default
