"""The public Python API: :class:`Assistant` and :func:`ask`."""
from __future__ import annotations

import copy
import dataclasses
import functools
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import BadInput
from .settings import Settings
from .types import Answer, IngestReport, Passage

if TYPE_CHECKING:
    from .retrieval import Retrieval

UPLOADS = "user"  # name of the separate index (collection "<collection>-user") for uploads
_default: "Assistant | None" = None
_default_lock = threading.Lock()


@dataclass
class _Prepared:
    """A question after planning, search and the answerability decision (shared by both answerers)."""

    start: float
    question: str
    notice: str
    history: list[dict]
    filters: dict | None
    plan: Any
    retrieval: Any
    decision: Any
    lexical: Any
    sides: list = dataclasses.field(default_factory=list)  # comparisons: (label, side plan, retrieval)
    conflict: Any = None  # a passage sentence that contradicts the question's premise (assistant/premise.py)
    denial: Any = None  # for a yes/no question, a passage sentence that says no


def _check_question(question: Any, limit: int) -> tuple[str, str]:
    if not isinstance(question, str):
        raise BadInput("the question must be a string")
    # Only a bounded head of the text is ever read (a 200 MB "question" costs what 4 x limit does);
    # whitespace collapses below, so the head is longer than the limit.
    head = question[: 4 * limit + 16]
    cleaned = "".join(ch if ch.isprintable() or ch in "\n\t" else " " for ch in head)
    cleaned = " ".join(cleaned.split())
    if not cleaned:
        raise BadInput("the question is empty")
    notice = ""
    if len(cleaned) > limit or len(question) > len(head):
        cleaned = cleaned[:limit]
        notice = f"The question was longer than {limit} characters and was truncated."
    return cleaned, notice


def _check_history(history: Any, turns: int) -> list[dict]:
    if history is None:
        return []
    if not isinstance(history, list) or not all(
        isinstance(t, dict) and isinstance(t.get("role"), str) and t["role"] in {"user", "assistant"}
        and isinstance(t.get("content"), str)
        for t in history
    ):
        raise BadInput('history must be a list of {"role": "user"|"assistant", "content": str}')
    return history[-turns:] if turns > 0 else []


