"""The question → retrieval → answer path as LangChain Runnables, for LangChain users to compose.

Example:
    >>> chain = Assistant().chain                            # doctest: +SKIP
    >>> chain.invoke({"question": "What is PESCO?"}).citations  # doctest: +SKIP
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

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
