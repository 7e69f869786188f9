"""Read files of every supported format into a document with metadata and sections.

Each loader returns a :class:`LoadedDoc`: metadata (id, title, url, issuer, type, topics,
adopted) and a list of :class:`Section` blocks (heading path, text, PDF page). Markdown with
front matter is the corpus format; other files get metadata derived from the file.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import BadDocument

SUPPORTED = {".md", ".markdown", ".txt", ".html", ".htm", ".pdf", ".docx"}
FRONT_MATTER_KEYS = ("id", "title", "issuer", "type", "adopted", "url", "topics", "summary", "aliases", "reviewed")
HEADING_RE = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
URL_LINE_RE = re.compile(r"^\s*(?:source|url)\s*:\s*(\S+)\s*$", re.I | re.M)
SLUG_RE = re.compile(r"[^a-z0-9]+")
BLOCK_TAGS = {"p", "li", "blockquote", "pre", "td", "dd", "dt"}
HEADING_TAGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
# Elements whose start and end break the text into separate blocks.
CONTAINER_TAGS = BLOCK_TAGS | {"div", "section", "article", "main", "body", "ul", "ol", "dl", "table", "thead",
                               "tbody", "tfoot", "tr", "th", "caption", "figure", "figcaption", "address",
                               "details", "summary", "fieldset", "center", "hr"}
# Markup nested deeper than this is refused before parsing: the HTML parser's time grows faster
# than linearly with depth (~1.5 s at 20,000 nested blocks, ~50 s at 100,000 on this machine),
# so one hostile page could stall an ingest; real pages nest a few dozen levels.
MAX_HTML_DEPTH = 25_000
_TAG_RE = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)[^>]*?(/?)>")
# Elements that never hold content, or whose end tag may be left out (an unclosed <p> or <li>
# closes at the next one): they do not deepen the tree, so they are not counted.
_FLAT_TAGS = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
                        "track", "wbr", "param", "p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup",
                        "thead", "tbody", "tfoot", "colgroup", "rt", "rp", "html", "head", "body"})


def html_depth(html: str, stop_at: int = MAX_HTML_DEPTH) -> int:
    """How deep the elements of ``html`` nest (counting elements with required end tags); stops
    counting once it passes ``stop_at``. One linear scan of the tags."""
    depth = deepest = 0
    for m in _TAG_RE.finditer(html):
        closing, name, self_closing = m.groups()
        if self_closing or name.lower() in _FLAT_TAGS:
            continue
        if closing:
            depth = max(depth - 1, 0)
            continue
        depth += 1
        if depth > deepest:
            deepest = depth
            if deepest > stop_at:
                break
    return deepest


@dataclass
class Section:
    """A run of text under one heading path (and, for PDFs, on one page)."""

    path: list[str]
    text: str
    page: int | None = None


@dataclass
class LoadedDoc:
    """A parsed source file."""

    meta: dict
    sections: list[Section] = field(default_factory=list)


def slugify(text: str) -> str:
    """Lowercase-hyphenated id from arbitrary text ("UN Charter.md" -> "un-charter-md")."""
    return SLUG_RE.sub("-", text.lower()).strip("-") or "document"


def load(path: Path) -> LoadedDoc:
    """Load any supported file; raise :class:`BadDocument` with a reason when it cannot be read."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise BadDocument(f"unsupported file type {suffix or '(none)'}")
    try:
        if suffix in {".md", ".markdown"}:
            doc = _load_markdown(path)
        elif suffix == ".txt":
            doc = _load_text(path)
        elif suffix in {".html", ".htm"}:
            doc = _load_html(path)
        elif suffix == ".pdf":
            doc = _load_pdf(path)
        else:
            doc = _load_docx(path)
    except BadDocument:
        raise
    except Exception as exc:  # noqa: BLE001 - any parser failure is a per-file reason
        raise BadDocument(f"cannot parse {suffix[1:].upper()}: {type(exc).__name__}: {exc}") from exc
    doc.sections = [s for s in doc.sections if s.text.strip()]
    if not doc.sections:
        raise BadDocument("no text found")
    return doc


