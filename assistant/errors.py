"""Exceptions raised by the assistant. The CLI turns each into one line and an exit code."""
from __future__ import annotations


class AssistantError(Exception):
    """Root of every error the assistant raises on purpose."""

    exit_code = 1


class BadInput(AssistantError, ValueError):
    """The caller gave something unusable (empty question, unknown filter key, bad path)."""

    exit_code = 2


class IndexNotFound(AssistantError):
    """No index exists yet where one was expected."""

    exit_code = 2

    def __init__(self, index_dir: object) -> None:
        super().__init__(
            f"no index at {index_dir}: run `assistant ingest` (or `make ingest`) to build it"
        )


class BadDocument(AssistantError):
    """A file could not be read or parsed; ingestion reports it and moves on."""


class IndexBusy(AssistantError):
    """Another process holds the index write lock."""


class GeneratorUnavailable(AssistantError):
    """The configured LLM endpoint could not produce an answer."""


class IndexDamaged(AssistantError):
    """The index cannot answer as it is (e.g. its vector store lost its chunks); says how to fix it."""


class StoreUnavailable(AssistantError):
    """The vector store (a Chroma server) did not answer in time, or the disk is full or read-only."""
