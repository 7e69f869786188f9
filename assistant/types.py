"""Typed results returned by the public API: Passage, Citation, Answer, IngestReport."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk of a source document.

    ``text`` is the chunk exactly as stored; ``score`` is the fused retrieval score and
    ``similarity`` the cosine similarity of the chunk to the query.
    """

    chunk_id: str
    doc_id: str
    title: str
    section: str
    url: str
    text: str
    score: float
    similarity: float = 0.0
    issuer: str = ""
    type: str = ""
    adopted: str = ""
    page: int | None = None
    reviewed: str = ""  # the brief's `reviewed` front-matter date (ISO), "" when it has none


@dataclass(frozen=True)
class Citation:
    """One inline marker ``[marker]`` of an answer and the verbatim quote it rests on."""

    marker: int
    doc_id: str
    title: str
    section: str
    url: str
    quote: str
    chunk_id: str
    score: float
    issuer: str = ""
    adopted: str = ""
    page: int | None = None
    reviewed: str | None = None  # when the brief was last checked against its source (ISO), else None
    # What kind of source the quote is from: "upload" (a user's upload: its URL is
    # "upload:<file name>"), "brief" (a team brief: front matter naming the instrument's issuer)
    # or "document" (a file indexed as published, without front matter: no issuer). Derived
    # from the URL and issuer when not given.
    source_kind: str = ""

    def __post_init__(self) -> None:
        if not self.source_kind:
            kind = "upload" if (self.url or "").startswith("upload:") else "brief" if self.issuer else "document"
            object.__setattr__(self, "source_kind", kind)


@dataclass
class AnswerPart:
    """One side of a comparison: its subject (an instrument, a body or a provision), the text
    for it and the citations that text's markers point at (also in ``Answer.citations``)."""

    subject: str
    text: str
    citations: list[Citation]


@dataclass
class Answer:
    """An answer with its citations, the passages it was built from and its timing.

    Example:
        >>> a = Answer(question="q", text="No.", citations=[], abstained=True, passages=[])
        >>> Answer.from_dict(json.loads(json.dumps(a.to_dict()))) == a
        True
    """

    question: str
    text: str
    citations: list[Citation]
    abstained: bool
    passages: list[Passage]
    latency_ms: float = 0.0
    query: str = ""
    notice: str = ""
    abstain_reason: str = ""
    generator: str = "extractive"
    unsupported_removed: int = 0
    # A comparison question's parts, one per instrument or provision ([] for other questions).
    parts: list[AnswerPart] = field(default_factory=list)
    # The answerability decision: the probability that the sources answer the question and the
    # features it was computed from (assistant/decision.py).
    confidence: float | None = None
    signals: dict[str, float] = field(default_factory=dict)
    # Instruments the question names that no document of the sources is (the glossary knows
    # them: "GDPR (General Data Protection Regulation)"): the answer comes from other documents,
    # and the chat says so before it.
    not_held: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict of every field."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Answer":
        """Rebuild an Answer from :meth:`to_dict` output."""
        data = dict(data)
        data["citations"] = [Citation(**c) for c in data.get("citations", [])]
        data["passages"] = [Passage(**p) for p in data.get("passages", [])]
        data["parts"] = [AnswerPart(subject=p["subject"], text=p["text"], citations=[Citation(**c) for c in p["citations"]])
                         for p in data.get("parts", [])]
        return cls(**data)


@dataclass
class IngestReport:
    """What an ingest run did, file by file."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    chunks_added: int = 0
    chunks_removed: int = 0
    # Chunks whose vectors this run computed; the others of a changed or moved file kept the
    # vector stored for the very same text (title, section and body unchanged).
    chunks_embedded: int = 0
    seconds: float = 0.0
    # What the run repaired or wants the user to know (a manifest rebuilt from the store, ...).
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no file failed."""
        return not self.failed

    def summary(self) -> str:
        """The one-line summary printed at the end of ``assistant ingest``."""
        return (
            f"added {len(self.added)}, updated {len(self.updated)}, unchanged {len(self.unchanged)}, "
            f"removed {len(self.removed)}, failed {len(self.failed)}; "
            f"chunks +{self.chunks_added}/-{self.chunks_removed}, {self.chunks_embedded} embedded; {self.seconds:.1f} s"
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict of every field."""
        return asdict(self) | {"ok": self.ok}