class Assistant:
    """Answers questions about security-cooperation policy with cited passages.

    Example:
        >>> bot = Assistant()                                  # doctest: +SKIP
        >>> bot.ingest(["corpus"]).summary()                   # doctest: +SKIP
        'added 62, updated 0, unchanged 0, removed 0, failed 0; chunks +480/-0; 21.3 s'
        >>> answer = bot.ask("What does Article 5 of the North Atlantic Treaty say?")  # doctest: +SKIP
        >>> answer.citations[0].doc_id                         # doctest: +SKIP
        'nato-treaty'

    The embedding model and the index open lazily on first use.
    """

    def __init__(
        self,
        index_dir: str | Path | None = None,
        generator: str | None = None,
        settings: Settings | None = None,
        embeddings: Any = None,
    ) -> None:
        """``settings``: all tunables (default: read from the environment, once, here); ``index_dir``
        and ``generator`` override two of them. ``embeddings``: a loaded embedding model to share
        (another assistant's ``embeddings``) instead of building one from the settings."""
        settings = settings or Settings()
        updates: dict[str, Any] = {}
        if index_dir is not None:
            updates["index_dir"] = Path(index_dir)
        if generator is not None:
            updates["generator"] = generator
        self.settings = settings.model_copy(update=updates) if updates else settings
        if self.settings.generator not in {"extractive", "openai"}:
            raise BadInput(f"unknown generator {self.settings.generator!r}; use 'extractive' or 'openai'")
        self._index = None
        self._embeddings = embeddings
        self._answerer = None
        self._chain = None
        self._llm = None
        self._user_index = None
        self._lock = threading.RLock()
        # A view made by for_owner(): the owner's private upload space, the rest shared with _base.
        self.owner: str | None = None
        self._base: Assistant | None = None

    # -- lazily built parts ----------------------------------------------------------------
    @property
    def embeddings(self):
        """The shared LangChain ``Embeddings`` (MiniLM)."""
        if self._embeddings is None:
            from .embeddings import MiniLMEmbeddings

            s = self.settings
            self._embeddings = MiniLMEmbeddings(batch_size=s.embed_batch_size, backend=s.encoder,
                                                cache_dir=Path(s.models_dir).resolve())
        return self._embeddings

    def index(self, create: bool = False):
        """The opened index; raises :class:`IndexNotFound` when none exists (unless ``create``)."""
        if self._base is not None:  # an owner's view shares the corpus index of the assistant it came from
            return self._base.index(create)
        with self._lock:
            if self._index is None:
                from .store import Index

                self._index = Index(self.settings, self.embeddings, create=create)
            return self._index

    @property
    def answerer(self):
        """The extractive answerer (also the LLM path's fallback)."""
        if self._answerer is None:
            from .answer import ExtractiveAnswerer

            s = self.settings
            self._answerer = ExtractiveAnswerer(
                self.embeddings, max_sentences=s.answer_max_sentences, passages_used=s.answer_passages,
                keep_ratio=s.answer_keep_ratio, max_words=s.answer_max_words,
                side_sentences=s.comparison_side_sentences,
            )
        return self._answerer

    @property
    def chain(self):
        """The question → retrieval → answer path as a LangChain Runnable."""
        if self._chain is None:
            from .chain import build_chain

            self._chain = build_chain(self._answer)
        return self._chain

    def retriever(self, k: int | None = None, filters: dict | None = None):
        """A LangChain ``BaseRetriever`` over this assistant's hybrid search."""
        from .chain import PolicyRetriever

        return PolicyRetriever(assistant=self, k=k or self.settings.top_k, filters=filters)

    # -- public API ------------------------------------------------------------------------
    def user_index(self, create: bool = False):
        """The separate index of the user's own uploads (None when there is none yet)."""
        with self._lock:
            if self._user_index is None:
                from .store import Index

                if not create and not Index.present(self.settings, UPLOADS):
                    return None
                self._user_index = Index(self.settings, self.embeddings, create=True, name=UPLOADS)
            return self._user_index

    def ingest(self, paths: Iterable[str | Path] | str | Path | None = None, progress=None,
               user: bool = False, owner: str | None = None) -> IngestReport:
        """Index files and folders (default: the corpus folder); incremental and resumable.

        ``user=True`` puts them in a separate user collection (uploads), searched with the corpus.
        ``owner``: they are that owner's uploads, in a private space only that owner searches
        (:meth:`for_owner`).
        """
        if owner is not None:
            return self.for_owner(owner).ingest(paths, progress, user=True)
        from .ingest import ingest

        if paths is None:
            paths = [self.settings.corpus_dir]
        elif isinstance(paths, (str, Path)):
            paths = [paths]
        main = self.index(create=True)
        if user and not main.has_manifest():  # uploads before any corpus: an empty main index
            main.save_manifest(main.load_manifest())
        index = self.user_index(create=True) if user else main
        return ingest(index, [Path(p) for p in paths], progress, upload=user)

    def lexicon(self):
        """Term statistics (BM25 vocabulary, document frequencies) over the corpus and, when present,
        the user's uploads: what the answerability decision and the answerer weigh words with."""
        from .lexical import LexicalUnion

        user = self.user_index()  # an empty upload index adds nothing to the union
        return self.index().lexical() if user is None else LexicalUnion([self.index().lexical(), user.lexical()])

    def names(self):
        """The names of the indexed documents joined to the glossary (:class:`assistant.names.NameIndex`)."""
        user = self.user_index()
        main = self.index().names()
        if user is None:
            return main
        from .names import NameIndex

        other = user.names()
        key = (id(main), id(other))
        if getattr(self, "_names_key", None) != key:
            merged = NameIndex(main.gloss, {**main.docs, **other.docs}, {}, {})
            for source in (main, other):
                for form, docs in source.doc_forms.items():
                    merged.doc_forms.setdefault(form, set()).update(docs)
                for eid, docs in source.entry_docs.items():
                    merged.entry_docs.setdefault(eid, set()).update(docs)
            self._names_key, self._names_merged = key, merged
        return self._names_merged

    def plan(self, question: str, history: list[dict] | None = None):
        """The query plan of a question (:class:`assistant.planning.QueryPlan`), as :meth:`ask`
        reads it (typing errors read as the words they stand for): standalone query, names and the
        documents they name, provisions, answer type, comparison subjects."""
        from .planning import plan

        question, _ = _check_question(question, self.settings.max_question_chars)
        asked, _ = self._read(question)
        return plan(asked, _check_history(history, self.settings.history_turns), self.names())

    def _read(self, question: str) -> tuple[str, dict[str, str]]:
        """The question as it is answered: typing errors read as the words they stand for
        (assistant/spelling.py), and those readings."""
        from . import spelling

        fixes = spelling.corrections(question, self.lexicon())
        from .decision import WORD_RE

        named = {w.lower() for m in self.names().mentions(question) for w in WORD_RE.findall(m.surface)}
        fixes |= spelling.shortenings(question, self.lexicon(), skip=set(fixes) | named)  # not "sua", "ccm"
        return spelling.apply(question, fixes), fixes

    def retrieve(self, query: str, k: int | None = None, filters: dict | None = None, mode: str = "hybrid") -> list[Passage]:
        """The ``k`` best passages for ``query`` (``k=None``: ``Settings.top_k``); :meth:`search`'s passages."""
        return self.search(query, k, filters, mode).passages

    def search(self, query: str, k: int | None = None, filters: dict | None = None, mode: str = "hybrid",
               focus: list[str] | None = None, alternatives: list[tuple[str, str]] | None = None,
               focus_query: str | None = None) -> "Retrieval":
        """The retrieval the answerers use: the ``k`` best passages for ``query`` with the query
        vector and the sentence spans stored at ingest (:class:`assistant.retrieval.Retrieval`).

        Args:
            query: the text searched for (validated and truncated as a question is).
            k: passages to return, 1-100; None: ``Settings.top_k``.
            filters: metadata filters, as for :meth:`ask` (``doc_id``, ``issuer``, ``type``, ``topic``).
            mode: ``"hybrid"`` (dense + BM25 + headings, fused), ``"dense"`` or ``"bm25"`` (ablations).
            focus: doc ids to search within as well (what :meth:`plan` finds the question names:
                ``plan.focus_docs``, with ``plan.search_query`` as the query).
            alternatives: the names ``query`` writes twice, as typed and in full, each scored by
                the BM25 ranking as one name (``plan.alternatives``).
            focus_query: what the dense search within each ``focus`` document looks for, when not
                ``query`` (``plan.focus_query``: the question without the documents' names).

        Returns:
            ``Retrieval(passages: list[Passage], query_vector: np.ndarray, spans: dict[str,
            list[tuple[int, int]]])``: passages best first (the user's uploads merged in by score),
            and for each chunk id the (start, end) character offsets of its sentences.

        Raises:
            BadInput: an empty query, a bad ``k``, ``mode`` or filter.
        """
        from .retrieval import search
        from .store import validate_filters

        query, _ = _check_question(query, self.settings.max_question_chars)
        k = self.settings.top_k if k is None else k
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 100:
            raise BadInput("k must be an integer between 1 and 100")
        if mode not in {"hybrid", "dense", "bm25"}:
            raise BadInput("mode must be hybrid, dense or bm25")
        s = self.settings
        filters = validate_filters(filters)

        def run(index):
            return search(index, query, k, filters, s, mode, focus, alternatives or (),  # type: ignore[arg-type]
                          focus_query=focus_query)

        main = run(self.index())
        user = self.user_index()
        if user is None or user.collection.count() == 0:
            return main
        from .retrieval import Retrieval

        extra = run(user)
        merged = sorted(main.passages + extra.passages, key=lambda p: -p.score)[:k]
        return Retrieval(merged, main.query_vector, {**main.spans, **extra.spans})

    def ask(self, question: str, history: list[dict] | None = None, filters: dict | None = None, k: int | None = None,
            owner: str | None = None) -> Answer:
        """Answer ``question`` with citations, or abstain when the sources do not support it.
        ``owner``: search that owner's private uploads too (and no one else's)."""
        if owner is not None:
            return self.for_owner(owner).ask(question, history, filters, k)
        # What ``self.chain`` runs, called directly: LangChain's Runnable machinery costs ~0.5 s
        # to import, which a one-question process (``assistant ask``) would pay for nothing.
        return self._answer({"question": question, "history": history, "filters": filters, "k": k})

    def stream(self, question: str, history: list[dict] | None = None, filters: dict | None = None, k: int | None = None,
               owner: str | None = None) -> Iterator[str | Answer]:
        """Yield the answer text in pieces as it is produced, then the final :class:`Answer`.

        With an LLM generator, each piece is a sentence that passed citation verification.
        ``owner``: search that owner's private uploads too (and no one else's).
        """
        if owner is not None:
            yield from self.for_owner(owner).stream(question, history, filters, k)
            return
        inputs = {"question": question, "history": history, "filters": filters, "k": k}
        if self.settings.generator == "openai":
            yield from self._generate(inputs)
            return
        answer = self._answer(inputs)
        if answer.abstained or not answer.citations:
            yield answer.text
        else:
            pieces = answer.text.split("] ")
            for i, piece in enumerate(pieces):
                yield piece + ("] " if i < len(pieces) - 1 else "")
        yield answer

    def _prepare(self, inputs: dict) -> "_Prepared":
        """Validate, plan (follow-up rewrite, names, provisions, answer type), search, decide."""
        from . import spelling
        from .decision import SEEN, decide
        from .planning import asks_text_of, leans_on_history, plan

        start = time.perf_counter()
        question, notice = _check_question(inputs.get("question"), self.settings.max_question_chars)
        history = _check_history(inputs.get("history"), self.settings.history_turns)
        names = self.names()
        # a word typed wrong is read as the word the index most likely means (assistant/spelling.py)
        asked, fixes = self._read(question)
        if fixes:
            notice = " ".join(n for n in (notice, spelling.notice(fixes)) if n)
        the_plan = plan(asked, history, names)
        if self.settings.generator == "openai" and history and leans_on_history(asked):
            from .errors import GeneratorUnavailable

            try:
                the_plan = plan(asked, history, names, query=self.llm.rewrite(asked, history))
            except GeneratorUnavailable:
                pass  # the rule-based rewrite stands
        filters = inputs.get("filters")
        retrieval = self.search(the_plan.search_query, inputs.get("k"), filters, focus=the_plan.focus_docs,
                                alternatives=the_plan.alternatives, focus_query=the_plan.focus_query)
        if the_plan.term:  # a definition: the article that defines the term comes first
            from .retrieval import find_definitions
            from .store import validate_filters

            find_definitions(self.index(), retrieval, the_plan.term, the_plan.focus_docs, validate_filters(filters))
        elif the_plan.refs and the_plan.focus_docs and not the_plan.is_comparison:
            from .retrieval import find_provisions  # an article of a named instrument: that article
            from .store import validate_filters

            find_provisions(self.index(), retrieval, the_plan.search_query, the_plan.focus_docs,
                            validate_filters(filters), self.answerer.passages_used)
        sides = self._sides(the_plan, retrieval, filters) if the_plan.is_comparison else []
        lexical = self.lexicon()
        # a comparison is answerable when its sides are: the decision sees what each side found
        seen = _interleave([retrieval.passages, *[r.passages for _, _, r in sides]])
        decision = decide(the_plan, seen, lexical, names, threshold=self.settings.answer_threshold,
                          texts=self._chunk_texts)
        # A provision of an instrument the index does not hold, or what that instrument says, is
        # not in official texts that only mention it ("article 2 of the Budapest convention" asked
        # of its protocol). A brief (a document with an issuer) may describe it: then it stands.
        unheld = next((m for m in names.mentions(asked) if self._unheld_name(m) and asks_text_of(asked, m)), None)
        if unheld is not None and decision.answer and not any(p.issuer for p in seen[:SEEN]):
            decision = dataclasses.replace(decision, answer=False, hedge=False,
                                           reason=f"the sources do not hold the text of “{unheld.surface}”, "
                                                  "only documents that mention it")
        conflict = denial = None
        if not decision.features.get("name_unknown"):  # an instrument the sources lack: that comes first
            from . import premise
            from .decision import WORD_RE

            named = {w.lower() for m in the_plan.mentions if not names.is_term(m) for w in WORD_RE.findall(m.surface)}
            terms = [m.surface for m in the_plan.mentions if names.is_term(m)]  # "enter into force": one word
            top = retrieval.passages[:self.answerer.passages_used]
            if premise.presupposes(asked):
                conflict = premise.check(asked, top, named, the_plan.is_comparison, phrases=terms,
                                         named_docs=set(the_plan.focus_docs))
                missing = premise.unsupported_names(asked, seen[:SEEN], named, the_plan.is_comparison)
                if conflict is None and not missing and decision.answer and not the_plan.is_comparison:
                    conflict = premise.rule_only(asked, top, named)  # "when did it enter into force?"
                if conflict is None and missing and decision.answer:
                    quoted = ", ".join(f"“{w}”" for w in missing[:4])
                    decision = dataclasses.replace(decision, answer=False, hedge=False,
                                                   reason=f"the question assumes something about {quoted}, "
                                                          "which none of the passages found mention")
            elif decision.answer:  # a yes/no question: a sentence that denies it settles it
                denial = premise.check(asked, top, named, the_plan.is_comparison, whether=True, phrases=terms,
                                       named_docs=set(the_plan.focus_docs))
                if denial is not None and premise.stated_before(asked, denial):
                    conflict, denial = denial, None  # a wrong figure stated first: correct it
        return _Prepared(start, question, notice, history, filters, the_plan, retrieval, decision, lexical, sides,
                         conflict, denial)

    def _chunk_texts(self, ids: list[str]) -> dict[str, str]:
        """Title, heading and text of chunks by id, from the index and the user's uploads."""
        found = self.index().get(ids)
        user = self.user_index()
        if user is not None and len(found) < len(ids):
            found.update(user.get([cid for cid in ids if cid not in found]))
        return {cid: f"{meta.get('title', '')} {meta.get('section', '')} {text}" for cid, (text, meta, _) in found.items()}

    def _sides(self, plan, retrieval, filters: dict | None) -> list:
        """A comparison's sides, each searched within its instrument: (label, side plan, retrieval)."""
        from .lexical import REF_RE, references
        from .planning import question_parts
        from .retrieval import find_provisions
        from .store import validate_filters

        # Provisions of one document ("art 4 vs art 5") that the question does not name:
        # the document of the best passage headed by one of them.
        wanted = {ref for subject in plan.subjects for ref in subject.refs}
        holder = next((p.doc_id for p in retrieval.passages if wanted & set(references(p.section))), None)
        sides = []
        for subject in plan.subjects:
            if not subject.docs and subject.refs and holder:
                subject = dataclasses.replace(subject, docs=(holder,))
            side_plan = copy.copy(plan)
            side_plan.refs = list(subject.refs) or plan.refs
            side_plan.focus_docs = list(subject.docs)
            # its sentences are chosen for what the question asks of every side ("hearing
            # witnesses abroad"), not for the names and the "vs" that make it a comparison
            if plan.topic:
                side_plan.question, side_plan.parts = plan.topic, question_parts(plan.topic)
            side_filters = dict(filters or {})
            if len(subject.docs) == 1:
                if side_filters.get("doc_id", subject.docs[0]) != subject.docs[0]:
                    continue
                side_filters["doc_id"] = subject.docs[0]
            # a provision's side searches for that provision alone: the other sides' numbers
            # would pull their own articles in through the heading ranking
            query, alternatives = self._side_query(plan, subject)
            query = query if not subject.refs else f"{subject.label} {REF_RE.sub(' ', query)}"
            found = self.search(query, self.settings.comparison_side_k, side_filters, focus=list(subject.docs),
                                alternatives=alternatives)
            if subject.refs and subject.docs:  # the provision the side names comes first, as for a question
                find_provisions(self.index(), found, query, list(subject.docs), validate_filters(side_filters),
                                self.answerer.passages_used)
            sides.append((subject.label, side_plan, found))
        return sides

    def _side_query(self, plan, subject) -> tuple[str, list[tuple[str, str]]]:
        """A comparison side's search: the question without the names of the other sides'
        instruments (each side is searched within its own; the other names only pull its
        ranking toward sentences that cite them), short names expanded; and the names expanded
        (as ``QueryPlan.alternatives``)."""
        from .planning import expansions

        if not subject.docs:
            return plan.search_query, plan.alternatives
        others = [m for m in plan.mentions if m.docs and not set(m.docs) & set(subject.docs)]
        if not others:
            return plan.search_query, plan.alternatives
        query = plan.query
        for m in sorted(others, key=lambda m: -m.start):
            query = query[: m.start] + query[m.end :]
        query = " ".join(query.split())
        names = self.names()
        return expansions(query, names.mentions(query), names)

    def decide(self, question: str, history: list[dict] | None = None, filters: dict | None = None):
        """The answerability decision for a question, without building the answer
        (:class:`assistant.decision.Decision`: probability, features, reason)."""
        return self._prepare({"question": question, "history": history, "filters": filters}).decision

    def not_held(self, plan) -> list[str]:
        """Instruments the question names that the glossary knows and no document of the index is:
        an answer to such a question comes from other documents, and says so first."""
        return list(dict.fromkeys(self._unheld_name(m) for m in plan.mentions if self._unheld_name(m)))

    def _unheld_name(self, m) -> str:
        """For a mention of an instrument the glossary knows and no document of the index is, its
        name as typed (with the full name); "" otherwise."""
        names = self.names()
        entries = [names.gloss.entries[e] for e in m.entries if e in names.gloss.entries]
        if m.docs or not entries or not all(e.kind == "instrument" for e in entries):
            return ""
        full = entries[0].name if len(entries) == 1 else ""
        return m.surface + (f" ({full})" if full and full.lower() != m.surface.lower() else "")

    def _finish(self, answer: Answer, prep: "_Prepared") -> Answer:
        answer.query = prep.plan.query
        answer.not_held = self.not_held(prep.plan) if not answer.abstained else []
        answer.notice = " ".join(n for n in (prep.notice, answer.notice) if n)
        answer.confidence = prep.decision.probability
        answer.signals = {k: round(v, 4) for k, v in prep.decision.features.items()}
        answer.latency_ms = round((time.perf_counter() - prep.start) * 1000, 2)
        return answer

    def _extractive(self, prep: "_Prepared") -> Answer:
        """The extractive answer (or abstention, or side-by-side comparison) for a prepared question."""
        d = prep.decision
        if prep.conflict is not None:
            return self.answerer.correction(prep.question, prep.conflict, prep.retrieval.passages)
        if not d.answer:
            return self.answerer.abstention(prep.question, prep.retrieval.passages, d.reason)
        self._expand(prep)
        if prep.plan.is_comparison and len(prep.sides) >= 2:
            return self.answerer.compare(prep.plan, prep.sides, prep.lexical, prep.retrieval.passages, d.hedge)
        return self.answerer.answer(prep.plan, prep.retrieval, prep.lexical, d.hedge, prep.denial)

    def _expand(self, prep: "_Prepared") -> None:
        """Let the answerer read the provisions around the passages it reads (and each side's)."""
        from .retrieval import expand_provisions

        s = self.settings
        if not s.provision_before and not s.provision_after:
            return
        index = self.index()
        for retrieval in [prep.retrieval, *[r for _, _, r in prep.sides]]:
            expand_provisions(index, retrieval, self.answerer.passages_used, s.provision_before, s.provision_after)

    def _answer(self, inputs: dict) -> Answer:
        """The body of the chain: validate, plan, search, decide, answer, time it."""
        if self.settings.generator == "openai":
            *_, answer = self._generate(inputs)  # the pieces, then the final Answer
            return answer  # type: ignore[return-value]
        prep = self._prepare(inputs)
        return self._finish(self._extractive(prep), prep)

    @property
    def llm(self):
        """The OpenAI-compatible client (built on first use from the settings)."""
        if self._llm is None:
            from .generation import OpenAIGenerator

            self._llm = OpenAIGenerator(self.settings)
        return self._llm

    def _generate(self, inputs: dict) -> Iterator[str | Answer]:
        """LLM answer, verified sentence by sentence; the extractive answer when too little survives."""
        from .errors import GeneratorUnavailable
        from .generation import NO_ANSWER, build_messages
        from .verify import VerifiedWriter

        prep = self._prepare(inputs)
        question, history, retrieval = prep.question, prep.history, prep.retrieval
        if prep.conflict is not None or not prep.decision.answer:
            answer = (self.answerer.correction(question, prep.conflict, retrieval.passages) if prep.conflict is not None
                      else self.answerer.abstention(question, retrieval.passages, prep.decision.reason))
            answer.generator = "openai"
            yield answer.text
            yield self._finish(answer, prep)
            return
        s = self.settings
        writer = VerifiedWriter(retrieval.passages, self.embeddings, retrieval.spans, cos_alone=s.verify_cos_alone,
                                cos_with_words=s.verify_cos_with_words, words=s.verify_words)
        raw: list[str] = []
        problem = ""
        try:
            messages = build_messages(question, retrieval.passages, history)
            pieces = self.llm.stream(messages) if self.settings.llm_stream else iter([self.llm.complete(messages)])
            for piece in pieces:
                raw.append(piece)
                for out in writer.feed(piece):
                    yield out + " "
            for out in writer.finish():
                yield out + " "
        except GeneratorUnavailable as exc:
            problem = f"{str(exc)[0].upper()}{str(exc)[1:]}"
        if writer.kept:
            answer = Answer(question=question, text=writer.text, citations=writer.citations, abstained=False,
                            passages=retrieval.passages, generator="openai",
                            unsupported_removed=len(writer.removed))
            if problem:
                answer.notice = f"{problem}; the answer may be incomplete."
            elif writer.removed:
                answer.notice = f"{len(writer.removed)} generated sentence(s) without support in the sources were removed."
        elif not problem and "".join(raw).strip().startswith(NO_ANSWER):
            answer = self.answerer.abstention(question, retrieval.passages, "the language model found no answer in the passages")
            answer.generator = "openai"
            yield answer.text
        else:
            answer = self._extractive(prep)
            why = problem or "The generated answer could not be verified against the sources"
            answer.notice = f"{why}; showing the extractive answer instead."
            answer.unsupported_removed = len(writer.removed)
            yield answer.text
        yield self._finish(answer, prep)

    def stats(self) -> dict:
        """Documents, chunks, embedding model, index path and store kind (+ the user's uploads)."""
        info = self.index().stats()
        user = self.user_index()
        info["user_documents"] = len(user.load_manifest()["files"]) if user else 0
        info["user_chunks"] = user.collection.count() if user else 0
        return info

    def facets(self) -> dict[str, list[str]]:
        """Filter values present in the index: issuer, type, topic, doc_id."""
        return self.index().facet_values()

    def for_owner(self, owner: str) -> "Assistant":
        """A view of this assistant whose uploads are ``owner``'s alone: ``ingest(user=True)``,
        ``ask``, ``search`` and ``stats`` on it use that owner's upload index (collection
        ``<collection>-user-<owner>``) and no one else's; the corpus index, the model and the
        answerer are shared. ``owner``: any name up to 200 characters; one that is not already
        1-40 lowercase letters, digits or hyphens is stored as a slug plus a digest of it.

        Example:
            >>> alice = Assistant().for_owner("alice")                 # doctest: +SKIP
            >>> alice.ingest(["notes/"], user=True)                     # doctest: +SKIP
        """
        owner = owner_key(owner)
        base = self._base or self
        _ = base.embeddings, base.answerer  # built once and shared by every view
        view = copy.copy(base)
        view.owner, view._base = owner, base
        view._user_index = view._chain = None
        view._lock = threading.RLock()
        view.user_index = functools.partial(_owner_upload_index, view)  # type: ignore[method-assign]
        view.__dict__.pop("_names_key", None)
        view.__dict__.pop("_names_merged", None)
        return view


