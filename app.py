"""Streamlit chat UI for the security-cooperation policy assistant.

Run with ``streamlit run app.py`` (or ``make run``). Every answer goes through the same
:class:`assistant.Assistant` as the CLI and the Python API; the UI only renders it. The services
it uses live in the package: private uploads (:mod:`assistant.uploads`), saved conversations
(:mod:`assistant.history`), feedback (:mod:`assistant.feedback`), export
(:mod:`assistant.export`) and what a reader needs to judge the sources (:mod:`assistant.sources`).

Privacy: each browser gets a random owner token in a session cookie; its uploads, its upload
index and its saved conversations are kept under a digest of that token, and no other browser
session can list, search or remove them (README, "Your uploads are private").

Settings come from the environment like the CLI's: ``ASSISTANT_INDEX_DIR`` and
``ASSISTANT_CORPUS_DIR`` (relative paths resolve against the working directory).

The helpers above ``main()`` hold no Streamlit state and are imported by the tests.
"""
from __future__ import annotations

import datetime as _dt
import functools
import html
import itertools
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from assistant.export import (  # noqa: F401 - re-exported for the tests and older callers
    answer_with_footnotes, conversation_json, conversation_markdown, escape_md, safe_url,
)
from assistant.feedback import append_feedback  # noqa: F401
from assistant.sources import BRIEF, OFFICIAL, UPLOAD, by_document, human_label, not_held_notice, or_list, short_title
from assistant.uploads import MAX_UPLOAD_BYTES, UPLOAD_TYPES, safe_filename  # noqa: F401

APP_DIR = Path(__file__).resolve().parent
COOKIE = "assistant_owner"
EXAMPLE_QUESTIONS = [
    "What does Article 5 of the North Atlantic Treaty commit the parties to?",
    "What is PESCO?",
    "What does the Budapest Convention say about the expedited preservation of stored computer data?",
    "How does Europol support police cooperation between EU member states?",
]
FILTER_FIELDS = (("issuer", "Issuer"), ("type", "Document type"), ("topic", "Topic"))
MOBILE_WIDTH = 640  # Streamlit stacks columns below this width
_MARKER = re.compile(r"\[(\d+)\]")

CSS = """
<style>
.block-container { max-width: 1400px; }
/* captions and secondary text at WCAG AA contrast (#4a4f5a on white: 8.0:1) */
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p { color: #4a4f5a !important; }
[data-testid="stBaseButton-secondary"] p { white-space: normal; text-align: left; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
.answer { line-height: 1.6; }
.answer a.cite { position: relative; font-size: .78em; vertical-align: super; text-decoration: none;
  padding: 0 .2em; margin: 0 .05em; border-radius: .3em; background: #e6ecfa; color: #1b3f91; font-weight: 600; }
.answer a.cite:focus { outline: 2px solid #1b3f91; }
.answer a.cite .pop { display: none; position: absolute; z-index: 1000; left: -1rem; top: 1.7em; width: min(24rem, 80vw);
  background: #fff; color: #1f2329; border: 1px solid #b9bfcc; border-radius: .5rem; padding: .55rem .7rem;
  box-shadow: 0 6px 18px rgba(0,0,0,.18); font-size: .85rem; font-weight: 400; line-height: 1.4; white-space: normal; }
.answer a.cite:hover .pop, .answer a.cite:focus .pop, .answer a.cite.open .pop { display: block; }
@media (max-width: 640px) {  /* a phone: the card opens as a sheet above the chat box, within the screen */
  .answer a.cite .pop { position: fixed; left: .75rem; right: .75rem; width: auto; top: auto; bottom: 6.5rem; }
}
.pop .pk, .src-card .kind { color: #3f4653; font-size: .8rem; }
.sources h4 { margin: 0 0 .4rem 0; font-size: 1rem; }
.src-card { border: 1px solid #d3d7df; border-radius: .5rem; padding: .5rem .7rem; margin-bottom: .5rem; background: #fff; }
.src-card .title { font-weight: 600; }
.src-card .badge { display: inline-block; font-size: .72rem; font-weight: 600; padding: 0 .4em; border-radius: .3em;
  background: #fff1c9; color: #5c4400; margin-right: .3em; }
.src-card ol { list-style: none; padding-left: 0; margin: .3rem 0 0 0; }
.src-card li { padding: .3rem .35rem; border-radius: .35rem; font-size: .9rem; }
.src-card li:target, .src-card li.hl { background: #fff6d6; }
.src-card .num { font-weight: 700; color: #1b3f91; }
.src-card .sec { color: #3f4653; font-size: .8rem; }
.src-card .ctx { color: #4a4f5a; }
.src-card mark { background: #ffe58a; color: #1f2329; padding: 0 .1em; }
table.compare { border-collapse: collapse; width: 100%; font-size: .9rem; }
table.compare th, table.compare td { border: 1px solid #d3d7df; padding: .35rem .5rem; vertical-align: top; text-align: left; }
</style>
"""

