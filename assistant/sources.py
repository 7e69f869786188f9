"""What a reader needs to judge an answer's sources, built from an :class:`Answer` and the index:
the library of indexed documents, each citation's kind of source and dates, its quote in
context, one card per document, and follow-up questions drawn from the cited documents.
Used by the app; no UI code here.
"""
from __future__ import annotations

import re
from collections import OrderedDict

from .chunking import sentence_spans

UPLOAD = "upload"
BRIEF = "team brief"
OFFICIAL = "official text"
# Human labels for the slugs of issuers, types and topics (the rest: hyphens to spaces, capitalised).
ACRONYMS = {"un": "UN", "eu": "EU", "nato": "NATO", "osce": "OSCE", "oas": "OAS", "au": "AU", "coe": "CoE",
            "fatf": "FATF", "interpol": "INTERPOL", "icao": "ICAO", "cbrn": "CBRN", "csdp": "CSDP", "pnr": "PNR",
            "wmd": "WMD", "ict": "ICT", "ai": "AI", "mla": "MLA", "fiu": "FIU", "fius": "FIUs",
            "europe": "Europe", "european": "European", "atlantic": "Atlantic", "africa": "Africa",
            "african": "African", "asia": "Asia", "americas": "Americas", "arctic": "Arctic"}
TYPE_LABELS = {"treaty": "Treaty", "convention": "Convention", "document": "Official text", "upload": "Your upload"}


def human_label(value: str) -> str:
    """A readable label for an index value ("arms-control" → "Arms control", "un" → "UN")."""
    if value in TYPE_LABELS:
        return TYPE_LABELS[value]
    if not re.fullmatch(r"[a-z0-9-]+", value or ""):
        return value  # already written for people ("Council of Europe")
    words = [ACRONYMS.get(w, w) for w in value.split("-") if w]
    if not words:
        return value
    first = words[0] if words[0] in ACRONYMS.values() else words[0].capitalize()
    return " ".join([first, *words[1:]])


def kind_of(meta: dict) -> str:
    """The kind of source a document (or citation) is: a user's upload, an official text indexed
    as published (no front matter: type "document", no issuer), or a team brief explaining an
    instrument (the corpus: front matter with the instrument's issuer, type and official link)."""
    if meta.get("source_kind") == UPLOAD or str(meta.get("url", "")).startswith("upload:") \
            or meta.get("issuer") == UPLOAD:
        return UPLOAD
    if meta.get("source_kind") == "document" or (meta.get("type") == "document" and not meta.get("issuer")):
        return OFFICIAL
    return BRIEF


def library(metas: list[dict]) -> list[dict]:
    """One entry per document from chunk metadata (any chunks of the documents, e.g. the first of
    each): doc_id, title, issuer, type, adopted, reviewed, topics, url, kind and the number of
    chunks seen (``passages``); sorted by title."""
    docs: dict[str, dict] = {}
    for m in metas:
        doc = m.get("doc_id")
        if not doc:
            continue
        if doc not in docs:
            topics = m.get("topics") or []
            if isinstance(topics, str):
                topics = [t for t in topics.split("|") if t]
            docs[doc] = {"doc_id": doc, "title": m.get("title") or doc, "issuer": m.get("issuer", ""),
                         "type": m.get("type", ""), "adopted": m.get("adopted", ""),
                         "reviewed": m.get("reviewed", ""), "topics": list(topics), "url": m.get("url", ""),
                         "passages": 0}
            docs[doc]["kind"] = kind_of(docs[doc])
        docs[doc]["passages"] += 1
    return sorted(docs.values(), key=lambda d: d["title"].lower())


def search_library(docs: list[dict], text: str) -> list[dict]:
    """The documents whose title, issuer, type, topics or id hold every word of ``text``."""
    words = [w for w in re.findall(r"\w+", (text or "").lower()) if w]
    if not words:
        return list(docs)

    def hay(d: dict) -> str:
        return " ".join([d["title"], d["issuer"], d["type"], human_label(d["type"]), d["doc_id"], d.get("adopted", ""),
                         *d["topics"], *(human_label(t) for t in d["topics"])]).lower()

    return [d for d in docs if all(w in hay(d) for w in words)]


def quote_context(passage_text: str, quote: str) -> tuple[str, str]:
    """The sentence before and the sentence after ``quote`` in its passage ("" where none)."""
    if not passage_text or not quote:
        return "", ""
    start = passage_text.find(quote)
    if start < 0:
        return "", ""
    end = start + len(quote)
    spans = sentence_spans(passage_text)
    before = [s for s in spans if s[1] <= start]
    after = [s for s in spans if s[0] >= end]
    return (passage_text[before[-1][0] : before[-1][1]] if before else "",
            passage_text[after[0][0] : after[0][1]] if after else "")


