"""Hostile files and damaged indexes (issue 18): what an attack on a copy of the index found.

Every test runs the real components: real files, a real embedded Chroma (or a real Chroma server)
in a temp folder, the real model and real `assistant` subprocesses. Each finding of the issue has
its own test, written to fail before its fix.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from assistant import Assistant
from assistant.types import Answer

BIN = Path(sys.executable).parent / "assistant"


def cli(*args: str, timeout: int = 600, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, timeout=timeout, **kw)


def chunk_ids(bot: Assistant) -> set[str]:
    return set(bot.index().collection.get(include=[])["ids"])


GAMMA = ("---\nid: gamma-note\ntitle: The Gamma Note on Maritime Patrols\ntype: brief\n---\n\n"
         "# The Gamma Note on Maritime Patrols\n\n## Patrols\n\n"
         "The Gamma note covers joint maritime patrols in the northern sea lanes.\n")


# --- damaged manifest: repair never deletes what it cannot account for -------------------------

MANIFEST_DAMAGE = {
    "missing": None,
    "garbage": "{not json",
    "list": "[]",
    "null": "null",
    "files-is-a-list": '{"files": []}',
    "entry-not-a-dict": '{"files": {"/x/a.md": 1}}',
    "entry-without-chunks": '{"files": {"/x/a.md": {"sha1": "0", "doc_id": "a"}}}',
}


@pytest.mark.parametrize("damage", list(MANIFEST_DAMAGE), ids=list(MANIFEST_DAMAGE))
def test_damaged_manifest_then_one_file_ingest_keeps_the_index(tmp_path, docs_dir, damage):
    """A corrupt, missing or wrong-shaped manifest followed by an ingest of one other file used to
    delete every chunk (repair took them all for orphans) with "removed 0, chunks +1/-0"; a
    wrong-shaped one blocked every ingest with AttributeError/KeyError. Now the manifest is
    rebuilt from the chunks' own metadata, nothing is deleted, and the report says so."""
    idx = tmp_path / "idx"
    bot = Assistant(index_dir=idx)
    assert bot.ingest([docs_dir]).ok
    before = chunk_ids(bot)
    manifest = idx / "manifest.json"
    if MANIFEST_DAMAGE[damage] is None:
        manifest.unlink()
    else:
        manifest.write_text(MANIFEST_DAMAGE[damage], encoding="utf-8")

    other = tmp_path / "other"
    other.mkdir()
    (other / "gamma.md").write_text(GAMMA, encoding="utf-8")
    bot = Assistant(index_dir=idx)  # a fresh process's view
    report = bot.ingest([other / "gamma.md"])
    assert report.ok, report.failed
    assert [Path(p).name for p in report.added] == ["gamma.md"]
    assert report.chunks_removed == 0 and report.removed == []
    assert any("manifest" in n and "rebuilt" in n for n in report.notes), report.notes
    after = chunk_ids(bot)
    assert before < after  # nothing lost, gamma added
    files = bot.index().load_manifest()["files"]
    assert {Path(p).name for p in files} == {"alpha.md", "beta.md", "gamma.md"}
    assert set().union(*(set(e["chunks"]) for e in files.values())) == after
    assert bot.retrieve("help any other party that suffers an armed attack", k=1)[0].doc_id == "alpha-pact"
    assert not bot.ask("How long can data be preserved under the Beta Code?").abstained

    # The folder again, from another process: its files are read once more (their hashes were
    # unknown) and keep their stored vectors; nothing is deleted or re-embedded.
    out = cli("--index", str(idx), "ingest", "--json", str(docs_dir))
    again = json.loads(out.stdout)
    assert out.returncode == 0 and again["chunks_removed"] == 0 and again["chunks_embedded"] == 0, out.stdout
    assert chunk_ids(bot) == after
    assert bot.ingest([docs_dir, other]).unchanged and bot.ingest([docs_dir, other]).added == []


def test_cli_ingest_after_manifest_loss_says_so_and_keeps_everything(tmp_path, docs_dir):
    idx = tmp_path / "idx"
    assert cli("--index", str(idx), "ingest", str(docs_dir)).returncode == 0
    (idx / "manifest.json").write_text("[]", encoding="utf-8")
    (tmp_path / "gamma.md").write_text(GAMMA, encoding="utf-8")
    out = cli("--index", str(idx), "ingest", str(tmp_path / "gamma.md"))
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr and "rebuilt" in out.stderr
    assert "added 1" in out.stdout and "-0" in out.stdout
    stats = json.loads(cli("--index", str(idx), "stats", "--json").stdout)
    assert stats["documents"] == 3


def test_every_deletion_a_repair_makes_is_counted(tmp_path, docs_dir):
    """Chunks no manifest entry lists (a run killed before it recorded its file) belong to the
    file their metadata names; when that file is gone, they are removed like any deleted file:
    named in ``removed`` and counted in ``chunks_removed`` (they used to vanish uncounted)."""
    idx = tmp_path / "idx"
    bot = Assistant(index_dir=idx)
    assert bot.ingest([docs_dir]).ok
    index = bot.index()
    clean = chunk_ids(bot)
    gone = docs_dir / "gone.md"  # never on disk now: its run was killed, then it was deleted
    got = index.get(sorted(clean)[:2], embeddings=True)
    ids = [f"gone-note:{i:04d}:0123456789" for i in range(2)]
    index.upsert(ids, [t for t, _, _ in got.values()],
                 [{**m, "doc_id": "gone-note", "source": str(gone)} for _, m, _ in got.values()],
                 __import__("numpy").asarray([v for _, _, v in got.values()], dtype="float32"))
    report = bot.ingest([docs_dir])
    assert report.removed == [str(gone)] and report.chunks_removed == 2
    assert chunk_ids(bot) == clean
    assert "removed 1" in report.summary() and "-2" in report.summary()


def test_wrong_bm25_params_are_rebuilt_not_a_type_error(tmp_path, docs_dir):
    """A valid JSON BM25 params file with wrong values used to break every question (TypeError)
    while ingest called everything unchanged and left it so."""
    idx = tmp_path / "idx"
    bot = Assistant(index_dir=idx)
    assert bot.ingest([docs_dir]).ok
    params = idx / "lexical" / "bm25" / "params.index.json"
    assert params.exists()
    good = json.loads(params.read_text(encoding="utf-8"))
    params.write_text(json.dumps({**good, "k1": "x", "b": [], "num_docs": "many"}), encoding="utf-8")
    fresh = Assistant(index_dir=idx)
    answer = fresh.ask("How long can data be preserved under the Beta Code?")
    assert isinstance(answer, Answer) and not answer.abstained
    report = fresh.ingest([docs_dir])
    assert report.ok and len(report.unchanged) == 2
    assert isinstance(json.loads(params.read_text(encoding="utf-8"))["k1"], float)
    out = cli("--index", str(idx), "ask", "How long can data be preserved under the Beta Code?")
    assert out.returncode == 0 and "Traceback" not in out.stderr