# Citation markers: a click opens the card at the marker (and marks the quote in the sources
# panel) instead of following the link, so the page never jumps away from the answer.
CITE_JS = """
<script>
if (!window.__citeClicks) {
  window.__citeClicks = true;
  document.addEventListener('click', function (e) {
    const a = e.target.closest && e.target.closest('a.cite');
    document.querySelectorAll('a.cite.open').forEach(function (o) { if (o !== a) o.classList.remove('open'); });
    if (!a) return;
    e.preventDefault();
    a.classList.toggle('open');
    document.querySelectorAll('.src-card li.hl').forEach(function (l) { l.classList.remove('hl'); });
    const li = document.getElementById(a.getAttribute('href').slice(1));
    if (li) li.classList.add('hl');
  });
}
(function () {
  let r = document.getElementById('answer-live');
  if (!r) {
    r = document.createElement('div'); r.id = 'answer-live'; r.className = 'sr-only';
    r.setAttribute('role', 'status'); r.setAttribute('aria-live', 'polite'); document.body.appendChild(r);
  }
})();
</script>
"""


# --------------------------------------------------------------------------------------------
# Pure helpers (no Streamlit state; tested directly)
# --------------------------------------------------------------------------------------------
def index_dir_from_env() -> Path:
    """The index folder: ``ASSISTANT_INDEX_DIR`` (via Settings), made absolute against the cwd
    (as the CLI resolves it)."""
    from assistant.settings import Settings

    return Path(Settings().index_dir).expanduser().resolve()


def corpus_dir_from_env() -> Path:
    """The corpus folder: ``ASSISTANT_CORPUS_DIR`` (default ``corpus``), resolved as the CLI does
    (against the working directory); the repository's ``corpus`` when the default is missing there."""
    from assistant.settings import Settings

    path = Path(Settings().corpus_dir).expanduser().resolve()
    if not path.is_dir() and Settings().corpus_dir == Path("corpus"):
        return (APP_DIR / "corpus").resolve()
    return path


def llm_generators(settings) -> list[str]:
    """Generators on offer: extractive always; an OpenAI-compatible model when one is configured."""
    from assistant.generation import llm_configured

    return ["extractive"] + (["openai"] if llm_configured(settings) else [])


