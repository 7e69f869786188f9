"""The same assistant against a real Chroma server process (ASSISTANT_CHROMA_URL)."""
from __future__ import annotations

import pytest
from support import ChromaServer


@pytest.fixture
def chroma_server(tmp_path):
    with ChromaServer(tmp_path / "server-data", timeout=60) as server:
        yield server.url


@pytest.mark.server
def test_ingest_and_ask_through_chroma_server(chroma_server, tmp_path, docs_dir, monkeypatch):
    from assistant import Assistant

    monkeypatch.setenv("ASSISTANT_CHROMA_URL", chroma_server)
    bot = Assistant(index_dir=tmp_path / "idx")
    report = bot.ingest([docs_dir])
    assert report.ok and len(report.added) == 2
    assert not (tmp_path / "idx" / "chroma").exists()  # vectors live in the server, not on disk here
    stats = bot.stats()
    assert stats["store"] == "chroma-server" and stats["chunks"] >= 3

    import chromadb

    host, port = chroma_server.rsplit(":", 1)
    direct = chromadb.HttpClient(host="127.0.0.1", port=int(port)).get_collection("policy")
    assert direct.count() == stats["chunks"]

    answer = bot.ask("How much notice must a party give to withdraw from the Alpha Pact?")
    assert not answer.abstained and answer.citations[0].doc_id == "alpha-pact"
    assert "six months" in answer.text
    hits = bot.retrieve("preservation of data", k=3, filters={"topic": "cybercrime"})
    assert hits and {h.doc_id for h in hits} == {"beta-code"}
