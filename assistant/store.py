"""The index: a Chroma collection (dense), a BM25 index (lexical) and a manifest.

Chroma holds chunk texts, metadata and embeddings and is the source of truth; the lexical
index is derived from it, file by file; the manifest records which file produced which chunks
and the file's content hash, so that re-ingestion touches only what changed.

Embedded, all three live in the index folder. With a Chroma server (``ASSISTANT_CHROMA_URL``)
the manifest lives with the collection, one record per file in a small collection beside it
(:class:`SharedManifest`), so every client sees the same one; a client's folder holds only a
cache of the lexical index, brought up to date from the records changed since its stamp.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

import numpy as np
from cachetools import LRUCache, TTLCache

from .chunking import chunk_position, embed_text
from .errors import BadInput, IndexNotFound, StoreUnavailable
from .lexical import LexicalIndex
from .settings import Settings

FILTER_KEYS = ("doc_id", "issuer", "type", "topic")
_VALUE_RE = re.compile(r"^[\w .,:&()/'’-]{1,200}$", re.UNICODE)
# Process-wide state, and why it is bounded:
# - One Chroma client per location (a server URL or an embedded store's folder), for the life of
#   the process: chromadb itself keeps one System per folder per process, so a second client of
#   a folder would share the first one's loaded vectors, and the views below assume one client
#   per folder. Bounded by the number of locations the process opens (a chat: one).
_clients: dict[str, Any] = {}
_read_only: set[str] = set()  # embedded stores opened from a copy because they are read-only (one per client)
# (server, collection) -> whether it has a manifest, asked again after PRESENT_TTL_S seconds.
PRESENT_TTL_S = 1.0
MAX_PRESENT = 1024
_present: TTLCache[tuple[str, str], bool] = TTLCache(maxsize=MAX_PRESENT, ttl=PRESENT_TTL_S)
GET_PAGE = 5000  # ids per Chroma get()
LEXICAL_PAGE = 10_000  # chunks (texts and metadata) per Chroma get() when the lexical index is built whole
# An embedded Chroma client keeps the vectors it loaded: chunks another process re-wrote later
# come back with their new text and metadata but the old vector. So, per manifest, the state it
# had when this process's view of the store was last known to be current; see view_is_current().
# One per index opened (the corpus, the shared uploads, one per chat owner): past MAX_VIEWS the
# least recently used is forgotten, which is safe: an index with no known view counts as not
# current, so its stored vectors are not trusted (an ingest re-embeds instead of reusing them).
MAX_VIEWS = 1024
_views: LRUCache[str, Any] = LRUCache(maxsize=MAX_VIEWS)
_UNKNOWN = ("unknown",)
_state_lock = threading.Lock()  # cachetools' caches are not thread-safe
# Vectors an Index re-embeds because embedded Chroma cannot return them (see Index.get): the
# most recently used are kept per Index (~1.5 KB each), so a long-running chat stays bounded.
REEMBED_CACHE = 4096


CLEAN_FILE = "clean.json"  # written when an ingest ended cleanly; removed before any write (Index.known_clean)


def _file_stamp(path: Path) -> list[int] | None:
    """What changes whenever a file is written or replaced: mtime, ctime (which no one can set
    back), size and inode."""
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino]


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


def _server_has(client, name: str) -> bool:
    """Whether the Chroma server holds a collection of that name."""
    try:
        client.get_collection(name)
    except Exception as exc:  # noqa: BLE001 - chromadb raises NotFoundError / ValueError by version
        if "does not exist" in str(exc) or type(exc).__name__ in {"NotFoundError", "InvalidCollectionException"}:
            return False
        raise
    return True


def forget_clients() -> None:
    """Forget this process's Chroma clients and views: for a bench or a test that copies, moves or
    deletes an index folder it has open (the next open makes a new client)."""
    _clients.clear()
    with _state_lock:
        _views.clear()


def _client_key(settings: Settings) -> str:
    """Where the Chroma data live: the server's URL, or the embedded store's folder."""
    return settings.chroma_url or str((Path(settings.index_dir) / "chroma").resolve())


def parse_chroma_url(url: str) -> tuple[str, int, bool]:
    """(host, port, ssl) of a Chroma server URL ``http(s)://host[:port][/]`` (port 8000 when not
    given); :class:`BadInput` in one line saying what is wrong with any other.

    Example:
        >>> parse_chroma_url("https://chroma.example.org:8443/")
        ('chroma.example.org', 8443, True)
    """
    problem = None
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port  # ValueError when not a number from 0 to 65535
    except ValueError as exc:
        parts, port, problem = None, None, str(exc).lower()
    if parts is None:
        pass
    elif "://" not in url:
        problem = "no http:// or https:// in front"
    elif parts.scheme not in {"http", "https"}:
        problem = f"the scheme {parts.scheme}:// is not http:// or https://"
    elif not parts.hostname:
        problem = "no host"
    elif port == 0:
        problem = "port 0"
    elif parts.path not in ("", "/") or parts.query or parts.fragment:
        problem = "a path, query or fragment after the port"
    elif parts.username is not None or parts.password is not None:
        problem, url = "credentials in the URL (not shown)", f"{parts.scheme}://...@{parts.hostname}"
    if problem:
        raise BadInput(f"ASSISTANT_CHROMA_URL must look like http://host:port, got {url!r}: {problem}")
    host = parts.hostname
    return (f"[{host}]" if ":" in host else host), port or 8000, parts.scheme == "https"


def make_client(settings: Settings, create: bool = True):
    """One Chroma client per location per process: embedded by default, HTTP when configured."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    key = _client_key(settings)
    if settings.chroma_url:
        if key not in _clients:
            host, port, ssl = parse_chroma_url(settings.chroma_url)
            _probe_server(settings)
            client = chromadb.HttpClient(host=host, port=port, ssl=ssl, settings=chroma_settings)
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
            fh.write(json.dumps(data))  # the C encoder: json.dump streams through Python, several times slower
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def entry_key(entry: dict) -> str:
    """A digest of one manifest entry (hash, chunk ids, names): the lexical index records, per
    file, the key of the entry it indexed, and re-indexes a file when its key changes."""
    parts = [str(entry.get("sha1", "")), str(entry.get("doc_id", "")), str(entry.get("title", "")),
             "\x01".join(map(str, entry.get("aliases", []))), "\x01".join(entry.get("chunks", [])),
             "repaired" if entry.get("repaired") else "",
             json.dumps({k: v for k, v in entry.items() if k not in _KEYED}, sort_keys=True) if len(entry) > 6 else ""]
    return hashlib.sha1("\x00".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


_KEYED = frozenset({"sha1", "doc_id", "title", "aliases", "chunks", "repaired"})


def _now_us() -> int:
    return time.time_ns() // 1000


# Shared state through a Chroma server: a reader asks for the records changed since its stamp
# minus this margin (clocks of different machines may differ by up to this much).
CLOCK_SKEW_US = 30_000_000
POLL_S = 0.2  # a reader asks the server for changes at most this often


class _Loaded(dict):
    """A manifest read from the server, with the key of each record as read (``base``): a save
    writes only the entries changed since, never an older copy over another client's newer one."""

    base: dict[str, str | None]


class SharedManifest:
    """The manifest stored through a Chroma server, beside the collection it describes.

    One record per file in the collection ``<collection>-state`` (id ``file:<path>``; metadata:
    path, hash, doc id, title, aliases, ``key`` = :func:`entry_key`, ``stamp`` = microseconds when
    written, ``removed``; document: the chunk ids as JSON). A removed file keeps a record marked
    ``removed`` so that readers see the removal. Each writer writes only the records of the files
    it changed, so clients ingesting different folders never overwrite each other's entries.
    """

    def __init__(self, client, collection_name: str) -> None:
        self.name = f"{collection_name}-state"
        self.col = client.get_or_create_collection(self.name, metadata={"hnsw:space": "l2"}, embedding_function=None)
        self.labels: int | None = None
        self.stamp = 0  # the newest record stamp seen

    def exists(self) -> bool:
        return self.col.count() > 0

    def _page(self, where: dict, include: list[str]) -> list[tuple[str, dict, str | None]]:
        out: list[tuple[str, dict, str | None]] = []
        offset = 0
        while True:
            got = self.col.get(where=where, include=include, limit=GET_PAGE, offset=offset)
            docs = got.get("documents") or [None] * len(got["ids"])
            out += zip(got["ids"], got["metadatas"], docs)
            if len(got["ids"]) < GET_PAGE:
                return out
            offset += GET_PAGE

    @staticmethod
    def _entry(meta: dict, doc: str | None) -> dict:
        entry = {"sha1": meta.get("sha1", ""), "doc_id": meta.get("doc_id", ""), "title": meta.get("title", ""),
                 "aliases": json.loads(meta.get("aliases") or "[]"), "chunks": json.loads(doc or "[]")}
        if meta.get("repaired"):
            entry["repaired"] = True
        return entry

    def load(self, with_chunks: bool = True) -> dict:
        """The whole manifest, as the embedded one is shaped (``with_chunks=False``: every entry's
        chunk list left empty, not read; for the document names only, never to be saved)."""
        files: dict[str, dict] = {}
        base: dict[str, str | None] = {}
        updated = None
        include = ["metadatas", "documents"] if with_chunks else ["metadatas"]
        for _, meta, doc in self._page({"kind": {"$in": ["file", "manifest"]}}, include):
            self.stamp = max(self.stamp, int(meta.get("stamp") or 0))
            if meta.get("kind") == "manifest":
                labels = meta.get("upload_labels")
                self.labels = labels if isinstance(labels, int) and labels >= 0 else None
                updated = meta.get("updated")
                continue
            path = meta["path"]
            if meta.get("removed"):
                base[path] = None
                continue
            files[path] = self._entry(meta, doc)
            base[path] = meta.get("key")
        manifest = _Loaded({"files": files, "updated": updated})
        manifest.base = base
        if self.labels is not None:
            manifest["upload_labels"] = self.labels
        return manifest

    def keys(self) -> dict[str, str]:
        """path -> key of every file recorded (metadata only)."""
        out: dict[str, str] = {}
        for _, meta, _ in self._page({"kind": "file"}, ["metadatas"]):
            self.stamp = max(self.stamp, int(meta.get("stamp") or 0))
            if not meta.get("removed"):
                out[meta["path"]] = meta.get("key") or ""
        return out

    def changed_since(self, stamp: int) -> dict[str, str | None]:
        """path -> key (None: removed) of the records written at or after ``stamp``."""
        out: dict[str, tuple[int, str | None]] = {}
        for _, meta, _ in self._page({"$and": [{"kind": "file"}, {"stamp": {"$gte": stamp}}]}, ["metadatas"]):
            st = int(meta.get("stamp") or 0)
            self.stamp = max(self.stamp, st)
            path = meta["path"]
            if path not in out or out[path][0] <= st:
                out[path] = (st, None if meta.get("removed") else meta.get("key"))
        return {p: k for p, (_, k) in out.items()}

    def entries(self, paths: list[str]) -> dict[str, dict | None]:
        """The current entries of ``paths`` (None: removed or never recorded)."""
        out: dict[str, dict | None] = {p: None for p in paths}
        for i in range(0, len(paths), GET_PAGE):
            got = self.col.get(ids=[f"file:{p}" for p in paths[i : i + GET_PAGE]], include=["metadatas", "documents"])
            for meta, doc in zip(got["metadatas"], got["documents"]):
                if not meta.get("removed"):
                    out[meta["path"]] = self._entry(meta, doc)
        return out

    def save(self, manifest: dict, step: int) -> None:
        """Write the records of the entries that differ from those read into ``manifest`` (or
        written from it since); a removed entry becomes a record marked removed."""
        base = getattr(manifest, "base", None)
        if base is None:
            base = self.load().base
        ids: list[str] = []
        metas: list[dict] = []
        docs: list[str] = []
        now = _now_us()
        for path, entry in manifest["files"].items():
            key = entry_key(entry)
            if base.get(path) == key:
                continue
            ids.append(f"file:{path}")
            metas.append({"kind": "file", "path": path, "stamp": now, "key": key, "removed": False,
                          "sha1": entry["sha1"], "doc_id": entry["doc_id"], "title": entry.get("title", ""),
                          "aliases": json.dumps(entry.get("aliases", [])), "repaired": bool(entry.get("repaired"))})
            docs.append(json.dumps(entry["chunks"]))
            base[path] = key
        for path, key in list(base.items()):
            if key is not None and path not in manifest["files"]:
                ids.append(f"file:{path}")
                metas.append({"kind": "file", "path": path, "stamp": now, "key": "", "removed": True})
                docs.append("[]")
                base[path] = None
        labels = manifest.get("upload_labels")
        if labels is not None and labels != self.labels:
            ids.append("manifest")
            metas.append({"kind": "manifest", "stamp": now, "upload_labels": int(labels), "updated": time.time()})
            docs.append("")
            self.labels = labels
        for i in range(0, len(ids), step):
            self.col.upsert(ids=ids[i : i + step], metadatas=metas[i : i + step], documents=docs[i : i + step],
                            embeddings=[[0.0]] * len(ids[i : i + step]))
        if ids:
            self.stamp = max(self.stamp, now)


class Index:
    """Read and write access to one index (Chroma collection + BM25 + manifest)."""

    def __init__(self, settings: Settings, embeddings, create: bool = False, name: str = "") -> None:
        """Open the index; ``name`` selects a separate one beside it (e.g. "user" for uploads):
        its own Chroma collection ``<collection>-<name>``, manifest and BM25 under ``<index_dir>/<name>``."""
        self.settings = settings
        self.name = name
        self.collection_name = f"{settings.collection}-{name}" if name else settings.collection
        self.dir = Path(settings.index_dir) / name if name else Path(settings.index_dir)
        self.shared: SharedManifest | None = None
        if not create and not settings.chroma_url and not self.manifest_path.exists():
            raise IndexNotFound(self.dir)
        self.embeddings = embeddings
        new_client = _client_key(settings) not in _clients
        self.client = make_client(settings, create=True)
        if settings.chroma_url:  # the manifest lives with the collection, on the server
            if not create and not _server_has(self.client, self.collection_name):
                raise IndexNotFound(f"{settings.chroma_url} (collection {self.collection_name})")
            self.shared = SharedManifest(self.client, self.collection_name)
        self._view_key = str(self.manifest_path.resolve())
        with _state_lock:
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
        self._read: tuple[Any, dict] | None = None  # (manifest stamp, manifest): see _manifest_read()
        self._lexical_checked = 0.0
        self._polled = 0.0  # when the shared records were last asked for changes (server)
        self._sync = threading.Lock()
        self._reembedded: LRUCache[str, Any] = LRUCache(maxsize=REEMBED_CACHE)  # embedded text -> vector, see get()
        self._reembed_lock = threading.Lock()

    @property
    def vectorstore(self):
        """LangChain's vector store over the same collection, for LangChain users (dense search
        queries the collection directly, as this store would).

        Built on first use: ingesting and answering never need it, and importing it costs ~0.5 s.
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
        """The lexical index's folder; with a Chroma server a cache named after the collection's
        id, so that a collection deleted and made again, or another server, never reuses it."""
        if self.shared is not None:
            return self.dir / f"lexical-cache-{self.collection.id}"
        return self.dir / "lexical"

    @staticmethod
    def present(settings: Settings, name: str = "") -> bool:
        """Whether the index ``name`` has a manifest, without creating anything: its file
        (embedded) or records on the Chroma server."""
        collection = f"{settings.collection}-{name}" if name else settings.collection
        if not settings.chroma_url:
            folder = Path(settings.index_dir) / name if name else Path(settings.index_dir)
            return (folder / "manifest.json").exists()
        key = (settings.chroma_url, collection)
        with _state_lock:
            known = _present.get(key)  # asked before each question: the server is asked once a second
        if known is not None:
            return known
        client = make_client(settings)
        state = f"{collection}-state"
        found = _server_has(client, state) and client.get_collection(state).count() > 0
        with _state_lock:
            _present[key] = found
        return found

    def has_manifest(self) -> bool:
        """Whether a manifest exists (embedded: the file; server: any record of the collection's)."""
        return self.shared.exists() if self.shared is not None else self.manifest_path.exists()

    def names(self):
        """The names of this index's documents joined to the glossary (:class:`NameIndex`),
        rebuilt when the manifest changes."""
        from .names import NameIndex, glossary

        if self.shared is not None:
            self.lexical()  # polls the shared records (at most every POLL_S)
            stamp = (self.shared.stamp, 0)
        else:
            stamp = _manifest_stamp(self.manifest_path)
        if self._names is None or self._names[0] != stamp:
            manifest = self.shared.load(with_chunks=False) if self.shared is not None else self._manifest_read()
            docs = {e["doc_id"]: (e.get("title", ""), e.get("aliases", [])) for e in manifest["files"].values()}
            self._names = (stamp, NameIndex.build(glossary(), docs))
        return self._names[1]

    def _manifest_read(self) -> dict:
        """The embedded manifest for readers that never change it (:meth:`problem`, :meth:`names`),
        parsed once per version of the file: ``assistant ask`` used to parse it twice (at 100k
        chunks ~5 MB of JSON each time). The result is shared: never modify it (whoever changes the
        manifest takes a fresh parse from :meth:`load_manifest`)."""
        stamp = _manifest_stamp(self.manifest_path)
        if stamp is None or self._read is None or self._read[0] != stamp:
            self._read = (stamp, self.load_manifest())
        return self._read[1]

    def load_manifest(self) -> dict:
        """The manifest: {"files": {path: {"sha1", "doc_id", "chunks", "title"}}, "updated": ts};
        empty when the file is missing, unreadable or of the wrong shape (see :meth:`read_manifest`)."""
        return self.read_manifest()[0]

    def read_manifest(self) -> tuple[dict, str | None]:
        """The manifest and, when it cannot be used as it is, why ("missing", "not valid JSON",
        "wrong shape: ...") with an empty manifest in its place. Never raises: readers carry on,
        and ingest rebuilds the manifest from the chunks' own metadata (never deleting them)."""
        empty: dict = {"files": {}, "updated": None}
        if self.shared is not None:
            manifest = self.shared.load()
            return manifest, (None if manifest["files"] or self.shared.exists() else "missing")
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
        """Record the manifest: atomically in the index folder, or (server) the records of the
        files whose entries changed."""
        if self.shared is not None:
            self.shared.save(manifest, self.client.get_max_batch_size())
            manifest["updated"] = time.time()
            return
        current = self.view_is_current()
        manifest["updated"] = time.time()
        self._dirty()
        atomic_write_json(self.manifest_path, manifest)
        if current:  # our own write: the view stays current (a stale one stays stale)
            with _state_lock:
                _views[self._view_key] = _manifest_stamp(self.manifest_path)

    def view_is_current(self) -> bool:
        """Whether every vector this process reads from the store is the one on disk: false once
        another process has written to this index since this process opened it (embedded Chroma
        then returns the vectors it had loaded). Always true with a Chroma server."""
        if self.settings.chroma_url:
            return True
        with _state_lock:
            view = _views.get(self._view_key, _UNKNOWN)
        return view == _manifest_stamp(self.manifest_path)

    # --- a clean end: what lets the next ingest skip the store's id list ---------------------
    # Embedded only. An ingest that ends without error records, in ``clean.json``, the manifest
    # file's stamp (mtime, ctime, size, inode), the collection's id and the number of chunks,
    # once the store holds exactly the chunks the manifest lists. Every write to the store or the
    # manifest through this class removes the file first (and fsyncs the folder), so a run
    # killed after its first write leaves no such file. The next ingest trusts the manifest
    # without listing every id in the store (:func:`assistant.ingest._repair`: ~0.5-1.5 s at
    # 100k chunks) only when the file is there, the manifest is the one it names, the collection
    # is the same one and holds that many chunks. Anything else (a killed run, a manifest written
    # by another program or an older version, a store folder replaced or changed in size) means
    # the full consistency check. With a Chroma server there is no such file: other clients write
    # at any moment, so every ingest checks.
    @property
    def clean_path(self) -> Path:
        return self.dir / CLEAN_FILE

    def _dirty(self) -> None:
        """Before a write: the index is no longer as a clean run left it."""
        if self.shared is not None:
            return
        try:
            self.clean_path.unlink()
        except FileNotFoundError:
            return
        fd = os.open(self.dir, os.O_RDONLY)  # the removal reaches the disk before the write it announces
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def known_clean(self, manifest: dict) -> bool:
        """Whether the store and ``manifest`` (just read) are as the last ingest left them when it
        ended cleanly: then every chunk the manifest lists is in the store and no other. A record
        that no longer matches is removed (so :meth:`mark_clean` writes a new one)."""
        if self.shared is not None:
            return False
        try:
            record = json.loads(self.clean_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return False
        except (OSError, ValueError):
            record = None
        listed = sum(len(e["chunks"]) for e in manifest["files"].values())
        ok = (isinstance(record, dict) and record.get("format") == 1
              and record.get("manifest") == _file_stamp(self.manifest_path)
              and record.get("collection") == str(self.collection.id)
              and record.get("chunks") == listed and self.collection.count() == listed)
        if not ok:
            self._dirty()
        return ok

    def mark_clean(self, manifest: dict) -> bool:
        """After the last manifest write of an ingest that ended without error: record that the
        store holds exactly the chunks ``manifest`` lists (see :meth:`known_clean`)."""
        if self.shared is not None or self.clean_path.exists():  # still there: nothing was written since
            return False
        stamp = _file_stamp(self.manifest_path)
        listed = sum(len(e["chunks"]) for e in manifest["files"].values())
        if stamp is None or self.collection.count() != listed:
            return False
        atomic_write_json(self.clean_path, {"format": 1, "manifest": stamp, "collection": str(self.collection.id),
                                            "chunks": listed})
        return True

    # --- writing --------------------------------------------------------------------------
    def all_ids(self) -> set[str]:
        """Every chunk id in Chroma, in one request: paging by offset costs more with every page
        (docs/measurements.md)."""
        return set(self.collection.get(include=[])["ids"])

    def metadatas(self, ids: list[str]) -> dict[str, dict]:
        """The metadata of chunks by id (paged)."""
        out: dict[str, dict] = {}
        for i in range(0, len(ids), GET_PAGE):
            got = self.collection.get(ids=ids[i : i + GET_PAGE], include=["metadatas"])
            out.update(zip(got["ids"], (m or {} for m in got["metadatas"])))
        return out

    def delete(self, ids: list[str]) -> None:
        if ids:
            self._dirty()
        step = self.client.get_max_batch_size()
        for i in range(0, len(ids), step):
            self.collection.delete(ids=ids[i : i + step])

    def upsert(self, ids: list[str], texts: list[str], metas: list[dict], vectors: np.ndarray) -> None:
        if ids:
            self._dirty()
        step = self.client.get_max_batch_size()
        for i in range(0, len(ids), step):
            self.collection.upsert(
                ids=ids[i : i + step],
                documents=texts[i : i + step],
                metadatas=metas[i : i + step],
                embeddings=vectors[i : i + step],
            )

    def rebuild_lexical(self, chunks: list[tuple[str, str, dict]] | None = None) -> LexicalIndex:
        """Rebuild BM25 whole and save it beside the Chroma data (server: in the local cache):
        from ``chunks`` (id, text, metadata) when the caller holds every chunk of the index,
        else from everything in Chroma."""
        manifest = self.load_manifest()
        lex = self._lexical_build(manifest, {c[0]: (c[1], c[2]) for c in chunks} if chunks is not None else None)
        self._save_lexical(lex)
        self._lexical = lex
        return lex

    def _lexical_build(self, manifest: dict, written: dict[str, tuple[str, dict]] | None = None,
                       stamp: int = 0, keys: dict[str, str] | None = None) -> LexicalIndex:
        """A whole lexical index of the manifest's files: chunk texts from ``written`` when it
        holds them all, else read from Chroma page by page. A chunk no entry lists is indexed
        under the file its metadata names (only a repair makes an entry for it). ``keys``: the
        entries' keys when the manifest given is not read whole (a server's records: every chunk
        is then indexed under its metadata's file, which is the file whose record lists it)."""
        owner = {cid: path for path, e in manifest["files"].items() for cid in e["chunks"]}

        def pages():
            # Each page costs more the further it starts, so pages are large, but not as large
            # as SQLite allows (32,766 variables: a larger page with metadata fails with "too many
            # SQL variables"): through a server a page of 30,000 chunks (texts and metadata) took
            # ~0.3 GB of the client's memory while it was parsed, on top of the index being built.
            offset, page = 0, LEXICAL_PAGE
            while True:  # one page of texts in memory at a time
                got = self.collection.get(include=["documents", "metadatas"], limit=page, offset=offset)
                yield from zip(got["ids"], got["documents"], got["metadatas"])
                if len(got["ids"]) < page:
                    return
                offset += page

        if written is not None and all(cid in written for cid in owner):
            chunks = ((cid, *written[cid]) for cid in owner)
        else:
            chunks = pages()
        files = keys if keys is not None else {path: entry_key(e) for path, e in manifest["files"].items()}
        return LexicalIndex.build_from(
            ((cid, embed_text(text, meta), meta, owner.get(cid) or str(meta.get("source", "")))
             for cid, text, meta in chunks), files, stamp)

    def _lexical_apply(self, lex: LexicalIndex, changes: dict[str, dict | None],
                       written: dict[str, tuple[str, dict]], stamp: int | None = None) -> LexicalIndex:
        """``lex`` with the chunks of the files in ``changes`` (path -> its manifest entry, None
        when the file is gone) replaced by their current ones, read from ``written`` or Chroma."""
        remove = [slot for path in changes for slot in lex.slots_of(path)]
        need = [cid for e in changes.values() if e for cid in e["chunks"] if cid not in written]
        got = self.get(need) if need else {}
        add = []
        for path, entry in changes.items():
            for cid in (entry["chunks"] if entry else []):
                text_meta = written.get(cid) or got.get(cid)
                if text_meta is not None:  # a chunk the store lost: the next ingest repairs it
                    add.append((cid, embed_text(text_meta[0], text_meta[1]), text_meta[1], path))
        files = dict(lex.files)
        for path, entry in changes.items():
            if entry is None:
                files.pop(path, None)
            else:
                files[path] = entry_key(entry)
        return lex.updated(remove, add, files, stamp, max_segments=self.settings.lexical_max_segments)

    def sync_lexical(self, manifest: dict, written: dict[str, tuple[str, dict]] | None = None) -> LexicalIndex:
        """Bring the saved lexical index in line with ``manifest`` (the authoritative one, after an
        ingest): only the files whose entries differ from those it indexed (or whose chunks this
        run wrote, ``written``) are re-indexed; a missing or unreadable index, or one that most
        files differ from, is built whole. With a Chroma server, the cache catches up with the
        shared records instead (see :meth:`lexical`). Cost: the changed files, not the index."""
        written = written or {}
        if self.shared is not None:
            return self.lexical(force=True)
        lex = LexicalIndex.load(self.lexical_dir, cache=self._lexical)
        files = manifest["files"]
        if lex is None:
            changes = None
        else:
            keys = {path: entry_key(e) for path, e in files.items()}
            changes = {path: files[path] for path in files
                       if lex.files.get(path) != keys[path] or any(c in written for c in files[path]["chunks"])}
            changes.update({path: None for path in set(lex.files) | lex.owners() if path not in files})
        if changes is None or len(changes) > max(len(files), 1) // 2:
            lex = self._lexical_build(manifest, written)
        elif changes:
            lex = self._lexical_apply(lex, changes, written)
        else:
            from .lexical import discard_leftovers

            discard_leftovers(self.lexical_dir)  # of the older format's interrupted saves
            self._lexical = lex
            return lex
        self._save_lexical(lex)
        self._lexical = lex
        self._lexical_checked = self._lexical_mtime()
        return lex

    def _save_lexical(self, lex: LexicalIndex) -> None:
        if self.shared is None:
            lex.save(self.lexical_dir)
            return
        try:  # server: only a cache; another process of this folder may be saving it
            lex.save(self.lexical_dir)
        except OSError:
            pass

    # --- reading --------------------------------------------------------------------------
    def _lexical_mtime(self) -> float:
        from .lexical import STATE

        try:  # one call: the folder may be swapped out between an exists() and a stat()
            return (self.lexical_dir / STATE).stat().st_mtime_ns
        except OSError:
            return -1.0

    def lexical(self, force: bool = False) -> LexicalIndex:
        """The BM25 index, reloaded (new segments only) when another process changed it.

        Embedded: another ingest commits a new state file; a reader that finds it missing or
        half-read in that instant looks again a few times before it derives the index from
        Chroma in memory (slower, never wrong), as it does when the index is stale. With a
        Chroma server: see :meth:`_shared_lexical`."""
        if self.shared is not None:
            return self._shared_lexical(force)
        mtime = self._lexical_mtime()
        if self._lexical is None or mtime != self._lexical_checked:
            lex = LexicalIndex.load(self.lexical_dir, cache=self._lexical)
            for _ in range(5):
                if lex is not None:
                    break
                time.sleep(0.02)
                mtime = self._lexical_mtime()
                lex = LexicalIndex.load(self.lexical_dir, cache=self._lexical)
            if lex is None or len(lex) != self.collection.count():
                lex = self._lexical_build(self.load_manifest())  # stale or missing: derive it in memory
            self._lexical = lex
            self._lexical_checked = mtime
        return self._lexical

    def _shared_lexical(self, force: bool = False) -> LexicalIndex:
        """The lexical index of a collection on a Chroma server, for any client: the local cache
        (or, without one, an index derived from the collection and the shared manifest), brought
        up to date from the manifest records written since its stamp (less the clock margin):
        the files whose key changed are re-indexed from their chunks by id. Asked at most every
        ``POLL_S`` seconds, so another client's ingest is searchable well within a second."""
        assert self.shared is not None
        now = time.monotonic()
        if self._lexical is not None and not force and now - self._polled < POLL_S:
            return self._lexical
        with self._sync:
            lex = self._lexical or LexicalIndex.load(self.lexical_dir)
            changed = False
            if lex is None:
                start = _now_us()
                # The records' keys only, not their chunk lists (at a million chunks ~0.3 GB)
                lex = self._lexical_build({"files": {}}, stamp=start, keys=self.shared.keys())
                changed = True
            changes = self.shared.changed_since(lex.stamp - CLOCK_SKEW_US)
            stale = sorted(p for p, key in changes.items() if lex.files.get(p) != key)
            stamp = max(lex.stamp, self.shared.stamp)
            if stale:
                lex = self._lexical_apply(lex, self.shared.entries(stale), {}, stamp)
                changed = True
            elif stamp != lex.stamp:
                lex.stamp = stamp
            if changed:
                self._save_lexical(lex)
            self._lexical = lex
            self._polled = time.monotonic()
        return lex

    def dense(self, vector: list[float], k: int, filters: dict[str, str]) -> list[tuple[str, float, str, dict]]:
        """Top ``k`` by cosine similarity: (chunk_id, similarity, text, metadata)."""
        # The query langchain_chroma's similarity_search_by_vector_with_relevance_scores makes,
        # made directly: importing langchain_chroma costs ~0.5 s at start-up (``vectorstore``
        # stays for LangChain users). No count() first: an empty collection answers with no
        # hits (chromadb 1.5), and through a server count() is one more request per search
        # whose cost grows with the collection (~20 ms at 200k chunks, ~60 ms at 500k).
        got = self.collection.query(query_embeddings=[vector], n_results=k, where=chroma_where(filters),
                                    include=["documents", "metadatas", "distances"])
        return [(cid, 1.0 - float(dist), text, meta or {})
                for cid, text, meta, dist in zip(got["ids"][0], got["documents"][0], got["metadatas"][0],
                                                 got["distances"][0])
                if text is not None]

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

    def neighbour_ids(self, doc_id: str, section: str, position: int, before: int, after: int) -> list[str]:
        """The ids of the chunks of ``doc_id`` under heading ``section`` whose positions lie from
        ``position - before`` to ``position + after``, and of the first chunk under that heading.

        Found in the lexical index, which holds every chunk's id, document and heading and follows
        the collection file by file: no request to the store (a get filtered by document and
        heading cost seconds through a server at a million chunks)."""
        at = {}
        for cid in self.lexical().section_ids(doc_id, section):
            pos = chunk_position(cid)
            if pos is not None and pos <= position + after:
                at[cid] = pos
        if not at:
            return []
        first = min(at.values())
        return [cid for cid, pos in at.items() if pos == first or pos >= position - before]

    def neighbours(self, doc_id: str, section: str, position: int, before: int, after: int) -> dict[str, tuple[str, dict]]:
        """Texts and metadata, by id, of the chunks :meth:`neighbour_ids` names (one get by id)."""
        return {cid: (text, meta) for cid, (text, meta, _) in
                self.get(self.neighbour_ids(doc_id, section, position, before, after)).items()}

    def _reembed(self, ids: list[str], texts: list[str], metas: list[dict]) -> list:
        # Keyed by the embedded text, not the chunk id: an id stays the same when only the
        # title or heading above the chunk changes, and the vector must follow the text.
        keys = [embed_text(t, m) for t, m in zip(texts, metas)]
        found: dict[str, Any] = {}
        with self._reembed_lock:
            for key in keys:
                vec = self._reembedded.get(key)
                if vec is not None:
                    found[key] = vec
        todo = list(dict.fromkeys(k for k in keys if k not in found))
        if todo:
            vecs = self.embeddings.encode(todo)
            with self._reembed_lock:
                for key, vec in zip(todo, vecs):
                    found[key] = self._reembedded[key] = vec
        return [found[key] for key in keys]

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
        if self.shared is not None and manifest is None:
            # Shared: other clients write at any moment (a file's old chunks are deleted before its
            # new ones are written), so only a store that lost everything is a problem; and the
            # records' chunk lists are not read for it (at a million chunks, seconds per `ask`).
            count = self.collection.count() if count is None else count
            if count == 0 and self.shared.exists():
                return (f"the Chroma server at {self.settings.chroma_url} holds no chunks of collection "
                        f"{self.collection_name} but its manifest lists documents; run `assistant ingest` to rebuild it")
            return None
        manifest = self._manifest_read() if manifest is None else manifest
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
