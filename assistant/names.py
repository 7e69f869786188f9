"""Names of instruments, bodies and offices: the glossary (package data) and the names of the
documents in an index.

Users type "NPT", "ETS 24", "the hijacking convention" or "UNSC"; documents say "this Treaty",
"the present Charter" or "the Security Council". A :class:`Glossary` entry lists every name of one
and the same thing (official name, short names, former names, acronyms, numbered references) —
never a related concept, so expanding a name cannot drift to another subject. A :class:`NameIndex`
joins the glossary to the documents of one index: a document is named by its title, the aliases
its front matter gives, the aliases derived from its title and text (:func:`derive_aliases`), and
every name of the glossary entry its title matches.

A name is *known* to an index when any of its names is a document's name or occurs in a chunk.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import yaml

from .lexical import same_stem

WORD_RE = re.compile(r"[^\W_]+")
# Little words that do not make a name different: "the Convention on X" = "Convention on X".
ARTICLES = {"the", "a", "an"}
# Words that neither start nor make an initial in a derived acronym ("Convention on Cluster
# Munitions" -> "CCM").
MINOR = {"the", "of", "on", "for", "and", "to", "in", "against", "relating", "a", "an", "with", "from", "at", "by"}
# "(hereinafter referred to as "the Court")", "(hereinafter called “the Convention”)"
YEAR_RE = re.compile(r"\(\s*(?:\d{4}|[A-Z]+ ?(?:No\.? ?)?\d+)[^)]*\)|,?\s*\b1[89]\d\d\b|,?\s*\b20\d\d\b")


def words(text: str) -> tuple[str, ...]:
    """Lowercase word tokens of a name, without leading articles ("The NPT" -> ("npt",))."""
    out = WORD_RE.findall(text.lower().replace("’", "'").replace("'s", ""))
    while out and out[0] in ARTICLES:
        out = out[1:]
    return tuple(out)


def title_key(title: str) -> tuple[str, ...]:
    """A title without its year or numbered reference in brackets ("North Atlantic Treaty (1949)")."""
    return words(YEAR_RE.sub(" ", title))


def acronym_of(name: str) -> str:
    """Initials of a name's significant words ("Convention on Cluster Munitions" -> "CCM")."""
    return "".join(w[0] for w in words(name) if w not in MINOR and not w.isdigit()).upper()


def derive_aliases(title: str) -> list[str]:
    """Names a document's title implies, for documents the glossary does not know.

    >>> derive_aliases("Convention on Cluster Munitions")
    ['CCM', 'Cluster Munitions Convention']
    >>> derive_aliases("Rome Statute of the International Criminal Court")
    ['RSICC', 'Rome Statute']

    A text's own "(hereinafter referred to as …)" definitions are not used as its names: in the
    real treaty texts every one of them names something else (the parent convention a protocol
    supplements, a commission, "the flag State"); they are known terms of the text, found by the
    lexical index like any other word.
    """
    out: list[str] = []
    base = " ".join(title_key(title))
    initials = acronym_of(base)
    if len(initials) >= 3 and not _common_word(words(initials)):
        out.append(initials)
    m = re.match(r"(convention|treaty|protocol|agreement|statute|charter)\s+(?:on|for|against|of)\s+(?:the\s+)?(.+)", base)
    if m and len(m.group(2).split()) <= 5:
        out.append(f"{m.group(2)} {m.group(1)}".title().replace(" Of ", " of ").replace(" The ", " the "))
    m = re.match(r"(.+?\b(?:convention|treaty|statute|charter|protocol))\s+(?:of|on|for)\s+the\b", base)
    if m and len(m.group(1).split()) >= 2:
        out.append(m.group(1).title())
    return list(dict.fromkeys(a for a in out if words(a) and words(a) != title_key(title)))


def _authored(title: str, name: str) -> bool:
    """Does ``title`` name an instrument by ``name`` ("Council of Europe Convention on Laundering",
    "United Nations Framework Convention …": the name, at most two capitalised words, a kind)?"""
    return re.search(rf"(?<!\w)(?i:{re.escape(name)})\s+(?:[A-Z][\w'’-]*\s+){{0,2}}(?i:{KIND_RE.pattern})\b",
                     title) is not None


