"""Saved conversations, per owner: ``<index_dir>/conversations/<owner>/<id>.json``.

The app saves the conversation after every answer, so a reload (same browser, same owner
cookie) shows it again, and lists the owner's recent conversations. Files are written
atomically (a crash leaves the previous version); an unreadable file is skipped, never fatal.
"""
from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path

from .errors import BadInput

_ID_RE = re.compile(r"^[0-9a-f]{32}$")
TITLE_CHARS = 80


def new_conversation_id() -> str:
    """A fresh conversation id (32 hex digits)."""
    return uuid.uuid4().hex


class ConversationStore:
    """One owner's saved conversations.

    Example:
        >>> store = ConversationStore("/tmp/idx", "3f2a9c0d1e4b5a6c")   # doctest: +SKIP
        >>> store.save(new_conversation_id(), [{"role": "user", "content": "What is PESCO?"}])  # doctest: +SKIP
    """

    def __init__(self, index_dir: str | Path, owner: str) -> None:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,39}", owner or ""):
            raise BadInput("owner must be 1-40 lowercase letters, digits or hyphens")
        self.folder = Path(index_dir) / "conversations" / owner

    def _path(self, conv_id: str) -> Path:
        if not isinstance(conv_id, str) or not _ID_RE.match(conv_id):
            raise BadInput("a conversation id is 32 lowercase hex digits")
        return self.folder / f"{conv_id}.json"

    def save(self, conv_id: str, messages: list[dict]) -> Path:
        """Write the conversation (its title is its first question); returns the file."""
        from .store import atomic_write_json

        path = self._path(conv_id)
        first = next((m.get("content", "") for m in messages if m.get("role") == "user"), "")
        title = " ".join(str(first).split())
        if len(title) > TITLE_CHARS:
            title = title[: TITLE_CHARS - 1].rstrip() + "…"
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, {"id": conv_id, "title": title or "(empty)", "updated": time.time(),
                                 "messages": messages})
        return path

    def load(self, conv_id: str) -> list[dict] | None:
        """The messages of a saved conversation, or None when there is none (or it is unreadable)."""
        data = self._read(self._path(conv_id))
        return data["messages"] if data else None

    def list(self, limit: int = 10) -> list[dict]:
        """The most recent conversations first: ``{"id", "title", "updated"}``."""
        if not self.folder.is_dir():
            return []
        items = []
        for path in self.folder.glob("*.json"):
            if _ID_RE.match(path.stem) and (data := self._read(path)):
                items.append({"id": path.stem, "title": str(data.get("title", "")), "updated": data.get("updated", 0)})
        items.sort(key=lambda d: -float(d["updated"] or 0))
        return items[:limit]

    def delete(self, conv_id: str) -> None:
        """Forget a conversation (no error when it is already gone)."""
        self._path(conv_id).unlink(missing_ok=True)

    @staticmethod
    def _read(path: Path) -> dict | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
            return None
        return data
