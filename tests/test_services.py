"""Unit tests of the services the app uses (issue 19: out of the UI): uploads, feedback, export,
saved conversations, source presentation and the stand-alone rule. Fast: no model, no index,
except where a real ingest is the point (private upload indexes)."""
from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from assistant.errors import BadInput
from assistant.export import (answer_with_footnotes, conversation_json, conversation_markdown, inert,
                              safe_url)
from assistant.feedback import append_feedback, read_feedback
from assistant.history import ConversationStore, new_conversation_id
from assistant.planning import stands_alone
from assistant.sources import (BRIEF, OFFICIAL, UPLOAD, by_document, follow_ups, human_label, kind_of, library,
                               quote_context, search_library, short_title)
from assistant.types import Citation, Passage
from assistant.uploads import MAX_UPLOAD_BYTES, UploadStore, new_token, owner_id, safe_filename, valid_token

HOSTILE = ('Read <img src=x onerror="alert(1)"> and <script>alert(2)</script> '
           '[click](javascript:alert(3)) ![pixel](https://tracker.example/p.gif) <https://evil.example> \\')


# --- uploads ------------------------------------------------------------------------------------
def test_owner_tokens_and_ids():
    a, b = new_token(), new_token()
    assert a != b and valid_token(a) and valid_token(b)
    assert owner_id(a) == owner_id(a) and owner_id(a) != owner_id(b)
    assert re.fullmatch(r"[0-9a-f]{16}", owner_id(a)) and owner_id(a) not in a  # the folder does not reveal the token
    for bad in ("", "../../etc", "A" * 32, a + "0", None, 5):
        assert not valid_token(bad)
    with pytest.raises(BadInput):
        owner_id("../x")


def test_upload_store_is_per_owner_and_refuses_bad_files(tmp_path):
    alice, bob = UploadStore(tmp_path, "aaaa"), UploadStore(tmp_path, "bbbb")
    saved = alice.save("../../My notes (1).md", b"# Notes")
    assert saved == tmp_path / "uploads" / "aaaa" / "My_notes_1.md" and saved.read_bytes() == b"# Notes"
    assert [p.name for p in alice.list()] == ["My_notes_1.md"] and bob.list() == []
    with pytest.raises(ValueError, match="10 MB"):
        alice.save("big.txt", b"x" * (MAX_UPLOAD_BYTES + 1))
    with pytest.raises(ValueError, match="unsupported"):
        alice.save("evil.exe", b"x")
    assert [p.name for p in alice.list()] == ["My_notes_1.md"]
    for bad in ("../x", "", "UPPER", "a/b"):
        with pytest.raises(BadInput):
            UploadStore(tmp_path, bad)


@pytest.mark.parametrize(("name", "expected"), [
    ("report.pdf", "report.pdf"), ("../../etc/passwd.txt", "passwd.txt"),
    ("C:\\Users\\x\\My File (1).DOCX", "My_File_1.docx"), (".hidden.md", "hidden.md"),
    ("notes", None), ("script.py", None), (".md", None),
])
def test_safe_filename(name, expected):
    got = safe_filename(name)
    assert got == expected or (expected is None and (got is None or got.startswith("upload.")))


@pytest.mark.integration
def test_private_upload_indexes_on_the_real_model(tmp_path, docs_dir):
    """Two owners on one index: each searches, lists and removes only its own uploads; a file
    that cannot be read is not kept; the other owner cannot remove it; the owner's citation is
    marked as an upload."""
    from assistant import Assistant

    base = Assistant(index_dir=tmp_path / "idx")
    alice, bob = base.for_owner("aaaa"), base.for_owner("bbbb")
    store_a, store_b = UploadStore(tmp_path / "idx", "aaaa"), UploadStore(tmp_path / "idx", "bbbb")
    result = store_a.add(alice, [("beta.md", (docs_dir / "beta.md").read_bytes()), ("broken.pdf", b"%PDF-1.4 not a pdf")])
    assert result.added == ["beta.md"]
    assert [name for name, _ in result.failed] == ["broken.pdf"]
    assert [p.name for p in store_a.list()] == ["beta.md"]  # the failed file is not listed
    assert alice.stats()["user_documents"] == 1 and bob.stats()["user_documents"] == 0
    question = "For how long can stored computer data be preserved under the Beta Code?"
    mine = alice.ask(question)
    assert mine.citations and mine.citations[0].source_kind == UPLOAD
    assert mine.citations[0].url == "upload:beta.md"
    theirs = bob.ask(question)
    assert all(c.source_kind != UPLOAD for c in theirs.citations)
    assert not any(p.doc_id.startswith("upload-") for p in bob.search(question, k=20).passages)
    assert not any(p.doc_id.startswith("upload-") for p in base.search(question, k=20).passages)
    with pytest.raises(ValueError, match="not one of your uploads"):
        store_b.remove(bob, "beta.md")
    with pytest.raises(ValueError, match="owner's own view"):
        store_a.remove(bob, "beta.md")
    assert [p.name for p in store_a.list()] == ["beta.md"]
    store_a.remove(alice, "beta.md")
    assert store_a.list() == [] and alice.stats()["user_chunks"] == 0
    assert re.fullmatch(r"other-[0-9a-f]{16}", base.for_owner("../other").owner)  # never a path


