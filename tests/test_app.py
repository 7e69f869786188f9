"""The Streamlit app, driven headlessly with AppTest over the real assistant and index (no mocks)."""
from __future__ import annotations

import html
import importlib.util
import json
import re
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
pytestmark = pytest.mark.slow  # the Streamlit app runs, end to end


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


def htmls(at) -> list[str]:
    """The bodies of the st.html elements of the page (answers, sources panels, scripts)."""
    return [h.proto.body for h in at.get("html")]


def answer_html(at, mid: str) -> str:
    return next(b for b in htmls(at) if b.startswith('<div class="answer">') and f"#q-{mid}-" in b)


def sources_panel(at, mid: str) -> str:
    return next(b for b in htmls(at) if b.startswith('<div class="sources"') and f'id="q-{mid}-' in b)


def session(monkeypatch, index_dir, token: str | None = None) -> AppTest:
    """One browser session of the app; ``token`` is its owner cookie (as after a reload)."""
    monkeypatch.setenv("ASSISTANT_INDEX_DIR", str(index_dir))
    test = AppTest.from_file(str(APP), default_timeout=180)
    if token:
        test.session_state["owner_token"] = token
    test.run()
    assert not test.exception, test.exception
    return test


# --- answering: citations, sources, context, follow-ups, new chat ----------------------------
def test_citations_link_cards_context_and_copy(at):
    ask(at, ARTICLE5)
    msg = at.session_state["messages"][1]
    mid, cits = msg["id"], msg["answer"]["citations"]
    assert cits and cits[0]["marker"] == 1 and "[1]" in msg["content"]
    # [n] is a link from the first render: to quote n in the sources panel, with a card in place
    body = answer_html(at, mid)
    for c in cits:
        assert f'<a class="cite" href="#q-{mid}-{c["marker"]}"' in body
    pops = re.findall(r'<span class="pop" role="tooltip">(.*?)</span></a>', body)
    assert len(pops) == len(cits) and "The North Atlantic Treaty" in pops[0]
    assert "https://" not in body  # nothing in the answer leads off-site
    # one card per document, its quotes under it, each in context with the cited sentence marked
    panel = sources_panel(at, mid)
    assert panel.count('class="src-card"') == len({c["doc_id"] for c in cits})
    for c in cits:
        assert f'<li id="q-{mid}-{c["marker"]}">' in panel
        assert f"<mark>{html.escape(c['quote'])}</mark>" in panel
    with_context = [c for c in cits if c["context_before"] or c["context_after"]]
    assert with_context, "some quote has sentences around it"
    assert html.escape(with_context[0]["context_before"] or with_context[0]["context_after"]) in panel
    # honest provenance: a team brief explaining the instrument, the instrument's link and dates named
    assert "Team brief explaining The North Atlantic Treaty" in panel
    assert f'<a href="{cits[0]["url"]}" target="_blank" rel="noopener noreferrer">official source</a>' in panel
    assert f"instrument adopted {cits[0]['adopted']}" in panel
    assert "Quote from" not in panel and "official text</a>" not in panel
    # copy with citations: Markdown footnotes
    copy = [c.value for c in at.code if "[^1]" in c.value]
    assert copy and "[^1]: The North Atlantic Treaty (1949)" in copy[0] and cits[0]["quote"].split()[0] in copy[0]
    # suggested follow-ups from the cited sources; one asks it
    follow = [b for b in at.button if b.key and b.key.startswith(f"fu_{mid}_")]
    assert follow and all(b.label.endswith("?") for b in follow)
    assert msg["answer"]["follow_ups"] == [b.label for b in follow]
    follow[0].click().run()
    assert at.session_state["messages"][2]["content"] == follow[0].label


def test_followups_only_when_the_question_cannot_stand_alone(at):
    ask(at, ARTICLE5)
    ask(at, "When did it enter into force?")  # leans on the last question: searched with it, and says so
    msgs = at.session_state["messages"]
    follow = msgs[3]["answer"]
    assert follow["query"] != follow["question"] and "Article 5" in follow["query"]
    assert any(f"Searched for: “{follow['query']}”" in unescape(c.value) for c in at.caption)
    ask(at, "What is PESCO?")  # short, but a new topic: never mixed with the last one
    pesco = at.session_state["messages"][5]["answer"]
    assert pesco["query"] == "What is PESCO?" and not pesco["abstained"]
    assert any("pesco" in c["doc_id"] for c in pesco["citations"])
    ask(at, "Compare Europol and Eurojust")  # a topic switch, and a comparison: a table, one row per side
    comp = at.session_state["messages"][7]
    assert comp["answer"]["query"] == "Compare Europol and Eurojust"
    assert {c["doc_id"] for c in comp["answer"]["citations"]} >= {"europol", "eurojust"}
    parts = comp["answer"]["parts"]
    assert len(parts) == 2
    table = next(b for b in htmls(at) if b.startswith('<table class="compare">') and comp["id"] in b)
    for part in parts:
        assert f'<th scope="row">{html.escape(part["subject"])}</th>' in table
    assert not any(f"Searched for: “{comp['answer']['query']}”" in unescape(c.value) for c in at.caption)