def _holds_provision(name: str) -> bool:
    """"Article 5", "Article 5 of the North Atlantic Treaty", "Art. 42(7) TEU": a provision is
    structure, found by query planning as a reference beside the instrument's own name, so a
    glossary name that holds one is not matched whole (it would hide the instrument)."""
    from .lexical import references

    return bool(references(name))
# "the 1977 terrorism convention", "the xenophobia protocol", "the prisoner transfer convention":
# an optional year, up to four describing words, and the kind of instrument.
PLACE_RE = re.compile(r"\(([^()]+)\)\s*$")  # "ICAO diplomatic conference (The Hague)": where adopted
# "the 2nd protocol to", "second additional protocol of the": a numbered protocol named by its parent
PROTOCOL_OF_RE = re.compile(r"\b(first|second|third|fourth|fifth|1st|2nd|3rd|4th|5th)\s+(?:additional\s+)?"
                            r"protocol\s+(?:to|of)\s+(?:the\s+)?$", re.I)
ITS_PROTOCOL_RE = re.compile(r"\bits\s+(first|second|third|fourth|fifth|1st|2nd|3rd|4th|5th)\s+(?:additional\s+)?protocol\b",
                             re.I)
ORDINALS = {"1st": "first", "2nd": "second", "3rd": "third", "4th": "fourth", "5th": "fifth"}
NEAR_LETTERS = 5  # a name's word this long may be typed one edit off ("statue" for "statute")
KIND_RE = re.compile(r"conventions?|protocols?|treaty|treaties|statute|charter|agreement|directive|regulation", re.I)
YEAR_TOKEN_RE = re.compile(r"1[89]\d\d|20\d\d")
DESCRIPTION_STOP = {"new", "old", "un", "eu", "coe", "european", "international", "same", "whole", "main", "ets", "cets"}


@lru_cache(maxsize=1)
def _function_words() -> frozenset[str]:
    from .lexical import stopwords

    return frozenset(stopwords()) | {"what", "which", "does", "do", "is", "are", "under", "about", "vs", "versus",
                                     "art", "article", "says", "say", "per"}


@dataclass(frozen=True)
class Entry:
    """One instrument, body or office with all its names."""

    id: str
    kind: str
    name: str
    aliases: tuple[str, ...] = ()
    acronyms: tuple[str, ...] = ()
    year: int | None = None
    by: str = ""
    founding: str = ""  # a body's founding instrument (glossary id), which holds its numbered provisions

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases, *self.acronyms)


@dataclass
class Mention:
    """A name found in a question: where, as typed, and what it may mean."""

    start: int
    end: int
    surface: str
    entries: tuple[str, ...] = ()  # glossary ids
    docs: tuple[str, ...] = ()  # doc ids of this index that it names

    @property
    def ambiguous(self) -> bool:
        return len(self.entries) > 1


TITLED_MAX = 2  # see NameIndex._join_by_title
EVERYDAY_ZIPF = 4.4  # "safe" 5.1, "led" 5.1, "cat" 4.8, "shape" 4.7, "cops" 4.4; "nato" 4.0, "icc" 3.6


def _common_word(form: tuple[str, ...]) -> bool:
    """A one-word acronym that is also an everyday English word ("SAFE", "LED", "SHAPE"): it is
    matched only as typed in capitals. Measured by wordfreq's Zipf frequency of the lowercase word
    (at or above EVERYDAY_ZIPF); "nato" or "icc" typed in lowercase still match."""
    if len(form) != 1 or form[0].isdigit():
        return False
    from .zipf import english_zipf  # wordfreq's value, without importing wordfreq for plain words

    return english_zipf(form[0]) >= EVERYDAY_ZIPF


