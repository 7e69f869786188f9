"""Conversation export (Markdown, JSON) and "copy with citations" (Markdown footnotes).

Everything in an export that came from a question, an answer or a source (an upload may hold
anything) is written so that no Markdown viewer can turn it into HTML, a link or an image:
``\\ < > [ ]`` are backslash-escaped, and only plain http(s) source URLs become links.
"""
from __future__ import annotations

import datetime as _dt
import json
import re
from typing import Any

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&=\"'^])")
_EXPORT_SPECIAL = re.compile(r"([\\<>\[\]])")
_MARKER = re.compile(r"\[(\d+)\]")


def escape_md(text: str) -> str:
    """Backslash-escape every Markdown/LaTeX special character so text renders literally
    (for display in the app, where nothing may be interpreted)."""
    return _MD_SPECIAL.sub(r"\\\1", text or "")


def inert(text: str) -> str:
    """``text`` for a Markdown file: raw HTML, links and images cannot form (``\\ < > [ ]``
    escaped); everything else stays readable as written."""
    return _EXPORT_SPECIAL.sub(r"\\\1", text or "")


def safe_url(url: str) -> str | None:
    """``url`` if it is a plain http(s) URL, with characters that would break a Markdown link
    encoded; None for anything else (``javascript:``, ``data:``, local files, uploads)."""
    url = (url or "").strip()
    if not re.match(r"^https?://[^\s]+$", url, re.IGNORECASE):
        return None
    return (url.replace("(", "%28").replace(")", "%29").replace("<", "%3C").replace(">", "%3E")
            .replace("[", "%5B").replace("]", "%5D").replace('"', "%22"))


def source_kind(c: dict) -> str:
    """What kind of source a citation is from: "upload", "official text" or "team brief"."""
    if c.get("source_kind") == "upload" or str(c.get("url", "")).startswith("upload:"):
        return "upload"
    if c.get("kind"):  # what the app worked out (assistant.sources.kind_of)
        return c["kind"]
    return "official text" if c.get("source_kind") == "document" else "team brief"


def _source_label(c: dict) -> str:
    kind = source_kind(c)
    bits = [inert(c.get("title") or c.get("doc_id") or "Untitled")]
    if c.get("section"):
        bits.append(inert(c["section"]))
    bits.append("your upload" if kind == "upload" else kind)
    if c.get("reviewed"):
        bits.append(f"reviewed {inert(str(c['reviewed']))}")
    if c.get("adopted"):
        bits.append(f"adopted {inert(str(c['adopted']))}")
    url = safe_url(c.get("url", "")) if kind != "upload" else None
    return " — ".join(bits) + (f" — <{url}>" if url else "")


def _quote_block(text: str, indent: str = "") -> str:
    return "\n".join(f"{indent}> " + inert(ln) for ln in (text or "").splitlines() or [""])


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def conversation_markdown(messages: list[dict]) -> str:
    """The conversation as Markdown, each answer followed by its sources and quotes."""
    lines = ["# Conversation with the security-cooperation policy assistant", "",
             f"_Exported {_now().strftime('%Y-%m-%d %H:%M UTC')}_", ""]
    for m in messages:
        if m.get("role") == "user":
            lines += [f"**You:** {inert(m.get('content', ''))}", ""]
            continue
        rec = m.get("answer") or {}
        label = ("**Assistant (the sources contradict the question's premise):**" if rec.get("abstained")
                 and rec.get("citations") else "**Assistant (not covered by the sources):**" if rec.get("abstained")
                 else "**Assistant:**")
        lines += [f"{label} {inert(m.get('content', ''))}", ""]
        if rec.get("query") and rec.get("query") != rec.get("question"):
            lines += [f"_Searched for: {inert(rec['query'])}_", ""]
        cits = rec.get("citations") or []
        if cits:
            lines += ["Sources:", ""]
            for c in cits:
                lines.append(f"- [{int(c.get('marker', 0))}] {_source_label(c)}")
                lines.append("")
                lines.append(_quote_block(c.get("quote", ""), "  "))
                lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def conversation_json(messages: list[dict]) -> str:
    """The conversation as JSON: role, content and (for answers) citations and abstention."""
    out = []
    for m in messages:
        item: dict[str, Any] = {"role": m.get("role"), "content": m.get("content", "")}
        if m.get("role") == "assistant":
            rec = m.get("answer") or {}
            item.update({k: rec.get(k) for k in ("citations", "abstained", "abstain_reason", "query", "latency_ms")})
        out.append(item)
    doc = {"exported_at": _now().isoformat(timespec="seconds"), "messages": out}
    return json.dumps(doc, ensure_ascii=False, indent=2)


def answer_with_footnotes(text: str, citations: list[dict]) -> str:
    """One answer as Markdown with footnotes: ``[n]`` becomes ``[^n]`` and each source is a
    footnote (title, section, kind, dates, official link, quote) — "copy with citations"."""
    known = {int(c.get("marker", 0)) for c in citations}
    body = inert(text)
    body = re.sub(r"\\\[(\d+)\\\]", lambda m: f"[^{m.group(1)}]" if int(m.group(1)) in known else m.group(0), body)
    notes = [f"[^{int(c['marker'])}]: {_source_label(c)}: “{inert(' '.join((c.get('quote') or '').split()))}”"
             for c in citations]
    return body + ("\n\n" + "\n".join(notes) if notes else "") + "\n"
