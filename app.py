"""Streamlit chat UI for the security-cooperation policy assistant.

Run with ``streamlit run app.py`` (or ``make run``). Every answer goes through the same
:class:`assistant.Assistant` as the CLI and the Python API; the UI only renders it.

Settings come from the environment: ``ASSISTANT_INDEX_DIR`` (the index, relative paths resolve
against the working directory like the CLI) and ``ASSISTANT_CORPUS_DIR`` (the folder the
"Build index" button ingests; a relative path resolves against this file's folder).

The helpers above ``main()`` hold no Streamlit state and are imported by the tests.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

APP_DIR = Path(__file__).resolve().parent

EXAMPLE_QUESTIONS = [
    "What does Article 5 of the North Atlantic Treaty commit the parties to?",
    "What is PESCO?",
    "What does the Budapest Convention say about the expedited preservation of stored computer data?",
    "How does Europol support police cooperation between EU member states?",
]
UPLOAD_TYPES = ["pdf", "docx", "html", "md", "txt"]
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
ANY = "Any"
FILTER_FIELDS = (("issuer", "Issuer"), ("type", "Document type"), ("topic", "Topic"))

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&=\"'^])")
_WORD = re.compile(r"[A-Za-z0-9À-ÖØ-öø-ÿ]+(?:['’][A-Za-z]+)?")
_STOPWORDS = set(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had
    has have having he her here hers him his how i if in into is it its itself just me more most my
    no nor not now of off on once only or other our ours out over own same she should so some such
    than that the their theirs them then there these they this those through to too under until up
    very was we were what when where which while who whom why will with would you your yours
    say says said tell must may might shall""".split()
)


# --------------------------------------------------------------------------------------------
# Pure helpers (no Streamlit state; tested directly)
# --------------------------------------------------------------------------------------------
def index_dir_from_env() -> Path:
    """The index folder: ``ASSISTANT_INDEX_DIR`` (via Settings), made absolute against the cwd."""
    from assistant.settings import Settings

    return Path(Settings().index_dir).expanduser().resolve()


def corpus_dir_from_env() -> Path:
    """The corpus folder: ``ASSISTANT_CORPUS_DIR`` (default ``corpus``), relative to this file."""
    from assistant.settings import Settings

    path = Path(Settings().corpus_dir).expanduser()
    return path if path.is_absolute() else (APP_DIR / path).resolve()


def uploads_dir(index_dir: Path) -> Path:
    return Path(index_dir) / "uploads"


def escape_md(text: str) -> str:
    """Backslash-escape every Markdown/LaTeX special character so text renders literally."""
    return _MD_SPECIAL.sub(r"\\\1", text or "")


_ESCAPED_MARKER = re.compile(r"\\\[(\d+)\\\]")


def link_markers(escaped: str, citations: list[dict]) -> str:
    """Turn the escaped markers ``\\[n\\]`` of an answer into links to source n's official text
    (web URLs only; local files stay plain). The numbered sources list under the answer has the
    title, section and verbatim quote of each."""
    urls = {c["marker"]: c.get("url", "") for c in citations}

    def link(m: re.Match) -> str:
        url = urls.get(int(m.group(1)), "")
        if not url.startswith(("https://", "http://")):
            return m.group(0)
        safe = url.replace("(", "%28").replace(")", "%29").replace(" ", "%20")
        return f"[{m.group(0)}]({safe})"

    return _ESCAPED_MARKER.sub(link, escaped)


def question_terms(question: str) -> set[str]:
    """The content words of a question (lower-cased), used to highlight quotes."""
    return {
        w.lower()
        for w in _WORD.findall(question or "")
        if (len(w) >= 3 or w.isdigit()) and w.lower() not in _STOPWORDS
    }


def highlight_quote(quote: str, question: str) -> str:
    """Markdown for ``quote`` rendered literally, with the question's words in **bold**.

    The quote is escaped piece by piece, so nothing in it can become a link, HTML or formula.
    """
    terms = question_terms(question)
    out: list[str] = []
    pos = 0
    for m in _WORD.finditer(quote or ""):
        out.append(escape_md(quote[pos : m.start()]))
        word = m.group(0)
        out.append(f"**{escape_md(word)}**" if word.lower() in terms else escape_md(word))
        pos = m.end()
    out.append(escape_md((quote or "")[pos:]))
    return "".join(out)


