"""Read files of every supported format into a document with metadata and sections.

Each loader returns a :class:`LoadedDoc`: metadata (id, title, url, issuer, type, topics,
adopted) and a list of :class:`Section` blocks (heading path, text, PDF page). Markdown with
front matter is the corpus format; other files get metadata derived from the file.
"""
from __future__ import annotations

import codecs
import dataclasses
import datetime as dt
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from frontmatter import YAMLHandler

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
# than linearly with depth (docs/measurements.md), so one hostile page could stall an ingest;
# real pages nest a few dozen levels.
MAX_HTML_DEPTH = 25_000
_TAG_RE = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)[^>]*?(/?)>")
# Elements that never hold content, or whose end tag may be left out (an unclosed <p> or <li>
# closes at the next one): they do not deepen the tree, so they are not counted.
_FLAT_TAGS = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
                        "track", "wbr", "param", "p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup",
                        "thead", "tbody", "tfoot", "colgroup", "rt", "rp", "html", "head", "body"})


_FRONT_MATTER = YAMLHandler()
_FOREIGN_TAGS = frozenset({"svg", "math"})  # inside these, "<x/>" really is self-closing


def html_depth(html: str, stop_at: int = MAX_HTML_DEPTH) -> int:
    """How deep the elements of ``html`` nest (counting elements with required end tags); stops
    counting once it passes ``stop_at``. One linear scan of the tags, read as the HTML parser
    reads them: ``<div/>`` opens a div (the slash means nothing in HTML, only inside ``<svg>`` or
    ``<math>``), and an end tag closes only an element that is open (a stray ``</span>`` closes
    nothing; ``</div>`` closes the innermost open div and whatever is open inside it). Each
    element is pushed and popped once: linear."""
    stack: list[str] = []
    open_count: dict[str, int] = {}
    foreign = deepest = 0
    for m in _TAG_RE.finditer(html):
        closing, name, self_closing = m.groups()
        name = name.lower()
        if name in _FLAT_TAGS or (self_closing and foreign and not closing):
            continue
        if closing:
            if open_count.get(name, 0) <= 0:
                continue  # stray end tag: the parser ignores it
            while stack:
                top = stack.pop()
                open_count[top] -= 1
                if top in _FOREIGN_TAGS:
                    foreign -= 1
                if top == name:
                    break
            continue
        stack.append(name)
        open_count[name] = open_count.get(name, 0) + 1
        if name in _FOREIGN_TAGS:
            foreign += 1
        if len(stack) > deepest:
            deepest = len(stack)
            if deepest > stop_at:
                break
    return deepest


DEFAULT_MAX_FILE_BYTES = 200 * 2**20  # Settings.max_file_bytes
READ_BLOCK = 1 << 20  # bytes read at a time


def too_large(size: int, limit: int) -> str:
    """The one-line reason a file above the size limit is refused."""
    return f"file too large ({size / 2**20:.1f} MB; the limit is {limit / 2**20:g} MB, setting ASSISTANT_MAX_FILE_BYTES)"


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "a special file"


def special_kind(path: Path) -> str | None:
    """"a FIFO", "a socket", "a device"... when ``path`` (followed) exists but is neither a
    regular file nor a folder; ``None`` otherwise (also when it does not exist)."""
    try:
        mode = path.stat().st_mode
    except (OSError, RuntimeError):
        return None
    return None if stat.S_ISREG(mode) or stat.S_ISDIR(mode) else _kind(mode)


