"""Question answering with verified citations over international security-cooperation policy.

    >>> from assistant import ask
    >>> answer = ask("What does Article 5 of the North Atlantic Treaty commit members to?")  # doctest: +SKIP

Importing the package is cheap: torch and the embedding model load on first use.
"""
from __future__ import annotations

import os

# The one place the process environment is set: the defaults the third-party libraries read
# (offline model hub, no telemetry, quiet tokenizers), before any of them loads. The assistant's
# own settings are read from the environment by assistant/settings.py only.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from typing import TYPE_CHECKING  # noqa: E402

from .errors import AssistantError, BadInput, IndexNotFound  # noqa: E402
from .types import Answer, Citation, IngestReport, Passage  # noqa: E402

if TYPE_CHECKING:
    from .api import Assistant, ask


def __getattr__(name: str):
    """``Assistant`` and ``ask`` are imported on first use: ``assistant --help`` and commands that
    never answer do not pay for the settings and API modules."""
    if name in {"Assistant", "ask"}:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'assistant' has no attribute {name!r}")

__all__ = ["Answer", "Assistant", "AssistantError", "BadInput", "Citation", "IndexNotFound",
           "IngestReport", "Passage", "ask"]
__version__ = "0.1.0"
