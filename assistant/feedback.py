"""Feedback on answers: one JSON line per rating in ``<index_dir>/feedback.jsonl``.

A rating and its later comment are two lines with the same ``answer_id``; :func:`read_feedback`
keeps the last line of each answer (the log itself is append-only, so nothing is ever lost).
"""
from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path

FILE_NAME = "feedback.jsonl"


def append_feedback(index_dir: str | Path, question: str, answer: str, citations: list[dict],
                    rating: str, comment: str = "", answer_id: str = "") -> Path:
    """Append one JSON line to ``<index_dir>/feedback.jsonl`` and fsync it. Returns the path.

    ``answer_id`` (when given) names the answer rated, so a later comment supersedes the rating
    line in :func:`read_feedback`.
    """
    path = Path(index_dir) / FILE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "question": question,
        "answer": answer,
        "citations": citations,
        "rating": rating,
        "comment": comment or "",
    }
    if answer_id:
        record["answer_id"] = answer_id
    data = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
    from filelock import FileLock

    # One record = one O_APPEND write under a lock: sessions writing at once never interleave
    # lines, and a crash leaves at most a missing last line, never a corrupted earlier one.
    with FileLock(str(path) + ".lock"):
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
    return path


def read_feedback(index_dir: str | Path) -> list[dict]:
    """The feedback records, one per answer (the last line written for it); lines without an
    ``answer_id`` each count; an unreadable line (a crash mid-write) is skipped."""
    path = Path(index_dir) / FILE_NAME
    if not path.exists():
        return []
    latest: dict[str, dict] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines()):
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict):
            latest.pop(key := rec.get("answer_id") or f"line-{n}", None)
            latest[key] = rec
    return list(latest.values())