def read_text(path: Path) -> str:
    """Decode a text file: UTF-8 (with or without BOM), UTF-16 with BOM, else Latin-1."""
    raw = path.read_bytes()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = raw.decode("utf-16")
    else:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
    if "\x00" in text:
        raise BadDocument("binary content in a text file")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _default_meta(path: Path, title: str | None, text: str = "") -> dict:
    url_match = URL_LINE_RE.search(text[:4000])
    return {
        "id": slugify(path.stem),
        "title": (title or path.stem).strip()[:300],
        "issuer": "",
        "type": "document",
        "adopted": "",
        "url": url_match.group(1) if url_match else path.resolve().as_uri(),
        "topics": [],
        "summary": "",
        "aliases": [],
        "reviewed": "",
    }


def _normalize_meta(meta: dict, path: Path) -> dict:
    out = _default_meta(path, meta.get("title"))
    for key in FRONT_MATTER_KEYS:
        if meta.get(key) not in (None, ""):
            out[key] = meta[key]
    doc_id = str(out["id"])
    if slugify(doc_id) != doc_id:
        raise BadDocument(f"front matter id {doc_id!r} is not lowercase-hyphenated")
    topics = out["topics"]
    if isinstance(topics, str):
        topics = [t.strip() for t in topics.split(",")]
    if not isinstance(topics, list):
        raise BadDocument("front matter topics must be a list")
    out["topics"] = [slugify(str(t)) for t in topics if str(t).strip()]
    adopted = out["adopted"]
    out["adopted"] = adopted.isoformat() if isinstance(adopted, dt.date) else str(adopted or "")
    for key in ("title", "issuer", "type", "url", "summary"):
        out[key] = str(out[key])
    aliases = out["aliases"]
    if isinstance(aliases, str):
        aliases = [a.strip() for a in aliases.split(",")]
    if not isinstance(aliases, list):
        raise BadDocument("front matter aliases must be a list")
    out["aliases"] = [str(a).strip() for a in aliases if str(a).strip()]
    reviewed = out["reviewed"]
    out["reviewed"] = reviewed.isoformat() if isinstance(reviewed, dt.date) else str(reviewed or "")
    return out


def _split_front_matter(text: str) -> tuple[dict, str]:
    import yaml

    m = re.match(r"^---[ \t]*\n(.*?)\n---[ \t]*\n?(.*)$", text, re.S)
    if not m:
        return {}, text
    try:
        # libyaml's C parser when PyYAML has it: same safe loader, ~10x faster than pure Python
        meta = yaml.load(m.group(1), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "invalid YAML"
        raise BadDocument(f"malformed front matter: {first}") from exc
    if meta is None:
        return {}, m.group(2)
    if not isinstance(meta, dict):
        raise BadDocument("malformed front matter: not a key/value mapping")
    return meta, m.group(2)


def markdown_sections(body: str) -> tuple[str | None, list[Section]]:
    """Split Markdown into sections by heading; return (first heading, sections).

    The section path is the chain of enclosing headings below the document title.
    """
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    lines: list[str] = []
    title: str | None = None

    def flush() -> None:
        text = "\n".join(lines).strip()
        if text:
            sections.append(Section(path=[h for _, h in stack], text=text))
        lines.clear()

    in_code = False
    for line in body.split("\n"):
        if line.lstrip().startswith("```"):
            in_code = not in_code
        m = None if in_code else HEADING_RE.match(line)
        if not m:
            lines.append(line)
            continue
        flush()
        level, heading = len(m.group(1)), m.group(2).strip()
        if title is None and level == 1:
            title = heading
            continue
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, heading))
    flush()
    return title, sections


def _load_markdown(path: Path) -> LoadedDoc:
    meta, body = _split_front_matter(read_text(path))
    title, sections = markdown_sections(body)
    if not meta:
        first_line = next((ln.strip() for ln in body.split("\n") if ln.strip()), None)
        return LoadedDoc(_default_meta(path, title or first_line, body), sections)
    meta.setdefault("title", title)
    return LoadedDoc(_normalize_meta(meta, path), sections)


def _load_text(path: Path) -> LoadedDoc:
    text = read_text(path)
    first_line = next((ln.strip() for ln in text.split("\n") if ln.strip()), None)
    return LoadedDoc(_default_meta(path, first_line, text), [Section(path=[], text=text.strip())])


