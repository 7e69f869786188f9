"""Incremental ingestion: scan → parse → chunk → embed → write, as a three-stage pipeline.

A parser thread reads and chunks new or changed files in order; the calling thread embeds them in
groups of files (64 chunks, then up to 128); a writer thread stores each group while the
next is embedded. A chunk of a changed (or moved) file whose title, section and text are those of
one of the file's stored chunks keeps that chunk's vector: an edited paragraph costs its own
chunks, not the whole file's. Order of writes per group: delete the files' old chunks, upsert the new ones in
one call, then record the files in the manifest (atomically). A run killed at any point leaves
either the old or the new state of each file, or a state the consistency check at the start of
the next run repairs: it deletes orphan chunks and re-ingests files whose chunks are missing.
The lexical index is then brought in line with the manifest, re-indexing only the files whose
entries changed (:meth:`assistant.store.Index.sync_lexical`); it commits atomically, so killed
at any point it holds its previous state, which the next run's sync catches up.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import stat
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pathspec
from filelock import FileLock, Timeout

from .chunking import Chunk, chunk_document, embed_text
from .errors import BadDocument, IndexBusy, StoreUnavailable
from .loaders import DEFAULT_MAX_FILE_BYTES, SUPPORTED, Budget, as_upload, load, open_regular, special_kind
from .store import Index, atomic_write_json, is_read_only
from .types import IngestReport

IGNORE_FILE = ".assistantignore"
UPLOAD_LABELS = 1  # version of the upload metadata rules (loaders.as_upload) an upload index was built with
MAX_FILE_BYTES = DEFAULT_MAX_FILE_BYTES  # the default of Settings.max_file_bytes
Progress = Callable[[str, int, int], None]
FIRST_GROUP = 64  # chunks embedded and written together: small first, so the writer starts early,
MAX_GROUP = 128  # then up to this: few Chroma calls (each has a fixed cost), a short last write


@dataclass
class _Pending:
    path: str
    sha1: str
    chunks: list[Chunk]
    doc_id: str
    title: str
    is_new: bool
    replaces: str | None = None  # a manifest path with the same doc id whose file is gone (moved)
    aliases: tuple[str, ...] = ()  # the names front matter gives the document


def parse_file(path: Path, settings, upload: bool = False) -> tuple[str, str, tuple[str, ...], list[Chunk]] | str:
    """Load and chunk one file within the extraction budgets: (doc id, title, aliases, chunks),
    or the reason it cannot be read. An upload's metadata says so, whatever it claims (:func:`as_upload`)."""
    try:
        doc = load(path, Budget.from_settings(settings))
        if upload:
            doc.meta = as_upload(doc.meta, path)
        chunks = chunk_document(doc, str(path), settings.chunk_max_words, settings.chunk_overlap_sentences,
                                settings.max_file_chunks)
    except BadDocument as exc:
        return str(exc)
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    return doc.meta["id"], doc.meta["title"], tuple(doc.meta.get("aliases") or ()), chunks


def _previous_chunks(manifest: dict, p: _Pending) -> set[str]:
    """The chunk ids the manifest lists for this file, and for the moved file it replaces."""
    return {cid for path in (p.path, p.replaces) if path for cid in manifest["files"].get(path, {}).get("chunks", [])}


def _write_group(index: Index, manifest: dict, report: IngestReport, group: list[_Pending],
                 vectors: np.ndarray, written: dict[str, tuple[str, dict]]) -> None:
    """Store a group of files: delete their stale chunks, upsert the new ones in one call, then
    record them in the manifest (atomically). Killed in between, the next run's repair sees
    manifest entries whose chunks are missing, or chunks no entry owns, and fixes both."""
    old = {p.path: _previous_chunks(manifest, p) for p in group}
    index.delete(sorted(set().union(*(old[p.path] - {c.chunk_id for c in p.chunks} for p in group))))
    chunks = [c for p in group for c in p.chunks]
    index.upsert([c.chunk_id for c in chunks], [c.text for c in chunks], [c.metadata for c in chunks], vectors)
    for p in group:
        new_ids = [c.chunk_id for c in p.chunks]
        old_ids = old[p.path]
        manifest["files"][p.path] = {"sha1": p.sha1, "doc_id": p.doc_id, "title": p.title,
                                     "aliases": list(p.aliases), "chunks": new_ids}
        if p.replaces:
            manifest["files"].pop(p.replaces)
            report.removed.append(p.replaces)
        (report.added if p.is_new else report.updated).append(p.path)
        report.chunks_added += len(set(new_ids) - old_ids)
        report.chunks_removed += len(old_ids - set(new_ids))
    written.update((c.chunk_id, (c.text, c.metadata)) for c in chunks)
    index.save_manifest(manifest)