def test_new_chat_clears_conversation_and_filters(at):
    at.button_group(key="filter_issuer").set_value(["EU"]).run()
    at.button_group(key="filter_type").set_value(["EU law"]).run()
    ask(at, "What is the role of Europol?")
    assert at.session_state["messages"][1]["filters"] == {"issuer": "EU", "type": ["regulation", "directive"]}
    at.button(key=[b.key for b in at.sidebar.button if b.label == "New chat"][0]).click().run()
    assert at.session_state["messages"] == []
    assert at.button_group(key="filter_issuer").value == [] and at.button_group(key="filter_type").value == []
    assert any(b.key == "example_0" for b in at.button)


def test_conversation_survives_a_reload_and_is_listed(monkeypatch, corpus_index_dir):
    from assistant.uploads import new_token

    token = new_token()
    first = session(monkeypatch, corpus_index_dir, token)
    ask(first, ARTICLE5)
    ask(first, "When did it enter into force?")
    before = first.session_state["messages"]
    again = session(monkeypatch, corpus_index_dir, token)  # same browser cookie, new session
    assert again.session_state["messages"] == before
    assert answer_html(again, before[1]["id"])  # rendered again, with its citations
    recent = [b for b in again.sidebar.button if b.key and b.key.startswith("conv_")]
    assert [b.label for b in recent] == [f"▸ {ARTICLE5}"]
    other = session(monkeypatch, corpus_index_dir, new_token())  # another browser sees none of it
    assert other.session_state["messages"] == []
    assert not [b for b in other.sidebar.button if b.key and b.key.startswith("conv_")]
    # New chat, then the saved conversation is opened again from the list
    again.button(key=[b.key for b in again.sidebar.button if b.label == "New chat"][0]).click().run()
    assert again.session_state["messages"] == []
    again.sidebar.button(key=recent[0].key).click().run()
    assert again.session_state["messages"] == before


def test_off_topic_question_abstains(at):
    ask(at, LASAGNE)
    assert at.warning, all_markdown(at)
    warning = unescape(at.warning[0].value)
    assert "Not covered by the sources" in warning
    msg = at.session_state["messages"][1]
    assert msg["answer"]["abstain_reason"] in warning  # it says why
    assert msg["answer"]["abstained"] is True
    assert msg["answer"]["citations"] == []
    assert "searched" not in warning.lower()  # no filter, no filter named


def test_a_contradicted_premise_shows_the_passage_that_contradicts_it(at):
    ask(at, "Why did NATO invoke Article 5 after Russia annexed Crimea in 2014?")
    msg = at.session_state["messages"][1]
    assert msg["answer"]["abstained"] is True and msg["answer"]["citations"]
    warning = unescape(at.warning[0].value)
    assert "do not support the question's premise" in warning
    page = "\n".join(h.proto.body for h in at.get("html"))
    assert "Article 5 was not invoked in 2014" in html.unescape(page)  # the quote, in the sources panel


def test_an_instrument_the_sources_lack_is_named_before_the_answer(at):
    ask(at, "What does the GDPR say about consent?")
    msg = at.session_state["messages"][1]
    assert msg["answer"]["not_held"] == ["GDPR (General Data Protection Regulation)"]
    warning = unescape(at.warning[0].value)
    assert "The sources do not include GDPR (General Data Protection Regulation)" in warning
    assert "from other documents" in warning


# --- finding your way: filters, library, examples, advanced ------------------------------------
def test_filter_chips_in_the_main_area_with_readable_labels(at, corpus_bot):
    facets = corpus_bot.facets()
    assert not at.sidebar.button_group  # in the page itself, so a phone shows them too
    for field in ("issuer", "topic"):
        chips = at.button_group(key=f"filter_{field}")
        assert chips.value == []
        assert chips.options == [app.human_label(v) for v in facets[field]]
    topics = at.button_group(key="filter_topic").options
    assert "Arms control" in topics and "arms-control" not in topics
    types = at.button_group(key="filter_type").options
    assert types[0] == "Treaties & conventions" and "Treaty" not in types and "Convention" not in types
    assert at.sidebar.slider(key="k").value == corpus_bot.settings.top_k
    sidebar_text = "\n".join(unescape(m.value) for m in at.sidebar.markdown)
    assert f"Documents: **{corpus_bot.stats()['documents']}**" in sidebar_text