def open_regular(path: Path, max_bytes: int | None = None) -> BinaryIO:
    """Open ``path`` for binary reading if it is a regular file of at most ``max_bytes`` bytes,
    else raise :class:`BadDocument` with the reason ("not a regular file (a FIFO)", "file too
    large ..."). Never blocks: the file is opened non-blocking, so a FIFO (or a file swapped for
    one after the folder was scanned) is refused at once instead of waiting for a writer, and
    what is then read is the very file that was checked."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise BadDocument(f"not a regular file ({_kind(st.st_mode)})")
        if max_bytes is not None and st.st_size > max_bytes:
            raise BadDocument(too_large(st.st_size, max_bytes))
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


@dataclass
class Budget:
    """What one file may extract to, checked as text streams out of its parser (so a small file
    that expands without bound is refused while it is read, not after): characters of text,
    PDF pages, bytes of decoded PDF page content (counted before the slow text extraction, each
    page's share of a shared stream again), DOCX paragraphs. Chunks are capped in
    :func:`assistant.chunking.chunk_document`. Defaults: ``assistant.settings.Settings``."""

    max_chars: int = 10_000_000
    max_pages: int = 10_000
    max_paragraphs: int = 200_000
    max_content_bytes: int = 50 * 2**20
    max_bytes: int = DEFAULT_MAX_FILE_BYTES
    chars: int = 0
    content_bytes: int = 0

    def text(self, n: int) -> None:
        """Count ``n`` more characters of extracted text; refuse the file past the budget."""
        self.chars += n
        if self.chars > self.max_chars:
            raise BadDocument(f"too much text: {self.chars:,} characters > {self.max_chars:,}")

    def content(self, n: int) -> None:
        self.content_bytes += n
        if self.content_bytes > self.max_content_bytes:
            raise BadDocument(f"too much text: {self.content_bytes:,} bytes of page content > {self.max_content_bytes:,}")

    @classmethod
    def from_settings(cls, settings) -> "Budget":
        return cls(max_chars=settings.max_file_chars, max_pages=settings.max_file_pages,
                   max_paragraphs=settings.max_file_paragraphs, max_content_bytes=settings.max_pdf_content_bytes,
                   max_bytes=settings.max_file_bytes)


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


def load(path: Path, budget: Budget | None = None) -> LoadedDoc:
    """Load any supported file; raise :class:`BadDocument` with a reason when it cannot be read
    or extracts to more than ``budget`` allows (default: :class:`Budget`'s defaults)."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise BadDocument(f"unsupported file type {suffix or '(none)'}")
    budget = dataclasses.replace(budget or Budget(), chars=0, content_bytes=0)  # a fresh count per file
    try:
        if suffix in {".md", ".markdown"}:
            doc = _load_markdown(path, budget)
        elif suffix == ".txt":
            doc = _load_text(path, budget)
        elif suffix in {".html", ".htm"}:
            doc = _load_html(path, budget)
        elif suffix == ".pdf":
            doc = _load_pdf(path, budget)
        else:
            doc = _load_docx(path, budget)
    except BadDocument:
        raise
    except Exception as exc:  # noqa: BLE001 - any parser failure is a per-file reason
        raise BadDocument(f"cannot parse {suffix[1:].upper()}: {type(exc).__name__}: {exc}") from exc
    doc.sections = [s for s in doc.sections if s.text.strip()]
    if not doc.sections:
        raise BadDocument("no text found")
    return doc


def _decode_stream(fh: BinaryIO, encoding: str, errors: str, max_bytes: int | None, max_chars: int | None) -> str:
    """Decode an open file block by block, refusing it as soon as it passes either limit (the
    file may have grown since it was checked; text that expands past the character budget is
    refused before the rest is read)."""
    decoder = codecs.getincrementaldecoder(encoding)(errors=errors)
    parts: list[str] = []
    size = chars = 0
    while True:
        block = fh.read(READ_BLOCK)
        size += len(block)
        if max_bytes is not None and size > max_bytes:
            raise BadDocument(too_large(size, max_bytes))
        text = decoder.decode(block, final=not block)
        chars += len(text)
        if max_chars is not None and chars > max_chars:
            raise BadDocument(f"too much text: {chars:,} characters > {max_chars:,}")
        parts.append(text)
        if not block:
            return "".join(parts)


def read_text(path: Path, budget: Budget | None = None) -> str:
    """Decode a text file: UTF-8 (with or without BOM), UTF-16 with BOM, else Latin-1.

    Read as a stream of blocks from a file checked to be regular (:func:`open_regular`), within
    ``budget``'s byte and character limits when given."""
    max_bytes = budget.max_bytes if budget else None
    max_chars = budget.max_chars if budget else None
    with open_regular(path, max_bytes) as fh:
        head = fh.read(2)
        fh.seek(0)
        if head in (b"\xff\xfe", b"\xfe\xff"):
            text = _decode_stream(fh, "utf-16", "strict", max_bytes, max_chars)
        else:
            try:
                text = _decode_stream(fh, "utf-8-sig", "strict", max_bytes, max_chars)
            except UnicodeDecodeError:
                # UTF-8 with a few bad bytes stays UTF-8 (each bad byte becomes U+FFFD): Latin-1
                # only when the bytes beyond ASCII are mostly not UTF-8 (a real Latin-1 file).
                fh.seek(0)
                text = _decode_stream(fh, "utf-8-sig", "replace", max_bytes, max_chars)
                fh.seek(0)
                kept = _decode_stream(fh, "utf-8-sig", "ignore", max_bytes, max_chars).count("\ufffd")
                bad = text.count("\ufffd") - kept
                good = sum(1 for ch in text if ord(ch) > 0x7F and ch != "\ufffd")
                if bad >= good:
                    fh.seek(0)
                    text = _decode_stream(fh, "latin-1", "strict", max_bytes, max_chars)
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


UPLOAD_KIND = "upload"


def as_upload(meta: dict, path: Path) -> dict:
    """The metadata of a user's upload: whatever its front matter claims, it cannot pose as an
    official source or a team brief. Its id is ``upload-<file name>`` (never a corpus id), its
    issuer and type say "upload", its URL is ``upload:<file name>`` (never an official link),
    and it keeps no adoption date, review date or aliases. Title, summary and topics stay."""
    out = dict(meta)
    out.update(id=f"upload-{slugify(path.stem)}", issuer=UPLOAD_KIND, type=UPLOAD_KIND, url=f"upload:{path.name}",
               adopted="", reviewed="", aliases=[])
    return out


def split_front_matter(text: str) -> tuple[dict, str]:
    """The YAML front matter of a Markdown text and the body after it, split by python-frontmatter's
    YAML handler (``---`` lines around YAML, read with PyYAML's safe loader, libyaml's C one when
    PyYAML has it): ``({}, text)`` when the text has none. Raise :class:`BadDocument` when the
    front matter is not valid YAML or not a key/value mapping.

    Example:
        >>> split_front_matter("---\\nid: nato\\n---\\n# NATO\\n")
        ({'id': 'nato'}, '# NATO\\n')
    """
    import yaml

    if not _FRONT_MATTER.detect(text):
        return {}, text
    try:
        fm, body = _FRONT_MATTER.split(text)
    except ValueError:  # an opening "---" line and no closing one: no front matter
        return {}, text
    body = body.removeprefix("\n")
    try:
        meta = _FRONT_MATTER.load(fm)
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "invalid YAML"
        raise BadDocument(f"malformed front matter: {first}") from exc
    if meta is None:
        return {}, body
    if not isinstance(meta, dict):
        raise BadDocument("malformed front matter: not a key/value mapping")
    return meta, body


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


def _load_markdown(path: Path, budget: Budget) -> LoadedDoc:
    text = read_text(path, budget)
    budget.text(len(text))
    meta, body = split_front_matter(text)
    title, sections = markdown_sections(body)
    if not meta:
        first_line = next((ln.strip() for ln in body.split("\n") if ln.strip()), None)
        return LoadedDoc(_default_meta(path, title or first_line, body), sections)
    meta.setdefault("title", title)
    return LoadedDoc(_normalize_meta(meta, path), sections)


def _load_text(path: Path, budget: Budget) -> LoadedDoc:
    text = read_text(path, budget)
    budget.text(len(text))
    first_line = next((ln.strip() for ln in text.split("\n") if ln.strip()), None)
    return LoadedDoc(_default_meta(path, first_line, text), [Section(path=[], text=text.strip())])


def _html_blocks(root, budget: Budget | None = None) -> list[str]:
    """The text of ``root`` as blocks in document order: headings as Markdown headings, and every
    run of text between two block boundaries as one block — so text that sits directly in a
    container ("Intro" in ``<li>Intro <ul><li>sub</li></ul></li>``, a ``<div>`` with text and
    paragraphs) is kept, not only the innermost blocks. Iterative: no recursion limit on depth."""
    blocks: list[str] = []
    run: list[str] = []

    def flush() -> None:
        text = " ".join(" ".join(run).split())
        if text:
            if budget is not None:
                budget.text(len(text) + 2)
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
            heading = "#" * int(tag[1]) + " " + " ".join(node.text(separator=" ", strip=True).split())
            if budget is not None:
                budget.text(len(heading) + 2)
            blocks.append(heading)
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


def _load_html(path: Path, budget: Budget) -> LoadedDoc:
    from selectolax.lexbor import LexborHTMLParser as HTMLParser

    html = read_text(path, budget)
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
    blocks = _html_blocks(root, budget)
    if not blocks:
        text = " ".join(root.text(separator=" ", strip=True).split())
        budget.text(len(text))
        blocks = [text] if text else []
    h1, sections = markdown_sections("\n\n".join(blocks))
    return LoadedDoc(_default_meta(path, title or h1), sections)


def _page_text(page, budget: Budget) -> str:
    """A PDF page's text, within the budget: its decoded content is counted first (decoding is
    fast; parsing it into operators for text extraction is what takes minutes on a bomb), then
    its characters as the extractor emits them."""
    contents = page.get_contents()
    if contents is None:
        return ""
    budget.content(len(contents.get_data()))

    def count(text: str, *_args) -> None:
        budget.text(len(text))

    return page.extract_text(visitor_text=count) or ""


def _quiet_pypdf() -> None:
    """pypdf reports what it repairs in a damaged PDF through ``logging`` ("Ignoring wrong
    pointing object", ...); with no handler set up, Python's last-resort handler printed those
    lines around the ``--json`` output. A file that cannot be read fails with its own one-line
    reason; the parser's chatter is dropped."""
    import logging

    log = logging.getLogger("pypdf")
    if not any(isinstance(h, logging.NullHandler) for h in log.handlers):
        log.addHandler(logging.NullHandler())
    log.propagate = False


def _load_pdf(path: Path, budget: Budget) -> LoadedDoc:
    import warnings

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    _quiet_pypdf()
    with open_regular(path, budget.max_bytes) as fh, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pypdf's deprecation and repair warnings: not for the user
        try:
            reader = PdfReader(fh)
            if reader.is_encrypted:
                try:
                    if not reader.decrypt(""):
                        raise BadDocument("encrypted PDF (password required)")
                except BadDocument:
                    raise
                except Exception as exc:  # noqa: BLE001
                    raise BadDocument(f"encrypted PDF cannot be opened: {exc}") from exc
            if len(reader.pages) > budget.max_pages:
                raise BadDocument(f"too many pages: {len(reader.pages):,} > {budget.max_pages:,}")
            pages = [(i + 1, _page_text(page, budget)) for i, page in enumerate(reader.pages)]
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


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_DOCX_SIDE_PART_BYTES = 20 * 2**20  # styles, core properties, relationships: read whole, so capped


def _xml_parser():
    from lxml import etree

    # No entity expansion, no DTD, no network: XXE and billion-laughs files stay inert.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def _docx_side_part(z, name: str):
    """A small part of the package (styles, properties, relationships) parsed, or None."""
    from lxml import etree

    try:
        with z.open(name) as fh:
            data = fh.read(_DOCX_SIDE_PART_BYTES + 1)
        if len(data) > _DOCX_SIDE_PART_BYTES:
            return None
        return etree.fromstring(data, _xml_parser())
    except (KeyError, etree.XMLSyntaxError):
        return None


def _docx_parts(z) -> tuple[str, str | None]:
    """The package's main document part and core-properties part (from ``_rels/.rels``)."""
    main, core = "word/document.xml", "docProps/core.xml"
    rels = _docx_side_part(z, "_rels/.rels")
    if rels is not None:
        for rel in rels.iter(f"{_REL}Relationship"):
            kind, target = rel.get("Type", ""), rel.get("Target", "").lstrip("/")
            if kind.endswith("/officeDocument") and target:
                main = target
            elif kind.endswith("/core-properties") and target:
                core = target
    return main, core


def _docx_style_names(z, main: str) -> dict[str, str]:
    """Paragraph style id -> style name ("Heading1" -> "heading 1")."""
    folder = main.rsplit("/", 1)[0] + "/" if "/" in main else ""
    root = _docx_side_part(z, f"{folder}styles.xml")
    names: dict[str, str] = {}
    if root is not None:
        for style in root.iter(f"{_W}style"):
            name = style.find(f"{_W}name")
            if style.get(f"{_W}styleId") and name is not None:
                names[style.get(f"{_W}styleId")] = name.get(f"{_W}val") or ""
    return names


def _load_docx(path: Path, budget: Budget) -> LoadedDoc:
    """The body's paragraphs as Markdown (Title -> #, Heading N -> #...), read as a stream of XML
    events with what was read cleared at once: a document of millions of tiny paragraphs is
    refused at the paragraph or character budget instead of being built in memory first."""
    import zipfile

    with open_regular(path, budget.max_bytes) as fh:
        if not zipfile.is_zipfile(fh):
            raise BadDocument("not a valid DOCX (not a zip archive)")
        fh.seek(0)
        return _read_docx(path, zipfile.ZipFile(fh), budget)


def _read_docx(path: Path, archive, budget: Budget) -> LoadedDoc:
    """:func:`_load_docx` on the opened package."""
    from lxml import etree

    with archive as z:
        main, core = _docx_parts(z)
        if main not in z.namelist():
            raise BadDocument("not a valid DOCX (no main document part)")
        styles = _docx_style_names(z, main)
        title = None
        props = _docx_side_part(z, core) if core else None
        if props is not None:
            node = props.find("{http://purl.org/dc/elements/1.1/}title")
            title = (node.text or "").strip() or None if node is not None else None
        lines: list[str] = []
        paragraphs = depth = 0
        parts: list[str] = []
        style_id = ""
        with z.open(main) as fh:
            events = etree.iterparse(fh, events=("start", "end"), resolve_entities=False, no_network=True,
                                     load_dtd=False, huge_tree=False)
            for event, el in events:
                if event == "start":
                    depth += 1
                    if el.tag == f"{_W}p":
                        paragraphs += 1
                        if paragraphs > budget.max_paragraphs:
                            raise BadDocument(f"too many paragraphs: {paragraphs:,} > {budget.max_paragraphs:,}")
                        if depth == 3:  # a paragraph of the body (python-docx's document.paragraphs)
                            parts, style_id = [], ""
                    continue
                level, depth = depth, depth - 1
                tag = el.tag
                if level > 3:
                    parent = el.getparent()
                    in_run = parent is not None and parent.tag == f"{_W}r"
                    if tag == f"{_W}t" and in_run:
                        parts.append(el.text or "")
                        budget.text(len(el.text or ""))
                    elif tag == f"{_W}tab" and in_run:
                        parts.append("\t")
                    elif tag in (f"{_W}br", f"{_W}cr") and in_run:
                        parts.append("\n")
                    elif tag == f"{_W}pStyle" and level == 5:
                        style_id = el.get(f"{_W}val") or ""
                    elif tag == f"{_W}r":
                        el.clear()  # its text is taken
                    continue
                if level == 3:
                    if tag == f"{_W}p":
                        text = "".join(parts).strip()
                        if text:
                            style = styles.get(style_id, style_id) if style_id else "Normal"
                            m = re.match(r"heading (\d)", style, re.I)
                            if style.lower() == "title":
                                lines.append("# " + text)
                            elif m:
                                lines.append("#" * min(6, int(m.group(1)) + 1) + " " + text)
                            else:
                                lines.append(text)
                    el.clear()  # read: free it, and the siblings before it
                    while el.getprevious() is not None:
                        del el.getparent()[0]
    h1, sections = markdown_sections("\n\n".join(lines))
    return LoadedDoc(_default_meta(path, title or h1), sections)