class Glossary:
    """All names of the field, loaded from ``assistant/data/glossary.yaml``."""

    def __init__(self, entries: Iterable[Entry], ambiguous: dict[str, list[str]] | None = None) -> None:
        self.entries: dict[str, Entry] = {e.id: e for e in entries}
        # name form (word tuple) -> entry ids; a form two entries share is ambiguous
        self.forms: dict[tuple[str, ...], set[str]] = {}
        # acronyms that are common English words are matched only as typed in capitals
        self.case_sensitive: dict[tuple[str, ...], str] = {}
        for e in self.entries.values():
            for name in e.names:
                form = words(name)
                if form and not _holds_provision(name):
                    self.forms.setdefault(form, set()).add(e.id)
                    if name in e.acronyms and _common_word(form):
                        self.case_sensitive[form] = name
        for name, ids in (ambiguous or {}).items():
            form = words(name)
            if form and not _holds_provision(name):
                self.forms.setdefault(form, set()).update(i for i in ids if i in self.entries)
        derived: set[tuple[str, ...]] = set()
        for e in self.entries.values():
            for name in self._derived(e):
                form = words(name)
                if not form:
                    continue
                if form not in self.forms:  # a derived name never shadows a given one
                    self.forms[form] = {e.id}
                    derived.add(form)
                elif form in derived:
                    self.forms[form].add(e.id)  # two instruments derive it: ambiguous
        self.max_len = max((len(f) for f in self.forms), default=1)
        self._wild: dict[tuple[str, ...], list[tuple[str, ...]]] | None = None  # built on first use (_near)

    @staticmethod
    def _derived(e: Entry) -> list[str]:
        """Names an instrument's entry implies: the place and year of its adoption, the way
        analysts shorten them ("Hague 1970", "1970 Hague"), from ``by`` "… (The Hague)" and
        ``year`` 1970. (A numbered protocol named through its parent is found in the question:
        :meth:`NameIndex.mentions`.)"""
        place = PLACE_RE.search(e.by)
        if e.kind != "instrument" or not place or not e.year:
            return []
        where = place.group(1).strip()
        return [f"{where} {e.year}", f"{e.year} {where}"]

    @classmethod
    def load(cls, text: str | None = None) -> "Glossary":
        """Parse the glossary YAML (the packaged one by default)."""
        if text is None:
            text = resources.files("assistant").joinpath("data/glossary.yaml").read_text(encoding="utf-8")
        # libyaml's C loader where installed (several times faster than pure Python), else pure Python
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
        rows = data.get("entries", []) if isinstance(data, dict) else data
        entries = []
        for row in rows:
            year = row.get("year")
            entries.append(Entry(
                id=str(row["id"]), kind=str(row.get("kind", "")), name=str(row["name"]),
                aliases=tuple(str(a) for a in row.get("aliases") or ()),
                acronyms=tuple(str(a) for a in row.get("acronyms") or ()),
                year=int(year) if isinstance(year, int) else None, by=str(row.get("by") or ""),
                founding=str(row.get("founding") or ""),
            ))
        ambiguous = data.get("ambiguous") if isinstance(data, dict) else None
        return cls(entries, {str(k): list(v) for k, v in (ambiguous or {}).items()})

    def find(self, text: str, extra: dict[tuple[str, ...], set[str]] | None = None,
             extra_case: dict[tuple[str, ...], str] | None = None) -> list[Mention]:
        """Longest names of the glossary (and of ``extra``: form -> doc ids) in ``text``. An
        acronym that is an everyday word ("LED", "SAFE") matches only as typed in capitals, in
        the glossary (``case_sensitive``) and among document names (``extra_case``)."""
        spans = [(m.start(), m.end(), m.group(0)) for m in WORD_RE.finditer(text.lower())]
        toks = [s[2] for s in spans]
        extra = extra or {}
        longest = max(self.max_len, max((len(f) for f in extra), default=1))
        out: list[Mention] = []
        i = 0
        while i < len(toks):
            hit = None
            for n in range(min(longest, len(toks) - i), 0, -1):
                form = tuple(toks[i : i + n])
                if form in self.forms or form in extra:
                    surface = text[spans[i][0] : spans[i + n - 1][1]]
                    typed = (extra_case or {}).get(form) if form in extra else self.case_sensitive.get(form)
                    if typed and surface != typed:
                        continue
                    hit = Mention(spans[i][0], spans[i + n - 1][1], surface,
                                  tuple(sorted(self.forms.get(form, ()))), tuple(sorted(extra.get(form, ()))))
                    break
            if hit is None and re.fullmatch(r"[A-Z][A-Za-z]*[A-Z]s", text[spans[i][0]:spans[i][1]]):
                # an acronym in the plural ("MSPs", "JITs", "FIUs"): the name of its singular
                form = (toks[i][:-1],)
                if form in self.forms or form in extra:
                    hit = Mention(spans[i][0], spans[i][1], text[spans[i][0]:spans[i][1]],
                                  tuple(sorted(self.forms.get(form, ()))), tuple(sorted(extra.get(form, ()))))
            if hit is None:
                hit = self._near(text, spans, toks, i)
            if hit:
                out.append(hit)
                i += len(words(hit.surface)) or 1
            else:
                i += 1
        return out

    def _near(self, text: str, spans: list[tuple[int, int, str]], toks: list[str], i: int) -> Mention | None:
        """A name of several words typed with one of its longer words one edit off ("the Rome
        statue" for the Rome Statute, "Budapest convnetion"), as the longest such form at ``i``."""
        from rapidfuzz.distance import DamerauLevenshtein

        if self._wild is None:
            self._wild = {}
            for form in self.forms:
                if len(form) >= 2 and form not in self.case_sensitive:
                    for j, w in enumerate(form):
                        if len(w) >= NEAR_LETTERS:
                            self._wild.setdefault(form[:j] + ("",) + form[j + 1 :], []).append(form)
        for n in range(min(self.max_len, len(toks) - i), 1, -1):
            typed = tuple(toks[i : i + n])
            for j in range(n):
                for form in self._wild.get(typed[:j] + ("",) + typed[j + 1 :], ()):
                    if len(typed[j]) >= NEAR_LETTERS and DamerauLevenshtein.distance(typed[j], form[j]) <= 1:
                        return Mention(spans[i][0], spans[i + n - 1][1], text[spans[i][0] : spans[i + n - 1][1]],
                                       tuple(sorted(self.forms[form])), ())
        return None