def test_treaties_and_conventions_together(at, corpus_bot):
    at.button_group(key="filter_type").set_value(["Treaties & conventions"]).run()
    ask(at, "What must parties do to preserve stored computer data, and what is collective defence?")
    msg = at.session_state["messages"][1]
    assert msg["filters"] == {"type": ["treaty", "convention", "agreement"]}
    doc_type = {m["doc_id"]: m["type"] for m in corpus_bot.index().lexical().metas}
    assert msg["answer"]["citations"]
    assert {doc_type[c["doc_id"]] for c in msg["answer"]["citations"]} <= {"treaty", "convention", "agreement"}
    assert "Filter: Document type: Treaty, Convention or Agreement" in "\n".join(unescape(c.value) for c in at.caption)


def test_admin_controls_are_under_advanced(at):
    advanced = [e for e in at.sidebar.expander if e.label == "Advanced"]
    assert len(advanced) == 1 and not advanced[0].proto.expanded
    assert advanced[0].slider(key="k") and advanced[0].button(key="build_index")
    assert "Corpus folder" in "\n".join(c.value for c in advanced[0].caption)


def test_filter_restricts_sources(at):
    at.button_group(key="filter_issuer").set_value(["EU"]).run()
    at.sidebar.slider(key="k").set_value(4).run()
    ask(at, "What is the role of Europol?")
    msg = at.session_state["messages"][1]
    assert msg["filters"] == {"issuer": "EU"}
    assert msg["answer"]["citations"]
    assert len(msg["answer"]["citations"]) <= 4
    for c in msg["answer"]["citations"]:
        assert c["issuer"] == "EU"


def test_abstention_names_the_active_filter(at):
    at.button_group(key="filter_issuer").set_value(["Council of Europe", "INTERPOL"]).run()
    ask(at, LASAGNE)
    msg = at.session_state["messages"][1]
    assert msg["answer"]["abstained"], msg["content"]
    warning = unescape(at.warning[0].value)
    assert "Only the sources matching Issuer: Council of Europe or INTERPOL were searched" in warning
    assert "Clear the filter" in warning


def test_library_lists_and_searches_the_documents(at, corpus_bot):
    at.sidebar.button(key="open_library").click().run()
    assert not at.exception
    table = next(b for b in htmls(at) if b.startswith('<table class="compare library">'))
    assert table.count("<tr>") - 1 == corpus_bot.stats()["documents"]
    assert "<td>The North Atlantic Treaty (1949)</td><td>NATO</td><td>Treaty</td><td>1949-04-04</td>" in table
    assert 'href="https://www.nato.int/' in table
    at.text_input(key="library_q").input("cybercrime convention").run()
    table = next(b for b in htmls(at) if b.startswith('<table class="compare library">'))
    rows = table.split("<tr>")[2:]
    assert 1 <= len(rows) < corpus_bot.stats()["documents"]
    assert any("Budapest Convention" in r for r in rows)
    assert all("Cybercrime" in r and "Convention" in r for r in rows)