def safe_url(url: str) -> str | None:
    """``url`` if it is a plain http(s) URL, with characters that would break a Markdown link encoded."""
    url = (url or "").strip()
    if not re.match(r"^https?://[^\s]+$", url, re.IGNORECASE):
        return None
    return url.replace("(", "%28").replace(")", "%29").replace("<", "%3C").replace(">", "%3E")


def format_timestamp(ts: Any) -> str:
    if not ts:
        return "never"
    try:
        return _dt.datetime.fromtimestamp(float(ts), tz=_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    except (TypeError, ValueError, OverflowError, OSError):
        return str(ts)


def source_line(c: dict) -> str:
    """One sources-list line (Markdown, escaped): ``[n] title — section · issuer · adopted · link``."""
    parts = [f"**{escape_md(c.get('title') or c.get('doc_id') or 'Untitled')}**"]
    details = []
    if c.get("section"):
        details.append(escape_md(c["section"]))
    if c.get("page"):
        details.append(f"page {c['page']}")
    if c.get("issuer"):
        details.append(escape_md(c["issuer"]))
    if c.get("adopted"):
        details.append(f"adopted {escape_md(str(c['adopted']))}")
    url = safe_url(c.get("url", ""))
    if url:
        details.append(f"[official text]({url})")
    line = f"\\[{c.get('marker')}\\] " + parts[0]
    if details:
        line += " — " + " · ".join(details)
    return line


def answer_record(answer) -> dict:
    """What the session keeps of an Answer: everything but the (large) retrieved passages."""
    data = answer.to_dict()
    data.pop("passages", None)
    return data


def chat_history(messages: list[dict]) -> list[dict]:
    """The ``history`` argument for :meth:`Assistant.ask`: role and content only."""
    return [{"role": m["role"], "content": m["content"]} for m in messages if m.get("role") in {"user", "assistant"}]


def append_feedback(index_dir: Path, question: str, answer: str, citations: list[dict],
                    rating: str, comment: str = "") -> Path:
    """Append one JSON line to ``<index_dir>/feedback.jsonl`` and fsync it. Returns the path."""
    path = Path(index_dir) / "feedback.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "question": question,
        "answer": answer,
        "citations": citations,
        "rating": rating,
        "comment": comment or "",
    }
    data = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
    from filelock import FileLock

    # One record = one O_APPEND write under a lock: sessions writing at once never interleave
    # lines, and a crash leaves at most a missing last line, never a corrupted earlier one.
    with FileLock(str(path) + ".lock"):
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
    return path


def _quote_block(text: str) -> str:
    return "\n".join("> " + ln for ln in (text or "").splitlines() or [""])


