"""The question → retrieval → answer path as LangChain Runnables, and the hybrid search as a
LangChain retriever, for LangChain users to compose. Only this module imports LangChain's
Runnable machinery (~0.5 s): ``Assistant.ask`` and the command line never load it.

Example:
    >>> chain = Assistant().chain                            # doctest: +SKIP
    >>> chain.invoke({"question": "What is PESCO?"}).citations  # doctest: +SKIP
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableLambda

if TYPE_CHECKING:
    from .types import Answer


def build_chain(answer: Callable[[dict], "Answer"]) -> Runnable:
    """A Runnable taking {"question", "history"?, "filters"?, "k"?} and returning an Answer;
    ``answer`` is the assistant's path from those inputs to an Answer."""
    normalize = RunnableLambda(
        lambda inp: {"question": inp, "history": None, "filters": None} if isinstance(inp, str) else dict(inp),
        name="normalize_input",
    )
    return normalize | RunnableLambda(answer, name="retrieve_and_answer")


class PolicyRetriever(BaseRetriever):
    """LangChain retriever over the assistant's hybrid search.

    Example:
        >>> retriever = PolicyRetriever(assistant=Assistant(), k=5)  # doctest: +SKIP
        >>> retriever.invoke("Article 5")[0].metadata["doc_id"]      # doctest: +SKIP
        'nato-treaty'
    """

    assistant: Any
    k: int | None = None  # None: the assistant's Settings.top_k
    filters: dict[str, str] | None = None
    # assistant.retrieval.Mode, spelled out: retrieval imports this module (lazily, for this class)
    mode: Literal["hybrid", "dense", "bm25"] = "hybrid"

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, k: int | None = None
    ) -> list[Document]:
        passages = self.assistant.retrieve(query, k=k or self.k, filters=self.filters, mode=self.mode)
        return [
            Document(
                id=p.chunk_id,
                page_content=p.text,
                metadata={key: value for key, value in p.__dict__.items() if key != "text"},
            )
            for p in passages
        ]