# --- feedback -----------------------------------------------------------------------------------
def test_feedback_keeps_one_record_per_answer(tmp_path):
    append_feedback(tmp_path, "Q?", "A [1]", [{"marker": 1}], "down", answer_id="m1")
    append_feedback(tmp_path, "Q?", "A [1]", [{"marker": 1}], "down", "missing part", answer_id="m1")
    append_feedback(tmp_path, "Q2?", "B", [], "up")
    lines = (tmp_path / "feedback.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3  # append-only: nothing is lost
    with (tmp_path / "feedback.jsonl").open("a", encoding="utf-8") as f:
        f.write('{"torn": ')  # a crash mid-line
    recs = read_feedback(tmp_path)
    assert [(r["question"], r["comment"]) for r in recs] == [("Q?", "missing part"), ("Q2?", "")]


def test_feedback_appends_from_many_threads_never_interleave(tmp_path):
    big = "x" * 20_000
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: append_feedback(tmp_path, f"q{i}", big, [], "up", answer_id=f"a{i}"), range(32)))
    assert sorted(r["question"] for r in read_feedback(tmp_path)) == sorted(f"q{i}" for i in range(32))


# --- export -------------------------------------------------------------------------------------
def _conversation(text: str = HOSTILE) -> list[dict]:
    cit = {"marker": 1, "doc_id": "upload-x", "title": "Notes <b>x</b>", "section": "S", "url": "upload:x.md",
           "quote": text, "chunk_id": "c", "score": 1.0, "source_kind": "upload"}
    off = {"marker": 2, "doc_id": "nato", "title": "The North Atlantic Treaty (1949)", "section": "Article 5",
           "url": "https://www.nato.int/t", "quote": "An armed attack [against one] is an attack on all.",
           "chunk_id": "d", "score": 1.0, "adopted": "1949-04-04"}
    bad_url = dict(off, marker=3, doc_id="evil", url="javascript:alert(4)", title="Evil")
    return [{"role": "user", "content": "What <i>about</i> [this](javascript:x)?"},
            {"role": "assistant", "content": f"{text} [1] An armed attack [2] x [3]",
             "answer": {"question": "q", "query": "q", "citations": [cit, off, bad_url], "abstained": False}}]


def _rendered(md: str) -> str:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").render(md)


def test_markdown_export_renders_no_html_links_or_images():
    md = conversation_markdown(_conversation())
    out = _rendered(md)
    assert "<img" not in out and "<script" not in out and "<b>" not in out and "<i>" not in out
    assert "javascript:" not in re.findall(r'href="([^"]*)"', out).__str__()
    assert re.findall(r'href="([^"]*)"', out) == ["https://www.nato.int/t"]  # the one official link
    assert "tracker.example" not in "".join(re.findall(r'src="([^"]*)"', out))
    # the text is all there, readable
    assert "onerror" in out and "alert(2)" in out and "Notes &lt;b&gt;x&lt;/b&gt;" in out
    assert "your upload" in md and "adopted 1949-04-04" in md


def test_footnotes_copy_is_inert_and_numbered():
    conv = _conversation()
    md = answer_with_footnotes(conv[1]["content"], conv[1]["answer"]["citations"])
    assert "[^1]" in md and "[^2]: The North Atlantic Treaty (1949) — Article 5 — team brief" in md
    out = _rendered(md)
    assert "<img" not in out and "<script" not in out and 'href="javascript' not in out
    assert inert("[a](b) <c>") == "\\[a\\](b) \\<c\\>"
    assert safe_url("javascript:alert(1)") is None and safe_url("https://x.org/a(b)") == "https://x.org/a%28b%29"


def test_json_export_keeps_the_data():
    data = json.loads(conversation_json(_conversation()))
    assert data["messages"][1]["citations"][0]["quote"] == HOSTILE


