"""The index on disk: a Chroma collection (dense), a BM25 index (lexical) and a manifest.

Chroma holds chunk texts, metadata and embeddings and is the source of truth; the lexical
index is derived from it; the manifest records which file produced which chunks and the
file's content hash, so that re-ingestion touches only what changed.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from .chunking import embed_text
from .errors import BadInput, IndexNotFound, StoreUnavailable
from .lexical import LexicalIndex
from .settings import Settings

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

FILTER_KEYS = ("doc_id", "issuer", "type", "topic")
_VALUE_RE = re.compile(r"^[\w .,:&()/'’-]{1,200}$", re.UNICODE)
_clients: dict[str, Any] = {}
_read_only: set[str] = set()  # embedded stores opened from a copy because they are read-only
GET_PAGE = 5000  # ids per Chroma get()
# An embedded Chroma client keeps the vectors it loaded: chunks another process re-wrote later
# come back with their new text and metadata but the old vector. So, per manifest, the state it
# had when this process's view of the store was last known to be current; see view_is_current().
_views: dict[str, Any] = {}
_UNKNOWN = ("unknown",)


def _manifest_stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def validate_filters(filters: dict[str, Any] | None) -> dict[str, str]:
    """Check filter keys and values; raise :class:`BadInput` naming the allowed keys.

    Keys come from a fixed list and values must be plain strings, so nothing a user types can
    become a Chroma operator (``$or``, ``$ne`` ...) or a different metadata field. Issuer, type
    and topic also take a list of such strings (any of them matches; kept as a tuple).
    """
    if not filters:
        return {}
    if not isinstance(filters, dict):
        raise BadInput("filters must be a dict such as {'topic': 'cybercrime'}")
    out: dict[str, str] = {}
    for key, value in filters.items():
        if key not in FILTER_KEYS:
            raise BadInput(f"unknown filter key {key!r}; allowed keys: {', '.join(FILTER_KEYS)}")
        if isinstance(value, (list, tuple)) and key != "doc_id":
            # any of several values (issuer, type, topic): a one-value list is that value
            if not 1 <= len(value) <= 50 or not all(isinstance(v, str) and _VALUE_RE.match(v) for v in value):
                raise BadInput(f"filter {key} needs 1 to 50 plain text values, got {value!r}")
            values = tuple(dict.fromkeys(value))
            out[key] = values[0] if len(values) == 1 else values  # type: ignore[assignment]
            continue
        if not isinstance(value, str) or not _VALUE_RE.match(value):
            raise BadInput(f"filter {key} needs a plain text value, got {value!r}")
        out[key] = value
    return out


def chroma_where(filters: dict[str, str]) -> dict | None:
    """Translate validated filters into a Chroma ``where`` clause."""
    clauses: list[dict] = []
    for key, value in filters.items():
        if isinstance(value, tuple):  # any of several values
            clauses.append({"$or": [{f"topic_{v}": True} for v in value]} if key == "topic" else {key: {"$in": list(value)}})
        elif key == "topic":
            clauses.append({f"topic_{value}": True})
        else:
            clauses.append({key: value})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def manifest_problem(data: Any) -> str | None:
    """What is wrong with the shape of a loaded manifest, or None when every entry is usable."""
    if not isinstance(data, dict):
        return f"a JSON {type(data).__name__ if data is not None else 'null'}, not an object"
    files = data.get("files")
    if not isinstance(files, dict):
        return '"files" is not an object'
    for path, entry in files.items():
        if not (isinstance(entry, dict) and isinstance(entry.get("sha1"), str)
                and isinstance(entry.get("doc_id"), str) and isinstance(entry.get("chunks"), list)
                and all(isinstance(c, str) for c in entry["chunks"])
                and isinstance(entry.get("title", ""), str)
                and isinstance(entry.get("aliases", []), list)
                and all(isinstance(a, str) for a in entry.get("aliases", []))):
            return f"the entry for {path!r} is malformed"
    return None


def _client_key(settings: Settings) -> str:
    """Where the Chroma data live: the server's URL, or the embedded store's folder."""
    return settings.chroma_url or str((Path(settings.index_dir) / "chroma").resolve())


def make_client(settings: Settings, create: bool = True):
    """One Chroma client per location per process: embedded by default, HTTP when configured."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    key = _client_key(settings)
    if settings.chroma_url:
        if key not in _clients:
            m = re.match(r"^(https?)://([^:/]+)(?::(\d+))?/?$", settings.chroma_url)
            if not m:
                raise BadInput(f"ASSISTANT_CHROMA_URL must look like http://host:port, got {settings.chroma_url!r}")
            _probe_server(settings)
            client = chromadb.HttpClient(
                host=m.group(2), port=int(m.group(3) or 8000), ssl=m.group(1) == "https",
                settings=chroma_settings,
            )
            try:  # chromadb's HTTP session waits for ever (timeout=None): bound every request
                import httpx

                client._server._session.timeout = httpx.Timeout(settings.chroma_timeout_s)
            except AttributeError:  # another chromadb layout: the probe above still bounds the start
                pass
            _clients[key] = client
        return _clients[key]
    path = Path(key)
    if key not in _clients:
        if not create and not path.exists():
            raise IndexNotFound(settings.index_dir)
        path.mkdir(parents=True, exist_ok=True)
        try:
            _clients[key] = chromadb.PersistentClient(path=str(path), settings=chroma_settings)
        except Exception as exc:  # noqa: BLE001 - narrowed just below
            if "readonly database" not in str(exc) and "Read-only file system" not in str(exc) \
                    and not isinstance(exc, PermissionError):
                raise
            # Embedded Chroma writes to its database even to open it: a read-only index (a
            # read-only mount, a folder without write permission) is read from a private copy.
            import atexit
            import shutil

            snapshot = Path(tempfile.mkdtemp(prefix="assistant-readonly-"))
            atexit.register(shutil.rmtree, snapshot, True)
            shutil.copytree(path, snapshot / "chroma")
            for item in (snapshot / "chroma").rglob("*"):
                item.chmod(item.stat().st_mode | 0o200)
            (snapshot / "chroma").chmod(0o700)
            _clients[key] = chromadb.PersistentClient(path=str(snapshot / "chroma"), settings=chroma_settings)
            _read_only.add(key)
    return _clients[key]


