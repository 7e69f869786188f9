"""Unit tests of assistant/store.py that need no model: the Chroma URL, metadata filters, the
manifest check, and the store's process-wide state."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from assistant import store
from assistant.errors import BadInput
from assistant.settings import Settings

BIN = Path(sys.executable).parent / "assistant"


@pytest.mark.parametrize("url, expected", [
    ("http://127.0.0.1:8000", ("127.0.0.1", 8000, False)),
    ("http://localhost", ("localhost", 8000, False)),  # Chroma's default port
    ("http://localhost/", ("localhost", 8000, False)),
    ("https://chroma.example.org:8443/", ("chroma.example.org", 8443, True)),
    ("http://[::1]:9000", ("[::1]", 9000, False)),  # IPv6, bracketed for chromadb's HttpClient
])
def test_parse_chroma_url(url, expected):
    assert store.parse_chroma_url(url) == expected


@pytest.mark.parametrize("url, why", [
    ("localhost:8000", "no http:// or https:// in front"),
    ("127.0.0.1:8000", "no http:// or https:// in front"),
    ("", "no http:// or https:// in front"),
    ("ftp://host:8000", "the scheme ftp:// is not http:// or https://"),
    ("http://:8000", "no host"),
    ("http://host:80x", "port could not be cast to integer"),
    ("http://host:99999", "port out of range"),
    ("http://host:0", "port 0"),
    ("http://host:8000/api/v2", "a path, query or fragment after the port"),
    ("http://host:8000?tenant=a", "a path, query or fragment after the port"),
])
def test_a_bad_chroma_url_is_one_line_saying_what_is_wrong(url, why):
    with pytest.raises(BadInput) as info:
        store.parse_chroma_url(url)
    message = str(info.value)
    assert message.startswith("ASSISTANT_CHROMA_URL must look like http://host:port, got ")
    assert repr(url) in message and why in message
    assert "\n" not in message


def test_a_chroma_url_with_credentials_does_not_echo_them():
    with pytest.raises(BadInput) as info:
        store.parse_chroma_url("http://admin:s3cret@host:8000")
    assert "credentials" in str(info.value) and "s3cret" not in str(info.value)


def test_make_client_refuses_a_bad_url_before_any_connection(monkeypatch):
    monkeypatch.setattr(store, "_probe_server", lambda settings: pytest.fail("probed a bad URL"))
    with pytest.raises(BadInput, match="no http:// or https:// in front"):
        store.make_client(Settings(chroma_url="localhost:8000"))
    assert "localhost:8000" not in store._clients


@pytest.mark.integration
def test_cli_with_a_bad_chroma_url_exits_2_with_one_line(tmp_path):
    env = {**os.environ, "ASSISTANT_CHROMA_URL": "chroma.internal:8000"}
    out = subprocess.run([str(BIN), "--index", str(tmp_path / "idx"), "stats"], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "ASSISTANT_CHROMA_URL must look like http://host:port" in lines[0]
    assert "no http:// or https:// in front" in lines[0] and "Traceback" not in out.stderr


def test_filters_are_validated_then_translated_to_a_chroma_where_clause():
    filters = store.validate_filters({"doc_id": "nato-treaty", "topic": ["cybercrime", "eu", "cybercrime"],
                                      "type": ["treaty"]})
    assert filters == {"doc_id": "nato-treaty", "topic": ("cybercrime", "eu"), "type": "treaty"}
    assert store.chroma_where(filters) == {"$and": [
        {"doc_id": "nato-treaty"},
        {"$or": [{"topic_cybercrime": True}, {"topic_eu": True}]},
        {"type": "treaty"},
    ]}
    assert store.chroma_where(store.validate_filters({"issuer": ["EU", "UN"]})) == {"issuer": {"$in": ["EU", "UN"]}}
    assert store.chroma_where(store.validate_filters({"topic": "nato"})) == {"topic_nato": True}
    assert store.chroma_where(store.validate_filters(None)) is None


@pytest.mark.parametrize("filters, message", [
    ({"$or": "x"}, "allowed keys: doc_id, issuer, type, topic"),
    ({"topic": {"$ne": ""}}, "plain text value"),
    ({"doc_id": ["a", "b"]}, "plain text value"),
    ({"issuer": []}, "1 to 50 plain text values"),
    ({"type": "treaty; DROP"}, "plain text value"),
    (["topic"], "filters must be a dict"),
])
def test_filters_that_could_become_operators_are_refused(filters, message):
    with pytest.raises(BadInput, match=re.escape(message)):
        store.validate_filters(filters)


@pytest.mark.parametrize("data, problem", [
    ({"files": {}}, None),
    ({"files": {"a.md": {"sha1": "x", "doc_id": "a", "chunks": ["a:1"], "aliases": ["A"]}}}, None),
    ([], "a JSON list, not an object"),
    (None, "a JSON null, not an object"),
    ({"files": []}, '"files" is not an object'),
    ({"files": {"a.md": {"sha1": "x", "doc_id": "a"}}}, "the entry for 'a.md' is malformed"),
    ({"files": {"a.md": {"sha1": "x", "doc_id": "a", "chunks": [1]}}}, "the entry for 'a.md' is malformed"),
])
def test_manifest_problem_names_what_is_wrong(data, problem):
    assert store.manifest_problem(data) == problem


def test_atomic_write_json_replaces_the_file_whole(tmp_path):
    import json

    target = tmp_path / "sub" / "manifest.json"
    store.atomic_write_json(target, {"files": {"a": 1}})
    store.atomic_write_json(target, {"files": {"b": 2}})
    assert json.loads(target.read_text(encoding="utf-8")) == {"files": {"b": 2}}
    assert [p.name for p in target.parent.iterdir()] == ["manifest.json"]  # no temp file left
