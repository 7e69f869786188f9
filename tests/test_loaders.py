"""Unit tests of assistant/loaders.py: front matter, Markdown sections, metadata, text decoding."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from assistant import loaders
from assistant.errors import BadDocument

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
BRIEFS = sorted(p for p in CORPUS.glob("*.md") if p.name not in {"SOURCES.md", "README.md"})


def _header_fields(text: str) -> dict[str, str]:
    """The ``key: value`` lines between a brief's two ``---`` lines, read line by line (the
    expectation, computed without YAML or the loader): a double-quoted value loses its quotes."""
    lines = text.split("\n")
    assert lines[0] == "---"
    fields: dict[str, str] = {}
    for line in lines[1:lines.index("---", 1)]:
        key, sep, value = line.partition(":")
        if sep and re.fullmatch(r"[a-z]+", key):
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            fields[key] = value
    return fields


def test_every_brief_front_matter_parses_to_its_header_lines():
    """Every brief of corpus/ reads (through python-frontmatter) to the title, issuer, id, type,
    url and dates its header lines say: the same values the hand-written parser gave."""
    assert len(BRIEFS) >= 100
    for path in BRIEFS:
        text = path.read_text(encoding="utf-8")
        expected = _header_fields(text)
        meta = loaders.load(path).meta
        for key in ("id", "title", "issuer", "type", "url", "adopted", "reviewed"):
            assert meta[key] == expected[key], (path.name, key)
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", meta["adopted"]), path.name
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", meta["reviewed"]), path.name
        assert meta["topics"] and all(t == loaders.slugify(t) for t in meta["topics"]), path.name


def test_every_brief_body_starts_after_the_front_matter():
    for path in BRIEFS:
        text = path.read_text(encoding="utf-8")
        meta, body = loaders.split_front_matter(text)
        assert meta["id"] == path.stem
        closing = text.index("\n---\n", 3) + len("\n---\n")
        assert body.strip() == text[closing:].strip(), path.name
        assert "\nid:" not in body[:200]


@pytest.mark.parametrize("text, meta, body", [
    ("---\nid: nato\ntitle: NATO\n---\n# NATO\n\nText.\n", {"id": "nato", "title": "NATO"}, "# NATO\n\nText.\n"),
    ("---  \nid: a\n---\t\nbody\n", {"id": "a"}, "body\n"),  # spaces after the delimiters
    ("# Title\n\nno front matter\n", {}, "# Title\n\nno front matter\n"),
    ("---\nid: a\nno closing line\n", {}, "---\nid: a\nno closing line\n"),  # not front matter
    ("---\n\n---\nbody\n", {}, "body\n"),  # empty front matter
    ("Intro\n\n---\n\nA rule, not front matter\n\n---\n", {}, "Intro\n\n---\n\nA rule, not front matter\n\n---\n"),
    ("{\"id\": \"json\"}\nbody\n", {}, "{\"id\": \"json\"}\nbody\n"),  # only YAML front matter is read
])
def test_split_front_matter(text, meta, body):
    assert loaders.split_front_matter(text) == (meta, body)


def test_split_front_matter_keeps_yaml_types():
    meta, _ = loaders.split_front_matter("---\nadopted: 2001-11-23\ntopics: [a, b]\n---\nx\n")
    assert str(meta["adopted"]) == "2001-11-23" and meta["topics"] == ["a", "b"]


@pytest.mark.parametrize("text, reason", [
    ("---\nid: [unclosed\n---\nbody\n", "malformed front matter: "),
    ("---\n- a\n- b\n---\nbody\n", "malformed front matter: not a key/value mapping"),
])
def test_malformed_front_matter_is_a_bad_document(text, reason):
    with pytest.raises(BadDocument, match=re.escape(reason)):
        loaders.split_front_matter(text)


def test_markdown_sections_follow_the_heading_chain_below_the_title():
    title, sections = loaders.markdown_sections(
        "# The Pact\n\nPreamble.\n\n## Part I\n\n### Article 1\n\nText one.\n\n```\n# not a heading\n```\n\n"
        "### Article 2\n\nText two.\n\n## Part II\n\nText three.\n")
    assert title == "The Pact"
    assert [(s.path, s.text) for s in sections] == [
        ([], "Preamble."),
        (["Part I", "Article 1"], "Text one.\n\n```\n# not a heading\n```"),
        (["Part I", "Article 2"], "Text two."),
        (["Part II"], "Text three."),
    ]


def test_read_text_decodes_utf8_utf16_and_latin1(tmp_path):
    text = "Prüm décision – Article 1\n"
    (tmp_path / "u8.txt").write_bytes(text.encode("utf-8-sig"))
    (tmp_path / "u16.txt").write_bytes(text.encode("utf-16"))
    (tmp_path / "l1.txt").write_bytes("Prüm décision\r\n".encode("latin-1"))
    assert loaders.read_text(tmp_path / "u8.txt") == text
    assert loaders.read_text(tmp_path / "u16.txt") == text
    assert loaders.read_text(tmp_path / "l1.txt") == "Prüm décision\n"
    (tmp_path / "bin.txt").write_bytes(b"abc\x00def")
    with pytest.raises(BadDocument, match="binary content"):
        loaders.read_text(tmp_path / "bin.txt")


def test_a_markdown_file_without_front_matter_gets_metadata_from_the_file(tmp_path):
    path = tmp_path / "My Notes (draft).md"
    path.write_text("# Border notes\n\nsource: https://example.org/notes\n\nSome text.\n", encoding="utf-8")
    doc = loaders.load(path)
    assert doc.meta["id"] == "my-notes-draft" and doc.meta["title"] == "Border notes"
    assert doc.meta["type"] == "document" and doc.meta["issuer"] == "" and doc.meta["url"] == "https://example.org/notes"


def test_front_matter_is_normalised(tmp_path):
    path = tmp_path / "x.md"
    path.write_text("---\nid: x-pact\ntitle: X\ntopics: Border Security, EU\naliases: XP, the X pact\n"
                    "adopted: 2001-02-03\n---\n# X\n\nText.\n", encoding="utf-8")
    meta = loaders.load(path).meta
    assert meta["topics"] == ["border-security", "eu"] and meta["aliases"] == ["XP", "the X pact"]
    assert meta["adopted"] == "2001-02-03" and meta["reviewed"] == ""
    path.write_text("---\nid: Not A Slug\n---\nText.\n", encoding="utf-8")
    with pytest.raises(BadDocument, match="not lowercase-hyphenated"):
        loaders.load(path)


def test_an_upload_cannot_claim_an_official_source(tmp_path):
    meta = loaders.as_upload({"id": "nato-treaty", "title": "T", "issuer": "NATO", "type": "treaty",
                              "url": "https://nato.int", "adopted": "1949-04-04", "reviewed": "2026-01-01",
                              "aliases": ["NAT"], "topics": ["nato"], "summary": "s"}, tmp_path / "My File.md")
    assert meta["id"] == "upload-my-file" and meta["issuer"] == meta["type"] == "upload"
    assert meta["url"] == "upload:My File.md" and meta["adopted"] == meta["reviewed"] == "" and meta["aliases"] == []
    assert meta["title"] == "T" and meta["topics"] == ["nato"]


def test_unsupported_and_empty_files_are_bad_documents(tmp_path):
    (tmp_path / "a.xyz").write_text("x", encoding="utf-8")
    (tmp_path / "empty.md").write_text("", encoding="utf-8")
    with pytest.raises(BadDocument, match="unsupported file type .xyz"):
        loaders.load(tmp_path / "a.xyz")
    with pytest.raises(BadDocument, match="no text found"):
        loaders.load(tmp_path / "empty.md")