def is_read_only(settings: Settings) -> bool:
    """Whether this process reads the embedded store from a private copy (the index is read-only)."""
    return _client_key(settings) in _read_only


def _probe_server(settings: Settings) -> None:
    """Fail with one line when the Chroma server does not answer its heartbeat in time."""
    import urllib.error
    import urllib.request

    url = settings.chroma_url.rstrip("/")
    try:
        with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=settings.chroma_timeout_s):
            return
    except urllib.error.HTTPError:
        return  # it answered (an older or proxied server): chromadb reports what it says
    except (TimeoutError, OSError) as exc:
        raise StoreUnavailable(store_error_message(exc, settings) or f"the Chroma server at {url} "
                               f"cannot be reached: {exc}") from exc


def store_error_message(exc: BaseException, settings: Settings) -> str | None:
    """One line naming what did not answer or what ran out, for an error raised while using the
    store (walking the chain of causes), or None when it is none of these."""
    import errno

    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        name = type(cause).__name__
        text = str(cause)
        if settings.chroma_url and (isinstance(cause, TimeoutError) or name.endswith("Timeout")
                                    or "timed out" in text):
            return f"the Chroma server at {settings.chroma_url} did not answer within {settings.chroma_timeout_s:g} s"
        if settings.chroma_url and name in {"ConnectError", "ConnectionRefusedError"}:
            return f"the Chroma server at {settings.chroma_url} refused the connection (is it running?)"
        if getattr(cause, "errno", None) == errno.ENOSPC or "No space left on device" in text \
                or "database or disk is full" in text:
            return f"disk full: no space left for the index at {settings.index_dir}; free some space and run again"
        if getattr(cause, "errno", None) == errno.EROFS or "readonly database" in text \
                or "Read-only file system" in text:
            return f"the index at {settings.index_dir} is read-only: it can be queried but not changed"
        cause = cause.__cause__ or cause.__context__
    # Chroma words some failures of a full disk its own way ("Error in compaction: Failed to
    # apply logs ..."): when the index's disk is (nearly) full, that is what to say.
    import shutil

    folder = Path(settings.index_dir)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return None
    if free < 8 * 2**20:
        return (f"disk full: only {free // 1024} KB free for the index at {settings.index_dir}; "
                "free some space and run again")
    return None


