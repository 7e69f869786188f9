"""The lexical index updates file by file: a changed file adds one segment and marks its old
chunks deleted; the big segment is not rewritten; scores stay those of an index built whole."""
from __future__ import annotations

import pytest

from assistant import Assistant
from assistant.chunking import embed_text
from assistant.lexical import LexicalIndex, tokenize

pytestmark = pytest.mark.integration  # real indexes built with the real model


def _whole(index) -> LexicalIndex:
    got = index.collection.get(include=["documents", "metadatas"])
    return LexicalIndex.build(got["ids"], [embed_text(t, m) for t, m in zip(got["documents"], got["metadatas"])],
                              got["metadatas"])


def _scores(lex: LexicalIndex, query: str) -> dict[str, float]:
    scores = lex.get_scores(tokenize(query))
    return {cid: float(scores[i]) for i, cid in enumerate(lex.slot_ids) if lex.alive[i]}


def test_changed_file_updates_only_its_chunks(tmp_path, docs_dir):
    folder = docs_dir
    bot = Assistant(index_dir=tmp_path / "idx")
    assert bot.ingest([folder]).ok
    index = bot.index()
    first = LexicalIndex.load(index.lexical_dir)
    assert first is not None and len(first.segments) == 1
    base = first.segments[0].name
    base_files = {p.name: p.stat().st_mtime_ns for p in index.lexical_dir.glob(f"{base}.*")}

    target = sorted(folder.glob("*.md"))[0]
    target.write_text(target.read_text(encoding="utf-8") + "\n\nThe zanzibarite protocol governs liaison.\n",
                      encoding="utf-8")
    report = bot.ingest([folder])
    assert report.ok and report.updated == [str(target.resolve())]
    lex = LexicalIndex.load(index.lexical_dir)
    assert lex is not None
    assert [s.name for s in lex.segments][0] == base and len(lex.segments) == 2  # the old segment stays
    assert {p.name: p.stat().st_mtime_ns for p in index.lexical_dir.glob(f"{base}.*")} == base_files
    assert not lex.whole  # the file's old chunks are marked deleted in the base segment
    whole = _whole(index)
    assert sorted(lex.ids) == sorted(whole.ids) == sorted(index.collection.get(include=[])["ids"])
    for query in ("zanzibarite protocol", "withdraw notice six months", "preservation of data"):
        assert _scores(lex, query) == _scores(whole, query), query
    hits = bot.index().lexical().search("zanzibarite", 3)
    assert hits and hits[0][0].startswith(bot.index().load_manifest()["files"][str(target.resolve())]["doc_id"])

    # Removing the file removes its chunks from the lexical index too.
    target.unlink()
    assert bot.ingest([folder]).removed == [str(target.resolve())]
    assert not bot.index().lexical().search("zanzibarite", 3)
    assert sorted(bot.index().lexical().ids) == sorted(_whole(index).ids)


def test_merges_keep_scores(tmp_path, docs_dir, monkeypatch):
    """With a limit of 2 segments every update merges; the merged index still scores as a whole one."""
    monkeypatch.setenv("ASSISTANT_LEXICAL_MAX_SEGMENTS", "2")
    folder = docs_dir
    bot = Assistant(index_dir=tmp_path / "idx")
    assert bot.ingest([folder]).ok
    target = sorted(folder.glob("*.md"))[-1]
    for i in range(4):
        target.write_text(target.read_text(encoding="utf-8") + f"\n\nRevision {i} of the mutual assistance rules.\n",
                          encoding="utf-8")
        assert bot.ingest([folder]).ok
        lex = LexicalIndex.load(bot.index().lexical_dir)
        assert lex is not None and len(lex.segments) <= 2
        whole = _whole(bot.index())
        for query in ("mutual assistance revision", "six months notice"):
            assert _scores(lex, query) == _scores(whole, query), (i, query)