def short_title(title: str) -> str:
    """A title without its year and long preamble ("Council of Europe Convention on Cybercrime –
    Budapest Convention (2001)" → "the Budapest Convention")."""
    t = re.sub(r"\s*\((?:\d{4}[^)]*|[^)]*\d{4})\)\s*$", "", title or "").strip()
    if " – " in t:
        t = t.split(" – ")[-1].strip()
    if not t.lower().startswith("the ") and not re.match(r"^[A-Z]{2,}\b", t):
        t = "the " + t
    return t


def follow_ups(question: str, passages: list, citations: list[dict], limit: int = 3) -> list[str]:
    """Questions the cited documents can answer next: provisions of theirs that were retrieved
    but not quoted ("What does Article 6 of the North Atlantic Treaty say?"), then the cited
    document as a whole."""
    cited_docs = list(OrderedDict((c["doc_id"], c.get("title", "")) for c in citations).items())
    cited_sections = {(c["doc_id"], c.get("section", "")) for c in citations}
    out: list[str] = []
    seen = {question.strip().lower()}

    def add(q: str) -> None:
        if q.lower() not in seen and len(out) < limit:
            seen.add(q.lower())
            out.append(q)

    for p in passages:
        if p.doc_id not in dict(cited_docs) or (p.doc_id, p.section) in cited_sections or not p.section:
            continue
        head = p.section.split(" > ")[-1]
        m = re.match(r"^((?:Article|Art\.|Section|Rule|Principle|Chapter|Part)\s+[\w.()-]+)", head)
        name = short_title(p.title)
        if m:
            add(f"What does {m.group(1)} of {name} say?")
        else:
            topic = re.sub(r"^[\d.\s–-]+", "", head).strip(" .:")
            if topic and len(topic.split()) <= 8:
                add(f"What does {name} say about {topic[:1].lower() + topic[1:]}?")
    for doc, title in cited_docs:
        add(f"What is {short_title(title)} about?")
    return out


def enrich(record: dict, passages: list, docs: dict[str, dict]) -> dict:
    """The stored record of an answer with, per citation, its kind of source, dates and the
    quote's context, and the follow-up questions (``docs``: library entries by doc id)."""
    by_chunk = {p.chunk_id: p for p in passages}
    cits = []
    for c in record.get("citations") or []:
        meta = docs.get(c.get("doc_id"), {})
        c = dict(c)
        c["kind"] = kind_of({**meta, **c})
        c.setdefault("reviewed", meta.get("reviewed", ""))
        p = by_chunk.get(c.get("chunk_id"))
        c["context_before"], c["context_after"] = quote_context(p.text if p else "", c.get("quote", ""))
        cits.append(c)
    record = dict(record, citations=cits)
    record["follow_ups"] = follow_ups(record.get("question", ""), passages, cits)
    return record


def by_document(citations: list[dict]) -> list[dict]:
    """One card per document, in order of first citation: the document's fields and its quotes."""
    cards: "OrderedDict[str, dict]" = OrderedDict()
    for c in citations:
        card = cards.setdefault(c.get("doc_id", ""), {**c, "quotes": []})
        card["quotes"].append(c)
    return list(cards.values())


# Filter chips for document types: related types together, in this order.
TYPE_GROUPS: list[tuple[str, tuple[str, ...]]] = [
    ("Treaties & conventions", ("treaty", "convention", "agreement", "protocol")),
    ("EU law", ("regulation", "directive", "decision")),
    ("Resolutions", ("resolution",)),
    ("Declarations & strategies", ("declaration", "strategy", "communique")),
    ("Team briefs", ("brief",)),
    ("Official texts", ("document",)),
    ("Your uploads", ("upload",)),
]


def type_chips(types: list[str]) -> dict[str, tuple[str, ...]]:
    """The type chips for the types present in an index: each group of :data:`TYPE_GROUPS` that
    holds any of them (with only those), then every other type on its own (human label)."""
    present = list(dict.fromkeys(types))
    chips: dict[str, tuple[str, ...]] = {}
    grouped: set[str] = set()
    for label, members in TYPE_GROUPS:
        held = tuple(t for t in members if t in present)
        if held:
            chips[label] = held
            grouped.update(held)
    for t in present:
        if t not in grouped:
            chips[human_label(t)] = (t,)
    return chips


def or_list(words: list[str]) -> str:
    """"a", "a or b", "a, b or c"."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1] if words else ""


def not_held_notice(names: list[str]) -> str:
    """What the chat and the CLI say before an answer to a question that names instruments the
    sources do not include (``Answer.not_held``); "" when there are none."""
    if not names:
        return ""
    return f"The sources do not include {'; '.join(names)}: this answer comes from other documents."