def _stored_vectors(index: Index, manifest: dict, group: list[_Pending]) -> dict[str, np.ndarray]:
    """The vectors of the group's files' previous chunks (and of the moved files they replace),
    keyed by the text they were computed from."""
    old_ids = sorted(set().union(*(_previous_chunks(manifest, p) for p in group)))
    if not old_ids:
        return {}
    from chromadb.errors import InternalError

    try:
        stored = index.get(old_ids, embeddings=True, reembed=False)
    except InternalError:  # vectors another process wrote after this one opened the store
        return {}  # (see Index.get): nothing to reuse, the group is simply encoded
    return {embed_text(text, meta): np.asarray(vec, dtype=np.float32)
            for text, meta, vec in stored.values() if vec is not None}


def _embed(index: Index, texts: list[str], stored: dict[str, np.ndarray],
           tick: Callable[[int], None]) -> tuple[np.ndarray, int]:
    """Vectors for ``texts``: the stored one where the very same text has one, else encoded;
    and how many were encoded."""
    vectors = np.zeros((len(texts), index.embeddings.dimension), dtype=np.float32)
    todo = []
    for i, text in enumerate(texts):
        if text in stored:
            vectors[i] = stored[text]
        else:
            todo.append(i)
    if todo:
        vectors[todo] = index.embeddings.encode([texts[i] for i in todo], progress=tick)
    if len(texts) > len(todo):
        tick(len(texts) - len(todo))
    return vectors, len(todo)


def file_sha1(path: Path, max_bytes: int | None = None, stats: list | None = None) -> str:
    """The file's SHA-1, read as a stream from a regular file of at most ``max_bytes`` bytes
    (:func:`open_regular`: a FIFO or a file above the limit raises :class:`BadDocument`).
    ``stats``: the stat of the file read is appended to it (None when it changed while read)."""
    with open_regular(path, max_bytes) as fh:
        before = os.fstat(fh.fileno())
        digest = hashlib.file_digest(fh, "sha1").hexdigest()
        after = os.fstat(fh.fileno())
    if stats is not None:
        stats.append(before if _stat_key(before) == _stat_key(after) else None)
    return digest


def _stat_key(st: os.stat_result) -> list[int]:
    """What git's index compares to tell a file unchanged without reading it: size, mtime and
    ctime in nanoseconds, inode and device. ctime cannot be set back by any program (``touch -d``,
    ``os.utime``, ``tar`` and ``rsync -t`` set mtime only), so a content change with size and
    mtime forced back is still seen; a file replaced by a rename (as editors save) has a new inode."""
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]