def test_removing_many_files_is_one_batch(tmp_path, monkeypatch):
    """Issue 18: removing thousands of files cost a delete and a manifest write each. Now the
    files gone from a scanned folder are removed in one batched delete and one manifest write."""
    from assistant.store import Index

    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(60):
        (folder / f"note-{i:03d}.md").write_text(f"# Note {i}\n\nLiaison note number {i} on border checks.\n",
                                                 encoding="utf-8")
    bot = Assistant(index_dir=tmp_path / "idx")
    assert len(bot.ingest([folder]).added) == 60
    for i in range(50):
        (folder / f"note-{i:03d}.md").unlink()
    calls = {"delete": 0, "save_manifest": 0}
    for name in calls:
        original = getattr(Index, name)

        def counted(self, *a, _name=name, _original=original, **kw):
            calls[_name] += 1
            return _original(self, *a, **kw)

        monkeypatch.setattr(Index, name, counted)
    report = bot.ingest([folder])
    assert len(report.removed) == 50 and len(report.unchanged) == 10
    assert calls == {"delete": 1, "save_manifest": 1}, calls  # one write for all the removals
    index = bot.index()
    left = {c for e in index.load_manifest()["files"].values() for c in e["chunks"]}
    assert set(index.collection.get(include=[])["ids"]) == left and len(left) >= 10
    assert set(index.lexical().ids) == left


def test_the_chunks_around_a_passage_are_found_locally_as_a_filtered_get_finds_them(tmp_path, docs_dir):
    """The answerer reads the chunks of a provision around a passage (same document and heading):
    they are found in the lexical index, not by a get filtered by document, heading and position
    (through a server at a million chunks, seconds per passage). After an update (a second segment,
    the file's old chunks dead in the first) they are exactly the chunks Chroma's filter finds."""
    paragraphs = [" ".join(f"Rule {i}.{j} of the Gamma rules governs the exchange of liaison officers."
                           for j in range(12)) for i in range(6)]
    gamma = docs_dir / "gamma.md"
    gamma.write_text("---\nid: gamma-rules\ntitle: The Gamma Rules\nissuer: Test Org\ntype: rules\n---\n\n"
                     "# The Gamma Rules\n\n## Article 3 – Liaison\n\n" + "\n\n".join(paragraphs)
                     + "\n\n## Article 4 – Notice\n\nNotice is given in writing.\n", encoding="utf-8")
    bot = Assistant(index_dir=tmp_path / "idx")
    assert bot.ingest([docs_dir]).ok
    gamma.write_text(gamma.read_text(encoding="utf-8") + "\nNotice takes effect after ninety days.\n", encoding="utf-8")
    assert bot.ingest([docs_dir]).ok
    index = bot.index()
    lex = index.lexical()
    assert len(lex.segments) == 2 and not lex.whole  # gamma's old chunks are dead slots of the first

    def filtered(doc_id: str, section: str, position: int, before: int, after: int) -> set[str]:
        """What Index.neighbours found before: a get filtered by document, heading and position."""
        same = [{"doc_id": doc_id}, {"section": section}]
        ids = index.collection.get(where={"$and": same + [{"position": {"$lte": position + after}}]}, include=[])["ids"]
        at = {cid: int(cid.rsplit(":", 2)[1]) for cid in ids}
        first = min(at.values(), default=None)
        return {cid for cid, pos in at.items() if pos == first or pos >= position - before}

    got = index.collection.get(include=["metadatas", "documents"])
    sizes = []
    for cid, meta in zip(got["ids"], got["metadatas"]):
        position = int(cid.rsplit(":", 2)[1])
        for before, after in ((2, 1), (0, 0), (1, 3)):
            found = index.neighbour_ids(meta["doc_id"], meta["section"], position, before, after)
            assert len(found) == len(set(found))
            assert set(found) == filtered(meta["doc_id"], meta["section"], position, before, after), (cid, before, after)
            sizes.append(len(found))
    assert max(sizes) >= 4  # Article 3 is several chunks: some ranges hold more than one
    texts = dict(zip(got["ids"], got["documents"]))
    liaison = next(m for m in got["metadatas"] if m["section"].startswith("Article 3"))
    around = index.neighbours("gamma-rules", liaison["section"], 3, 1, 1)
    assert sorted(int(c.rsplit(":", 2)[1]) for c in around) == sorted(
        int(c.rsplit(":", 2)[1]) for c in filtered("gamma-rules", liaison["section"], 3, 1, 1))
    assert all(text == texts[cid] and meta["doc_id"] == "gamma-rules" for cid, (text, meta) in around.items())
    assert index.neighbour_ids("no-such-doc", liaison["section"], 3, 1, 1) == []