# --- saved conversations ------------------------------------------------------------------------
def test_conversations_per_owner_most_recent_first(tmp_path):
    a, b = ConversationStore(tmp_path, "aaaa"), ConversationStore(tmp_path, "bbbb")
    first, second = new_conversation_id(), new_conversation_id()
    a.save(first, [{"role": "user", "content": "What is PESCO?"}])
    a.save(second, [{"role": "user", "content": "  What does   Article 5 say? " + "x" * 100}])
    assert [c["id"] for c in a.list()] == [second, first]
    assert a.list()[0]["title"].startswith("What does Article 5 say?") and len(a.list()[0]["title"]) <= 80
    assert a.load(first) == [{"role": "user", "content": "What is PESCO?"}]
    assert b.list() == [] and b.load(first) is None
    (a.folder / f"{new_conversation_id()}.json").write_text("{broken", encoding="utf-8")
    assert len(a.list()) == 2  # an unreadable file is skipped
    with pytest.raises(BadInput):
        a.load("../../feedback")
    a.delete(first)
    assert [c["id"] for c in a.list()] == [second]


# --- sources ------------------------------------------------------------------------------------
def test_kinds_labels_and_titles():
    assert kind_of({"url": "upload:x.md"}) == UPLOAD
    assert kind_of({"issuer": "upload"}) == UPLOAD
    assert kind_of({"type": "document", "issuer": "", "url": "file:///x.md"}) == OFFICIAL
    assert kind_of({"type": "treaty", "issuer": "NATO", "url": "https://nato.int"}) == BRIEF
    assert human_label("arms-control") == "Arms control" and human_label("un") == "UN"
    assert human_label("eu-cooperation") == "EU cooperation" and human_label("Council of Europe") == "Council of Europe"
    assert short_title("Council of Europe Convention on Cybercrime – Budapest Convention (2001)") == "the Budapest Convention"
    assert short_title("The North Atlantic Treaty (1949)") == "The North Atlantic Treaty"


def test_quote_context_and_cards():
    text = "First sentence here. The quoted sentence is this one. Last sentence follows."
    assert quote_context(text, "The quoted sentence is this one.") == ("First sentence here.", "Last sentence follows.")
    assert quote_context(text, "First sentence here.") == ("", "The quoted sentence is this one.")
    assert quote_context(text, "not there") == ("", "")
    cits = [{"doc_id": "a", "marker": 1}, {"doc_id": "b", "marker": 2}, {"doc_id": "a", "marker": 3}]
    cards = by_document(cits)
    assert [c["doc_id"] for c in cards] == ["a", "b"] and [q["marker"] for q in cards[0]["quotes"]] == [1, 3]


def test_library_and_follow_ups():
    metas = [{"doc_id": "nato", "title": "The North Atlantic Treaty (1949)", "issuer": "NATO", "type": "treaty",
              "adopted": "1949-04-04", "topics": ["collective-defence"], "url": "https://nato.int"}] * 3 + \
            [{"doc_id": "bud", "title": "Budapest Convention (2001)", "issuer": "Council of Europe",
              "type": "convention", "topics": "cybercrime|council-of-europe", "url": "https://coe.int"}]
    docs = library(metas)
    assert [d["doc_id"] for d in docs] == ["bud", "nato"] and docs[1]["passages"] == 3
    assert docs[0]["topics"] == ["cybercrime", "council-of-europe"]
    assert [d["doc_id"] for d in search_library(docs, "collective defence")] == ["nato"]
    assert [d["doc_id"] for d in search_library(docs, "convention council")] == ["bud"]
    assert len(search_library(docs, "")) == 2
    p = lambda cid, section: Passage(cid, "nato", "The North Atlantic Treaty (1949)", section, "", "t", 1.0)  # noqa: E731
    cits = [{"doc_id": "nato", "title": "The North Atlantic Treaty (1949)", "section": "Article 5 – Collective defence"}]
    qs = follow_ups("What does Article 5 say?", [p("1", "Article 5 – Collective defence"), p("2", "Article 6 – Territory"),
                                                 p("3", "Membership and enlargement")], cits)
    assert qs == ["What does Article 6 of The North Atlantic Treaty say?",
                  "What does The North Atlantic Treaty say about membership and enlargement?",
                  "What is The North Atlantic Treaty about?"]


