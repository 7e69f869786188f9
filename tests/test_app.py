"""The Streamlit app, driven headlessly with AppTest over the real assistant and index (no mocks)."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"
ARTICLE5 = "What does Article 5 of the North Atlantic Treaty commit the parties to?"
LASAGNE = "What is a good recipe for lasagne?"


def load_app_module():
    """app.py as a module (its UI only runs under ``__main__``), for the pure helpers."""
    spec = importlib.util.spec_from_file_location("policy_app", APP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


app = load_app_module()


def unescape(md: str) -> str:
    """Drop Markdown backslash escapes so assertions read like the rendered text."""
    import re

    return re.sub(r"\\(.)", r"\1", md)


def all_markdown(at) -> str:
    return "\n".join(unescape(m.value) for m in at.markdown)


@pytest.fixture
def at(monkeypatch, corpus_index_dir):
    monkeypatch.setenv("ASSISTANT_INDEX_DIR", str(corpus_index_dir))
    test = AppTest.from_file(str(APP), default_timeout=120)
    test.run()
    assert not test.exception, test.exception
    return test


def ask(at, question: str):
    at.chat_input(key="chat_input").set_value(question).run()
    assert not at.exception, at.exception
    return at


# --- first screen -------------------------------------------------------------------------
def test_first_screen_shows_index_and_examples(at, corpus_bot):
    stats = corpus_bot.stats()
    text = all_markdown(at)
    assert f"{stats['documents']} documents" in text
    assert f"{stats['chunks']} passages" in text
    assert "last indexed" in text
    labels = [b.label for b in at.button]
    for q in app.EXAMPLE_QUESTIONS:
        assert q in labels
    assert len(app.EXAMPLE_QUESTIONS) in (3, 4)


def test_example_button_asks_it(at):
    at.button(key="example_0").click().run()
    assert not at.exception
    msgs = at.session_state["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant"]
    assert msgs[0]["content"] == app.EXAMPLE_QUESTIONS[0]
    assert msgs[1]["answer"]["citations"]
    # the example buttons are gone once the chat has started
    assert not any(b.key and b.key.startswith("example_") for b in at.button)


# --- answering, sources, follow-ups, new chat ---------------------------------------------
def test_answer_with_citations_followup_and_new_chat(at):
    ask(at, ARTICLE5)
    text = all_markdown(at)
    assert "[1]" in text
    msgs = at.session_state["messages"]
    assert len(msgs) == 2
    answer = msgs[1]
    assert "[1]" in answer["content"]
    cits = answer["answer"]["citations"]
    assert cits and cits[0]["marker"] == 1
    # the sources list: [1] title, section, issuer, adopted date and the official link
    source_lines = [unescape(m.value) for m in at.markdown if unescape(m.value).startswith("[1] ")]
    assert source_lines, text
    line = source_lines[0]
    assert "North Atlantic Treaty" in line
    assert cits[0]["section"] in line and cits[0]["issuer"] in line and cits[0]["adopted"] in line
    assert f"]({cits[0]['url']})" in line
    # the quote expander holds the verbatim quote with the question's words in bold
    quote_exp = [e for e in at.expander if unescape(e.label).startswith("Quote [1]")]
    assert quote_exp
    quote_md = quote_exp[0].markdown[0].value
    assert unescape(quote_md.replace("**", "")) == cits[0]["quote"]
    assert "**Article**" in quote_md
    assert not at.warning  # not an abstention

    # follow-up: the history goes to ask(), the session holds both turns
    ask(at, "And when did the treaty enter into force?")
    msgs = at.session_state["messages"]
    assert len(msgs) == 4
    assert [m["role"] for m in msgs] == ["user", "assistant", "user", "assistant"]
    # the follow-up was rewritten with the history (standalone query differs from the question)
    assert msgs[3]["answer"]["query"] != msgs[2]["content"]
    # each answer keeps its own citations across re-runs
    assert msgs[1]["answer"]["citations"] == cits
    at.run()
    assert len([e for e in at.expander if unescape(e.label).startswith("Quote [1]")]) >= 1

    at.button(key=[b.key for b in at.sidebar.button if b.label == "New chat"][0]).click().run()
    assert at.session_state["messages"] == []
    assert any(b.key == "example_0" for b in at.button)


def test_off_topic_question_abstains(at):
    ask(at, LASAGNE)
    assert at.warning, all_markdown(at)
    warning = unescape(at.warning[0].value)
    assert "Not covered by the sources" in warning
    msg = at.session_state["messages"][1]
    assert msg["answer"]["abstain_reason"] in warning  # it says why
    assert msg["answer"]["abstained"] is True
    assert msg["answer"]["citations"] == []
    assert not [e for e in at.expander if unescape(e.label).startswith("Quote")]


# --- sidebar -------------------------------------------------------------------------------
def test_sidebar_filters_use_index_values(at, corpus_bot):
    facets = corpus_bot.facets()
    boxes = {s.key: s for s in at.sidebar.selectbox}
    for field in ("issuer", "type", "topic"):
        box = boxes[f"filter_{field}"]
        assert box.options == [app.ANY] + facets[field]
        assert box.value == app.ANY
    assert at.sidebar.slider(key="k").value == corpus_bot.settings.top_k
    sidebar_text = "\n".join(unescape(m.value) for m in at.sidebar.markdown)
    assert f"Documents: **{corpus_bot.stats()['documents']}**" in sidebar_text


def test_filter_restricts_sources(at):
    at.sidebar.selectbox(key="filter_issuer").set_value("EU").run()
    at.sidebar.slider(key="k").set_value(4).run()
    ask(at, "What is the role of Europol?")
    msg = at.session_state["messages"][1]
    assert msg["filters"] == {"issuer": "EU"}
    assert msg["answer"]["citations"]
    assert len(msg["answer"]["citations"]) <= 4
    for c in msg["answer"]["citations"]:
        assert c["issuer"] == "EU"


# --- feedback ------------------------------------------------------------------------------
def test_feedback_appends_jsonl(at, corpus_index_dir):
    path = Path(corpus_index_dir) / "feedback.jsonl"
    before = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    ask(at, ARTICLE5)
    assert len(at.feedback) == 1
    at.feedback[0].set_value(0).run()  # thumbs down
    assert not at.exception
    at.text_input(key=f"fbc_{at.session_state['messages'][1]['id']}").input("Missing the 'attack on all' part").run()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(before) + 2
    first, second = (json.loads(ln) for ln in lines[-2:])
    assert first["rating"] == "down" and first["comment"] == ""
    assert second["rating"] == "down" and second["comment"] == "Missing the 'attack on all' part"
    for rec in (first, second):
        assert rec["question"] == ARTICLE5
        assert "[1]" in rec["answer"]
        assert rec["citations"][0]["marker"] == 1
        assert rec["timestamp"]


def test_append_feedback_function(tmp_path):
    cit = [{"marker": 1, "doc_id": "x", "quote": "q"}]
    path = app.append_feedback(tmp_path / "idx", "Q?", "A [1]", cit, "up", "good")
    path2 = app.append_feedback(tmp_path / "idx", "Q2?", "A2", [], "down")
    assert path == path2 == tmp_path / "idx" / "feedback.jsonl"
    recs = [json.loads(ln) for ln in path.read_text(encoding="utf-8").splitlines()]
    assert [r["rating"] for r in recs] == ["up", "down"]
    assert recs[0]["citations"] == cit and recs[0]["comment"] == "good" and recs[1]["comment"] == ""
    assert set(recs[0]) == {"timestamp", "question", "answer", "citations", "rating", "comment"}


# --- export --------------------------------------------------------------------------------
def test_export_markdown_and_json(at):
    ask(at, ARTICLE5)
    assert {b.key for b in at.sidebar.download_button} >= {"export_md", "export_json"}
    messages = at.session_state["messages"]
    cit = messages[1]["answer"]["citations"][0]
    md = app.conversation_markdown(messages)
    assert f"**You:** {ARTICLE5}" in md
    assert "[1]" in md and cit["title"] in md and cit["url"] in md
    assert "> " + cit["quote"] in md
    data = json.loads(app.conversation_json(messages))
    assert [m["role"] for m in data["messages"]] == ["user", "assistant"]
    assert data["messages"][1]["citations"][0]["quote"] == cit["quote"]


# --- no index, building, uploads ------------------------------------------------------------
def test_missing_index_shows_build_button(monkeypatch, tmp_path):
    monkeypatch.setenv("ASSISTANT_INDEX_DIR", str(tmp_path / "empty-index"))
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    assert not at.exception
    assert any(b.label == "Build index from corpus" for b in at.sidebar.button)
    assert "no index yet" in unescape(at.info[0].value)
    assert not at.chat_input  # nothing to ask yet


def test_build_index_from_corpus_dir(monkeypatch, tmp_path, docs_dir):
    monkeypatch.setenv("ASSISTANT_INDEX_DIR", str(tmp_path / "new-index"))
    monkeypatch.setenv("ASSISTANT_CORPUS_DIR", str(docs_dir))
    at = AppTest.from_file(str(APP), default_timeout=180).run()
    at.sidebar.button(key="build_index").click().run()
    assert not at.exception
    assert any("Corpus indexed" in unescape(s.value) for s in at.success)
    assert "2 documents" in all_markdown(at)
    ask(at, "How can a party withdraw from the Alpha Pact?")
    cits = at.session_state["messages"][1]["answer"]["citations"]
    assert cits and cits[0]["doc_id"] == "alpha-pact"


def test_upload_and_remove(monkeypatch, tmp_path, docs_dir):
    index_dir = tmp_path / "upload-index"
    monkeypatch.setenv("ASSISTANT_INDEX_DIR", str(index_dir))
    at = AppTest.from_file(str(APP), default_timeout=180).run()
    content = (docs_dir / "beta.md").read_bytes()
    at.sidebar.file_uploader(key="uploader").upload("../../My Beta code.md", content, "text/markdown").run()
    assert not at.exception
    saved = index_dir / "uploads" / "My_Beta_code.md"
    assert saved.read_bytes() == content
    assert any(b.key == "remove_My_Beta_code.md" for b in at.sidebar.button)
    assert "Your uploads: **1** documents" in all_markdown(at)
    ask(at, "For how long can stored computer data be preserved under the Beta Code?")
    cited = at.session_state["messages"][1]["answer"]["citations"][0]
    # An upload keeps its text and title, never its claimed id, issuer or URL (tests/test_hostile.py).
    assert cited["doc_id"] == "upload-my-beta-code" and cited["issuer"] == "upload"
    assert cited["url"] == "upload:My_Beta_code.md"

    at.sidebar.button(key="remove_My_Beta_code.md").click().run()
    assert not at.exception
    assert not saved.exists()
    from assistant import Assistant

    stats = Assistant(index_dir=index_dir).stats()
    assert stats["user_chunks"] == 0 and stats["chunks"] == 0


def test_oversized_or_bad_upload_is_refused(tmp_path):
    with pytest.raises(ValueError, match="10 MB"):
        app.save_upload(tmp_path, "big.txt", b"x" * (app.MAX_UPLOAD_BYTES + 1))
    with pytest.raises(ValueError, match="unsupported"):
        app.save_upload(tmp_path, "evil.exe", b"x")
    assert not (tmp_path / "uploads").exists() or not any((tmp_path / "uploads").iterdir())


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd.txt", "passwd.txt"),
        ("C:\\Users\\x\\My File (1).DOCX", "My_File_1.docx"),
        (".hidden.md", "hidden.md"),
        ("...md", None),
        ("notes", None),
        ("script.py", None),
        ("ünïcode näme.html", "n_code_n_me.html"),
        (".md", None),
    ],
)
def test_safe_filename(name, expected):
    got = app.safe_filename(name)
    if expected is None:
        assert got is None or got.startswith("upload.")
    else:
        assert got == expected
    if got:
        assert not got.startswith(".") and "/" not in got and "\\" not in got


def test_quotes_render_as_escaped_text():
    quote = "See [the link](javascript:alert(1)) and <b>bold</b> $x$ * item"
    md = app.highlight_quote(quote, "What about the link?")
    assert "](" not in md.replace("\\](", "").replace("\\(", "")
    assert "<b>" not in md and "\\<b\\>" in md
    assert "**link**" in md
    assert unescape(md.replace("**", "")) == quote


# --- generator choice ---------------------------------------------------------------------------
def test_generator_choice_uses_the_configured_llm(monkeypatch, corpus_index_dir):
    """With an OpenAI-compatible endpoint configured, the sidebar offers it, and its verified
    answer (not the extractive one) reaches the chat."""
    import re

    from fake_llm import FakeLLM, passages_in

    with FakeLLM() as llm:
        def reply(messages):
            first = re.split(r"(?<=[.;])\s", passages_in(messages)[1].strip())[0]
            return {"content": f"{first} [1] The treaty was signed on the Moon [2]."}

        llm.reply = reply
        monkeypatch.setenv("ASSISTANT_INDEX_DIR", str(corpus_index_dir))
        monkeypatch.setenv("ASSISTANT_LLM_BASE_URL", llm.url)
        monkeypatch.setenv("ASSISTANT_LLM_MODEL", "fake-model")
        at = AppTest.from_file(str(APP), default_timeout=120).run()
        assert not at.exception, at.exception
        radio = at.sidebar.radio(key="generator")
        assert len(radio.options) == 2 and "language model (fake-model)" in radio.options[1]
        assert radio.value == "extractive"
        radio.set_value("openai").run()
        ask(at, ARTICLE5)
        answer = at.session_state["messages"][1]["answer"]
        assert answer["generator"] == "openai" and answer["unsupported_removed"] == 1
        assert "Moon" not in answer["text"] and answer["citations"]
        assert llm.requests, "the model was called"


def test_without_llm_only_extractive_is_offered(at):
    assert not [r for r in at.sidebar.radio if r.key == "generator"]


def test_feedback_appends_from_many_threads_never_interleave(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    big = "x" * 20_000  # larger than any I/O buffer: must still land as one line
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: app.append_feedback(tmp_path, f"q{i}", big, [], "up"), range(64)))
    lines = (tmp_path / "feedback.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 64
    assert sorted(json.loads(line)["question"] for line in lines) == sorted(f"q{i}" for i in range(64))


def test_markers_link_to_the_cited_sources(at):
    ask(at, ARTICLE5)
    at.run()  # the conversation re-renders from session state
    answer = at.session_state["messages"][1]["answer"]
    first_url = answer["citations"][0]["url"]
    assert first_url.startswith("https://")
    assert f"[[1]]({first_url})" in all_markdown(at)


def test_link_markers_leaves_local_files_and_unknown_markers_plain():
    text = app.escape_md("A [1] B [2] C [3]")
    out = app.link_markers(text, [{"marker": 1, "url": "https://x.org/a(b)"}, {"marker": 2, "url": "file:///tmp/x.md"}])
    assert out == r"A [\[1\]](https://x.org/a%28b%29) B \[2\] C \[3\]"