def format_timestamp(ts: Any) -> str:
    if not ts:
        return "never"
    try:
        return _dt.datetime.fromtimestamp(float(ts), tz=_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    except (TypeError, ValueError, OverflowError, OSError):
        return str(ts)


def chat_history(messages: list[dict]) -> list[dict]:
    """The ``history`` argument for :meth:`Assistant.ask`: role and content only."""
    return [{"role": m["role"], "content": m["content"]} for m in messages if m.get("role") in {"user", "assistant"}]


def answer_record(answer) -> dict:
    """What the session keeps of an Answer: everything but the (large) retrieved passages."""
    data = answer.to_dict()
    data.pop("passages", None)
    return data


def _e(text: Any) -> str:
    return html.escape(str(text or ""), quote=True)


def kind_line(c: dict) -> str:
    """HTML: what kind of source a card is, its dates (each named) and its official link."""
    kind = c.get("kind") or (UPLOAD if str(c.get("url", "")).startswith("upload:") else BRIEF)
    url = safe_url(c.get("url", ""))
    if kind == UPLOAD:
        return '<span class="badge">your upload</span>only you can see and search it'
    bits = []
    if kind == OFFICIAL:
        bits.append("Official text")
    else:
        bits.append(f"Team brief explaining {_e(short_title(c.get('title', '')))}")
    if c.get("issuer"):
        bits.append(_e(c["issuer"]))
    if c.get("reviewed"):
        bits.append(f"reviewed {_e(c['reviewed'])}")
    if c.get("adopted"):
        bits.append(f"{'adopted' if kind == OFFICIAL else 'instrument adopted'} {_e(c['adopted'])}")
    if url:
        label = "official text" if kind == OFFICIAL else "official source"
        bits.append(f'<a href="{_e(url)}" target="_blank" rel="noopener noreferrer">{label}</a>')
    return " · ".join(bits)


def answer_html(text: str, citations: list[dict], mid: str) -> str:
    """The answer as HTML: text escaped, each known ``[n]`` a link to quote n in the sources panel
    that opens a small card (title, kind, quote) in place."""
    by_marker = {int(c["marker"]): c for c in citations}

    def cite(m: re.Match) -> str:
        n = int(m.group(1))
        c = by_marker.get(n)
        if c is None:
            return m.group(0)
        kind = "your upload" if c.get("kind") == UPLOAD or str(c.get("url", "")).startswith("upload:") else \
            ("official text" if c.get("kind") == OFFICIAL else "team brief")
        pop = (f'<span class="pop" role="tooltip"><b>{_e(c.get("title"))}</b><br>'
               f'<span class="pk">{_e(kind)}{" · " + _e(c["section"]) if c.get("section") else ""}</span><br>'
               f'“{_e(" ".join((c.get("quote") or "").split()))}”</span>')
        return f'<a class="cite" href="#q-{mid}-{n}" aria-label="source {n}">[{n}]{pop}</a>'

    body = _MARKER.sub(cite, _e(text))
    return f'<div class="answer">{body}</div>'


def sources_html(citations: list[dict], mid: str) -> str:
    """The sources panel: one card per document (title, kind, dates, official link), its quotes
    under it, each quote with the sentences around it and the cited one highlighted."""
    cards = []
    for i, card in enumerate(by_document(citations)):
        quotes = []
        for q in card["quotes"]:
            where = " · ".join(x for x in (_e(q.get("section")), f"page {int(q['page'])}" if q.get("page") and
                                           int(q["page"]) > 0 and f"page {q['page']}" not in str(q.get("section")).lower()
                                           else "") if x)
            ctx = " ".join(x for x in (_e(q.get("context_before")), f"<mark>{_e(q.get('quote'))}</mark>",
                                       _e(q.get("context_after"))) if x)
            quotes.append(f'<li id="q-{mid}-{int(q["marker"])}"><span class="num">[{int(q["marker"])}]</span> '
                          f'<span class="sec">{where}</span><div class="ctx">{ctx}</div></li>')
        cards.append(f'<div class="src-card" id="src-{mid}-{i}"><div class="title">{_e(card.get("title"))}</div>'
                     f'<div class="kind">{kind_line(card)}</div><ol>{"".join(quotes)}</ol></div>')
    return f'<div class="sources" role="region" aria-label="Sources"><h4>Sources</h4>{"".join(cards)}</div>'


def comparison_html(parts: list[dict], mid: str, citations: list[dict]) -> str:
    """A small table for a comparison: one row per side, what the sources say about it."""
    rows = "".join(f'<tr><th scope="row">{_e(p.get("subject"))}</th>'
                   f'<td>{answer_html(p.get("text", ""), citations, mid)}</td></tr>' for p in parts)
    return (f'<table class="compare"><caption class="sr-only">Comparison</caption><thead><tr><th scope="col">Subject'
            f'</th><th scope="col">What the sources say</th></tr></thead><tbody>{rows}</tbody></table>')


def filter_summary(filters: dict[str, Any]) -> str:
    """The active filters in words ("Issuer: EU or NATO · Topic: Cybercrime")."""
    labels = dict(FILTER_FIELDS)
    return " · ".join(f"{labels.get(k, k)}: {or_list([human_label(x) for x in ([v] if isinstance(v, str) else v)])}"
                      for k, v in filters.items())


def search_filters(chosen: dict[str, list[str]], chips: dict[str, tuple[str, ...]]) -> dict[str, Any]:
    """The search filters for the chips chosen: issuer and topic values as they are, type chips
    as the types they stand for; one value is a string, several a list (any of them matches)."""
    out: dict[str, Any] = {}
    for field, values in chosen.items():
        values = [t for v in values for t in chips.get(v, ())] if field == "type" else list(values)
        values = list(dict.fromkeys(values))
        if values:
            out[field] = values[0] if len(values) == 1 else values
    return out


def js_string(text: str) -> str:
    """``text`` as a JavaScript string literal that cannot end its script element (no ``<``,
    ``>`` or ``&`` in it)."""
    return json.dumps(text).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def live_script(text: str, scroll: bool) -> str:
    """JS run once after a new answer: announce it (live region) and, on a narrow screen, bring
    the start of the answer into view. (No "<" in it: Streamlit drops a script that holds one.)"""
    return ("<script>(function(){const r=document.getElementById('answer-live');"
            f"if(r) r.textContent={js_string(text)};"
            # until the reader touches, scrolls or types (at most 20 s), keep the start of the
            # answer at the top of a phone's screen: Streamlit follows the bottom whenever the page
            # grows, and a loaded machine can settle the page after any fixed delay
            + (f"if({MOBILE_WIDTH}>window.innerWidth){{let n=0;const t=setInterval(keep,250);"
               "const stop=function(){clearInterval(t);"
               "['touchstart','wheel','keydown','mousedown'].forEach(function(e){"
               "window.removeEventListener(e,stop,true);});};"
               "['touchstart','wheel','keydown','mousedown'].forEach(function(e){"
               "window.addEventListener(e,stop,true);});"
               "function keep(){const m=document.querySelectorAll('[data-testid=stChatMessage]');"
               "if(m.length){const y=m[m.length-1].getBoundingClientRect().top;"
               "if(-2>y||y>window.innerHeight/3) m[m.length-1].scrollIntoView({block:'start'});}"
               "if(++n>80) stop();}}"
               if scroll else "")
            + "})();</script>")


FOCUS_JS = """<script>(function(){let n=0;const t=setInterval(function(){
const b=document.querySelector('[data-testid="stChatInputTextArea"]');
if(b||++n>50){clearInterval(t); if(b) b.focus();}},100);})();</script>"""


def cookie_script(token: str) -> str:
    """JS that keeps the owner token in a session cookie (same site only)."""
    return f"<script>document.cookie='{COOKIE}={token}; path=/; SameSite=Strict';</script>"


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
class Page:
    """What one script run knows: the session, the owner's assistant view, the index state."""

    def __init__(self, st) -> None:
        from assistant.history import ConversationStore
        from assistant.settings import Settings
        from assistant.uploads import UploadStore, new_token, owner_id, valid_token

        self.st, self.ss = st, st.session_state
        ss = self.ss
        self.index_dir, self.corpus_dir = index_dir_from_env(), corpus_dir_from_env()
        self.env = Settings()
        self.generators = llm_generators(self.env)
        if ss.get("generator") not in self.generators:
            ss["generator"] = self.env.generator if self.env.generator in self.generators else "extractive"
        if not valid_token(ss.get("owner_token")):
            cookie = st.context.cookies.get(COOKIE)
            ss["owner_token"] = cookie if valid_token(cookie) else new_token()
        self.owner = owner_id(ss["owner_token"])
        self.bot = _base_assistant(st, str(self.index_dir), str(self.corpus_dir), ss["generator"]).for_owner(self.owner)
        self.uploads = UploadStore(self.index_dir, self.owner)
        self.conversations = ConversationStore(self.index_dir, self.owner)
        ss.setdefault("processed_uploads", [])
        ss.setdefault("upload_notes", [])
        ss.setdefault("flash", [])
        if "messages" not in ss:  # a new session (or a reload): the owner's latest conversation
            recent = self.conversations.list(1)
            ss["conv_id"] = recent[0]["id"] if recent else uuid.uuid4().hex
            ss["messages"] = (self.conversations.load(recent[0]["id"]) or []) if recent else []
        self.stats, self.facets, self.error = None, {}, ""
        self._load_index()
        self.ready = self.stats is not None and self.stats.get("chunks", 0) + self.stats.get("user_chunks", 0) > 0

    def _load_index(self) -> None:
        from assistant.errors import AssistantError, IndexNotFound

        try:
            self.stats, self.facets = self.bot.stats(), self.bot.facets()
        except IndexNotFound:
            self.stats = None
        except AssistantError as exc:
            self.error = str(exc)
        except Exception as exc:  # noqa: BLE001 - a corrupt index must not show a traceback
            self.error = f"the index could not be opened ({type(exc).__name__}: {exc})"

    def library(self) -> list[dict]:
        """The indexed documents (corpus and this owner's uploads)."""
        from assistant.sources import library

        metas = _first_chunks(self.bot.index())
        user = self.bot.user_index()
        if user is not None:
            metas += _first_chunks(user)
        return library(metas)

    def chips(self) -> dict[str, tuple[str, ...]]:
        """The document-type chips for this index (treaties and conventions together, ...)."""
        from assistant.sources import type_chips

        return type_chips(list(self.facets.get("type", [])))

    def filters(self) -> dict[str, Any]:
        """The search filters the chosen chips stand for."""
        return search_filters({f: list(self.ss.get(f"filter_{f}") or []) for f, _ in FILTER_FIELDS}, self.chips())

    def ingest(self, paths: list[Path], label: str, user: bool = False):
        from assistant.errors import AssistantError, IndexBusy

        st = self.st
        bar = st.progress(0.0, text=f"{label}: starting…")
        stage_names = {"parse": "Reading files", "embed": "Embedding passages", "lexical": "Building keyword index"}

        def progress(stage: str, done: int, total: int) -> None:
            bar.progress(min(max(done / total if total else 1.0, 0.0), 1.0),
                         text=f"{stage_names.get(stage, stage)}: {done}/{total}")

        try:
            report = self.bot.ingest(paths, progress=progress, user=user)
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

    def save_conversation(self) -> None:
        if self.ss.messages:
            self.conversations.save(self.ss.conv_id, self.ss.messages)


_FIRST_CHUNKS: dict[tuple, list[dict]] = {}  # (collection, manifest stamp) -> metadata; bounded below


def _first_chunks(index) -> list[dict]:
    """The metadata of each document's first chunk (title, issuer, dates, link), read again only
    when the index's manifest changes (bench/chat_sources.py: 15 ms a read on the corpus)."""
    try:
        st_ = index.manifest_path.stat()
        key = (str(index.dir), index.collection_name, st_.st_mtime_ns, st_.st_size)
    except OSError:
        key = None
    if key is not None and key in _FIRST_CHUNKS:
        return list(_FIRST_CHUNKS[key])
    metas = list(index.collection.get(where={"position": 0}, include=["metadatas"])["metadatas"] or [])
    if key is not None:
        if len(_FIRST_CHUNKS) >= 64:
            _FIRST_CHUNKS.clear()
        _FIRST_CHUNKS[key] = metas
    return list(metas)


def _quietly(fn) -> None:
    """Run ``fn``; an error is left for its first real use to report (in the script's thread)."""
    try:
        fn()
    except Exception:  # noqa: BLE001
        pass


def _base_assistant(st, index_dir: str, corpus_dir: str, generator: str):
    @st.cache_resource(show_spinner="Loading the assistant…")
    def get_assistant(index_dir: str, corpus_dir: str, generator: str = "extractive"):
        from assistant import Assistant
        from assistant.settings import Settings

        settings = Settings().model_copy(update={"index_dir": Path(index_dir), "corpus_dir": Path(corpus_dir),
                                                 "generator": generator})
        bot = Assistant(settings=settings)
        warm = getattr(bot.embeddings, "warm", None)
        if warm is not None:  # the encoder loads on a thread while the index opens (as `assistant ask` does)
            threading.Thread(target=_quietly, args=(warm,), name="encoder-warm-up").start()
        try:  # load the model and open the index now, so the first answer is not the slow one
            bot.retrieve("collective defence", k=1)
        except Exception:  # noqa: BLE001 - no index yet, or a broken one: the page explains it
            pass
        return bot

    return get_assistant(index_dir, corpus_dir, generator)


def main() -> None:
    import streamlit as st

    st.set_page_config(page_title="Security-cooperation policy assistant", page_icon="🛡️", layout="wide")
    page = Page(st)
    st.html(CSS)
    st.html(CITE_JS + cookie_script(page.ss["owner_token"]), unsafe_allow_javascript=True)
    if not page.ss.get("focused"):
        page.ss["focused"] = True
        st.html(FOCUS_JS, unsafe_allow_javascript=True)
    with st.sidebar:
        export_box = _sidebar(page)
    try:
        _chat_area(page)
    finally:  # filled last, so the exports include the turn answered in this run
        _exports(page, export_box)


# -- sidebar -----------------------------------------------------------------------------------
def _sidebar(page: Page):
    st, ss = page.st, page.ss
    st.button("New chat", on_click=_new_chat, args=(ss,), icon=":material/add_comment:", width="stretch")
    _recent_conversations(page)
    if page.ready:
        st.button("Browse the library", icon=":material/menu_book:", width="stretch", key="open_library",
                  on_click=_set, args=(ss, "library_open", True))
        if ss.get("library_open"):
            _library_dialog(page)
    _uploads_panel(page)
    st.subheader("Export")
    export_box = st.container()
    _advanced(page)
    return export_box


def _set(ss, key: str, value) -> None:
    ss[key] = value


def _new_chat(ss) -> None:
    ss.messages = []
    ss.conv_id = uuid.uuid4().hex
    for field, _ in FILTER_FIELDS:
        ss[f"filter_{field}"] = []


def _open_conversation(ss, conv_id: str, messages: list[dict]) -> None:
    ss.conv_id, ss.messages = conv_id, messages


def _recent_conversations(page: Page) -> None:
    st, ss = page.st, page.ss
    recent = [c for c in page.conversations.list(6)]
    if not recent:
        return
    st.caption("Recent conversations")
    for c in recent:
        current = c["id"] == ss.conv_id
        st.button(("▸ " if current else "") + c["title"], key=f"conv_{c['id']}", width="stretch",
                  help="The conversation on screen" if current else "Open this conversation",
                  on_click=_open_conversation, args=(ss, c["id"], page.conversations.load(c["id"]) or []))


def _library_dialog(page: Page) -> None:
    st = page.st

    @st.dialog("Library: the documents I answer from", width="large",
               on_dismiss=functools.partial(_set, page.ss, "library_open", False))
    def show() -> None:
        from assistant.sources import search_library

        docs = page.library()
        text = st.text_input("Search the library", key="library_q", placeholder="title, issuer, type or topic")
        found = search_library(docs, text)
        st.caption(f"{len(found)} of {len(docs)} documents")
        rows = []
        for d in found:
            url = safe_url(d["url"])
            link = f'<a href="{_e(url)}" target="_blank" rel="noopener noreferrer">link</a>' if url else ""
            rows.append(f"<tr><td>{_e(d['title'])}</td><td>{_e(human_label(d['issuer']) if d['issuer'] else '')}</td>"
                        f"<td>{_e(human_label(d['type']))}</td><td>{_e(d['adopted'])}</td>"
                        f"<td>{_e(', '.join(human_label(t) for t in d['topics']))}</td><td>{link}</td></tr>")
        st.html('<table class="compare library"><thead><tr><th>Title</th><th>Issuer</th><th>Type</th><th>Date</th>'
                f'<th>Topics</th><th>Link</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')

    show()


def _uploads_panel(page: Page) -> None:
    st, ss = page.st, page.ss
    st.subheader("Your documents")
    st.caption("PDF, DOCX, HTML, Markdown or text, up to 10 MB each. **Private to this browser**: nobody else "
               "sees, searches or removes them; answers mark them as *your upload*.")
    # a fresh uploader after each batch: the files listed below are the ones kept, never a failed one
    uploaded = st.file_uploader("Add documents", type=UPLOAD_TYPES, accept_multiple_files=True,
                                key=f"uploader_{ss.setdefault('uploader_gen', 0)}", max_upload_size=10)
    status = st.container()  # status and errors right under the uploader
    new_files = [f for f in (uploaded or []) if f.file_id not in ss.processed_uploads]
    if new_files:
        ss.processed_uploads += [f.file_id for f in new_files]
        with status:
            result = page.uploads.add(page.bot, [(f.name, f.getvalue()) for f in new_files],
                                      progress=_progress_bar(st, "Indexing your documents"))
        notes = [("success", f"Added {name}") for name in result.added]
        notes += [("error", f"{name}: {reason}") for name, reason in result.failed]
        ss.upload_notes = notes
        ss.uploader_gen += 1
        st.rerun()
    with status:
        for kind, msg in ss.upload_notes:
            getattr(st, kind)(escape_md(msg))
    for path in page.uploads.list():
        c1, c2 = st.columns([4, 1], vertical_alignment="center")
        c1.markdown(f"📄 {escape_md(path.name)}")
        if ss.get("confirm_remove") == path.name:
            with st.container(border=True):
                st.markdown(f"Remove **{escape_md(path.name)}** from your documents?")
                a, b = st.columns(2)
                if a.button("Remove", key=f"confirm_remove_{path.name}", type="primary"):
                    try:
                        page.uploads.remove(page.bot, path.name)
                        ss.upload_notes = [("success", f"Removed {path.name}")]
                    except Exception as exc:  # noqa: BLE001 - shown next to the uploader
                        ss.upload_notes = [("error", str(exc))]
                    ss.confirm_remove = None
                    st.rerun()
                if b.button("Cancel", key=f"cancel_remove_{path.name}"):
                    ss.confirm_remove = None
                    st.rerun()
        elif c2.button("Remove", key=f"remove_{path.name}", help=f"Remove {path.name}"):
            ss.confirm_remove = path.name
            st.rerun()


def _progress_bar(st, label: str):
    bar = st.progress(0.0, text=f"{label}: starting…")

    def progress(stage: str, done: int, total: int) -> None:
        bar.progress(min(max(done / total if total else 1.0, 0.0), 1.0), text=f"{label}: {stage} {done}/{total}")

    return progress


def _advanced(page: Page) -> None:
    st, ss, stats = page.st, page.ss, page.stats
    with st.expander("Advanced", expanded=False):
        if len(page.generators) > 1:
            st.radio("Answers written by", page.generators, key="generator",
                     format_func=lambda g: "quoting the sources (extractive)" if g == "extractive"
                     else f"language model ({page.env.llm_model}), citations verified")
        else:
            st.caption("Answers quote the sources (no language model configured).")
        st.slider("Passages to search (k)", min_value=1, max_value=20, value=int(page.bot.settings.top_k), key="k")
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
        st.caption(f"Corpus folder: {escape_md(str(page.corpus_dir))}")
        label = "Rebuild index from corpus" if stats is not None else "Build index from corpus"
        if st.button(label, key="build_index", type="primary" if stats is None else "secondary", width="stretch"):
            if not page.corpus_dir.is_dir():
                st.error(f"The corpus folder {page.corpus_dir} does not exist (set ASSISTANT_CORPUS_DIR).")
            else:
                report = page.ingest([page.corpus_dir], "Indexing the corpus")
                if report is not None:
                    ss.flash.append(("success" if report.ok else "warning", f"Corpus indexed: {report.summary()}"))
                    ss.flash += [("warning", f"{Path(p).name}: {r}") for p, r in report.failed[:10]]
                    st.rerun()


def _exports(page: Page, box) -> None:
    st, ss = page.st, page.ss
    with box:
        st.download_button("Download as Markdown", data=conversation_markdown(ss.messages),
                           file_name="conversation.md", mime="text/markdown", key="export_md",
                           on_click="ignore", disabled=not ss.messages, width="stretch")
        st.download_button("Download as JSON", data=conversation_json(ss.messages),
                           file_name="conversation.json", mime="application/json", key="export_json",
                           on_click="ignore", disabled=not ss.messages, width="stretch")


# -- chat area ---------------------------------------------------------------------------------
def _chat_area(page: Page) -> None:
    st, ss = page.st, page.ss
    st.title("Security-cooperation policy assistant")
    for kind, msg in ss.flash:
        getattr(st, kind)(escape_md(msg))
    ss.flash = []
    if not _index_usable(page):
        return
    _filters(page)
    typed = st.chat_input("Ask about security-cooperation policy…", key="chat_input")
    question = typed or ss.pop("pending_question", None)
    if not ss.messages and not question:
        _first_screen(page)
    for msg in ss.messages:
        with st.chat_message(msg["role"]):
            if msg["role"] == "user":
                st.markdown(escape_md(msg["content"]))
            else:
                _render_answer(page, msg)
    if question:
        _answer_question(page, question)


def _index_usable(page: Page) -> bool:
    st = page.st
    if page.error:
        st.error(f"The index at {page.index_dir} cannot be used: {escape_md(page.error)}. "
                 "Use **Rebuild index from corpus** under **Advanced** in the sidebar.")
        return False
    if page.stats is None:
        st.info("**Welcome!** There is no index yet, so I have nothing to answer from.\n\n"
                f"Use **Build index from corpus** under **Advanced** in the sidebar to index the documents in "
                f"`{page.corpus_dir}` (it takes a minute or two), or upload your own documents.")
        return False
    if not page.ready:
        st.info("The index is empty. Use **Rebuild index from corpus** (sidebar, Advanced) or upload documents.")
        return False
    return True


def _filters(page: Page) -> None:
    """Filters in the main area (so they are there on a phone too), with readable labels."""
    st, ss = page.st, page.ss
    active = page.filters()
    with st.expander("Filter the sources" + (f" — {filter_summary(active)}" if active else ""), expanded=bool(active),
                     icon=":material/filter_list:"):
        st.caption("Choose any number; within a row any chosen value matches. New chat clears them.")
        for field, label in FILTER_FIELDS:
            options = list(page.chips()) if field == "type" else list(page.facets.get(field, []))
            chosen = ss.get(f"filter_{field}")
            if not isinstance(chosen, list) or not set(chosen) <= set(options):
                ss[f"filter_{field}"] = [v for v in (chosen if isinstance(chosen, list) else []) if v in options]
            st.pills(label, options, selection_mode="multi", key=f"filter_{field}", format_func=human_label)


def _first_screen(page: Page) -> None:
    st, stats = page.st, page.stats
    st.markdown(
        "I answer questions about international security cooperation — the UN, NATO and the EU, "
        "intelligence and information sharing, border security, police and judicial cooperation, "
        "counter-terrorism and cybercrime — **citing the exact passages** I rely on, and I say so "
        "when my sources do not cover a question.\n\n"
        f"I know **{stats['documents']} documents** ({stats['chunks']} passages), "
        f"last indexed {format_timestamp(stats.get('last_indexed'))}."
    )
    st.markdown("**Try one of these:**")
    for i, q in enumerate(EXAMPLE_QUESTIONS):
        st.button(q, key=f"example_{i}", width="stretch", on_click=_ask_later, args=(page.ss, q))


def _ask_later(ss, q: str) -> None:
    ss.pending_question = q


def _render_answer(page: Page, msg: dict) -> None:
    """One answer: text with citation links and the sources beside it (below it on a phone)."""
    st = page.st
    rec = msg.get("answer") or {}
    cits = rec.get("citations") or []
    mid = msg["id"]
    if rec.get("abstained") and not cits:
        _render_abstention(page, msg)
        _answer_footer(page, msg)
        return
    left, right = st.columns([3, 2], gap="medium") if cits else (st.container(), None)
    with left:
        if rec.get("not_held"):  # the question names an instrument the sources lack: say so first
            st.warning(escape_md(not_held_notice(rec["not_held"])), icon=":material/info:")
        if rec.get("abstained"):  # a premise the sources contradict: the quote that says so is cited
            st.warning("**The sources do not support the question's premise.** The passage below says otherwise.",
                       icon=":material/help:")
        st.html(answer_html(msg["content"], cits, mid))
        if rec.get("parts"):
            st.html(comparison_html(rec["parts"], mid, cits))
        if rec.get("notice"):
            st.info(escape_md(rec["notice"]))
        _answer_footer(page, msg)
    if right is not None:
        with right:
            st.html(sources_html(cits, mid))


def _render_abstention(page: Page, msg: dict) -> None:
    st = page.st
    rec = msg.get("answer") or {}
    reason = rec.get("abstain_reason") or "the retrieved passages do not support an answer"
    why = "" if reason in msg["content"] else f"\n\n_Why:_ {escape_md(reason)}"
    active = msg.get("filters") or {}
    scope = (f"\n\n**Only the sources matching {escape_md(filter_summary(active))} were searched.** "
             "Clear the filter to search everything.") if active else ""
    st.warning(f"**Not covered by the sources.** {escape_md(msg['content'])}{why}{scope}", icon=":material/help:")


def _answer_footer(page: Page, msg: dict) -> None:
    st, ss = page.st, page.ss
    rec = msg.get("answer") or {}
    mid = msg["id"]
    bits = []
    if rec.get("query") and " ".join(rec["query"].split()) != " ".join(str(rec.get("question", "")).split()):
        bits.append(f"Searched for: “{escape_md(rec['query'])}”")
    if msg.get("filters"):
        bits.append(f"Filter: {escape_md(filter_summary(msg['filters']))}")
    if rec.get("latency_ms"):
        bits.append(f"answered in {rec['latency_ms'] / 1000:.1f} s")
    if bits:
        st.caption(" · ".join(bits))
    if rec.get("follow_ups"):
        st.caption("Ask next:")
        for i, q in enumerate(rec["follow_ups"]):
            st.button(q, key=f"fu_{mid}_{i}", on_click=_ask_later, args=(ss, q))
    c1, c2 = st.columns([1, 3], vertical_alignment="center")
    with c1:
        st.feedback("thumbs", key=f"fb_{mid}", on_change=_on_feedback, args=(page, mid))
    if rec.get("citations"):
        with c2.popover("Copy with citations", icon=":material/content_copy:"):
            st.caption("Markdown with footnotes; the copy button is at the top right of the box.")
            st.code(answer_with_footnotes(msg["content"], rec["citations"]), language="markdown", wrap_lines=True)
    if ss.get(f"fb_{mid}") is not None:
        st.text_input("Optional comment (press Enter to send)", key=f"fbc_{mid}",
                      on_change=_on_feedback, args=(page, mid), placeholder="What was good or wrong?")


def _on_feedback(page: Page, mid: str) -> None:
    ss = page.ss
    msg = next((m for m in ss.messages if m.get("id") == mid), None)
    value = ss.get(f"fb_{mid}")
    if msg is None or value is None:
        return
    rec = msg.get("answer") or {}
    append_feedback(page.index_dir, rec.get("question", ""), msg["content"], rec.get("citations") or [],
                    "up" if value == 1 else "down", ss.get(f"fbc_{mid}", ""), answer_id=mid)


def _history_for(page: Page, question: str) -> list[dict]:
    """The conversation, only when the question cannot stand alone (a topic switch is never mixed
    with the last topic)."""
    from assistant.planning import stands_alone

    if not page.ss.messages:
        return []
    try:
        names = page.bot.names()
    except Exception:  # noqa: BLE001 - without the names, the rule falls back to capitalised words
        names = None
    return [] if stands_alone(question, names) else chat_history(page.ss.messages)


def _answer_question(page: Page, question: str) -> None:
    """Ask, stream the answer, then show it with its sources, keep it and announce it."""
    st, ss = page.st, page.ss
    history, filters = _history_for(page, question), page.filters()
    with st.chat_message("user"):
        st.markdown(escape_md(question))
    with st.chat_message("assistant"):
        body = st.empty()
        answer = _stream_answer(page, body, question, history, filters)
        if answer is None:
            return
        msg = _keep_answer(page, question, answer, filters)
        with body.container():
            _render_answer(page, msg)
    announce = ("Not covered by the sources. " if answer.abstained else "New answer: ") + answer.text
    st.html(live_script(announce[:600], scroll=True), unsafe_allow_javascript=True)


def _stream_answer(page: Page, body, question: str, history: list[dict], filters: dict):
    """The Answer, its text streamed into ``body`` as it comes; None (and a message) on failure."""
    from assistant.errors import AssistantError, BadInput, IndexNotFound

    st = page.st
    k = int(page.ss.get("k") or page.bot.settings.top_k)
    try:
        with body.container():
            stream = AnswerStream(page.bot, question, history, filters, k, transform=escape_md)
            pieces = iter(stream)
            with st.spinner("Searching the sources…"):
                first = next(pieces, None)  # retrieval and answering happen here

            # Each piece appended as it comes (what st.write_stream does with text, without its
            # check that the stream is not a dataframe, which imports pandas and pyarrow: ~0.4 s
            # of the first answer).
            slot, shown = st.empty(), ""
            for piece in itertools.chain([first] if first is not None else [], pieces):
                shown += piece
                slot.markdown(shown)
    except BadInput as exc:
        body.error(f"I could not use that question: {escape_md(str(exc))}")
        return None
    except IndexNotFound:
        body.info("There is no index yet: build it from the sidebar first.")
        return None
    except AssistantError as exc:
        body.error(f"Something went wrong while answering: {escape_md(str(exc))}")
        return None
    if stream.answer is None:
        body.error("The assistant returned no answer.")
    return stream.answer


def _keep_answer(page: Page, question: str, answer, filters: dict) -> dict:
    """Add the turn to the conversation (with what the sources panel needs) and save it."""
    from assistant.sources import enrich

    try:
        docs = {d["doc_id"]: d for d in page.library()}
    except Exception:  # noqa: BLE001 - the sources still show, without kind and dates from the library
        docs = {}
    msg = {"id": uuid.uuid4().hex, "role": "assistant", "content": answer.text,
           "answer": enrich(answer_record(answer), answer.passages, docs), "filters": dict(filters),
           "time": time.time()}
    page.ss.messages += [{"id": uuid.uuid4().hex, "role": "user", "content": question}, msg]
    page.save_conversation()
    return msg


if __name__ == "__main__":
    main()