def test_upload_citations_say_so():
    c = Citation(1, "upload-x", "X", "", "upload:x.md", "q", "c", 1.0, issuer="upload")
    assert c.source_kind == "upload"
    assert Citation(1, "nato", "N", "", "https://nato.int", "q", "c", 1.0, issuer="NATO").source_kind == "brief"
    assert Citation(1, "nat", "N", "", "https://x.nl/t", "q", "c", 1.0).source_kind == "document"
    assert Citation(1, "nat", "N", "", "", "q", "c", 1.0, source_kind="upload").source_kind == "upload"
    from assistant.types import Answer

    a = Answer("q", "t [1]", [c], False, [])
    assert Answer.from_dict(json.loads(json.dumps(a.to_dict()))) == a
    assert a.to_dict()["citations"][0]["source_kind"] == "upload"


@pytest.mark.integration
def test_owner_parameters_of_the_api(tmp_path, docs_dir):
    """The contract's ``ingest(paths, owner=...)`` and ``ask(..., owner=...)``: a private space."""
    from assistant import Assistant
    from assistant.api import owner_key

    assert owner_key("alice") == "alice"
    assert owner_key("Alice Smith") != owner_key("alice smith") and re.fullmatch(r"alice-smith-[0-9a-f]{16}",
                                                                                  owner_key("Alice Smith"))
    assert owner_key("../../etc") .startswith("etc-")
    for bad in ("", "   ", "x" * 201, None):
        with pytest.raises(BadInput):
            owner_key(bad)
    bot = Assistant(index_dir=tmp_path / "idx")
    assert bot.ingest([docs_dir / "beta.md"], owner="Alice Smith").added
    question = "For how long can stored computer data be preserved under the Beta Code?"
    assert bot.ask(question, owner="Alice Smith").citations[0].source_kind == "upload"
    assert all(c.source_kind != "upload" for c in bot.ask(question, owner="bob").citations)
    assert all(c.source_kind != "upload" for c in bot.ask(question).citations)
    *_, streamed = bot.stream(question, owner="Alice Smith")
    assert streamed.citations[0].url == "upload:beta.md"


# --- stand-alone questions ----------------------------------------------------------------------
@pytest.mark.parametrize(("question", "alone"), [
    ("When did it enter into force?", False),
    ("And when did the treaty enter into force?", False),
    ("What about Article 6?", False),
    ("Why?", False),
    ("Where is it based?", False),
    ("What does that provision require?", False),
    ("What is PESCO?", True),  # short, but names its subject
    ("Why do states share passenger data?", True),  # starts with why, stands alone
    ("Which treaties ban weapons that cause unnecessary suffering?", True),  # "that" is not a reference
    ("Can a state refuse to extradite its own nationals?", True),  # "its" is resolved in the question
])
def test_stands_alone_without_names(question, alone):
    assert stands_alone(question) is alone


@pytest.mark.integration
def test_stands_alone_with_the_corpus_names(corpus_bot):
    names = corpus_bot.names()
    assert stands_alone("Compare Europol and Eurojust", names)
    assert stands_alone("What is PESCO?", names)
    assert not stands_alone("When did it enter into force?", names)
    assert not stands_alone("What does the convention say about extradition?", names)


# --- filters: several values per field, chips for types -----------------------------------------
def test_type_chips_group_treaties_and_conventions():
    from assistant.sources import or_list, type_chips

    chips = type_chips(["brief", "convention", "treaty", "regulation", "widget"])
    assert chips == {"Treaties & conventions": ("treaty", "convention"), "EU law": ("regulation",),
                     "Team briefs": ("brief",), "Widget": ("widget",)}
    assert or_list(["a"]) == "a" and or_list(["a", "b", "c"]) == "a, b or c"


def test_multi_value_filters_are_validated_and_translated():
    from assistant.store import chroma_where, validate_filters

    f = validate_filters({"type": ["treaty", "convention", "treaty"], "topic": ["cybercrime"], "issuer": "EU"})
    assert f == {"type": ("treaty", "convention"), "topic": "cybercrime", "issuer": "EU"}
    assert chroma_where(f) == {"$and": [{"type": {"$in": ["treaty", "convention"]}}, {"topic_cybercrime": True},
                                        {"issuer": "EU"}]}
    assert chroma_where(validate_filters({"topic": ["a", "b"]})) == {"$or": [{"topic_a": True}, {"topic_b": True}]}
    for bad in ({"type": []}, {"type": ["$ne"]}, {"type": [1]}, {"doc_id": ["a", "b"]}, {"type": ["x"] * 51}):
        with pytest.raises(BadInput):
            validate_filters(bad)


