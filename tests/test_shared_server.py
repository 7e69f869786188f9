"""Several clients on one Chroma server (a real `chroma run` process), each with its own index
folder: the manifest lives with the collection and the lexical index is derived from it, so a
client that never ingested answers, ingests of different folders coexist, the same folder from
two clients converges, and one client finds another's new document within a second."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import ChromaServer

BIN = Path(sys.executable).parent / "assistant"


@pytest.fixture
def chroma_url(tmp_path):
    with ChromaServer(tmp_path / "server-data", timeout=60) as server:
        yield server.url


def _cli(url: str, index: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ASSISTANT_CHROMA_URL": url}
    return subprocess.run([str(BIN), "--index", str(index), *args], capture_output=True, text=True, env=env,
                          timeout=600)


def _server_count(url: str) -> int:
    import chromadb

    port = int(url.rsplit(":", 1)[1])
    return chromadb.HttpClient(host="127.0.0.1", port=port).get_collection("policy").count()


GAMMA = ("---\nid: gamma-accord\ntitle: The Gamma Border Accord (2015)\nissuer: Third Org\ntype: agreement\n"
         "adopted: 2015-01-01\nurl: https://example.org/gamma\ntopics: [border-security]\n---\n\n"
         "# The Gamma Border Accord (2015)\n\n## Article 3 – Joint patrols\n\n"
         "Under the Gamma Accord the coast guards of the parties run joint quarantanium patrols along the "
         "shared maritime frontier and hand over intercepted smugglers to the state of landing.\n")


@pytest.mark.server
def test_two_clients_share_one_server_without_losing_data(chroma_url, tmp_path, docs_dir, monkeypatch):
    from assistant import Assistant

    monkeypatch.setenv("ASSISTANT_CHROMA_URL", chroma_url)
    # Client A ingests docs_dir (two documents).
    a = Assistant(index_dir=tmp_path / "A")
    assert a.ingest([docs_dir]).ok
    count_a = _server_count(chroma_url)
    assert count_a >= 3
    assert not (tmp_path / "A" / "manifest.json").exists()  # the manifest lives with the collection

    # Client B (another process, another folder) never ingested: it answers from the server.
    asked = _cli(chroma_url, tmp_path / "B", "ask", "How much notice must a party give to withdraw from the Alpha Pact?",
                 "--json")
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert "six months" in answer["text"] and answer["citations"][0]["doc_id"] == "alpha-pact"
    stats = json.loads(_cli(chroma_url, tmp_path / "B", "stats", "--json").stdout)
    assert stats["documents"] == 2 and stats["chunks"] == count_a and "problem" not in stats

    # A asks first (its lexical index is warm), then B ingests a different folder.
    a.ask("Which coast guards run joint patrols under the Gamma Accord?")
    lex_before = a.index().lexical()
    assert not lex_before.search("quarantanium", 3)
    other = tmp_path / "other"
    other.mkdir()
    (other / "gamma.md").write_text(GAMMA, encoding="utf-8")
    ingest_b = _cli(chroma_url, tmp_path / "B", "ingest", str(other))
    done = time.monotonic()
    assert ingest_b.returncode == 0 and "added 1" in ingest_b.stdout, ingest_b.stdout + ingest_b.stderr
    # Both folders stay whole on the server: nothing of A's was deleted by B's ingest or repair.
    manifest = a.index().load_manifest()
    assert set(manifest["files"]) == {str(p.resolve()) for p in [*docs_dir.glob("*.md"), other / "gamma.md"]}
    assert _server_count(chroma_url) == count_a + len(manifest["files"][str((other / "gamma.md").resolve())]["chunks"])

    # A finds B's new document by an exact term (lexical) and by meaning (dense) within a second.
    index = a.index()
    lexical_hit = dense_hit = None
    qvec = a.embeddings.embed_query("maritime border patrols by coast guards handing over smugglers")
    while time.monotonic() - done < 1.0 and not (lexical_hit and dense_hit):
        hits = index.lexical().search("quarantanium", 3)
        lexical_hit = lexical_hit or (hits and hits[0][0].startswith("gamma-accord"))
        dense = index.dense(qvec, 3, {})
        dense_hit = dense_hit or (dense and dense[0][0].startswith("gamma-accord"))
        time.sleep(0.05)
    assert lexical_hit and dense_hit, (lexical_hit, dense_hit, time.monotonic() - done)
    print(f"found B's document {time.monotonic() - done:.2f} s after its ingest ended")
    answer = a.ask("Who runs joint quarantanium patrols under the Gamma Border Accord?")
    assert not answer.abstained and answer.citations[0].doc_id == "gamma-accord"
    # A still answers its own questions.
    assert "six months" in a.ask("How much notice must a party give to withdraw from the Alpha Pact?").text

    # The same folder from the other client converges: nothing to do, nothing duplicated.
    again = _cli(chroma_url, tmp_path / "B", "ingest", str(docs_dir))
    assert again.returncode == 0 and "unchanged 2" in again.stdout and "removed 0" in again.stdout, again.stdout
    total = _server_count(chroma_url)
    assert total == count_a + len(manifest["files"][str((other / "gamma.md").resolve())]["chunks"])
    # B changes one of A's files (the same folder): A's lexical index follows, and the old text is gone.
    alpha = docs_dir / "alpha.md"
    alpha.write_text(alpha.read_text(encoding="utf-8").replace("six months'", "nine months'"), encoding="utf-8")
    changed = _cli(chroma_url, tmp_path / "B", "ingest", str(docs_dir))
    assert changed.returncode == 0 and "updated 1" in changed.stdout, changed.stdout + changed.stderr
    assert _server_count(chroma_url) == total
    time.sleep(0.3)
    assert a.index().lexical().search("nine", 3) and sorted(a.index().lexical().ids) == sorted(
        c for e in a.index().load_manifest()["files"].values() for c in e["chunks"])
    # A's own later ingest of its folder finds nothing to do (B's update is its update too).
    report = a.ingest([docs_dir])
    assert report.ok and len(report.unchanged) == 2 and not report.removed, report
    # Removing a file from one folder removes only that file's chunks.
    (other / "gamma.md").unlink()
    gone = _cli(chroma_url, tmp_path / "B", "ingest", str(other))
    assert gone.returncode == 0 and "removed 1" in gone.stdout, gone.stdout
    assert _server_count(chroma_url) == count_a
    time.sleep(0.3)
    assert not a.index().lexical().search("quarantanium", 3)
    assert len(a.index().lexical()) == count_a
