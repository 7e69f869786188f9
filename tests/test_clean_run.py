"""The ingest's two shortcuts for an index a clean run left (issue 17): the store's id list is
skipped when the previous run ended cleanly (``clean.json``, :meth:`assistant.store.Index.known_clean`),
and an unchanged file is not read again when its stat is as cached (``file-hashes.json``,
:class:`assistant.ingest.HashCache`). Both must fall back to the full work whenever the shortcut
could be wrong: a run killed after its first write, a store or manifest changed behind its back,
a file whose content changed with its size and mtime forced back."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assistant import ingest as ingest_mod
from assistant.ingest import HashCache, ingest
from assistant.lexical import LexicalIndex
from assistant.settings import Settings
from assistant.store import CLEAN_FILE, Index, forget_clients
from conftest import CORPUS
from support import HashEmbeddings

BIN = Path(sys.executable).parent / "assistant"
LATER_NS = 10 * 10**9  # hashing "10 s after the last write": the file is not racily clean


def _folder(tmp_path: Path, n: int = 4) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    picked = sorted((p for p in CORPUS.glob("*.md") if p.name != "SOURCES.md"), key=lambda p: p.stat().st_size)[:n]
    for p in picked:
        shutil.copy(p, folder / p.name)
    return folder


def _index(tmp_path: Path) -> Index:
    return Index(Settings(index_dir=tmp_path / "idx"), HashEmbeddings(), create=True)


def _consistent(index: Index) -> list[str]:
    """The store's ids, after checking they are exactly the ones the manifest lists (and the lexical index holds)."""
    ids = sorted(index.collection.get(include=[])["ids"])
    listed = sorted(c for e in index.load_manifest()["files"].values() for c in e["chunks"])
    assert ids == listed
    assert sorted(LexicalIndex.load(index.lexical_dir).ids) == ids
    return ids