@pytest.mark.integration
def test_multi_value_filters_search_the_real_index(corpus_bot):
    """Treaties and conventions together: the Budapest Convention (a convention) and the North
    Atlantic Treaty (a treaty) both pass; a regulation does not — on both the dense and BM25 side."""
    facets = corpus_bot.facets()
    assert {"treaty", "convention"} <= set(facets["type"])
    for mode in ("dense", "bm25", "hybrid"):
        found = corpus_bot.search("cybercrime convention collective defence treaty Europol regulation", k=20,
                                  filters={"type": ["treaty", "convention"]}, mode=mode).passages
        types = {p.type for p in found}
        assert types and types <= {"treaty", "convention"}, (mode, types)
    both = corpus_bot.search("Budapest Convention North Atlantic Treaty Article 5", k=20,
                             filters={"type": ["treaty", "convention"]}).passages
    assert {"budapest-convention", "nato-treaty"} & {p.doc_id for p in both} and len({p.type for p in both}) == 2
    wanted = {"cybercrime", "arms-control"}
    allowed = {m["doc_id"] for m in corpus_bot.index().lexical().metas if wanted & set(m["topics"])}
    topics = corpus_bot.search("cooperation between states", k=20, filters={"topic": sorted(wanted)}).passages
    assert topics and {p.doc_id for p in topics} <= allowed
    assert len({p.doc_id for p in topics} & {m["doc_id"] for m in corpus_bot.index().lexical().metas
                                              if "cybercrime" in m["topics"]}) >= 1


def test_llm_rule_is_the_generators_own():
    from assistant.generation import llm_configured
    from assistant.settings import Settings

    assert not llm_configured(Settings(llm_base_url="http://x/v1"))
    assert not llm_configured(Settings(llm_model="m"))
    assert llm_configured(Settings(llm_base_url="http://x/v1", llm_model="m"))


def test_kind_line_names_each_date_and_the_official_source():
    import importlib.util

    spec = importlib.util.spec_from_file_location("policy_app", Path(__file__).resolve().parents[1] / "app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    brief = {"kind": BRIEF, "title": "The North Atlantic Treaty (1949)", "issuer": "NATO", "reviewed": "2025-06-01",
             "adopted": "1949-04-04", "url": "https://www.nato.int/t"}
    assert app.kind_line(brief) == ('Team brief explaining The North Atlantic Treaty · NATO · reviewed 2025-06-01 · '
                                    'instrument adopted 1949-04-04 · <a href="https://www.nato.int/t" target="_blank" '
                                    'rel="noopener noreferrer">official source</a>')
    official = dict(brief, kind=OFFICIAL, reviewed="", issuer="")
    assert app.kind_line(official).startswith("Official text · adopted 1949-04-04 · ")
    assert app.kind_line(official).endswith(">official text</a>")
    assert "your upload" in app.kind_line({"kind": UPLOAD, "url": "upload:x.md", "adopted": "2020-01-01"})
    assert "adopted" not in app.kind_line({"kind": UPLOAD, "url": "upload:x.md", "adopted": "2020-01-01"})


@pytest.mark.integration
def test_an_official_text_is_labelled_as_such(tmp_path):
    """A real official text indexed as published (no front matter) is an "official text" in the
    library and on its cards, not a team brief."""
    from conftest import REALDOCS

    from assistant import Assistant
    from assistant.sources import enrich

    if not (REALDOCS / "north_atlantic_treaty.md").exists():
        pytest.skip("the real official texts are not on this machine")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "north_atlantic_treaty.md").write_bytes((REALDOCS / "north_atlantic_treaty.md").read_bytes())
    bot = Assistant(index_dir=tmp_path / "idx")
    assert bot.ingest([docs]).ok
    entries = library(bot.index().collection.get(where={"position": 0}, include=["metadatas"])["metadatas"])
    assert [(d["doc_id"], d["kind"]) for d in entries] == [("north-atlantic-treaty", OFFICIAL)]
    answer = bot.ask("What happens if there is an armed attack against one of the Parties?")
    record = enrich(answer.to_dict(), answer.passages, {d["doc_id"]: d for d in entries})
    assert record["citations"] and {c["kind"] for c in record["citations"]} == {OFFICIAL}


def test_a_pdf_page_is_named_once_on_its_card():
    import importlib.util

    spec = importlib.util.spec_from_file_location("policy_app", Path(__file__).resolve().parents[1] / "app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    cit = {"marker": 1, "doc_id": "upload-r", "title": "R", "section": "Page 1", "page": 1, "url": "upload:r.pdf",
           "quote": "q", "kind": UPLOAD}
    panel = app.sources_html([cit], "m")
    assert panel.lower().count("page 1") == 1
    assert "page 3" in app.sources_html([dict(cit, section="Annex", page=3)], "m")