def _interleave(lists: list[list[Passage]]) -> list[Passage]:
    """Passages of several searches, best first from each in turn, each chunk once."""
    out: dict[str, Passage] = {}
    for i in range(max((len(x) for x in lists), default=0)):
        for x in lists:
            if i < len(x):
                out.setdefault(x[i].chunk_id, x[i])
    return list(out.values())


def docs_index_dir(folder: str | Path, settings: Settings | None = None) -> Path:
    """Where ``assistant eval --docs FOLDER`` keeps the index of a folder: beside the default
    index, one subfolder per folder (its name and a digest of its absolute path)."""
    import hashlib

    from .loaders import slugify

    folder = Path(folder).resolve()
    base = Path((settings or Settings()).index_dir).parent / "docs"
    return base / f"{slugify(folder.name)}-{hashlib.sha1(str(folder).encode()).hexdigest()[:8]}"


def default_assistant() -> Assistant:
    """The process-wide Assistant used by :func:`ask` (built on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Assistant()
        return _default


def ask(question: str, history: list[dict] | None = None, filters: dict | None = None) -> Answer:
    """Answer one question with the default :class:`Assistant` (settings from the environment).

    Example:
        >>> ask("What does Article 5 of the North Atlantic Treaty commit members to?").citations[0].doc_id  # doctest: +SKIP
        'nato-treaty'
    """
    return default_assistant().ask(question, history=history, filters=filters)


def _owner_upload_index(view: Assistant, create: bool = False):
    """:meth:`Assistant.user_index` of an owner's view (:meth:`Assistant.for_owner`): that owner's
    own upload index ``<index_dir>/user-<owner>``, collection ``<collection>-user-<owner>``."""
    from .store import Index

    name = f"{UPLOADS}-{view.owner}"
    with view._lock:
        if view._user_index is None:
            present = getattr(Index, "present", None)  # a store that can tell (manifest kept with a server)
            exists = present(view.settings, name) if present else (Path(view.settings.index_dir) / name /
                                                                   "manifest.json").exists()
            if not create and not exists:
                return None
            view._user_index = Index(view.settings, view.embeddings, create=True, name=name)
        return view._user_index


def owner_key(owner: str) -> str:
    """The name an owner's upload space is stored under: ``owner`` itself when it is 1-40
    lowercase letters, digits or hyphens, else a slug of it and 16 hex digits of its SHA-256
    (distinct names stay distinct; nothing in it can leave the index folder)."""
    import hashlib
    import re

    if not isinstance(owner, str) or not owner.strip() or len(owner) > 200:
        raise BadInput("owner must be a non-empty name of at most 200 characters")
    if re.fullmatch(r"[a-z0-9][a-z0-9-]{0,39}", owner):
        return owner
    slug = re.sub(r"[^a-z0-9]+", "-", owner.lower()).strip("-")[:23].strip("-") or "owner"
    return f"{slug}-{hashlib.sha256(owner.encode('utf-8', 'surrogatepass')).hexdigest()[:16]}"
