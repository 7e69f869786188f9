"""The question → retrieval → answer path as LangChain Runnables, for LangChain users to compose.

Example:
    >>> chain = build_chain(Assistant())                       # doctest: +SKIP
    >>> chain.invoke({"question": "What is PESCO?"}).citations  # doctest: +SKIP
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from langchain_core.runnables import Runnable, RunnableLambda

if TYPE_CHECKING:
    from .api import Assistant


def build_chain(assistant: "Assistant") -> Runnable:
    """A Runnable taking {"question", "history"?, "filters"?, "k"?} and returning an Answer."""
    normalize = RunnableLambda(
        lambda inp: {"question": inp, "history": None, "filters": None} if isinstance(inp, str) else dict(inp),
        name="normalize_input",
    )
    return normalize | RunnableLambda(assistant._answer, name="retrieve_and_answer")