def _count_id_lists(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = Index.all_ids
    monkeypatch.setattr(Index, "all_ids", lambda self: calls.append(1) or real(self))
    return calls


def _cleanly_ingested(tmp_path: Path, monkeypatch) -> tuple[Path, Index, list[str], list[int]]:
    """A folder ingested into a new index by a clean run: (folder, index, its consistent ids,
    the calls to ``Index.all_ids`` counted from then on)."""
    folder = _folder(tmp_path)
    index = _index(tmp_path)
    ingest(index, [folder])
    return folder, index, _consistent(index), _count_id_lists(monkeypatch)


# --- the clean-run record --------------------------------------------------------------------------
def test_after_a_clean_run_the_next_skips_the_id_list_and_stays_exact(tmp_path, monkeypatch):
    folder = _folder(tmp_path)
    index = _index(tmp_path)
    calls = _count_id_lists(monkeypatch)
    ingest(index, [folder])
    assert calls == [1]  # a new index: the full check
    assert (index.dir / CLEAN_FILE).exists()
    target = sorted(folder.glob("*.md"))[1]
    with target.open("a", encoding="utf-8") as fh:
        fh.write("\n\nA closing paragraph on the exchange of liaison officers between the parties.\n")
    report = ingest(Index(index.settings, index.embeddings), [folder])
    assert report.updated == [str(target.resolve())] and not report.notes
    assert calls == [1]  # the clean record stood: no id list
    _consistent(index)
    assert index.known_clean(index.load_manifest())
    # Nothing changed: nothing written, the record stays as it was.
    before = (index.dir / CLEAN_FILE).read_bytes()
    assert ingest(Index(index.settings, index.embeddings), [folder]).unchanged
    assert calls == [1] and (index.dir / CLEAN_FILE).read_bytes() == before


def test_any_write_through_the_index_removes_the_record_first(tmp_path):
    folder = _folder(tmp_path, 2)
    index = _index(tmp_path)
    ingest(index, [folder])
    record = index.dir / CLEAN_FILE
    some = index.collection.get(include=[], limit=1)["ids"]
    index.delete(some)
    assert not record.exists()
    assert not index.known_clean(index.load_manifest())


def test_a_store_changed_behind_the_manifests_back_gets_the_full_check(tmp_path, monkeypatch):
    folder, index, clean_ids, calls = _cleanly_ingested(tmp_path, monkeypatch)
    # Another program deletes a chunk from the collection directly: the record does not know.
    index.collection.delete(ids=[clean_ids[0]])
    assert (index.dir / CLEAN_FILE).exists()
    report = ingest(Index(index.settings, index.embeddings), [folder])
    assert calls == [1]  # the count no longer matched: full check
    assert any("chunks missing" in n for n in report.notes), report.notes
    assert _consistent(index) == clean_ids


def test_a_manifest_written_by_another_program_gets_the_full_check(tmp_path, monkeypatch):
    folder, index, clean_ids, calls = _cleanly_ingested(tmp_path, monkeypatch)
    # An older version (or a person) rewrites the manifest: the same content, a new file. And a
    # chunk it does not list is in the store with the same total count (one listed chunk gone).
    manifest = json.loads(index.manifest_path.read_text(encoding="utf-8"))
    path = sorted(manifest["files"])[0]
    dropped = manifest["files"][path]["chunks"].pop()
    manifest["files"][path]["chunks"].append("stale-id")
    index.manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    report = ingest(Index(index.settings, index.embeddings), [folder])
    assert calls == [1] and report.notes
    assert dropped in clean_ids and _consistent(index) == clean_ids


@pytest.mark.integration
def test_sigkill_between_the_first_store_write_and_the_manifest_write_leads_to_a_full_repair(tmp_path, monkeypatch):
    """A real `assistant ingest` process killed with SIGKILL right after it deleted and upserted
    a changed file's chunks, before it records the file in the manifest: it had removed the clean
    record before its first write, so the next run checks everything and ends exact."""
    folder = _folder(tmp_path)
    idx = tmp_path / "idx"
    ref = tmp_path / "ref"
    proc = subprocess.run([str(BIN), "--index", str(idx), "ingest", str(folder)], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert (idx / CLEAN_FILE).exists()
    manifest_before = (idx / "manifest.json").read_bytes()
    target = sorted(folder.glob("*.md"))[2]
    target.write_text(target.read_text(encoding="utf-8").replace(".", ". Indeed.", 3) + "\n\nA new last paragraph "
                      "on joint investigation teams and their legal basis.\n", encoding="utf-8")
    # The same command, killed by SIGKILL at the start of its first manifest write of the changed file.
    killer = ("import os, signal, sys\n"
              "from assistant import store\n"
              "def save_manifest(self, manifest):\n"
              "    os.kill(os.getpid(), signal.SIGKILL)\n"
              "store.Index.save_manifest = save_manifest\n"
              "from assistant.cli import main\n"
              "sys.argv = ['assistant', '--index', sys.argv[1], 'ingest', sys.argv[2]]\n"
              "main()\n")
    proc = subprocess.run([sys.executable, "-c", killer, str(idx), str(folder)], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert (idx / "manifest.json").read_bytes() == manifest_before  # killed before the manifest write
    assert not (idx / CLEAN_FILE).exists()  # ... and after the record was removed
    forget_clients()
    index = Index(Settings(index_dir=idx), HashEmbeddings())
    stored = set(index.collection.get(include=[])["ids"])
    listed = {c for e in index.load_manifest()["files"].values() for c in e["chunks"]}
    assert stored != listed  # the kill left the store and the manifest apart
    assert not index.known_clean(index.load_manifest())
    del index
    forget_clients()
    # The next run (a real process) repairs: it says so, and ends where a clean run from scratch ends.
    proc = subprocess.run([str(BIN), "--index", str(idx), "ingest", str(folder), "--json"], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["notes"], report
    assert (idx / CLEAN_FILE).exists()
    proc = subprocess.run([str(BIN), "--index", str(ref), "ingest", str(folder)], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    forget_clients()
    got, want = (Index(Settings(index_dir=d), HashEmbeddings()) for d in (idx, ref))
    assert _consistent(got) == _consistent(want)
    g = got.collection.get(include=["documents", "metadatas"])
    w = want.collection.get(include=["documents", "metadatas"])
    assert dict(zip(g["ids"], zip(g["documents"], g["metadatas"]))) == \
        dict(zip(w["ids"], zip(w["documents"], w["metadatas"])))
    forget_clients()


# --- the hash cache --------------------------------------------------------------------------------
def _cache(folder: Path) -> HashCache:
    cache = HashCache(folder)
    cache.clock = lambda: time.time_ns() + LATER_NS
    return cache


def _reads(monkeypatch) -> list[str]:
    read: list[str] = []
    real = ingest_mod.file_sha1
    monkeypatch.setattr(ingest_mod, "file_sha1", lambda path, *a: read.append(Path(path).name) or real(path, *a))
    return read


def test_an_unchanged_file_is_not_read_again_and_a_touched_one_is(tmp_path, monkeypatch):
    import hashlib

    doc = tmp_path / "a.md"
    doc.write_text("alpha beta gamma\n", encoding="utf-8")
    cache = _cache(tmp_path)
    read = _reads(monkeypatch)
    digest = cache.sha1(doc, None)
    assert digest == hashlib.sha1(doc.read_bytes()).hexdigest() and read == ["a.md"]
    cache.save([str(doc)])
    again = _cache(tmp_path)  # as the next run loads it
    assert again.sha1(doc, None) == digest and read == ["a.md"]  # from the cache
    os.utime(doc)  # touched, same content: read again, same digest
    assert again.sha1(doc, None) == digest and read == ["a.md", "a.md"]
    # Limits still apply to a cached file.
    from assistant.errors import BadDocument

    with pytest.raises(BadDocument, match="file too large"):
        again.sha1(doc, 4)


def test_content_changed_with_size_and_mtime_forced_back_is_seen(tmp_path):
    """The ctime (which no program can set back) and the inode are part of the key: git's choice."""
    doc = tmp_path / "a.md"
    doc.write_text("Article 5: an armed attack.\n", encoding="utf-8")
    old = doc.stat()
    cache = _cache(tmp_path)
    first = cache.sha1(doc, None)
    cache.save([str(doc)])
    time.sleep(0.01)  # the file system's clock moves on (its tick is a few milliseconds)
    doc.write_text("Article 6: an armed attack.\n", encoding="utf-8")  # same size, in place
    os.utime(doc, ns=(old.st_atime_ns, old.st_mtime_ns))  # mtime forced back
    assert (doc.stat().st_size, doc.stat().st_mtime_ns, doc.stat().st_ino) == (old.st_size, old.st_mtime_ns, old.st_ino)
    again = _cache(tmp_path)
    assert again.sha1(doc, None) != first
    # Replaced by a rename (as editors save), size and mtime as before: a new inode.
    cache = _cache(tmp_path)
    second = cache.sha1(doc, None)
    cache.save([str(doc)])
    other = tmp_path / "tmp.md"
    other.write_text("Article 7: an armed attack.\n", encoding="utf-8")
    os.utime(other, ns=(old.st_atime_ns, doc.stat().st_mtime_ns))
    os.replace(other, doc)
    assert _cache(tmp_path).sha1(doc, None) not in (first, second)


def test_a_file_hashed_in_the_tick_it_was_written_is_not_cached(tmp_path, monkeypatch):
    doc = tmp_path / "a.md"
    doc.write_text("fresh\n", encoding="utf-8")
    cache = HashCache(tmp_path)  # the real clock: the file was written just now
    cache.sha1(doc, None)
    cache.save([str(doc)])
    read = _reads(monkeypatch)
    HashCache(tmp_path).sha1(doc, None)
    assert read == ["a.md"]  # racily clean: read again


def test_ingest_reads_only_the_files_whose_stat_changed(tmp_path, monkeypatch):
    folder = _folder(tmp_path)
    index = _index(tmp_path)
    monkeypatch.setattr(HashCache, "RACY_NS", -LATER_NS)  # as if every file had been written long ago
    ingest(index, [folder])
    read = _reads(monkeypatch)
    target = sorted(folder.glob("*.md"))[0]
    with target.open("a", encoding="utf-8") as fh:
        fh.write("\n\nOne more sentence on mutual legal assistance.\n")
    report = ingest(Index(index.settings, index.embeddings), [folder])
    assert read == [target.name]
    assert report.updated == [str(target.resolve())] and len(report.unchanged) == 3
    # A damaged entry, then a damaged cache, are only a cache: the files are read, nothing else changes.
    data = json.loads((index.dir / HashCache.FILE).read_text(encoding="utf-8"))
    data["files"][str(target.resolve())] = 7
    (index.dir / HashCache.FILE).write_text(json.dumps(data), encoding="utf-8")
    read.clear()
    assert len(ingest(Index(index.settings, index.embeddings), [folder]).unchanged) == 4
    assert read == [target.name]
    (index.dir / HashCache.FILE).write_text("{not json", encoding="utf-8")
    read.clear()
    report = ingest(Index(index.settings, index.embeddings), [folder])
    assert sorted(read) == sorted(p.name for p in folder.glob("*.md")) and len(report.unchanged) == 4