@lru_cache(maxsize=1)
def glossary() -> Glossary:
    """The packaged glossary (parsed once per process)."""
    return Glossary.load()


@dataclass
class NameIndex:
    """The names of the documents of one index, joined to the glossary.

    ``docs``: doc id -> its title; ``doc_forms``: name form -> doc ids it names;
    ``entry_docs``: glossary id -> doc ids whose title is one of the entry's names.
    """

    gloss: Glossary
    docs: dict[str, str] = field(default_factory=dict)
    doc_forms: dict[tuple[str, ...], set[str]] = field(default_factory=dict)
    entry_docs: dict[str, set[str]] = field(default_factory=dict)
    doc_case: dict[tuple[str, ...], str] = field(default_factory=dict)  # "led" -> "LED" (see Glossary.find)
    _name_tokens: dict[str, frozenset[str]] | None = field(default=None, repr=False, compare=False)  # doc -> tokens

    @classmethod
    def build(cls, gloss: Glossary, documents: dict[str, tuple[str, list[str]]]) -> "NameIndex":
        """``documents``: doc id -> (title, aliases given or derived at ingest)."""
        index = cls(gloss)
        for doc_id, (title, aliases) in documents.items():
            index.docs[doc_id] = title
            names = [title, *aliases, *derive_aliases(title)]
            keys = {title_key(n) for n in names} | {words(n) for n in names}
            entries = {eid for key in keys for eid in gloss.forms.get(key, ()) if len(gloss.forms[key]) == 1}
            for eid in entries:
                index.entry_docs.setdefault(eid, set()).add(doc_id)
                names += list(gloss.entries[eid].names)
            for name in names:
                for key in (words(name), title_key(name)):
                    if key:
                        index.doc_forms.setdefault(key, set()).add(doc_id)
                if name.isupper() and _common_word(words(name)):
                    index.doc_case[words(name)] = name
        index._join_by_title()
        return index

    def _join_by_title(self) -> None:
        """Join entries no document is named after to the few documents whose title holds one of
        their names ("INTERPOL" in "INTERPOL Notices, Diffusions, I-24/7 and Databases"; bodies,
        offices and procedures only: an instrument's name in a title is its parent's), then
        procedures and offices to the documents of the body they belong to ("Red Notice", by
        INTERPOL). A name held by more than ``TITLED_MAX`` titles stands for none of them."""
        # Which titles hold each run of words (every contiguous slice of every title) and each
        # word as written: one lookup per name, not a scan of every title per name (~0.1 s at
        # start-up on the corpus's 105 titles).
        wanted = [(eid, entry) for eid, entry in self.gloss.entries.items()
                  if eid not in self.entry_docs and entry.kind not in {"instrument", "term"}]
        longest = max((len(words(name)) for _, entry in wanted for name in entry.names), default=0)
        runs: dict[tuple[str, ...], set[str]] = {}
        raw: dict[str, set[str]] = {}
        for doc, title in self.docs.items():
            title_words = words(title)
            for i in range(len(title_words)):
                for j in range(i + 1, min(i + longest, len(title_words)) + 1):
                    runs.setdefault(title_words[i:j], set()).add(doc)
            for word in WORD_RE.findall(title):
                raw.setdefault(word, set()).add(doc)
        joined: dict[str, set[str]] = {}
        for eid, entry in wanted:  # an instrument's name inside a title is usually its parent's or child's
            hits: set[str] = set()
            for name in entry.names:
                form = words(name)
                acronym = name in entry.acronyms
                if not form or (len(form) < 2 and not acronym):
                    continue  # one ordinary word ("Charter") says too little
                found = raw.get(name, set()) if acronym and len(form) == 1 else runs.get(form, set())
                # as written: "INTERPOL", not "interpol" inside a word. A body named as the author of
                # an instrument ("Council of Europe Framework Convention on …") is not what the
                # document is about.
                hits |= {d for d in found if entry.kind != "body" or not _authored(self.docs[d], name)}
            if 0 < len(hits) <= TITLED_MAX:
                joined[eid] = hits
        self.entry_docs.update(joined)
        for eid, entry in self.gloss.entries.items():
            if eid in self.entry_docs or not entry.by or entry.kind not in {"procedure", "office"}:
                continue
            owners = self.gloss.forms.get(words(entry.by), set())
            if len(owners) == 1:
                docs = self.entry_docs.get(next(iter(owners)), set())
                if 0 < len(docs) <= TITLED_MAX:
                    self.entry_docs[eid] = set(docs)


    def mentions(self, text: str) -> list[Mention]:
        """Names in ``text``, each with the glossary entries and the documents of this index it
        names; then descriptions of an instrument ("the 1977 terrorism convention") outside them."""
        out = []
        for m in self.gloss.find(text, self.doc_forms, self.doc_case):
            docs = set(m.docs)
            for eid in m.entries:
                docs |= self.entry_docs.get(eid, set())
            m.docs = tuple(sorted(docs))
            out.append(self._protocol_of(text, m))
        taken = [(m.start, m.end) for m in out]
        tokens = list(re.finditer(r"[\w'’-]+", text))
        for i, tok in enumerate(tokens):
            if not KIND_RE.fullmatch(tok.group(0)):
                continue
            j = i  # walk back over describing words (not function words), then an optional year
            while j > 0 and i - j < 4 and tokens[j - 1].group(0).lower() not in _function_words() \
                    and not YEAR_TOKEN_RE.fullmatch(tokens[j - 1].group(0)) \
                    and not any(s <= tokens[j - 1].start() < e for s, e in taken):
                j -= 1
            year = None
            if j > 0 and YEAR_TOKEN_RE.fullmatch(tokens[j - 1].group(0)):
                j -= 1
                year = tokens[j].group(0)
            start, end = tokens[j].start(), tok.end()
            # "the CoE corruption convention": a body named just before the description is the
            # instrument's author, and tells apart instruments of the same subject (UNCAC, ETS 173)
            author = next((m for m in out if m.end <= start and not text[m.end:start].strip()
                           and self._bodies(m)), None) if year is None else None
            if author is not None and any(s < end and start < e for s, e in taken if (s, e) != (author.start, author.end)):
                author = None
            lo = author.start if author is not None else start
            if j == i or any(s < end and lo < e for s, e in taken if author is None or (s, e) != (author.start, author.end)):
                continue
            described = " ".join(t.group(0) for t in tokens[j:i] if t.group(0) != year)
            docs = self.described(year, described, tok.group(0), self._bodies(author) if author else None)
            if docs:
                if author is not None:
                    out.remove(author)
                    taken.remove((author.start, author.end))
                    start = author.start
                out.append(self._protocol_of(text, Mention(start, end, text[start:end], (), tuple(docs))))
        # "the 1959 MLA convention vs its second protocol": the protocol of the instrument named before
        for its in ITS_PROTOCOL_RE.finditer(text):
            before = [m for m in out if m.end <= its.start() and len(m.docs) == 1]
            if before and not any(m.start < its.end() and its.start() < m.end for m in out):
                doc = self._protocol_doc(before[-1].docs[0], its.group(1))
                if doc:
                    out.append(Mention(its.start(), its.end(), its.group(0), (), (doc,)))
        # a name within a longer one ("second additional protocol" in "the second additional
        # protocol to the extradition convention") is part of it
        out = sorted([m for m in out if not any(o is not m and o.start <= m.start and m.end <= o.end
                                                and o.end - o.start > m.end - m.start for o in out)],
                     key=lambda m: m.start)
        # a name with another in brackets after it names one thing: "the second additional protocol
        # (ETS 182)" is the protocol both names fit
        for a, b in zip(out, out[1:]):
            if re.fullmatch(r"\s*\(\s*", text[a.end:b.start]) and re.match(r"\s*\)", text[b.end:]):
                both = tuple(d for d in a.docs if d in b.docs)
                if both:
                    a.docs = b.docs = both
        return out

    def _protocol_of(self, text: str, m: Mention) -> Mention:
        """"the second protocol to <m>" names the protocol, not its parent <m>: the one document
        whose title holds that ordinal, "protocol" and the parent's title ("Second Additional
        Protocol to the European Convention on Extradition"); else ``m`` as found."""
        before = PROTOCOL_OF_RE.search(text[: m.start])
        if not before or len(m.docs) != 1:
            return m
        doc = self._protocol_doc(m.docs[0], before.group(1))
        if not doc:
            return m
        return Mention(before.start(), m.end, text[before.start() : m.end], (), (doc,))

    def _protocol_doc(self, parent_doc: str, ordinal: str) -> str:
        """The one document whose title holds ``ordinal`` ("second"/"2nd"), "protocol" and the
        title of ``parent_doc``; "" when there is not exactly one."""
        ordinal = ORDINALS.get(ordinal.lower(), ordinal.lower())
        parent = title_key(self.docs[parent_doc])
        hits = []
        for doc, title in self.docs.items():
            have = words(title)
            if doc != parent_doc and ordinal in have and "protocol" in have and any(
                    have[i : i + len(parent)] == parent for i in range(len(have) - len(parent) + 1)):
                hits.append(doc)
        return hits[0] if len(hits) == 1 else ""

    def instrument_phrases(self, text: str) -> list[str]:
        """Phrases that name an instrument by its kind and subject ("Convention on Drone Policing",
        "the 2019 drone convention"), whatever they resolve to: the decision stage checks that
        their words occur together somewhere in the index."""
        tokens = list(re.finditer(r"[\w'’-]+", text))
        out = []
        for i, tok in enumerate(tokens):
            if not KIND_RE.fullmatch(tok.group(0)):
                continue
            after = []
            if i + 1 < len(tokens) and tokens[i + 1].group(0).lower() in {"on", "for", "against"}:
                k = i + 2
                while k < len(tokens) and len(after) < 4 and tokens[k].group(0).lower() not in _function_words():
                    after.append(tokens[k].group(0))
                    k += 1
            before = []
            j = i
            while j > 0 and len(before) < 3 and tokens[j - 1].group(0).lower() not in _function_words() \
                    and not YEAR_TOKEN_RE.fullmatch(tokens[j - 1].group(0)):
                j -= 1
                before.insert(0, tokens[j].group(0))
            if after or before:
                out.append(" ".join([*before, tok.group(0), *after]))
        return out

    def _bodies(self, m: Mention) -> set[str]:
        """The glossary ids of the bodies a mention names ("CoE" -> council-of-europe)."""
        return {e for e in m.entries if e in self.gloss.entries and self.gloss.entries[e].kind == "body"}

    def described(self, year: str | None, description: str, kind: str, by: set[str] | None = None) -> list[str]:
        """The one document whose title (or a glossary name of it) holds every word of a
        description and its kind ("terrorism" + "convention"), from the year given if any, and
        adopted by one of the bodies ``by`` (glossary ids) when given."""
        wanted = [w for w in words(description) if w not in MINOR and w not in DESCRIPTION_STOP]
        if not wanted:
            return []
        kind = kind.lower().rstrip("s")
        hits = []
        for doc_id, title in self.docs.items():
            names = [title] + [n for eid, docs in self.entry_docs.items() if doc_id in docs
                               for n in self.gloss.entries[eid].names]
            years = {e.year for eid, docs in self.entry_docs.items() if doc_id in docs
                     for e in [self.gloss.entries[eid]] if e.year}
            if year and years and int(year) not in years:
                continue
            if by is not None:
                authors = {a for eid, docs in self.entry_docs.items() if doc_id in docs
                           for a in self.gloss.forms.get(words(self.gloss.entries[eid].by), set())
                           if self.gloss.entries[eid].by}
                if not authors & by:
                    continue
            for name in names:
                have = words(name)
                if kind in have and all(any(same_stem(w, h) for h in have) for w in wanted):
                    hits.append(doc_id)
                    break
        return hits if len(hits) == 1 else []

    def is_term(self, m: Mention) -> bool:
        """A word of the law of treaties ("leave" = denunciation): it expands the search, and
        names nothing the decision or the premise check should treat as a name."""
        return bool(m.entries) and not m.docs and all(
            self.gloss.entries[e].kind == "term" for e in m.entries if e in self.gloss.entries)

    def founding_docs(self, m: Mention) -> tuple[str, ...]:
        """The documents of the instrument that founded the body a mention names ("NATO" -> the
        North Atlantic Treaty): where that body's numbered provisions are ("NATO art 5")."""
        docs: set[str] = set()
        for eid in m.entries:
            entry = self.gloss.entries.get(eid)
            if entry and entry.kind == "body" and entry.founding:
                docs |= self.entry_docs.get(entry.founding, set())
        return tuple(sorted(docs)) if 0 < len(docs) <= TITLED_MAX else ()

    def name_tokens(self, doc_id: str | None = None) -> frozenset[str]:
        """The word tokens (as the lexical index makes them) of every name of ``doc_id``, or of
        every document; computed once per name index."""
        if self._name_tokens is None:
            from .lexical import tokenize

            self._name_tokens = {doc: frozenset(t for name in self.doc_names(doc) for t in tokenize(name))
                                 for doc in self.docs}
            self._name_tokens[""] = frozenset().union(*self._name_tokens.values())
        return self._name_tokens.get(doc_id or "", frozenset())

    def doc_names(self, doc_id: str) -> list[str]:
        """Every name of a document: its title and the names of the glossary entries joined to it."""
        out = [self.docs.get(doc_id, "")]
        for eid, docs in self.entry_docs.items():
            if doc_id in docs:
                out += self.gloss.entries[eid].names
        return [n for n in dict.fromkeys(out) if n]

    def names_of(self, m: Mention) -> list[str]:
        """Every name of what a mention may mean (glossary names and document titles)."""
        out: list[str] = []
        if len(m.entries) == 1:
            out += self.gloss.entries[m.entries[0]].names
        for doc in m.docs[:2]:
            out.append(self.docs[doc])
        return list(dict.fromkeys(n for n in out if n.lower() != m.surface.lower()))

    def expansion(self, m: Mention) -> str:
        """The one fullest name of a mention (official name or title), for query expansion."""
        if len(m.docs) == 1:
            return re.sub(r"\s*\(.*?\)\s*$", "", self.docs[m.docs[0]])
        if len(m.entries) == 1:
            return self.gloss.entries[m.entries[0]].name
        return ""
