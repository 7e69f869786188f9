"""Ingestion of every format, incremental re-ingest, repair after interruption."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant import Assistant
from assistant.chunking import sentence_spans
from assistant.embeddings import MAX_TOKENS, load_model
from assistant.loaders import load
from conftest import copy_realdocs
from support import stored_vectors_match_fresh_encoding


def make_pdf(path: Path, pages: list[str], title: str | None = None, password: str | None = None) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    if title:
        pdf.set_title(title)
    pdf.set_font("Helvetica", size=11)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 6, text)
    if password:
        pdf.set_encryption(owner_password="owner", user_password=password)  # RC4: no extra package
    pdf.output(str(path))


def make_docx(path: Path) -> None:
    import docx

    d = docx.Document()
    d.core_properties.title = "Gamma Protocol on Border Data"
    d.add_heading("Gamma Protocol on Border Data", level=0)
    d.add_heading("Article 3 – Retention", level=1)
    d.add_paragraph("Under Article 3 of the Gamma Protocol, passenger data are kept for no longer than five years.")
    d.save(str(path))


@pytest.mark.integration
def test_formats_ingest_with_metadata(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    make_pdf(folder / "delta.pdf", ["Delta Accord first page about maritime interdiction of WMD cargo.",
                                   "Second page: boarding requires flag-state consent within four hours."],
             title="Delta Accord")
    make_docx(folder / "gamma.docx")
    (folder / "epsilon.html").write_text(
        "<html><head><title>Epsilon Guidelines</title></head><body><nav>Home | Menu | Login</nav>"
        "<main><h1>Epsilon Guidelines</h1><h2>Rule 4</h2><p>Rule 4 of the Epsilon Guidelines requires "
        "a liaison officer in every national unit.</p></main><footer>Cookie policy</footer></body></html>",
        encoding="utf-8")
    (folder / "zeta.txt").write_text("Zeta memo on information sharing\n\nsource: https://example.org/zeta\n\n"
                                     "Partners exchange threat indicators within 24 hours.\n", encoding="utf-8")
    (folder / "notes.xyz").write_text("unknown format", encoding="utf-8")
    bot = Assistant(index_dir=tmp_path / "idx")
    report = bot.ingest([folder])
    assert sorted(Path(p).name for p in report.added) == ["delta.pdf", "epsilon.html", "gamma.docx", "zeta.txt"]
    assert [(Path(p).name, r) for p, r in report.failed] == [("notes.xyz", "unsupported file type .xyz")]

    pdf_hits = bot.retrieve("flag-state consent boarding", k=3)
    assert pdf_hits[0].doc_id == "delta" and pdf_hits[0].page == 2 and pdf_hits[0].title == "Delta Accord"
    docx_hit = bot.retrieve("how long are passenger data kept", k=1)[0]
    assert docx_hit.doc_id == "gamma" and "Article 3" in docx_hit.section
    html_hit = bot.retrieve("liaison officer national unit", k=1)[0]
    assert html_hit.title == "Epsilon Guidelines" and html_hit.section == "Rule 4"
    assert "Cookie" not in html_hit.text and "Login" not in html_hit.text
    txt_hit = bot.retrieve("threat indicators", k=1)[0]
    assert txt_hit.url == "https://example.org/zeta" and txt_hit.type == "document"


@pytest.mark.integration
def test_front_matter_metadata_and_chunk_ids(tmp_path, docs_dir):
    bot = Assistant(index_dir=tmp_path / "idx")
    bot.ingest([docs_dir])
    got = bot.index().collection.get(include=["metadatas", "documents"])
    metas = {m["section"]: (cid, m) for cid, m in zip(got["ids"], got["metadatas"])}
    cid, meta = metas["Article 2 – Withdrawal"]
    assert cid.startswith("alpha-pact:")
    assert meta["doc_id"] == "alpha-pact" and meta["issuer"] == "Test Org" and meta["type"] == "treaty"
    assert meta["adopted"] == "2001-02-03" and meta["url"] == "https://example.org/alpha"
    assert meta["topics"] == "collective-defence|nato" and meta["topic_nato"] is True
    # Same content, fresh index: the same chunk ids (stable ids from doc id + position + hash).
    other = Assistant(index_dir=tmp_path / "idx2")
    other.ingest([docs_dir])
    assert sorted(other.index().collection.get(include=[])["ids"]) == sorted(got["ids"])


@pytest.mark.integration
def test_incremental_reingest(tmp_path, docs_dir):
    bot = Assistant(index_dir=tmp_path / "idx")
    first = bot.ingest([docs_dir])
    assert len(first.added) == 2 and first.ok
    calls = bot.embeddings.calls

    again = bot.ingest([docs_dir])
    assert len(again.unchanged) == 2 and not again.added and not again.updated
    assert bot.embeddings.calls == calls, "an unchanged corpus must not be re-embedded"

    beta = docs_dir / "beta.md"
    beta.write_text(beta.read_text().replace("ninety days", "sixty days"), encoding="utf-8")
    changed = bot.ingest([docs_dir])
    assert [Path(p).name for p in changed.updated] == ["beta.md"] and len(changed.unchanged) == 1
    texts = bot.index().collection.get(include=["documents"])["documents"]
    assert any("sixty days" in t for t in texts) and not any("ninety days" in t for t in texts)
    assert bot.retrieve("expedited preservation", k=1)[0].text.count("sixty days") == 1

    (docs_dir / "alpha.md").unlink()
    removed = bot.ingest([docs_dir])
    assert [Path(p).name for p in removed.removed] == ["alpha.md"]
    ids = bot.index().collection.get(include=[])["ids"]
    assert ids and all(i.startswith("beta-code:") for i in ids)
    assert set(bot.index().lexical().ids) == set(ids)
    assert bot.stats()["documents"] == 1


@pytest.mark.integration
def test_interrupted_ingest_is_repaired(tmp_path, docs_dir):
    bot = Assistant(index_dir=tmp_path / "idx")
    bot.ingest([docs_dir])
    index = bot.index()
    clean_ids = sorted(index.collection.get(include=[])["ids"])
    # Simulate a crash: an orphan chunk written (of a file since deleted), a file's chunks half
    # deleted, manifest not updated.
    ghost = str(docs_dir / "ghost.md")
    index.collection.upsert(ids=["ghost:0000:abc"], documents=["orphan"],
                            metadatas=[{"doc_id": "ghost", "source": ghost}], embeddings=[[0.0] * 383 + [1.0]])
    alpha_ids = [i for i in clean_ids if i.startswith("alpha-pact:")]
    index.delete(alpha_ids[:1])
    report = bot.ingest([docs_dir])
    assert sorted(index.collection.get(include=[])["ids"]) == clean_ids
    assert sorted(index.lexical().ids) == clean_ids
    assert [Path(p).name for p in report.added] == ["alpha.md"]
    assert report.removed == [ghost] and report.chunks_removed == 1  # the orphan, counted


@pytest.mark.integration
def test_bad_files_are_reported_and_the_rest_ingests(tmp_path, docs_dir):
    (docs_dir / "empty.md").write_text("", encoding="utf-8")
    (docs_dir / "junk.txt").write_bytes(b"\x00\x01\x02binary\x00junk")
    (docs_dir / "broken.md").write_text("---\nid: [unclosed\n---\nbody\n", encoding="utf-8")
    (docs_dir / "fake.docx").write_text("not a zip", encoding="utf-8")
    (docs_dir / "corrupt.pdf").write_bytes(b"%PDF-1.4\n garbage garbage")
    make_pdf(docs_dir / "locked.pdf", ["secret text"], password="pw")
    (docs_dir / "dup.md").write_text((docs_dir / "alpha.md").read_text(), encoding="utf-8")
    (docs_dir / "latin1.txt").write_bytes("Coopération policière européenne".encode("latin-1"))
    (docs_dir / "utf16.txt").write_text("Cooperation on extradition requests", encoding="utf-16")
    bot = Assistant(index_dir=tmp_path / "idx")
    report = bot.ingest([docs_dir])
    reasons = {Path(p).name: r for p, r in report.failed}
    assert set(reasons) == {"empty.md", "junk.txt", "broken.md", "fake.docx", "corrupt.pdf", "locked.pdf", "dup.md"} \
        or set(reasons) == {"empty.md", "junk.txt", "broken.md", "fake.docx", "corrupt.pdf", "locked.pdf", "alpha.md"}
    assert "no text" in reasons["empty.md"]
    assert "binary" in reasons["junk.txt"]
    assert "front matter" in reasons["broken.md"]
    assert "zip" in reasons["fake.docx"]
    assert "PDF" in reasons["corrupt.pdf"]
    assert "encrypted" in reasons["locked.pdf"]
    assert "duplicate document id" in (reasons.get("dup.md") or reasons.get("alpha.md"))
    added = {Path(p).name for p in report.added}
    assert {"beta.md", "latin1.txt", "utf16.txt"} <= added
    assert "policière" in bot.retrieve("Coopération policière", k=1)[0].text


@pytest.mark.integration
def test_chunks_fit_the_model_on_real_documents(tmp_path):
    folder = copy_realdocs(tmp_path / "real")
    bot = Assistant(index_dir=tmp_path / "idx")
    report = bot.ingest([folder])
    assert report.ok and len(report.added) == 3
    got = bot.index().collection.get(include=["documents", "metadatas"])
    tokenizer = load_model().tokenizer
    from assistant.chunking import embed_text

    longest = max(len(tokenizer(embed_text(t, m))["input_ids"]) for t, m in zip(got["documents"], got["metadatas"]))
    assert longest <= MAX_TOKENS
    sections = {m["section"] for m in got["metadatas"] if m["doc_id"] == "north-atlantic-treaty"}
    assert {"Article 5", "Article 13"} <= sections  # split on the articles of the real treaty
    # Article 5 is not cut mid-article and not mixed with Article 51 of the Charter.
    art5 = [t for t, m in zip(got["documents"], got["metadatas"]) if m["doc_id"] == "north-atlantic-treaty" and m["section"] == "Article 5"]
    assert len(art5) == 1 and "armed attack" in art5[0]


def test_sentence_spans_are_exact():
    text = "Article 5 applies. The Council (Art. 9) meets promptly.\n(i) on the territory; and\n(ii) on forces."
    spans = sentence_spans(text)
    pieces = [text[s:e] for s, e in spans]
    assert pieces[0] == "Article 5 applies."
    assert all(p == p.strip() and p in text for p in pieces)


def test_loader_rejects_unsupported(tmp_path):
    from assistant.errors import BadDocument

    p = tmp_path / "x.png"
    p.write_bytes(b"\x89PNG")
    with pytest.raises(BadDocument, match="unsupported"):
        load(p)


@pytest.mark.integration
def test_ingest_report_json(tmp_path, docs_dir):
    report = Assistant(index_dir=tmp_path / "idx").ingest([docs_dir])
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is True and len(data["added"]) == 2 and data["chunks_added"] >= 3
    assert "added 2" in report.summary()


@pytest.mark.integration
def test_user_uploads_live_in_a_separate_collection(tmp_path, docs_dir):
    import shutil

    bot = Assistant(index_dir=tmp_path / "idx")
    bot.ingest([docs_dir / "alpha.md"])
    main_ids = sorted(bot.index().collection.get(include=[])["ids"])
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    shutil.copy(docs_dir / "beta.md", uploads / "beta.md")
    report = bot.ingest([uploads], user=True)
    assert [Path(p).name for p in report.added] == ["beta.md"]
    user = bot.user_index()
    assert user.collection_name == "policy-user" and user.collection.count() >= 1
    assert sorted(bot.index().collection.get(include=[])["ids"]) == main_ids  # corpus untouched
    # Searched together with the corpus, under the upload's own id (its front matter cannot set
    # it: tests/test_hostile.py::test_an_upload_cannot_pose_as_an_official_source).
    assert bot.retrieve("expedited preservation of stored computer data", k=2)[0].doc_id == "upload-beta"
    assert bot.retrieve("withdraw by written notice to the depositary", k=2)[0].doc_id == "alpha-pact"
    answer = bot.ask("How long can stored data be preserved under the Beta Code?")
    assert not answer.abstained and answer.citations[0].doc_id == "upload-beta"
    assert answer.citations[0].issuer == "upload" and answer.citations[0].url == "upload:beta.md"
    stats = bot.stats()
    assert stats["documents"] == 1 and stats["user_documents"] == 1 and stats["user_chunks"] >= 1
    (uploads / "beta.md").unlink()
    removed = bot.ingest([uploads], user=True)
    assert len(removed.removed) == 1 and bot.stats()["user_chunks"] == 0
    assert sorted(bot.index().collection.get(include=[])["ids"]) == main_ids


@pytest.mark.integration
def test_moved_corpus_reingests_without_duplicate_id_errors(tmp_path, docs_dir):
    bot = Assistant(index_dir=tmp_path / "idx")
    bot.ingest([docs_dir])
    before = sorted(bot.index().collection.get(include=[])["ids"])
    moved = tmp_path / "moved-docs"
    docs_dir.rename(moved)
    report = bot.ingest([moved])
    assert report.ok and len(report.added) == 2 and len(report.removed) == 2
    assert sorted(bot.index().collection.get(include=[])["ids"]) == before  # same content, same ids
    assert set(bot.index().load_manifest()["files"]) == {str(p.resolve()) for p in moved.iterdir()}
    sources = {m["source"] for m in bot.index().collection.get(include=["metadatas"])["metadatas"]}
    assert all(s.startswith(str(moved.resolve())) for s in sources)
    # A real duplicate (both files present) is still refused.
    (moved / "copy.md").write_text((moved / "alpha.md").read_text(), encoding="utf-8")
    again = bot.ingest([moved])
    assert [Path(p).name for p, _ in again.failed] == ["copy.md"]


def test_html_keeps_text_outside_the_innermost_blocks(tmp_path):
    """Text directly inside containers is kept, in document order, next to the nested blocks."""
    from assistant.loaders import load

    page = tmp_path / "page.html"
    page.write_text(
        "<html><head><title>Liaison</title><style>p{}</style></head><body><nav>Menu</nav><main>"
        "<h2>Channels</h2><div>Lead text on <b>liaison</b> officers<br>second line<p>A paragraph.</p>tail words</div>"
        "<ul><li>Intro item <ul><li>nested item</li></ul></li></ul>"
        "<table><tr><th>Body</th><td>Europol</td></tr></table><!-- a comment --></main></body></html>",
        encoding="utf-8")
    doc = load(page)
    assert doc.meta["title"] == "Liaison"
    assert [s.path for s in doc.sections] == [["Channels"]]
    assert doc.sections[0].text.split("\n\n") == [
        "Lead text on liaison officers second line", "A paragraph.", "tail words", "Intro item", "nested item",
        "Body", "Europol"]


@pytest.mark.integration
def test_an_edit_reembeds_only_the_chunks_it_changed(tmp_path):
    from conftest import CORPUS

    folder = tmp_path / "docs"
    folder.mkdir()
    brief = folder / "nato-treaty.md"
    brief.write_text((CORPUS / "nato-treaty.md").read_text(encoding="utf-8"), encoding="utf-8")
    bot = Assistant(index_dir=tmp_path / "idx")
    first = bot.ingest([folder])
    total = first.chunks_added
    assert total >= 10 and first.chunks_embedded == total

    # One sentence in the middle (Article 7) changes: its chunk, and at most the next one (which
    # may repeat its last sentence as overlap), are embedded again; the rest keep their vectors.
    text = brief.read_text(encoding="utf-8")
    brief.write_text(text.replace("primary responsibility of the UN Security Council",
                                  "primary responsibility of the Security Council of the United Nations"), encoding="utf-8")
    calls = bot.embeddings.calls
    edited = bot.ingest([folder])
    assert [Path(p).name for p in edited.updated] == ["nato-treaty.md"]
    assert 1 <= edited.chunks_embedded <= 2 and bot.embeddings.calls - calls == edited.chunks_embedded
    assert "embedded" in edited.summary()
    assert stored_vectors_match_fresh_encoding(bot)
    hit = bot.retrieve("Security Council of the United Nations primary responsibility Article 7", k=1)[0]
    assert "Security Council of the United Nations" in hit.text

    # The title is part of every chunk's embedded text: changing it embeds them all again.
    brief.write_text(brief.read_text(encoding="utf-8").replace(
        "title: The North Atlantic Treaty (1949)", "title: The Washington Treaty (1949)"), encoding="utf-8")
    retitled = bot.ingest([folder])
    assert retitled.chunks_embedded == total
    assert stored_vectors_match_fresh_encoding(bot)


@pytest.mark.integration
def test_a_moved_folder_keeps_its_vectors(tmp_path, docs_dir, monkeypatch):
    import assistant.store

    monkeypatch.setattr(assistant.store, "GET_PAGE", 2)  # the old chunks are read back in pages
    bot = Assistant(index_dir=tmp_path / "idx")
    first = bot.ingest([docs_dir])
    ids = sorted(bot.index().collection.get(include=[])["ids"])
    moved = docs_dir.rename(tmp_path / "moved")
    calls = bot.embeddings.calls
    report = bot.ingest([moved])
    assert len(report.added) == 2 and len(report.removed) == 2 and report.ok
    assert report.chunks_embedded == 0 and bot.embeddings.calls == calls
    got = bot.index().collection.get(include=["metadatas"])
    assert sorted(got["ids"]) == ids and first.chunks_added == len(ids)
    assert all(m["source"].startswith(str(moved)) for m in got["metadatas"])  # the new place is recorded
    assert stored_vectors_match_fresh_encoding(bot)


def _scanned(folder: Path) -> set[str]:
    from assistant.ingest import scan

    files, _, refused = scan([folder])
    return {p.relative_to(folder.resolve()).as_posix() for p in files} | {Path(p).name + " (refused)" for p, _ in refused}


def test_ignore_file_has_gitignore_semantics(tmp_path):
    """``.assistantignore`` is read with gitignore rules (pathspec): folder patterns, patterns
    that match at any depth, anchored patterns, ``**`` and negation."""
    root = tmp_path / "docs"
    for rel in ["keep.md", "top.md", "sub/top.md", "drafts/a.md", "sub/drafts/b.md", "x.pdf", "sub/y.pdf",
                "keep.pdf", "notes/a.md", "notes/final.md", "notes/deeper/c.md", "archive/2020/old-1.md",
                "archive/new.md", "stray.xyz"]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("# T\n\ntext\n", encoding="utf-8")
    (root / ".assistantignore").write_text(
        "# comments and blank lines are skipped\n\n"
        "drafts/\n"          # a folder, at any depth
        "*.pdf\n"            # any depth
        "!keep.pdf\n"        # negation re-includes
        "/top.md\n"          # anchored: only at the top
        "notes/*.md\n"       # one level, not deeper
        "!notes/final.md\n"
        "archive/**/old-*\n"
        "*.xyz\n",           # ignored before the type check: not refused
        encoding="utf-8")
    assert _scanned(root) == {"keep.md", "sub/top.md", "keep.pdf", "notes/final.md", "notes/deeper/c.md",
                              "archive/new.md"}


def test_ignore_file_negation_last_matching_pattern_wins(tmp_path):
    root = tmp_path / "docs"
    (root / "drafts").mkdir(parents=True)
    for rel in ["drafts/keep.md", "drafts/other.md", "a.md"]:
        (root / rel).write_text("# K\n\ntext\n", encoding="utf-8")
    (root / ".assistantignore").write_text("drafts/*\n!drafts/keep.md\n", encoding="utf-8")
    assert _scanned(root) == {"a.md", "drafts/keep.md"}
    (root / ".assistantignore").write_text("!drafts/keep.md\ndrafts/*\n", encoding="utf-8")  # negation first: no effect
    assert _scanned(root) == {"a.md"}


def test_ignore_file_is_compiled_once_per_scan(tmp_path, monkeypatch):
    from assistant import ingest

    root = tmp_path / "docs"
    root.mkdir()
    for i in range(20):
        (root / f"d{i}.md").write_text("# D\n\ntext\n", encoding="utf-8")
    (root / ".assistantignore").write_text("d1*.md\n", encoding="utf-8")
    calls = []
    real = ingest.ignore_spec
    monkeypatch.setattr(ingest, "ignore_spec", lambda folder: calls.append(folder) or real(folder))
    assert _scanned(root) == {f"d{i}.md" for i in range(20) if not str(i).startswith("1")}
    assert len(calls) == 1


def test_file_hash_is_the_sha1_of_the_bytes_and_refuses_what_open_regular_refuses(tmp_path):
    import hashlib
    import os

    from assistant.errors import BadDocument
    from assistant.ingest import file_sha1

    data = os.urandom(3 * 2**20 + 17)  # several read blocks
    (tmp_path / "big.pdf").write_bytes(data)
    (tmp_path / "empty.md").write_bytes(b"")
    assert file_sha1(tmp_path / "big.pdf") == hashlib.sha1(data).hexdigest()
    assert file_sha1(tmp_path / "empty.md") == "da39a3ee5e6b4b0d3255bfef95601890afd80709"
    with pytest.raises(BadDocument, match="file too large"):
        file_sha1(tmp_path / "big.pdf", max_bytes=2**20)
    os.mkfifo(tmp_path / "pipe.md")
    with pytest.raises(BadDocument, match="not a regular file"):
        file_sha1(tmp_path / "pipe.md")