def conversation_markdown(messages: list[dict]) -> str:
    """The conversation as Markdown, each answer followed by its sources and quotes."""
    lines = ["# Conversation with the security-cooperation policy assistant", "",
             f"_Exported {_dt.datetime.now(_dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}_", ""]
    for m in messages:
        if m["role"] == "user":
            lines += [f"**You:** {m['content']}", ""]
            continue
        rec = m.get("answer") or {}
        label = "**Assistant (not covered by the sources):**" if rec.get("abstained") else "**Assistant:**"
        lines += [f"{label} {m['content']}", ""]
        cits = rec.get("citations") or []
        if cits:
            lines += ["Sources:", ""]
            for c in cits:
                meta = " · ".join(x for x in (c.get("section"), c.get("issuer"),
                                              f"adopted {c['adopted']}" if c.get("adopted") else "") if x)
                lines.append(f"- [{c['marker']}] {c.get('title', '')}" + (f" — {meta}" if meta else "")
                             + (f" — <{c['url']}>" if c.get("url") else ""))
                lines.append("")
                lines.append("  " + _quote_block(c.get("quote", "")).replace("\n", "\n  "))
                lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def conversation_json(messages: list[dict]) -> str:
    """The conversation as JSON: role, content and (for answers) citations and abstention."""
    out = []
    for m in messages:
        item: dict[str, Any] = {"role": m["role"], "content": m["content"]}
        if m["role"] == "assistant":
            rec = m.get("answer") or {}
            item.update({k: rec.get(k) for k in ("citations", "abstained", "abstain_reason", "query", "latency_ms")})
        out.append(item)
    doc = {"exported_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "messages": out}
    return json.dumps(doc, ensure_ascii=False, indent=2)


def safe_filename(name: str) -> str | None:
    """A safe basename for an upload, or None when the name or its extension is unusable.

    Keeps only the basename (either slash), maps characters outside ``[A-Za-z0-9._-]`` to ``_``,
    strips leading dots and requires an allowed extension.
    """
    base = re.split(r"[\\/]", name or "")[-1]
    base = re.sub(r"[^A-Za-z0-9._-]", "_", base).lstrip(".")
    base = re.sub(r"_+", "_", base)
    if "." not in base:
        return None
    stem, ext = base.rsplit(".", 1)
    ext = ext.lower()
    if ext not in UPLOAD_TYPES:
        return None
    stem = stem.strip("._-")[:100] or "upload"
    return f"{stem}.{ext}"


def save_upload(index_dir: Path, name: str, data: bytes) -> Path:
    """Write an uploaded file under ``<index_dir>/uploads/`` with a safe name; raises ValueError."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise ValueError(f"{name}: larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
    safe = safe_filename(name)
    if safe is None:
        raise ValueError(f"{name}: unsupported file name or type (allowed: {', '.join(UPLOAD_TYPES)})")
    folder = uploads_dir(index_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / safe
    tmp = folder / f".{safe}.{uuid.uuid4().hex}.part"  # hidden: never ingested
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def list_uploads(index_dir: Path) -> list[Path]:
    folder = uploads_dir(index_dir)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def remove_upload(bot, index_dir: Path, name: str):
    """Delete an uploaded file and re-ingest the uploads folder so its chunks leave the user index."""
    safe = safe_filename(name)
    if safe is None or safe != name:
        raise ValueError(f"not an uploaded file: {name!r}")
    folder = uploads_dir(index_dir)
    (folder / safe).unlink(missing_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    return bot.ingest([folder], user=True)


class AnswerStream:
    """Wraps :meth:`Assistant.stream`: iterating yields the text pieces; ``answer`` keeps the Answer."""

    def __init__(self, bot, question: str, history: list[dict], filters: dict, k: int,
                 transform=lambda s: s) -> None:
        self._it = bot.stream(question, history=history, filters=filters or None, k=k)
        self._transform = transform
        self.answer = None

    def __iter__(self) -> Iterator[str]:
        from assistant.types import Answer

        for item in self._it:
            if isinstance(item, Answer):
                self.answer = item
            else:
                yield self._transform(item)


# --------------------------------------------------------------------------------------------
# Streamlit UI
# --------------------------------------------------------------------------------------------
def main() -> None:  # noqa: C901 - one page, read top to bottom
    import streamlit as st

    from assistant.errors import AssistantError, IndexBusy, IndexNotFound

    st.set_page_config(page_title="Security-cooperation policy assistant", page_icon="🛡️", layout="centered")

    from assistant.settings import Settings

    @st.cache_resource(show_spinner="Loading the assistant…")
    def get_assistant(index_dir: str, generator: str = "extractive"):
        from assistant import Assistant

        settings = Settings().model_copy(update={"index_dir": Path(index_dir), "corpus_dir": corpus_dir_from_env(),
                                                 "generator": generator})
        bot = Assistant(settings=settings)
        try:  # load the model and open the index now, so the first answer is not the slow one
            bot.retrieve("collective defence", k=1)
        except Exception:  # noqa: BLE001 - no index yet, or a broken one: the page explains it
            pass
        return bot

    index_dir = index_dir_from_env()
    corpus_dir = corpus_dir_from_env()
    env_settings = Settings()
    # Generators on offer: extractive always; an OpenAI-compatible model when one is configured.
    generators = ["extractive"] + (["openai"] if env_settings.llm_base_url and env_settings.llm_model else [])
    if st.session_state.get("generator") not in generators:
        st.session_state["generator"] = env_settings.generator if env_settings.generator in generators else "extractive"
    bot = get_assistant(str(index_dir), st.session_state["generator"])
    ss = st.session_state
    ss.setdefault("messages", [])
    ss.setdefault("processed_uploads", [])
    ss.setdefault("flash", [])

    # -- index state --------------------------------------------------------------------------
    stats: dict | None = None
    facets: dict[str, list[str]] = {}
    index_error = ""
    try:
        stats = bot.stats()
        facets = bot.facets()
    except IndexNotFound:
        stats = None
    except AssistantError as exc:
        index_error = str(exc)
    except Exception as exc:  # a corrupt index must not show a traceback
        index_error = f"the index could not be opened ({type(exc).__name__}: {exc})"
    ready = stats is not None and stats.get("chunks", 0) + stats.get("user_chunks", 0) > 0

    def run_ingest(paths: list[Path], label: str, user: bool = False):
        bar = st.progress(0.0, text=f"{label}: starting…")
        stage_names = {"parse": "Reading files", "embed": "Embedding passages", "lexical": "Building keyword index"}

        def progress(stage: str, done: int, total: int) -> None:
            frac = done / total if total else 1.0
            bar.progress(min(max(frac, 0.0), 1.0), text=f"{stage_names.get(stage, stage)}: {done}/{total}")

        try:
            report = bot.ingest(paths, progress=progress, user=user)
        except IndexBusy as exc:
            bar.empty()
            st.error(str(exc))
            return None
        except AssistantError as exc:
            bar.empty()
            st.error(f"Indexing failed: {exc}")
            return None
        bar.progress(1.0, text=f"{label}: done")
        return report

    def report_flash(report, what: str) -> None:
        msg = f"{what}: {report.summary()}"
        ss.flash.append(("success" if report.ok else "warning", msg))
        for path, reason in report.failed[:10]:
            ss.flash.append(("warning", f"{Path(path).name}: {reason}"))

    def new_chat() -> None:
        ss.messages = []

    # -- sidebar ------------------------------------------------------------------------------
    filters: dict[str, str] = {}
    with st.sidebar:
        st.header("Settings")
        st.button("New chat", on_click=new_chat, icon=":material/add_comment:", width="stretch")

        st.subheader("Filters")
        for field, label in FILTER_FIELDS:
            options = [ANY] + list(facets.get(field, []))
            choice = st.selectbox(label, options, key=f"filter_{field}", disabled=not ready)
            if choice and choice != ANY:
                filters[field] = choice
        if len(generators) > 1:
            st.radio("Answers written by", generators, key="generator",
                     format_func=lambda g: "quoting the sources (extractive)" if g == "extractive"
                     else f"language model ({env_settings.llm_model}), citations verified")
        else:
            st.caption("Answers quote the sources (no language model configured).")
        k = st.slider("Passages to search (k)", min_value=1, max_value=20,
                      value=int(bot.settings.top_k), key="k")

        st.subheader("Index")
        if stats is not None:
            st.markdown(
                f"- Documents: **{stats.get('documents', 0)}**\n"
                f"- Passages (chunks): **{stats.get('chunks', 0)}**\n"
                f"- Your uploads: **{stats.get('user_documents', 0)}** documents, "
                f"**{stats.get('user_chunks', 0)}** passages\n"
                f"- Last indexed: {format_timestamp(stats.get('last_indexed'))}\n"
                f"- Model: {escape_md(str(stats.get('embedding_model', '')))}"
            )
        else:
            st.caption("No index yet.")
        st.caption(f"Corpus folder: {escape_md(str(corpus_dir))}")
        build_label = "Rebuild index from corpus" if stats is not None else "Build index from corpus"
        if st.button(build_label, key="build_index", type="primary" if stats is None else "secondary",
                     width="stretch"):
            if not corpus_dir.is_dir():
                st.error(f"The corpus folder {corpus_dir} does not exist (set ASSISTANT_CORPUS_DIR).")
            else:
                report = run_ingest([corpus_dir], "Indexing the corpus")
                if report is not None:
                    report_flash(report, "Corpus indexed")
                    st.rerun()

        st.subheader("Your documents")
        st.caption("PDF, DOCX, HTML, Markdown or text, up to 10 MB each. They are kept in a separate "
                   "collection and searched together with the corpus.")
        uploaded = st.file_uploader("Add documents", type=UPLOAD_TYPES, accept_multiple_files=True,
                                    key="uploader", max_upload_size=10)
        new_files = [f for f in (uploaded or []) if f.file_id not in ss.processed_uploads]
        if new_files:
            saved = 0
            for f in new_files:
                ss.processed_uploads.append(f.file_id)
                try:
                    save_upload(index_dir, f.name, f.getvalue())
                    saved += 1
                except ValueError as exc:
                    ss.flash.append(("error", str(exc)))
            if saved:
                report = run_ingest([uploads_dir(index_dir)], "Indexing uploads", user=True)
                if report is not None:
                    report_flash(report, "Uploads indexed")
            st.rerun()
        for path in list_uploads(index_dir):
            c1, c2 = st.columns([4, 1], vertical_alignment="center")
            c1.markdown(f"📄 {escape_md(path.name)}")
            if c2.button("Remove", key=f"remove_{path.name}", help=f"Remove {path.name} from the index"):
                try:
                    report = remove_upload(bot, index_dir, path.name)
                    report_flash(report, f"Removed {path.name}")
                except (ValueError, AssistantError) as exc:
                    ss.flash.append(("error", str(exc)))
                st.rerun()

        st.subheader("Export")
        export_box = st.container()

    # -- main area ----------------------------------------------------------------------------
    try:
        _chat_area(st, ss, bot, index_dir, corpus_dir, stats, ready, index_error, filters, k)
    finally:
        # Filled last so the exports include the turn answered in this run.
        with export_box:
            st.download_button("Download as Markdown", data=conversation_markdown(ss.messages),
                               file_name="conversation.md", mime="text/markdown", key="export_md",
                               on_click="ignore", disabled=not ss.messages, width="stretch")
            st.download_button("Download as JSON", data=conversation_json(ss.messages),
                               file_name="conversation.json", mime="application/json", key="export_json",
                               on_click="ignore", disabled=not ss.messages, width="stretch")


def _chat_area(st, ss, bot, index_dir, corpus_dir, stats, ready, index_error, filters, k) -> None:  # noqa: C901
    from assistant.errors import AssistantError, BadInput, IndexNotFound

    st.title("Security-cooperation policy assistant")
    for kind, msg in ss.flash:
        getattr(st, kind)(escape_md(msg))
    ss.flash = []

    if index_error:
        st.error(f"The index at {index_dir} cannot be used: {escape_md(index_error)}. "
                 "Use **Rebuild index from corpus** in the sidebar.")
        return
    if stats is None:
        st.info(
            "**Welcome!** There is no index yet, so I have nothing to answer from.\n\n"
            f"Use **Build index from corpus** in the sidebar to index the documents in `{corpus_dir}` "
            "(it takes a minute or two), or upload your own documents."
        )
        return
    if not ready:
        st.info("The index is empty. Use **Rebuild index from corpus** in the sidebar or upload documents.")
        return

    def render_sources(msg: dict) -> None:
        rec = msg.get("answer") or {}
        cits = rec.get("citations") or []
        if not cits:
            return
        question = rec.get("question", "")
        st.markdown("**Sources**")
        for c in cits:
            st.markdown(source_line(c))
            with st.expander(f"Quote \\[{c['marker']}\\] from {escape_md(c.get('title', ''))}"):
                st.markdown(highlight_quote(c.get("quote", ""), question))

    def on_feedback(mid: str) -> None:
        msg = next((m for m in ss.messages if m.get("id") == mid), None)
        value = ss.get(f"fb_{mid}")
        if msg is None or value is None:
            return
        rec = msg.get("answer") or {}
        append_feedback(index_dir, rec.get("question", ""), msg["content"], rec.get("citations") or [],
                        "up" if value == 1 else "down", ss.get(f"fbc_{mid}", ""))

    def render_feedback(msg: dict) -> None:
        mid = msg["id"]
        st.feedback("thumbs", key=f"fb_{mid}", on_change=on_feedback, args=(mid,))
        if ss.get(f"fb_{mid}") is not None:
            st.text_input("Optional comment (press Enter to send)", key=f"fbc_{mid}",
                          on_change=on_feedback, args=(mid,), placeholder="What was good or wrong?")

    def render_answer_body(msg: dict) -> None:
        rec = msg.get("answer") or {}
        if rec.get("abstained"):
            reason = rec.get("abstain_reason") or "the retrieved passages do not support an answer"
            why = "" if reason in msg["content"] else f"\n\n_Why:_ {escape_md(reason)}"
            st.warning(f"**Not covered by the sources.** {escape_md(msg['content'])}{why}",
                       icon=":material/help:")
        else:
            st.markdown(link_markers(escape_md(msg["content"]), rec.get("citations") or []))

    def render_extras(msg: dict) -> None:
        rec = msg.get("answer") or {}
        if rec.get("notice"):
            st.info(escape_md(rec["notice"]))
        render_sources(msg)
        if rec.get("latency_ms"):
            active = ", ".join(f"{k}={v}" for k, v in (msg.get("filters") or {}).items())
            st.caption(f"Answered in {rec['latency_ms'] / 1000:.1f} s" + (f" · filters: {escape_md(active)}" if active else ""))
        render_feedback(msg)

    def ask_example(q: str) -> None:
        ss.pending_question = q

    # Read the chat box first (it is pinned to the bottom wherever it is called) so the first
    # screen disappears in the same run that answers the first question.
    typed = st.chat_input("Ask about security-cooperation policy…", key="chat_input")
    question = typed or ss.pop("pending_question", None)

    # First screen
    if not ss.messages and not question:
        st.markdown(
            f"I answer questions about international security cooperation — the UN, NATO and the EU, "
            f"intelligence and information sharing, border security, police and judicial cooperation, "
            f"counter-terrorism and cybercrime — **citing the exact passages** I rely on, and I say so "
            f"when my sources do not cover a question.\n\n"
            f"I know **{stats['documents']} documents** ({stats['chunks']} passages), "
            f"last indexed {format_timestamp(stats.get('last_indexed'))}."
        )
        st.markdown("**Try one of these:**")
        cols = st.columns(2)
        for i, q in enumerate(EXAMPLE_QUESTIONS):
            cols[i % 2].button(q, key=f"example_{i}", width="stretch", on_click=ask_example, args=(q,))

    # Conversation so far
    for msg in ss.messages:
        with st.chat_message(msg["role"]):
            if msg["role"] == "user":
                st.markdown(escape_md(msg["content"]))
            else:
                render_answer_body(msg)
                render_extras(msg)

    if not question:
        return

    history = chat_history(ss.messages)
    with st.chat_message("user"):
        st.markdown(escape_md(question))
    with st.chat_message("assistant"):
        body = st.empty()
        try:
            with body.container():
                stream = AnswerStream(bot, question, history, filters, k, transform=escape_md)
                pieces = iter(stream)
                with st.spinner("Searching the sources…"):
                    first = next(pieces, None)  # retrieval and answering happen here

                def text():
                    if first is not None:
                        yield first
                    yield from pieces

                st.write_stream(text())
            answer = stream.answer
        except BadInput as exc:
            body.error(f"I could not use that question: {escape_md(str(exc))}")
            return
        except IndexNotFound:
            body.info("There is no index yet: build it from the sidebar first.")
            return
        except AssistantError as exc:
            body.error(f"Something went wrong while answering: {escape_md(str(exc))}")
            return
        if answer is None:
            body.error("The assistant returned no answer.")
            return
        msg = {"id": uuid.uuid4().hex, "role": "assistant", "content": answer.text,
               "answer": answer_record(answer), "filters": dict(filters), "time": time.time()}
        ss.messages.append({"id": uuid.uuid4().hex, "role": "user", "content": question})
        ss.messages.append(msg)
        if answer.abstained:
            with body.container():
                render_answer_body(msg)
        render_extras(msg)


if __name__ == "__main__":
    main()