# --- accessibility ----------------------------------------------------------------------------
def _luminance(hex_color: str) -> float:
    rgb = [int(hex_color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def test_captions_meet_wcag_aa_contrast():
    colors = re.findall(r'stCaptionContainer"\][^{]*\{\s*color:\s*(#[0-9a-fA-F]{6})', app.CSS)
    colors += re.findall(r"\.(?:ctx|sec|kind)[^{]*\{[^}]*color:\s*(#[0-9a-fA-F]{6})", app.CSS)
    assert len(colors) >= 3
    for color in colors:
        assert (1.05) / (_luminance(color) + 0.05) >= 4.5, color  # on white


def test_focus_on_load_and_answers_announced(at):
    scripts = [b for b in htmls(at) if "<script>" in b]
    assert any("stChatInputTextArea" in b and ".focus()" in b for b in scripts)  # the chat box, on load
    assert any("aria-live" in b and "answer-live" in b for b in scripts)  # the live region exists
    ask(at, ARTICLE5)
    text = at.session_state["messages"][1]["content"]
    announce = [b for b in htmls(at) if "getElementById('answer-live')" in b and "textContent" in b]
    assert announce and app.js_string("New answer: " + text)[:80] in announce[0]
    assert "scrollIntoView({block:'start'})" in announce[0]
    assert not any(".focus()" in b for b in htmls(at))  # focused once, not on every answer


def test_announcement_cannot_break_out_of_its_script():
    script = app.live_script('an upload says </script><script>alert(1)</script> & <b>', scroll=True)
    assert script.count("<") == 2 and script.startswith("<script>") and script.endswith("</script>")
    assert json.loads(app.js_string("a </script> & b")) == "a </script> & b"


def test_rendered_answer_and_sources_escape_everything():
    hostile = '<img src=x onerror="alert(1)"> [x](javascript:alert(2)) "quoted"'
    cit = {"marker": 1, "doc_id": "upload-x", "title": "<b>T</b>", "section": "<i>S</i>", "url": "upload:x.md",
           "quote": hostile, "chunk_id": "c", "kind": "upload", "context_before": "<script>1</script>"}
    body = app.answer_html(f"{hostile} [1] [7]", [cit], "m")
    panel = app.sources_html([cit], "m")
    for out in (body, panel):
        assert "<img" not in out and "<b>T" not in out and "<script>" not in out and "<i>" not in out
        assert "javascript:" not in re.findall(r'href="([^"]*)"', out).__str__()
    assert "[7]" in body and 'href="#q-m-7"' not in body  # an unknown marker stays text
    assert '<span class="badge">your upload</span>' in panel
    bad = dict(cit, kind="team brief", url="javascript:alert(3)")
    assert "official source" not in app.kind_line(bad)


# --- feedback -------------------------------------------------------------------------------
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


# --- private uploads ----------------------------------------------------------------------------
BETA_Q = "For how long can stored computer data be preserved under the Beta Code?"


def test_uploads_are_private_to_their_session(monkeypatch, tmp_path, docs_dir):
    """Two sessions on one index: the second never lists, searches or removes the first one's
    upload; the owner's citations say "your upload"; a file that cannot be read is reported
    next to the uploader and not listed; removal asks first."""
    from assistant import Assistant
    from assistant.uploads import new_token, owner_id

    index_dir = tmp_path / "shared-index"
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "alpha.md").write_bytes((docs_dir / "alpha.md").read_bytes())
    assert Assistant(index_dir=index_dir).ingest([corpus]).ok
    alice_token, bob_token = new_token(), new_token()
    alice = session(monkeypatch, index_dir, alice_token)
    bob = session(monkeypatch, index_dir, bob_token)

    content = (docs_dir / "beta.md").read_bytes()
    uploader = alice.sidebar.file_uploader(key=f"uploader_{alice.session_state['uploader_gen']}")
    uploader.upload("../../My Beta code.md", content, "text/markdown").upload("broken.pdf", b"%PDF-1.4 junk", "application/pdf")
    alice.run()
    assert not alice.exception, alice.exception
    saved = index_dir / "uploads" / owner_id(alice_token) / "My_Beta_code.md"
    assert saved.read_bytes() == content
    assert [b.key for b in alice.sidebar.button if b.key and b.key.startswith("remove_")] == ["remove_My_Beta_code.md"]
    assert not (saved.parent / "broken.pdf").exists()  # the failed file is not kept, nor listed
    assert alice.session_state["uploader_gen"] == 1  # the uploader is emptied: it lists no file either
    assert any("broken.pdf" in unescape(e.value) for e in alice.sidebar.error)
    assert any("Added My_Beta_code.md" in unescape(s.value) for s in alice.sidebar.success)
    assert "Your uploads: **1** documents" in "\n".join(unescape(m.value) for m in alice.sidebar.markdown)

    ask(alice, BETA_Q)
    msg = alice.session_state["messages"][1]
    cited = msg["answer"]["citations"][0]
    assert cited["doc_id"] == "upload-my-beta-code" and cited["issuer"] == "upload"
    assert cited["url"] == "upload:My_Beta_code.md" and cited["source_kind"] == "upload" and cited["kind"] == "upload"
    assert '<span class="badge">your upload</span>' in sources_panel(alice, msg["id"])
    assert "your upload" in answer_html(alice, msg["id"])

    bob.run()  # the other session: nothing of Alice's is listed, counted, searched or removable
    assert not [b for b in bob.sidebar.button if b.key and b.key.startswith("remove_")]
    assert "Your uploads: **0** documents" in "\n".join(unescape(m.value) for m in bob.sidebar.markdown)
    ask(bob, BETA_Q)
    answer = bob.session_state["messages"][1]["answer"]
    assert all(not c["doc_id"].startswith("upload-") for c in answer["citations"])
    assert "Beta" not in "".join(htmls(bob))

    alice.sidebar.button(key="remove_My_Beta_code.md").click().run()  # asks first
    assert saved.exists()
    assert any("Remove **My\\_Beta\\_code\\.md** from your documents?" in m.value for m in alice.sidebar.markdown)
    alice.sidebar.button(key="cancel_remove_My_Beta_code.md").click().run()
    assert saved.exists() and not [b for b in alice.sidebar.button if b.key and b.key.startswith("confirm_remove_")]
    alice.sidebar.button(key="remove_My_Beta_code.md").click().run()
    alice.sidebar.button(key="confirm_remove_My_Beta_code.md").click().run()
    assert not alice.exception
    assert not saved.exists()
    assert any("Removed My_Beta_code.md" in unescape(s.value) for s in alice.sidebar.success)
    view = Assistant(index_dir=index_dir).for_owner(owner_id(alice_token))
    assert view.stats()["user_chunks"] == 0 and view.stats()["chunks"] > 0


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