def atomic_write_json(path: Path, data: Any) -> None:
    """Write JSON to a temp file in the same folder, fsync, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _build_lexical(chunks: list[tuple[str, str, dict]]) -> LexicalIndex:
    """BM25 over (chunk id, stored text, metadata): each text is indexed as it is embedded."""
    return LexicalIndex.build([c[0] for c in chunks], [embed_text(c[1], c[2]) for c in chunks], [c[2] for c in chunks])


class Index:
    """Read and write access to one index (Chroma collection + BM25 + manifest)."""

    def __init__(self, settings: Settings, embeddings, create: bool = False, name: str = "") -> None:
        """Open the index; ``name`` selects a separate one beside it (e.g. "user" for uploads):
        its own Chroma collection ``<collection>-<name>``, manifest and BM25 under ``<index_dir>/<name>``."""
        self.settings = settings
        self.name = name
        self.collection_name = f"{settings.collection}-{name}" if name else settings.collection
        self.dir = Path(settings.index_dir) / name if name else Path(settings.index_dir)
        if not create and not self.manifest_path.exists():
            raise IndexNotFound(self.dir)
        self.embeddings = embeddings
        new_client = _client_key(settings) not in _clients
        self.client = make_client(settings, create=True)
        self._view_key = str(self.manifest_path.resolve())
        if new_client or self._view_key not in _views:
            # A client opened now sees the store as the manifest describes it; one opened earlier
            # in this process (for the index beside this one) may not, unless no manifest exists
            # yet (no chunk of this index is listed, so none can be reused).
            stamp = _manifest_stamp(self.manifest_path)
            _views[self._view_key] = stamp if new_client or stamp is None else _UNKNOWN
        self.collection = self.client.get_or_create_collection(
            self.collection_name, metadata={"hnsw:space": "cosine"}, embedding_function=None
        )
        self._vectorstore = None
        self._lexical: LexicalIndex | None = None
        self._names: tuple[Any, Any] | None = None  # (manifest stamp, NameIndex)
        self._lexical_checked = 0.0
        self._reembedded: dict[str, Any] = {}  # embedded text -> vector, see get()

    @property
    def vectorstore(self):
        """LangChain's vector store over the same collection; dense search goes through it.

        Built on first use: ingesting never needs it, and importing it costs seconds.
        """
        if self._vectorstore is None:
            from langchain_chroma import Chroma

            self._vectorstore = Chroma(
                client=self.client,
                collection_name=self.collection_name,
                embedding_function=self.embeddings,
                collection_metadata={"hnsw:space": "cosine"},
            )
        return self._vectorstore

    # --- manifest -------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.dir / "manifest.json"

    @property
    def lexical_dir(self) -> Path:
        return self.dir / "lexical"

    def names(self):
        """The names of this index's documents joined to the glossary (:class:`NameIndex`),
        rebuilt when the manifest changes."""
        from .names import NameIndex, glossary

        stamp = _manifest_stamp(self.manifest_path)
        if self._names is None or self._names[0] != stamp:
            docs = {e["doc_id"]: (e.get("title", ""), e.get("aliases", []))
                    for e in self.load_manifest()["files"].values()}
            self._names = (stamp, NameIndex.build(glossary(), docs))
        return self._names[1]

    def load_manifest(self) -> dict:
        """The manifest: {"files": {path: {"sha1", "doc_id", "chunks", "title"}}, "updated": ts};
        empty when the file is missing, unreadable or of the wrong shape (see :meth:`read_manifest`)."""
        return self.read_manifest()[0]

    def read_manifest(self) -> tuple[dict, str | None]:
        """The manifest and, when it cannot be used as it is, why ("missing", "not valid JSON",
        "wrong shape: ...") with an empty manifest in its place. Never raises: readers carry on,
        and ingest rebuilds the manifest from the chunks' own metadata (never deleting them)."""
        empty: dict = {"files": {}, "updated": None}
        try:
            raw = self.manifest_path.read_bytes()
        except FileNotFoundError:
            return empty, "missing"
        except OSError as exc:
            return empty, f"unreadable ({exc.strerror or exc})"
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return empty, "not valid JSON"
        problem = manifest_problem(data)
        if problem:
            return empty, f"wrong shape: {problem}"
        data.setdefault("updated", None)
        return data, None

    def save_manifest(self, manifest: dict) -> None:
        current = self.view_is_current()
        manifest["updated"] = time.time()
        atomic_write_json(self.manifest_path, manifest)
        if current:  # our own write: the view stays current (a stale one stays stale)
            _views[self._view_key] = _manifest_stamp(self.manifest_path)

    def view_is_current(self) -> bool:
        """Whether every vector this process reads from the store is the one on disk: false once
        another process has written to this index since this process opened it (embedded Chroma
        then returns the vectors it had loaded). Always true with a Chroma server."""
        if self.settings.chroma_url:
            return True
        return _views.get(self._view_key, _UNKNOWN) == _manifest_stamp(self.manifest_path)

    # --- writing --------------------------------------------------------------------------
    def all_ids(self) -> set[str]:
        """Every chunk id in Chroma (paged)."""
        ids: set[str] = set()
        page = 5000
        offset = 0
        while True:
            got = self.collection.get(include=[], limit=page, offset=offset)
            ids.update(got["ids"])
            if len(got["ids"]) < page:
                return ids
            offset += page

    def metadatas(self, ids: list[str]) -> dict[str, dict]:
        """The metadata of chunks by id (paged)."""
        out: dict[str, dict] = {}
        for i in range(0, len(ids), GET_PAGE):
            got = self.collection.get(ids=ids[i : i + GET_PAGE], include=["metadatas"])
            out.update(zip(got["ids"], (m or {} for m in got["metadatas"])))
        return out

    def delete(self, ids: list[str]) -> None:
        step = self.client.get_max_batch_size()
        for i in range(0, len(ids), step):
            self.collection.delete(ids=ids[i : i + step])

    def upsert(self, ids: list[str], texts: list[str], metas: list[dict], vectors: np.ndarray) -> None:
        step = self.client.get_max_batch_size()
        for i in range(0, len(ids), step):
            self.collection.upsert(
                ids=ids[i : i + step],
                documents=texts[i : i + step],
                metadatas=metas[i : i + step],
                embeddings=vectors[i : i + step],
            )

    def rebuild_lexical(self, chunks: list[tuple[str, str, dict]] | None = None) -> LexicalIndex:
        """Rebuild BM25 and save it beside the Chroma data: from ``chunks`` (id, text, metadata),
        when the caller holds every chunk of the index, else from everything in Chroma."""
        lex = _build_lexical(chunks) if chunks is not None else self._lexical_from_chroma()
        lex.save(self.lexical_dir)
        self._lexical = lex
        return lex

    def _lexical_from_chroma(self) -> LexicalIndex:
        chunks: list[tuple[str, str, dict]] = []
        page, offset = 5000, 0
        while True:
            got = self.collection.get(include=["documents", "metadatas"], limit=page, offset=offset)
            chunks += zip(got["ids"], got["documents"], got["metadatas"])
            if len(got["ids"]) < page:
                break
            offset += page
        return _build_lexical(chunks)

    # --- reading --------------------------------------------------------------------------
    def _lexical_mtime(self) -> float:
        try:  # one call: the folder may be swapped out between an exists() and a stat()
            return (self.lexical_dir / "chunks.json").stat().st_mtime
        except OSError:
            return -1.0

    def lexical(self) -> LexicalIndex:
        """The BM25 index, reloaded when another process rebuilt it; rebuilt if stale.

        Another ingest swaps the BM25 folder (rename the old one away, rename the new one in):
        a reader that finds it missing or half-read in that instant looks again a few times
        before it derives the index from Chroma (which is slower, never wrong)."""
        mtime = self._lexical_mtime()
        if self._lexical is None or mtime != self._lexical_checked:
            lex = LexicalIndex.load(self.lexical_dir)
            for _ in range(5):
                if lex is not None:
                    break
                time.sleep(0.02)
                mtime = self._lexical_mtime()
                lex = LexicalIndex.load(self.lexical_dir)
            if lex is None or len(lex) != self.collection.count():
                lex = self._lexical_from_chroma()  # stale or missing: derive it in memory
            self._lexical = lex
            self._lexical_checked = mtime
        return self._lexical

    def dense(self, vector: list[float], k: int, filters: dict[str, str]) -> list[tuple[str, float, str, dict]]:
        """Top ``k`` by cosine similarity: (chunk_id, similarity, text, metadata)."""
        if self.collection.count() == 0:
            return []
        hits = self.vectorstore.similarity_search_by_vector_with_relevance_scores(
            vector, k=k, filter=chroma_where(filters)
        )
        return [(doc.id, 1.0 - float(dist), doc.page_content, doc.metadata) for doc, dist in hits]

    def get(self, ids: list[str], embeddings: bool = False, reembed: bool = True) -> dict[str, tuple[str, dict, Any]]:
        """Texts, metadata (and embeddings) of chunks by id. Where embedded Chroma cannot return
        vectors (below), they are computed again, or with ``reembed=False`` the error is raised."""
        ids = list(dict.fromkeys(ids))
        if not ids:
            return {}
        if len(ids) > GET_PAGE:  # a large file's old chunks: keep each query's id list bounded
            out: dict[str, tuple[str, dict, Any]] = {}
            for i in range(0, len(ids), GET_PAGE):
                out.update(self.get(ids[i : i + GET_PAGE], embeddings, reembed))
            return out
        include = ["documents", "metadatas"] + (["embeddings"] if embeddings else [])
        try:
            got = self.collection.get(ids=ids, include=include)
        except Exception as exc:  # noqa: BLE001 - narrowed just below
            from chromadb.errors import InternalError

            if not embeddings or not reembed or not isinstance(exc, InternalError):
                raise
            # Embedded Chroma cannot return the vectors of chunks that another process (an
            # `assistant ingest` run) wrote after this process opened the store: "Error finding
            # id". Their texts and metadata are readable, so embed them again (once per chunk).
            got = self.collection.get(ids=ids, include=["documents", "metadatas"])
            got["embeddings"] = self._reembed(got["ids"], got["documents"], got["metadatas"])
        vecs = got.get("embeddings") if embeddings else None
        out = {}
        for i, cid in enumerate(got["ids"]):
            out[cid] = (got["documents"][i], got["metadatas"][i], None if vecs is None else vecs[i])
        return out

    def _reembed(self, ids: list[str], texts: list[str], metas: list[dict]) -> list:
        # Keyed by the embedded text, not the chunk id: an id stays the same when only the
        # title or heading above the chunk changes, and the vector must follow the text.
        keys = [embed_text(t, m) for t, m in zip(texts, metas)]
        todo = list(dict.fromkeys(k for k in keys if k not in self._reembedded))
        if todo:
            for key, vec in zip(todo, self.embeddings.encode(todo)):
                self._reembedded[key] = vec
        return [self._reembedded[key] for key in keys]

    def facet_values(self) -> dict[str, list[str]]:
        """Distinct issuers, types, topics and doc ids in the index (for UI filters)."""
        lex = self.lexical()
        values: dict[str, set[str]] = {"issuer": set(), "type": set(), "topic": set(), "doc_id": set()}
        for meta in lex.metas:
            for key in ("issuer", "type", "doc_id"):
                if meta.get(key):
                    values[key].add(meta[key])
            values["topic"].update(meta["topics"])
        return {k: sorted(v) for k, v in values.items()}

    def problem(self, manifest: dict | None = None, count: int | None = None) -> str | None:
        """What is wrong with the index as a whole, in one line, or None: a store that lost its
        chunks (the manifest lists documents, Chroma holds none: its folder was deleted or
        replaced), or a store holding fewer chunks than the manifest lists."""
        manifest = self.load_manifest() if manifest is None else manifest
        listed = sum(len(e["chunks"]) for e in manifest["files"].values())
        count = self.collection.count() if count is None else count
        where = self.settings.chroma_url or str(self.dir / "chroma")
        if listed and count == 0:
            return (f"the vector store at {where} lost its chunks: the manifest lists {len(manifest['files'])} "
                    f"documents ({listed} chunks) but the store holds none; run `assistant ingest` to rebuild it")
        if count < listed:
            return (f"the vector store at {where} holds {count} of the {listed} chunks the manifest lists; "
                    "run `assistant ingest` to repair it")
        return None

    def stats(self) -> dict:
        manifest = self.load_manifest()
        count = self.collection.count()
        info = self._stats(manifest, count)
        problem = self.problem(manifest, count)
        if problem:
            info["problem"] = problem
        return info

    def _stats(self, manifest: dict, count: int) -> dict:
        return {
            "documents": len(manifest["files"]),
            "chunks": count,
            "embedding_model": self.embeddings.model_name,
            "index_path": str(self.dir.resolve()),
            "store": "chroma-server" if self.settings.chroma_url else "chroma-embedded",
            "chroma_url": self.settings.chroma_url,
            "collection": self.collection_name,
            "last_indexed": manifest.get("updated"),
        }