class HashCache:
    """``<index>/file-hashes.json``: per file path, the stat key (:func:`_stat_key`) and the SHA-1
    of the content it had, so that an unchanged file is not read again at every ingest (8,333
    files: ~0.2 s of hashing). A file whose stat key differs in any part is read and hashed.

    A "racily clean" file (git's term) is never cached: one whose mtime or ctime is within
    ``RACY_NS`` of the moment it was hashed, since a second write in the same tick of the file
    system's clock could leave every part of its stat as it was. Such a file is hashed again at
    the next ingest (and cached then). Only a cache: unreadable or missing, files are hashed."""

    FILE = "file-hashes.json"
    RACY_NS = 2_000_000_000  # file systems' timestamp ticks: ~4 ms (Linux), 1 s (ext3, HFS+), 2 s (FAT)

    def __init__(self, folder: Path) -> None:
        self.path = folder / self.FILE
        self.entries: dict[str, list] = {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and data.get("format") == 1 and isinstance(data.get("files"), dict):
                self.entries = data["files"]
        except (OSError, ValueError):
            pass
        self.changed = False
        self.clock = time.time_ns  # when a file is hashed (a test moves it on)

    def sha1(self, path: Path, max_bytes: int | None) -> str:
        """The SHA-1 of the regular file ``path`` (hashed unless its stat key is the cached one);
        raises as :func:`file_sha1` does."""
        key = str(path)
        cached = self.entries.get(key)
        if not (isinstance(cached, list) and len(cached) == 6 and isinstance(cached[-1], str)):
            cached = None  # (a damaged entry: the file is hashed)
        if cached is not None:
            try:
                st = os.stat(path)
            except OSError:
                st = None
            if st is not None and stat.S_ISREG(st.st_mode) and (max_bytes is None or st.st_size <= max_bytes) \
                    and cached[:-1] == _stat_key(st):
                return cached[-1]
        start = self.clock()
        stats: list = []
        digest = file_sha1(path, max_bytes, stats)
        st = stats[0] if stats else None
        entry = [*_stat_key(st), digest] if st is not None and max(st.st_mtime_ns, st.st_ctime_ns) < start - self.RACY_NS \
            else None
        if entry != cached:
            self.changed = True
            if entry is None:
                self.entries.pop(key, None)
            else:
                self.entries[key] = entry
        return digest

    def save(self, keep: Iterable[str]) -> None:
        """Write the cache (if it changed), keeping only the entries of the paths in ``keep``."""
        keep = set(keep)
        if set(self.entries) - keep:
            self.entries = {k: v for k, v in self.entries.items() if k in keep}
            self.changed = True
        if self.changed:
            try:
                atomic_write_json(self.path, {"format": 1, "files": self.entries})
            except OSError:
                pass
            self.changed = False


def ignore_spec(root: Path) -> pathspec.GitIgnoreSpec | None:
    """The folder's ``.assistantignore``, in gitignore syntax (``drafts/``, ``*.pdf``,
    ``!keep.pdf``, ``/top-level-only.md``, ``# comments``), matched against paths relative to the
    folder; read and compiled once per scan. None when the folder has none."""
    patterns_file = root / IGNORE_FILE
    if not patterns_file.is_file():
        return None
    return pathspec.GitIgnoreSpec.from_lines(patterns_file.read_text(encoding="utf-8").splitlines())


def _walk(root: Path, unreadable: list[tuple[Path, OSError]]) -> list[str]:
    """Every entry under ``root`` (files, folders, symlinks, not following symlinked folders),
    skipping hidden folders; folders that cannot be listed go to ``unreadable`` (rglob skipped
    them without a word, so their documents looked deleted)."""
    out: list[str] = []

    def failed(exc: OSError) -> None:
        unreadable.append((Path(exc.filename) if exc.filename else root, exc))

    for dirpath, dirnames, filenames in os.walk(root, onerror=failed, followlinks=False):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        out += [os.path.join(dirpath, name) for name in dirnames + filenames]
    return sorted(out)  # strings, not Paths: a Path per entry costs more than the walk (docs/measurements.md)


def scan(paths: Iterable[Path], unreadable: list[tuple[Path, OSError]] | None = None
         ) -> tuple[list[Path], list[Path], list[tuple[str, str]]]:
    """Expand the given paths into (files to ingest, roots scanned, files refused with a reason).

    Hidden files are skipped; symlinks that lead outside the folder being scanned are refused;
    a folder that cannot be listed is refused ("cannot read folder: ...") and added to
    ``unreadable``, so that the caller keeps what was indexed from it.
    """
    files: list[str] = []  # strings until the end: three Paths per file cost more than the walk
    roots: list[Path] = []
    refused: list[tuple[str, str]] = []
    unreadable = [] if unreadable is None else unreadable
    for given in paths:
        given = Path(given)
        if not given.exists():
            refused.append((str(given), "no such file or directory"))
            continue
        if given.is_file():
            files.append(str(given.resolve()))
            continue
        if not given.is_dir():
            refused.append((str(given), "not a regular file or folder"))
            continue
        root = given.resolve()
        roots.append(root)
        seen = len(unreadable)
        entries = _walk(given, unreadable)
        refused += [(str(Path(p).resolve()), f"cannot read folder: {e.strerror or e}") for p, e in unreadable[seen:]]
        ignored = ignore_spec(given)
        root_s = str(root)
        prefix = os.path.join(os.fspath(given), "")
        for entry in entries:
            rel_s = entry[len(prefix):] if entry.startswith(prefix) else os.path.relpath(entry, given)
            if any(part.startswith(".") for part in rel_s.split(os.sep)):
                continue
            linked = os.path.islink(entry)
            if not linked and not os.path.isfile(entry):
                kind = special_kind(Path(entry))
                if kind:  # a FIFO, socket or device: said, never opened (a FIFO would block)
                    refused.append((str(Path(entry)), f"not a regular file ({kind})"))
                continue
            if linked:
                path = Path(entry)
                try:
                    target = path.resolve()
                except (OSError, RuntimeError):  # a symlink loop; Python 3.11 raises RuntimeError
                    refused.append((str(path), "symlink loop"))
                    continue
                if not target.is_relative_to(root):
                    refused.append((str(path), f"symlink points outside {given}"))
                    continue
            if linked and not path.is_file():
                kind = special_kind(path)
                if kind:  # a link to a FIFO, socket or device: said, never opened
                    refused.append((str(path), f"not a regular file ({kind})"))
                continue  # a broken symlink
            if ignored is not None and ignored.match_file(rel_s.replace(os.sep, "/")):
                continue
            # os.walk does not enter symlinked folders, so below the resolved root only a
            # symlink itself needs resolving (resolving every file is a system call each).
            real = str(path.resolve()) if linked else os.path.join(root_s, rel_s)
            suffix = _suffix(entry)
            if suffix.lower() not in SUPPORTED:
                refused.append((real, f"unsupported file type {suffix or '(none)'}"))
                continue
            files.append(real)
    unique = [Path(p) for p in sorted(set(files))]
    return unique, roots, refused


def _suffix(path: str) -> str:
    """``Path(path).suffix``, without making a Path."""
    name = path.rsplit(os.sep, 1)[-1]
    i = name.rfind(".")
    return name[i:] if 0 < i < len(name) - 1 else ""


def ingest(index: Index, paths: Iterable[Path], progress: Progress | None = None, upload: bool = False) -> IngestReport:
    """Bring the index in line with ``paths``; see the module docstring for the guarantees.
    ``upload``: the files are a user's uploads (their metadata cannot claim an official source)."""
    start = time.perf_counter()
    read_only = f"the index at {index.dir} is read-only: it can be queried, not changed"
    if is_read_only(index.settings):
        raise StoreUnavailable(read_only)
    lock = FileLock(str(index.dir / "ingest.lock"))
    try:
        index.dir.mkdir(parents=True, exist_ok=True)
        lock.acquire(timeout=0)
    except Timeout as exc:
        raise IndexBusy(f"another ingest is already running on {index.dir}; try again when it ends") from exc
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise StoreUnavailable(f"{read_only} ({exc.strerror})") from exc
        raise
    # Within one run, a text met again (a repeated chunk, in another group or file) is not encoded again.
    remembering = getattr(index.embeddings, "remembering", None)
    try:
        with remembering() if remembering else contextlib.nullcontext():
            report = _ingest_locked(index, list(paths), progress or (lambda *a: None), upload)
    finally:
        lock.release()
    report.seconds = time.perf_counter() - start
    return report


def _repair(index: Index, manifest: dict, problem: str | None, report: IngestReport) -> bool:
    """Bring the manifest in line with the store without deleting anything it cannot account for.

    Entries whose chunks are all in the store stand. Every other chunk in the store (of an entry
    that lost some chunks, of a run killed before it recorded its file, or every chunk when the
    manifest is missing, unreadable or of the wrong shape) is adopted by the file its metadata
    names (``source``): that entry gets the chunks and an unknown hash, so the file is read again
    when it is ingested (its stale chunks are then deleted and counted like any update's), is
    removed and counted when it is gone from a scanned folder, and is kept otherwise. Repair
    itself deletes nothing. Returns whether the manifest changed; explains itself in ``report.notes``."""
    in_store = index.all_ids()
    listed: set[str] = set()
    broken: dict[str, dict] = {}
    for path, entry in list(manifest["files"].items()):
        ids = set(entry["chunks"])
        if ids <= in_store:
            listed |= ids
        else:
            broken[path] = manifest["files"].pop(path)
    unknown = sorted(in_store - listed)
    groups: dict[str, list[tuple[int, str, dict]]] = {}
    for cid, meta in index.metadatas(unknown).items():
        source = meta.get("source")
        if not isinstance(source, str) or not source:
            source = f"chroma:{meta.get('doc_id') or cid.split(':')[0]}"  # not a path: never removed
        position = meta.get("position")
        groups.setdefault(source, []).append((position if isinstance(position, int) else 0, cid, meta))
    for source, items in groups.items():
        items.sort(key=lambda t: (t[0], t[1]))
        old = manifest["files"].get(source) or broken.get(source) or {}
        first = items[0][2]
        manifest["files"][source] = {
            "sha1": "",  # unknown: the file is read again at its next ingest
            "doc_id": str(old.get("doc_id") or first.get("doc_id") or items[0][1].split(":")[0]),
            "title": str(old.get("title") or first.get("title") or ""),
            "aliases": list(old.get("aliases") or []),
            "chunks": list(dict.fromkeys([*old.get("chunks", []), *(cid for _, cid, _ in items)])),
            "repaired": True,
        }
    if problem is not None and (problem != "missing" or unknown):
        report.notes.append(
            f"the manifest ({index.manifest_path}) was {problem}: rebuilt from the metadata of "
            f"{len(unknown)} chunks in the store ({len(groups)} files); nothing was deleted")
    else:
        if broken:
            report.notes.append(f"{len(broken)} file(s) had chunks missing from the store; they are read again "
                                "when ingested")
        if unknown:
            report.notes.append(f"{len(unknown)} chunks that no manifest entry listed were given back to the "
                                f"{len(groups)} file(s) their metadata names")
    return bool(broken or unknown or (problem is not None and problem != "missing"))


def _ingest_locked(index: Index, paths: list[Path], progress: Progress, upload: bool = False) -> IngestReport:
    """One ingest run, under the index lock: repair, find what changed, parse-embed-write it,
    remove what is gone, bring the lexical index up to date."""
    report = IngestReport()
    manifest, problem = index.read_manifest()
    # The last run ended cleanly and nothing wrote to the index since (Index.known_clean): the
    # manifest lists exactly the chunks in the store, so the check that lists every id is skipped.
    clean = index.known_clean(manifest) and problem is None
    repaired = False if clean else _repair(index, manifest, problem, report)
    unreadable: list[tuple[Path, OSError]] = []
    files, roots, refused = scan(paths, unreadable)
    report.failed += refused
    kept = [Path(p).resolve() for p, _ in unreadable]  # what was indexed from these stays

    # Uploads indexed before their metadata was relabelled (as_upload) are read again, once.
    relabel = upload and manifest.get("upload_labels") != UPLOAD_LABELS
    if upload:
        manifest["upload_labels"] = UPLOAD_LABELS

    hashes = HashCache(index.dir)
    todo = _changed(index, manifest, files, report, relabel, hashes)  # 1.
    if todo:
        _warm_encoder(index)  # the model loads while the first files are parsed
    written = _Pipeline(index, manifest, report, progress, upload).run(todo)  # 2-4.
    wrote = bool(report.added or report.updated)
    _remove_gone(index, manifest, report, files, roots, kept)  # 5.

    # 6. The lexical index follows, file by file: only what changed is re-indexed.
    # (Each group and the removals saved the manifest already; a write costs in proportion to the index.)
    if repaired or relabel or not (wrote or report.removed) and not index.has_manifest():
        index.save_manifest(manifest)
    index.mark_clean(manifest)  # after the last manifest write: the next run may skip the id list
    hashes.save(manifest["files"])
    progress("lexical", 0, 1)
    index.sync_lexical(manifest, written)
    progress("lexical", 1, 1)
    return report


def _warm_encoder(index: Index) -> None:
    """Load the encoder on a thread while the parser reads the first files."""
    from .embeddings import warm_in_background

    warm_in_background(index.embeddings)


def _changed(index: Index, manifest: dict, files: list[Path], report: IngestReport,
             relabel: bool, hashes: HashCache | None = None) -> list[tuple[Path, str]]:
    """1. The files that are new or changed, with their digests (the others are reported unchanged,
    unreadable and oversized ones failed). ``hashes``: files whose stat is as cached are not read."""
    todo: list[tuple[Path, str]] = []
    for path in files:
        key = str(path)
        try:
            digest = hashes.sha1(path, index.settings.max_file_bytes) if hashes is not None \
                else file_sha1(path, index.settings.max_file_bytes)
        except BadDocument as exc:  # too large, or not a regular file (any more)
            report.failed.append((key, str(exc)))
            continue
        except OSError as exc:
            report.failed.append((key, f"cannot read: {exc.strerror or exc}"))
            continue
        entry = manifest["files"].get(key)
        if entry and entry["sha1"] == digest and not relabel:
            report.unchanged.append(key)
        else:
            todo.append((path, digest))
    return todo


class _Pipeline:
    """2-4. A parser thread reads and chunks the files in order; the calling thread embeds them in
    groups; a writer thread stores each group while the next one is embedded. Embedding is the
    physical limit, so everything else hides behind it (docs/performance.md)."""

    def __init__(self, index: Index, manifest: dict, report: IngestReport, progress: Progress, upload: bool) -> None:
        self.index, self.manifest, self.report, self.progress, self.upload = index, manifest, report, progress, upload
        self.written: dict[str, tuple[str, dict]] = {}  # chunk id -> (text, metadata) stored by this run
        # Stored vectors are reused only when this process reads the store as it is on disk.
        self.reuse = index.view_is_current()
        self.group: list[_Pending] = []
        self.size, self.target = 0, FIRST_GROUP
        self.known = self.done = self.consumed = 0  # chunks seen, chunks embedded, files taken
        self.parsed: list[Future] = []
        self.writing: Future | None = None
        self.writer: ThreadPoolExecutor | None = None

    def run(self, todo: list[tuple[Path, str]]) -> dict[str, tuple[str, dict]]:
        """Parse, embed and write ``todo``; return what was written (chunk id -> text, metadata)."""
        manifest, report = self.manifest, self.report
        taken = {e["doc_id"]: p for p, e in manifest["files"].items()}
        parser = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-parse")
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-write")
        try:
            self.parsed = [parser.submit(parse_file, path, self.index.settings, self.upload) for path, _ in todo]
            for n, ((path, digest), future) in enumerate(zip(todo, self.parsed), 1):
                key = str(path)
                outcome = future.result()
                self.consumed = n
                self.progress("parse", n, len(todo))
                if isinstance(outcome, str):
                    report.failed.append((key, outcome))
                    continue
                doc_id, title, aliases, chunks = outcome
                owner = taken.get(doc_id)
                replaces = None
                if owner is not None and owner != key:
                    if Path(owner).exists() or owner not in manifest["files"]:
                        report.failed.append((key, f"duplicate document id {doc_id!r} (already used by {owner})"))
                        continue
                    replaces = owner  # the document moved: its old file is gone, this one takes over
                taken[doc_id] = key
                is_new = key not in manifest["files"] or bool(manifest["files"][key].get("repaired"))
                self.group.append(_Pending(key, digest, chunks, doc_id, title, is_new, replaces, aliases))
                self.size += len(chunks)
                self.known += len(chunks)
                if self.size >= self.target:
                    self._flush()
            if self.group:
                self._flush()
            if self.writing is not None:
                self.writing.result()
        finally:
            parser.shutdown(wait=True, cancel_futures=True)
            self.writer.shutdown(wait=True)
        return self.written

    def _tick(self, n: int) -> None:
        """``n`` more chunks embedded: report progress against the total known so far (the files
        taken, plus those the parser has finished ahead of them)."""
        self.done += n
        ahead = sum(len(f.result()[3]) for f in self.parsed[self.consumed:] if f.done() and not f.cancelled()
                    and f.exception() is None and not isinstance(f.result(), str))
        self.progress("embed", self.done, max(self.known + ahead, self.done))

    def _flush(self) -> None:
        """Embed the current group, then hand it to the writer once the previous group is stored
        (that group's error, if any, is raised here)."""
        group = self.group
        texts = [c.embed_text for p in group for c in p.chunks]
        stored = _stored_vectors(self.index, self.manifest, group) if self.reuse else {}
        vectors, encoded = _embed(self.index, texts, stored, self._tick)
        self.report.chunks_embedded += encoded
        if self.writing is not None:
            self.writing.result()
        assert self.writer is not None
        self.writing = self.writer.submit(_write_group, self.index, self.manifest, self.report, group, vectors,
                                          self.written)
        self.group, self.size, self.target = [], 0, min(self.target * 2, MAX_GROUP)


def _remove_gone(index: Index, manifest: dict, report: IngestReport, files: list[Path], roots: list[Path],
                 kept: list[Path]) -> None:
    """5. Files under a scanned root that are gone (deleted, ignored, hidden) lose their chunks.
    A file that is still there but failed to parse keeps its last good version.

    All of them at once: one batched delete, then one manifest write (issue 18: a delete and a
    manifest write per file made removing thousands of files take minutes). Killed in between, the
    next run's repair finds those entries' chunks gone and drops them."""
    present = set(map(str, files))
    gone = [key for key in manifest["files"]
            if key not in present and any(Path(key).is_relative_to(r) for r in roots)
            and not any(Path(key).is_relative_to(k) for k in kept)]
    if gone:
        entries = [manifest["files"].pop(key) for key in gone]
        index.delete([cid for entry in entries for cid in entry["chunks"]])
        index.save_manifest(manifest)
        for key, entry in zip(gone, entries):
            report.removed.append(key)
            report.chunks_removed += len(entry["chunks"])