def _html_blocks(root) -> list[str]:
    """The text of ``root`` as blocks in document order: headings as Markdown headings, and every
    run of text between two block boundaries as one block — so text that sits directly in a
    container ("Intro" in ``<li>Intro <ul><li>sub</li></ul></li>``, a ``<div>`` with text and
    paragraphs) is kept, not only the innermost blocks. Iterative: no recursion limit on depth."""
    blocks: list[str] = []
    run: list[str] = []

    def flush() -> None:
        text = " ".join(" ".join(run).split())
        if text:
            blocks.append(text)
        run.clear()

    stack: list[tuple[object, bool]] = [(root, False)]
    while stack:
        node, leaving = stack.pop()
        if leaving:
            flush()
            continue
        tag = node.tag
        if tag == "-text":
            run.append(node.text(deep=False))
            continue
        if tag in HEADING_TAGS:
            flush()
            blocks.append("#" * int(tag[1]) + " " + " ".join(node.text(separator=" ", strip=True).split()))
            continue
        if tag == "br":
            run.append(" ")
            continue
        if tag in CONTAINER_TAGS:
            flush()
            stack.append((node, True))
        stack.extend((child, False) for child in reversed(list(node.iter(include_text=True))))
    flush()
    return blocks


def _load_html(path: Path) -> LoadedDoc:
    from selectolax.lexbor import LexborHTMLParser as HTMLParser

    html = read_text(path)
    depth = html_depth(html)
    if depth > MAX_HTML_DEPTH:
        raise BadDocument(f"HTML nested more than {MAX_HTML_DEPTH:,} levels deep; refused (the parser would take minutes)")
    tree = HTMLParser(html)
    for node in tree.css("script, style, nav, header, footer, aside, noscript, form, template"):
        node.decompose()
    title_node = tree.css_first("title")
    title = title_node.text(strip=True) if title_node else None
    root = tree.css_first("main") or tree.css_first("article") or tree.body
    if root is None:
        raise BadDocument("HTML has no body")
    blocks = _html_blocks(root)
    if not blocks:
        text = " ".join(root.text(separator=" ", strip=True).split())
        blocks = [text] if text else []
    h1, sections = markdown_sections("\n\n".join(blocks))
    return LoadedDoc(_default_meta(path, title or h1), sections)


def _load_pdf(path: Path) -> LoadedDoc:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            try:
                if not reader.decrypt(""):
                    raise BadDocument("encrypted PDF (password required)")
            except BadDocument:
                raise
            except Exception as exc:  # noqa: BLE001
                raise BadDocument(f"encrypted PDF cannot be opened: {exc}") from exc
        pages = [(i + 1, page.extract_text() or "") for i, page in enumerate(reader.pages)]
    except PdfReadError as exc:
        raise BadDocument(f"corrupt PDF: {exc}") from exc
    title = None
    try:
        title = (reader.metadata or {}).get("/Title")
    except Exception:  # noqa: BLE001 - metadata is optional
        title = None
    first_line = next((ln.strip() for _, t in pages for ln in t.split("\n") if ln.strip()), None)
    sections = [Section(path=[f"Page {n}"], text=text.strip(), page=n) for n, text in pages]
    all_text = "\n".join(t for _, t in pages)
    return LoadedDoc(_default_meta(path, str(title) if title else first_line, all_text), sections)


def _load_docx(path: Path) -> LoadedDoc:
    import zipfile

    if not zipfile.is_zipfile(path):
        raise BadDocument("not a valid DOCX (not a zip archive)")
    import docx

    document = docx.Document(str(path))
    lines: list[str] = []
    for para in document.paragraphs:
        text = para.text.strip()
        if not text:
            continue
        style = (para.style.name or "") if para.style is not None else ""
        m = re.match(r"Heading (\d)", style)
        if style == "Title":
            lines.append("# " + text)
        elif m:
            lines.append("#" * min(6, int(m.group(1)) + 1) + " " + text)
        else:
            lines.append(text)
    title = document.core_properties.title or None
    h1, sections = markdown_sections("\n\n".join(lines))
    return LoadedDoc(_default_meta(path, title or h1), sections)
