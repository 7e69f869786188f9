"""Private upload spaces: each owner (a browser session of the app, or an API caller) keeps its
own files under ``<index_dir>/uploads/<owner>/`` and its own upload index (``Assistant.for_owner``),
so nobody else lists, searches or removes them.

An owner is named by a random token the app keeps in a browser cookie; on disk and in the index
only a digest of the token is used (:func:`owner_id`), so the folder names do not reveal it.
"""
from __future__ import annotations

import hashlib
import os
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import BadInput

UPLOAD_TYPES = ["pdf", "docx", "html", "md", "txt"]
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
TOKEN_RE = re.compile(r"^[0-9a-f]{32}$")


def new_token() -> str:
    """A fresh random owner token (128 bits, hex)."""
    return secrets.token_hex(16)


def valid_token(token: object) -> bool:
    """Is ``token`` a well-formed owner token (what :func:`new_token` makes)?"""
    return isinstance(token, str) and bool(TOKEN_RE.match(token))


def owner_id(token: str) -> str:
    """The owner name used on disk and in the index for a token: 16 hex digits of its SHA-256."""
    if not valid_token(token):
        raise BadInput("an owner token is 32 lowercase hex digits")
    return hashlib.sha256(token.encode("ascii")).hexdigest()[:16]


def safe_filename(name: str) -> str | None:
    """A safe basename for an upload, or None when the name or its extension is unusable.

    Keeps only the basename (either slash), maps characters outside ``[A-Za-z0-9._-]`` to ``_``,
    strips leading dots and requires an allowed extension.
    """
    base = re.split(r"[\\/]", name or "")[-1]
    base = re.sub(r"[^A-Za-z0-9._-]", "_", base).lstrip(".")
    base = re.sub(r"_+", "_", base)
    if "." not in base:
        return None
    stem, ext = base.rsplit(".", 1)
    ext = ext.lower()
    if ext not in UPLOAD_TYPES:
        return None
    stem = stem.strip("._-")[:100] or "upload"
    return f"{stem}.{ext}"


@dataclass
class UploadResult:
    """What adding files did: the names kept (indexed), the ones refused with their reason."""

    added: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    report: object | None = None  # the IngestReport of the run, when there was one


class UploadStore:
    """One owner's upload folder.

    Example:
        >>> store = UploadStore("/tmp/idx", "3f2a9c0d1e4b5a6c")     # doctest: +SKIP
        >>> store.add(bot.for_owner(store.owner), "notes.md", b"# Notes")   # doctest: +SKIP
    """

    def __init__(self, index_dir: str | Path, owner: str) -> None:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,39}", owner or ""):
            raise BadInput("owner must be 1-40 lowercase letters, digits or hyphens")
        self.owner = owner
        self.folder = Path(index_dir) / "uploads" / owner

    def save(self, name: str, data: bytes) -> Path:
        """Write one file with a safe name (atomically); raises ValueError naming the problem."""
        if len(data) > MAX_UPLOAD_BYTES:
            raise ValueError(f"{name}: larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
        safe = safe_filename(name)
        if safe is None:
            raise ValueError(f"{name}: unsupported file name or type (allowed: {', '.join(UPLOAD_TYPES)})")
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / safe
        tmp = self.folder / f".{safe}.{uuid.uuid4().hex}.part"  # hidden: never ingested
        tmp.write_bytes(data)
        os.replace(tmp, path)
        return path

    def list(self) -> list[Path]:
        """The owner's uploaded files, by name."""
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.iterdir() if p.is_file() and not p.name.startswith("."))

    def add(self, bot, files: list[tuple[str, bytes]], progress: Callable | None = None) -> UploadResult:
        """Save ``files`` (name, bytes) and index them into ``bot``'s upload index (``bot`` must be
        this owner's view). A file that cannot be saved or read is deleted again, so it is never
        listed as uploaded; its reason is in ``failed``."""
        self._check_bot(bot)
        result = UploadResult()
        saved: dict[Path, str] = {}
        for name, data in files:
            try:
                saved[self.save(name, data)] = name
            except ValueError as exc:
                result.failed.append((name, str(exc).removeprefix(f"{name}: ")))
        if not saved:
            return result
        report = bot.ingest([self.folder], progress=progress, user=True)
        result.report = report
        bad = {Path(p).resolve(): reason for p, reason in report.failed}
        for path, name in saved.items():
            reason = bad.get(path.resolve())
            if reason is None:
                result.added.append(path.name)
            else:
                path.unlink(missing_ok=True)
                result.failed.append((name, reason))
        return result

    def remove(self, bot, name: str):
        """Delete one of the owner's files and re-index the folder so its passages leave the
        owner's upload index. Returns the IngestReport; ValueError for a name not uploaded."""
        self._check_bot(bot)
        safe = safe_filename(name)
        if safe is None or safe != name or not (self.folder / safe).is_file():
            raise ValueError(f"not one of your uploads: {name!r}")
        (self.folder / safe).unlink()
        self.folder.mkdir(parents=True, exist_ok=True)
        return bot.ingest([self.folder], user=True)

    def _check_bot(self, bot) -> None:
        if getattr(bot, "owner", None) != self.owner:
            raise ValueError("uploads must be indexed with the owner's own view (Assistant.for_owner)")
