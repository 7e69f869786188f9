"""Query planning, the first stage of answering: from a question (and the conversation) to what
to search and what kind of answer to look for.

A :class:`QueryPlan` holds the standalone query (follow-ups borrow the previous question), the
names the question uses (:mod:`assistant.names`) and the documents they name, the expanded search
query (each short name followed by its full name), the provisions named ("Article 5",
"art 42(7)"), the kind of answer asked for, the separate things asked ("…, and when…?") and, for
a comparison, one subject per instrument or provision.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

from .lexical import references
from .names import Mention, NameIndex

PRONOUNS = re.compile(r"\b(it|its|it's|they|them|their|this|that|these|those|he|she|there|the same)\b", re.I)
# "and …", "what about …"; a reply that opens with "ok" / "okay" / "alright" answers the last turn
FOLLOW_UP_START = re.compile(r"^(?:(ok|okay|alright)\b|(and|what about|how about|but|also|so|then|why|when|which|who)\b)",
                             re.I)
# Where a question asks a second thing: ", and when was it presented?", " and where is it based?"
PART_RE = re.compile(r"(?:,\s*|\s+)and\s+(?=(?:what|how|which|when|where|who|whom|why|is|are|does|do|did|"
                     r"can|could|must|has|have|was|were)\b)", re.I)
# A question that sets things side by side.
COMPARE_RE = re.compile(r"\b(vs\.?|versus|compar\w*|differ\w*|distinguish\w*|contrast\w*|both|between|"
                        r"similar\w*|same as|unlike)\b", re.I)

# "what's" is "what is", and so is "whats" as it is often typed (not "its", a word of its own)
CONTRACTION_RE = re.compile(r"\b(?:(what|who|where|when|how|which|that|there)['’]?s|(it)['’]s)\b", re.I)


def expand_contractions(question: str) -> str:
    """ "what's" / "whats" -> "what is" (the forms the answer-type and term rules read)."""
    return CONTRACTION_RE.sub(lambda m: (m.group(1) or m.group(2)) + " is", question)

# The kind of answer a question asks for, by its form (first rule that matches wins).
ANSWER_TYPES: list[tuple[str, re.Pattern]] = [
    ("duration", re.compile(r"\bhow long\b|\bwithin (?:what|which|how)\b|\btime[- ]limits?\b|\bdeadlines?\b|"
                            r"\bhow many (?:days|weeks|months|years|hours)\b|\bhow soon\b|\bnotice period\b", re.I)),
    ("date", re.compile(r"\bwhen\b|\bwhat (?:date|year|day)\b|\bwhich (?:date|year)\b|\bsince when\b", re.I)),
    ("number", re.compile(r"\bhow (?:many|much)\b|\bwhat (?:number|percentage|share|proportion|majority|quorum)\b|"
                          r"\b(?:min(?:imum)?|max(?:imum)?)(?:\s+[\w-]+){0,2}?\s+(?:number|age|penalty|sentence|term|"
                          r"period|fine|amount)s?\b", re.I)),
    ("definition", re.compile(r"\bdefin\w*\b|\bwhat counts as\b|\bmeaning of\b|\bwhat (?:is|are) meant\b|"
                              r"\bwhat does [\w' -]+ mean\b|\bwhat is (?:a|an) [\w'-]+(?: [\w'-]+)?"
                              r"(?:\s+(?:in|under|according to)\b[^?]*)?\??$|"
                              r"\bwhat (?:is|are) (?:a |an |the )?[‘“\"']", re.I)),
    ("body", re.compile(r"^\s*(?:who|whom|whose)\b|\bwho (?:decides|elects|appoints|can|may|must|is|are)\b|"
                        r"\bwhich (?:body|organ|court|authority|institution|committee|official|chamber)\b", re.I)),
    ("place", re.compile(r"^\s*where\b|\bwhere (?:is|are|was|were|does|do|did|must|can|may)\b", re.I)),
    ("list", re.compile(r"\bwhat (?:must|should|shall|does) [\w' -]+ (?:contain|include|state|specify)\b|"
                        r"\bwhat (?:are|were) the (?:conditions|grounds|requirements|elements|criteria)\b|\blist\b", re.I)),
    ("yes-no", re.compile(r"^\s*(?:is|are|does|do|did|can|could|may|must|shall|should|has|have|was|were|will|would)\b", re.I)),
    ("prohibition", re.compile(r"\bnot (?:allowed|permitted|entitled|authori[sz]ed)\b|\b(?:can't|cannot|can not|"
                               r"may not|must not|mustn't|shall not)\b|\bforbidden\b|\bprohibit\w*|\bbann?ed\b|"
                               r"\bbarred\b|\boff[- ]limits\b", re.I)),
]


@dataclass
class Subject:
    """One side of a comparison: an instrument (a document) or a provision within one."""

    label: str
    docs: tuple[str, ...] = ()
    refs: tuple[tuple[str, str], ...] = ()


@dataclass
class QueryPlan:
    """What the later stages need to know about a question."""

    question: str
    query: str  # standalone: a follow-up borrows the previous question
    search_query: str  # the query with each short name followed by its full name
    mentions: list[Mention] = field(default_factory=list)
    # the names search_query writes twice, (as typed, in full): one name for the lexical search
    alternatives: list[tuple[str, str]] = field(default_factory=list)
    focus_docs: list[str] = field(default_factory=list)  # documents the question names
    refs: list[tuple[str, str]] = field(default_factory=list)  # provisions named
    answer_type: str = "other"
    parts: list[str] = field(default_factory=list)
    subjects: list[Subject] = field(default_factory=list)  # two or more: a comparison
    term: str = ""  # the term a definition question asks about ("BCN weapon"), else ""
    # what the question asks of the documents it names: without their names, the provisions it
    # names and the words that make it a comparison ("max prison term the icc can give?" ->
    # "max prison term the can give"); "" when fewer than two words are left (:func:`topic`)
    topic: str = ""

    @property
    def is_comparison(self) -> bool:
        return len(self.subjects) >= 2

    @property
    def focus_query(self) -> str | None:
        """What the search within the documents the question names looks for by meaning: its
        :attr:`topic` (a comparison's sides are searched on their own), else None (the query)."""
        return (self.topic or None) if self.focus_docs and not self.is_comparison else None


def leans_on_history(question: str) -> bool:
    """Does the question refer back (pronouns, "and …", very short)?"""
    return bool(PRONOUNS.search(question)) or bool(FOLLOW_UP_START.match(question)) or len(question.split()) < 6


def standalone_query(question: str, history: list[dict] | None) -> str:
    """Rule-based follow-up rewrite: a question that leans on earlier turns (pronouns, "and …",
    very short) borrows the last user question, so retrieval sees the entities it refers to.

    The new question comes first: a MiniLM vector of two joined questions leans towards the
    opening one, and answer sentences are chosen by their similarity to that vector
    (docs/evaluation.md, follow-ups).
    """
    if not history:
        return question
    previous = [t.get("content", "") for t in history if t.get("role") == "user" and t.get("content")]
    if not previous:
        return question
    return f"{question} {previous[-1]}" if leans_on_history(question) else question


def question_parts(question: str) -> list[str]:
    """The separate things a question asks, when it joins them with "and" + a question word.

    >>> question_parts("What replaced the EU Security Union Strategy, and when was it presented?")
    ['What replaced the EU Security Union Strategy', 'when was it presented']
    >>> question_parts("Which countries are permanent members of the UN Security Council?")
    ['Which countries are permanent members of the UN Security Council']
    """
    parts = [part.strip(" ,?") for part in PART_RE.split(question)]
    return [part for part in parts if len(part.split()) >= 3]


def answer_type(question: str) -> str:
    """The kind of answer asked for: duration, date, number, definition, body, place, list,
    yes-no, prohibition (what may not be done) or other.

    >>> answer_type("how long does the requested party have to decide?")
    'duration'
    >>> answer_type("Can a state refuse to extradite its own nationals?")
    'yes-no'
    """
    question = expand_contractions(question)
    for name, pattern in ANSWER_TYPES:
        if pattern.search(question):
            return name
    return "other"


def expand(query: str, mentions: list[Mention], names: NameIndex) -> str:
    """The query with each short name followed by its full name in brackets ("UNCAC (United
    Nations Convention against Corruption)"), for both the dense and the lexical search."""
    return expansions(query, mentions, names)[0]


def expansions(query: str, mentions: list[Mention], names: NameIndex) -> tuple[str, list[tuple[str, str]]]:
    """:func:`expand`'s query, and the names it wrote twice as (typed, full): the lexical search
    scores each as one name, the better of its two forms."""
    out, last, pairs = [], 0, []
    for m in mentions:
        full = names.expansion(m)
        out.append(query[last : m.end])
        if full and full.lower() not in query.lower():
            out.append(f" ({full})")
            pairs.append((query[m.start : m.end], full))
        last = m.end
    out.append(query[last:])
    return "".join(out), pairs


def owns_provision(text: str, m: Mention) -> bool:
    """Is the name the owner of a provision the text names ("NATO art 5", "the ICC's Article 26",
    "Article 5 of NATO")?"""
    from .lexical import REF_RE

    return any(ref.start() >= m.end and re.fullmatch(r"(?:['’]s)?\s*", text[m.end:ref.start()]) or
               ref.end() <= m.start and re.fullmatch(r"\s+of\s+(?:the\s+)?", text[ref.end():m.start])
               for ref in REF_RE.finditer(text))


# "what does <instrument> (actually) say / provide / require …": a question about its text
TEXT_ASKED_BEFORE = re.compile(r"\b(?:what|how)\s+(?:does|do|did)\s+(?:the\s+)?$", re.I)
TEXT_ASKED_AFTER = re.compile(r"\s*(?:\([^)]*\)\s*)?(?:actually\s+|really\s+|exactly\s+)?(?:say|state|provide|require|"
                              r"define|cover|set|lay|establish|contain|specify|mean)\b", re.I)


def asks_text_of(text: str, m: Mention) -> bool:
    """Does the question ask about the text of what ``m`` names: one of its provisions ("article 2
    of the Budapest convention") or what it says ("what does the Montreal convention say about …")?"""
    return owns_provision(text, m) or bool(TEXT_ASKED_BEFORE.search(text[: m.start])
                                           and TEXT_ASKED_AFTER.match(text[m.end :]))


def _founded(m: Mention, text: str, names: NameIndex) -> Mention:
    """A body named as the owner of a provision ("NATO art 5", "the ICC's Article 26", "Article 5
    of NATO") stands for its founding instrument; a body that acts ("NATO invoked Article 5") does not."""
    if m.docs or not owns_provision(text, m):
        return m
    return dataclasses.replace(m, docs=names.founding_docs(m))


def _bind_provisions(question: str, subjects: list[Subject], where: list[Mention]) -> list[Subject]:
    """Give each provision the question names to the instrument named next to it ("nato art 5 vs
    UN charter art 51": Article 5 of the one, Article 51 of the other): the nearest name before
    it, else the nearest after it."""
    from .lexical import REF_RE, references

    bound: dict[int, list[tuple[str, str]]] = {}
    for match in REF_RE.finditer(question):
        ref = references(match.group(0))[0]
        before = [i for i, m in enumerate(where) if m.end <= match.start()]
        after = [i for i, m in enumerate(where) if m.start >= match.end()]
        owner = max(before, key=lambda i: where[i].end) if before else (
            min(after, key=lambda i: where[i].start) if after else None)
        if owner is not None and ref not in bound.get(owner, []):
            bound.setdefault(owner, []).append(ref)
    out = []
    for i, subject in enumerate(subjects):
        refs = tuple(bound.get(i, ()))
        label = subject.label + "".join(f", {k.title()} {n.upper() if not n.isdigit() else n}" for k, n in refs)
        out.append(dataclasses.replace(subject, label=label, refs=refs))
    return out


def _subjects(question: str, mentions: list[Mention], refs: list[tuple[str, str]], focus: list[str],
              names: NameIndex) -> list[Subject]:
    """The sides of a comparison: two or more named documents, or two or more provisions of one
    (or of the one the conversation is about)."""
    docs = []
    where: list[Mention] = []
    for m in mentions:
        taken = {d for subject in docs for d in subject.docs}
        if len(m.docs) == 1 and m.docs[0] not in taken:
            docs.append(Subject(label=names.docs[m.docs[0]], docs=m.docs))
            where.append(m)
        elif len(m.docs) == 2 and not taken & set(m.docs):  # a body with two documents of its own
            docs.append(Subject(label=names.expansion(m) or m.surface, docs=m.docs))
            where.append(m)
    cue = bool(COMPARE_RE.search(question))
    if len(docs) >= 2 and (cue or re.search(r"\b(and|or)\b", question, re.I)):
        return _bind_provisions(question, docs[:3], where[:3])
    unique_refs = list(dict.fromkeys(refs))
    if len(unique_refs) >= 2 and cue and len(focus) <= 1:
        return [Subject(label=f"{kind.title()} {num.upper() if not num.isdigit() else num}",
                        docs=tuple(focus), refs=((kind, num),)) for kind, num in unique_refs[:3]]
    return []


def plan(question: str, history: list[dict] | None, names: NameIndex, query: str | None = None) -> QueryPlan:
    """Plan a (validated) question: standalone query (``query`` when a model rewrote it), names,
    provisions, answer type, parts."""
    query = query or standalone_query(question, history)
    mentions = names.mentions(query)
    own_mentions = names.mentions(question)
    refs = references(question) or references(query)
    if refs:  # a provision of a body is one of its founding instrument's ("NATO art 5")
        mentions = [_founded(m, query, names) for m in mentions]
        own_mentions = [_founded(m, question, names) for m in own_mentions]
    focus: list[str] = []
    # The question's own names narrow the search: a follow-up's earlier question may name the
    # parent instrument too ("the second protocol to the Budapest convention") and pull it in.
    for m in own_mentions:
        for doc in m.docs[:2] if len(m.docs) <= 2 else []:
            if doc not in focus:
                focus.append(doc)
    # A follow-up that names nothing ("which of those can states make reservations to?") is about
    # the document the conversation is about, when the question it leans on names only that one
    # (measured: realdocs-dev-2 key facts 0.773 -> 0.788, no question lost on any set).
    if not focus and query != question:
        held = list(dict.fromkeys(d for m in mentions for d in m.docs))
        if len(held) == 1:
            focus = held
    search_query, alternatives = expansions(query, mentions, names)
    return QueryPlan(
        question=question,
        query=query,
        search_query=search_query,
        mentions=mentions,
        alternatives=alternatives,
        focus_docs=focus[:3],
        refs=refs,
        answer_type=answer_type(question),
        parts=question_parts(question),
        subjects=_subjects(question, own_mentions, references(question), focus, names),
        term=defined_term(question) if answer_type(question) == "definition" else "",
        topic=topic(question, own_mentions),
    )


def topic(question: str, mentions: list[Mention]) -> str:
    """What ``question`` asks of the documents it names: the question without the mentions that
    name a document, the provisions it names and the words that make it a comparison ("vs",
    "compared with", "both"); "" when fewer than two words are left.

    Within a named document every passage shares its name, so the name says nothing there about
    which passage answers; searched for by meaning, it pulls toward the passages that speak of
    the document itself (its title, its final clauses).

    >>> topic("UNCAC vs ETS 173 - is passive bribery covered?", [Mention(0, 5, "UNCAC", docs=("uncac",)),
    ...       Mention(9, 16, "ETS 173", docs=("coe",))])
    'is passive bribery covered'
    """
    from .lexical import REF_RE

    text = question
    for m in sorted((m for m in mentions if m.docs), key=lambda m: -m.start):
        if text[m.start:m.end] == m.surface:
            text = text[: m.start] + " " + text[m.end :]
    text = REF_RE.sub(" ", COMPARE_RE.sub(" ", text))
    text = " ".join(re.sub(r"^[\W_]+|[\W_]+$", "", text).split())
    return text if len(re.findall(r"[^\W\d_]{2,}", text)) >= 2 else ""


# The term a definition question asks about: quoted, or after "what is a" / "what counts as" /
# "definition of" / "meaning of", up to the instrument it is asked under.
QUOTED_TERM_RE = re.compile(r"(?<!\w)[‘“\"'](?P<t>[^‘’“”\"']{2,60})[’”\"'](?!\w)")
MEAN_TERM_RE = re.compile(r"\bwhat does (?:an? |the )?(?P<t>[\w][\w' -]{0,60}?) mean\b", re.I)
_TERM_END = (r"(?:an? |the )?(?P<t>[\w][\w' -]{0,60}?)\s*(?:\b(?:in|under|according to|for the purposes? of|"
             r"mean|means)\b|[?,;:]|$)")
DEFINITION_OF_RE = re.compile(r"\b(?:definitions? of|meaning of|define)\s+" + _TERM_END, re.I)
ASKED_TERM_RE = re.compile(r"\b(?:what(?:['’]s| is| are| counts as)|definitions? of|meaning of|define)\s+"
                           r"(?:an? |the )?(?P<t>[\w][\w' -]{0,60}?)\s*(?:\b(?:in|under|according to|for the purposes? of|"
                           r"mean|means)\b|[?,;:]|$)", re.I)


def defined_term(question: str) -> str:
    """The term a definition question asks about ("what's a BCN weapon in the Beijing
    convention?" -> "BCN weapon"), "" when none is found."""
    question = expand_contractions(question)
    m = (QUOTED_TERM_RE.search(question) or MEAN_TERM_RE.search(question) or DEFINITION_OF_RE.search(question)
         or ASKED_TERM_RE.search(question))
    return " ".join(m.group("t").split()) if m else ""


def defines(term: str, sentence: str) -> bool:
    """Does ``sentence`` define ``term`` the way legal texts do: the term, usually quoted, then
    "means" / "shall mean" (“proceeds” means …; "administering State" means …)?"""
    if not term:
        return False
    words = r"\s+".join(re.escape(w) for w in term.split())
    # the term may be the short name a definition gives in brackets: ‘‘financial intelligence
    # unit’’ (hereinafter referred to as ‘‘FIU’’) means …
    return bool(re.search(rf"(?:^|[\s(‘“\"'])(?:{words})[’”\"']{{0,2}}\)?\s*(?:\([^)]*\)\s*)?(?:shall\s+)?means?\b",
                          sentence, re.I))


_NUM_WORD = (r"(?:\d+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|eighteen|twenty|"
             r"thirty|forty|forty-five|fifty|sixty|ninety|hundred|several)")
_MONTH = r"(?:January|February|March|April|May|June|July|August|September|October|November|December)"
# What a sentence that answers each kind of question holds.
ANSWER_KINDS: dict[str, re.Pattern] = {
    "duration": re.compile(rf"\b{_NUM_WORD}(?:\s*\(\d+\))?\s+(?:calendar\s+|working\s+|full\s+)?(?:days?|weeks?|months?|years?|hours?)\b|"
                           r"\b(?:without delay|forthwith|promptly|immediately)\b", re.I),
    # a date, or the time a legal text sets by reference to an event ("on the first day of the
    # sixth month after the month in which …", "ninety days after the date of …", "within one year of")
    "date": re.compile(rf"\b\d{{1,2}}\s+{_MONTH}\b|\b{_MONTH}\s+\d{{4}}\b|\b(?:1[89]|20)\d\d\b|"
                       r"\bon the \w+ day of\b|\b(?:days?|weeks?|months?|years?) (?:after|following|from)\b|"
                       r"\bwithin \w+ (?:days?|weeks?|months?|years?)\b", re.I),
    "number": re.compile(rf"\b{_NUM_WORD}\b|\bper ?cent\b|%|\b(?:majority|two-thirds|one-third|half)\b", re.I),
    "definition": re.compile(r"\bmeans\b|\bshall mean\b|\bshall be understood\b|\bis defined\b|\brefers? to\b|"
                             r"\bfor the purposes? of\b|\bshall include\b|\bshall be deemed\b", re.I),
    "body": re.compile(r"\b(?:Council|Assembly|Court|Committee|Secretary-General|Commission|Chamber|Prosecutor|"
                       r"Registrar|Presidency|Conference|Parliament|Minister|Government|authorit(?:y|ies)|Organization)\b"),
    "place": re.compile(r"\b(?:at|in) (?:The )?[A-Z][a-z]+"),
    "list": re.compile(r"(?:^|\s)(?:\(?[a-z]\)|\(?[ivx]+\)|\d+\.)\s|:\s*$|\bthe following\b", re.I),
    # what may not be done: a negated "shall"/"may", a prohibition, an exclusion
    "prohibition": re.compile(r"\b(?:shall|may|must|can|will)\s+(?:not|neither|never|in no case)\b|\bcannot\b|"
                              r"\bprohibit\w*|\bforbid\w*|\bneither\b[^.;]*\bnor\b|\bnot be (?:permitted|allowed|"
                              r"authori[sz]ed|entitled)\b|\bexcluded\b", re.I),
    "yes-no": re.compile(r"\b(?:shall|may|must|cannot|can|entitled|obliged|right to|not)\b", re.I),
}


def holds_answer(kind: str, sentence: str) -> bool:
    """Does ``sentence`` hold the kind of answer asked for (a period for "how long", a body for
    "who", …)? "other" is held by any sentence."""
    pattern = ANSWER_KINDS.get(kind)
    return True if pattern is None else bool(pattern.search(sentence))


# -- can a question stand alone? (issue 16: follow-ups by meaning, not by length or first word) --
_PERSONAL = re.compile(r"\b(it|its|they|them|their|he|she|him|his|her)\b", re.I)
_ELLIPSIS_START = re.compile(r"^\W*(?:and|or|but|also|so|then|what about|how about|what of|same for|and what about)\b", re.I)
_GENERIC = (r"(?:treaty|convention|agreement|pact|protocol|charter|article|provision|clause|paragraph|"
            r"regulation|directive|decision|resolution|declaration|strategy|instrument|document|text|"
            r"body|organi[sz]ation|agency|mechanism|rule|rules|obligation|commitment|mission|one|ones|same)")
_DEFINITE = re.compile(rf"\b(?:the|this|that|these|those|such)\s+(?:same\s+)?{_GENERIC}\b", re.I)
_BARE_DEMONSTRATIVE = re.compile(r"\b(?:this|that|these|those)\s*(?:[?.!]|$)|"
                                 r"^\W*(?:is|does|did|was|can|could|would|will|why|how)\s+(?:this|that)\b", re.I)
_WORDS = re.compile(r"[^\W\d_][\w'-]*", re.UNICODE)


def _unresolved_pronoun(question: str) -> bool:
    """A personal pronoun with no content word before it in the question that it could stand for
    ("when did it enter into force?"; not "can a state extradite its own nationals?"). The word
    just before the pronoun does not count: it is its verb ("who wrote it?")."""
    from .lexical import stopwords

    stop = stopwords() | {"what", "when", "why", "how", "which", "who", "whom", "whose", "where", "did", "does",
                          "do", "is", "are", "was", "were", "can", "could", "would", "should", "will", "shall",
                          "may", "might", "must", "has", "have", "had", "tell", "me", "please", "about", "and"}
    for m in _PERSONAL.finditer(question):
        words = _WORDS.findall(question[: m.start()])
        before = [w for w in words[:-1] if w.lower() not in stop and len(w) >= 3]
        if not before:
            return True
    return False


def stands_alone(question: str, names: NameIndex | None = None) -> bool:
    """Can ``question`` be understood without the conversation before it?

    It cannot when it opens with an ellipsis ("and Article 6?", "what about the EU?"), or when
    it leans on something said earlier — an unresolved pronoun ("when did it enter into
    force?"), a generic reference ("the treaty", "that provision"), a bare "why?" — and names
    no subject of its own (no document, body or instrument the name index knows; without a
    name index, no capitalised name after the first word). Length and the first question word
    play no part: "What is PESCO?" and "Compare Europol and Eurojust" stand alone, whatever was
    asked before.

    >>> stands_alone("When did it enter into force?")
    False
    >>> stands_alone("Which treaties ban weapons that cause unnecessary suffering?")
    True
    >>> stands_alone("Why?")
    False
    >>> stands_alone("What about Article 6?")
    False
    """
    text = " ".join((question or "").split())
    if not text:
        return True
    if _ELLIPSIS_START.match(text):
        return False
    if names is not None:
        named = any(m.docs for m in names.mentions(text))
    else:
        named = any(w[:1].isupper() for w in _WORDS.findall(text)[1:])
    if named:
        return True
    words = _WORDS.findall(text)
    leans = (_unresolved_pronoun(text) or bool(_DEFINITE.search(text)) or bool(_BARE_DEMONSTRATIVE.search(text))
             or len(words) <= 1)  # a bare "Why?" or "Source?" asks about what came before
    return not leans
