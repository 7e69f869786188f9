"""The premise check: does a source sentence contradict what the question takes for granted?

A question that asks *which*, *why*, *when* or *how* presupposes the rest of what it says: "Why
does the second MLA protocol let foreign police arrest the suspect during cross-border
observation?" takes for granted that the protocol lets them arrest. A yes/no question asserts
nothing ("Can foreign officers arrest…?" asks whether), so it has no premise to check; a question
with a tag ("…, right?") asserts its statement and is checked.

Three kinds of contradiction are recognised, all from the structure of the sentences, with no word
list about any topic:

- **negation**: a sentence of the passages found negates one of the question's content words
  ("… shall *not* be entitled to *arrest* …"), or a negated lead-in denies one of its list items
  ("This Convention does *not* apply to: (a) a *warship*; …", a lead-in and its items read as
  one sentence), or a scope clause excludes its object ("This Convention shall not apply to
  *aircraft* used in *military* … services", when the question assumes the words that mark the
  excluded thing out as well as its kind), or "no" denies what a which/what question asks
  about ("*No reservations* may be made" against "which reservations did states lodge?"), and
  it shares at least ``MIN_SHARED`` of the question's content words (a term of several words,
  "enter into force", counting as one; a sentence of a document the question names that speaks
  of itself, "this Convention", sharing the question's name for it), while the question itself
  negates nothing. A question about what a text says ("what does the convention
  say about bank secrecy?") assumes nothing.
- **quantity**: the question states a quantity ("up to 90 days", "at 16") that no passage found
  holds, and a sentence gives a different one for the same thing (the same word next to the
  number: "shall not … exceed 40 *days*", "under the *age* of 18").
- **date**: the question dates something to a year ("opened for signature in 1975") that no
  passage found holds, and a sentence sharing at least ``MIN_SHARED`` of the words of that part
  of the question gives another year beside the same words. A year inside a number that names an
  act ("Regulation (EU) 2016/679") is not a date.

A fourth check needs no contradicting sentence: a question that takes something for granted about
a proper name ("Why did the EU sanction *Iran* over WannaCry?") that none of the passages found
mention at all (nor its demonym) assumes what the sources do not say (:func:`unsupported_names`).
A hypothesis ("If German police run a DNA profile …, how …?") assumes nothing.

A fifth needs no contradiction either (:func:`rule_only`): a question about what has happened
("When did the Warsaw convention enter into force?", "How many joint investigation teams have
been set up?") when the passages found state it only as a rule ("shall enter into force on the
first day of the month following …", "may set up a joint investigation team") and narrate it
nowhere: the sources give the rule, not the event.

The check reports the sentence that contradicts the premise; the answer then quotes it instead
of refusing or answering beside the question.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from .chunking import LEAD_IN_RE, LIST_ITEM_RE, sentence_spans
from .decision import english_zipf, function_words, passage_tokens
from .lexical import Vocabulary, stopwords, tokenize
from .planning import question_parts
from .types import Passage

WORD_RE = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*|%")
PUNCTUATION = frozenset({",", ";", ".", "!", "?"})
TOKEN_RE = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*|[,;.!?%]")  # words, and the punctuation that ends a clause
NEGATION = frozenset({"not", "no", "never", "neither", "nor", "cannot"})
NEGATION_SPAN = 6  # words after a negation that it can govern ("shall not be entitled to arrest")
PARTICLES = frozenset({"out", "up", "off", "down", "away", "back"})  # "carry out", "set up", "call off"
PREPOSITIONS = frozenset({"of", "in", "on", "at", "to", "for", "from", "by", "with", "into", "under", "over",
                          "against", "within", "between", "about", "after", "before", "during", "through"})
MIN_SHARED = 2  # content words of the question a contradicting sentence must share (the negated one included)
COMMON_ZIPF = 5.5  # words this common in English ("under", "person", "public") are not what a premise turns on
# A negation's scope ends at a clause boundary: "shall not be granted | if the offence ..."
CLAUSE_END = frozenset({"if", "unless", "when", "where", "which", "that", "who", "whom", "whose", "whether",
                        "because", "although", "though", "but", "while", "until", "except", "than", "or", "and"})
# "not less than fifteen", "not later than": a bound, not a denial.
COMPARATIVE = frozenset({"less", "more", "fewer", "later", "earlier", "exceeding", "only"})
NUMBER_SPAN = 3  # content words on each side of a number that say what it counts
# A tag turns a statement into a question that still asserts it ("…, right?", "…, correct?").
TAG_RE = re.compile(r"(?:,|\s-|\s–)\s*(?:right|correct|true|isn'?t it|doesn'?t it|no)\s*\?\s*$", re.I)
POLAR_RE = re.compile(r"^\s*(?:is|are|does|do|did|can|could|may|might|must|shall|should|has|have|had|was|were|"
                      r"will|would)\b", re.I)
# A number that names rather than counts: "Article 26", "ETS 24", "paragraph 3", a year.
NAMING_BEFORE = frozenset({"article", "articles", "art", "arts", "paragraph", "paragraphs", "para", "ets", "cets",
                           "no", "chapter", "section", "rule", "resolution", "protocol", "annex", "part", "title",
                           "number", "nos", "regulation", "directive", "decision", "resolutions", "chapters",
                           "sections", "rules", "protocols", "annexes", "parts", "regulations", "directives",
                           "decisions", "and", "or"})
TIME_UNITS = frozenset({"year", "years", "month", "months", "week", "weeks", "day", "days", "hour", "hours"})
PARTITIVE = frozenset({"other", "remaining", "first", "last", "next", "another", "further"})
# A question about what has happened ("when did the Warsaw convention enter into force?", "how
# many joint investigation teams have been set up?") asks for an event; an official text states
# the rule for it ("shall enter into force on the first day of the month following …", "may set
# up a joint investigation team"), not whether or when it happened.
MODALS = frozenset({"shall", "may", "will", "would", "should", "must", "can", "could", "might"})
PAST_AUX = frozenset({"did", "have", "has", "had", "was", "were"})
# words that open a subordinate clause: a verb after one is part of a rule's condition ("after the
# date on which five States *have expressed* their consent"), not a narrated event
SUBORDINATE = frozenset({"which", "that", "who", "whom", "whose", "where", "when", "whenever", "if", "after",
                         "once", "unless", "until", "before", "since", "provided", "as", "whether", "than"})
DETERMINERS = frozenset({"a", "an", "the", "any", "each", "every", "such", "no", "this", "that", "its", "their"})
# past participles that do not end in -ed/-en ("have been set up", "was held"): a closed class of English
IRREGULAR_PARTICIPLES = frozenset({"set", "made", "done", "held", "taken", "given", "brought", "sent", "kept",
                                   "found", "put", "begun", "paid", "won", "built", "laid", "led", "left", "lost",
                                   "shown", "spent", "told", "seen", "said", "met", "sold", "struck", "cut", "shut"})
# words between a modal and its verb ("shall not be", "may also")
LIGHT = frozenset({"not", "be", "been", "also", "only", "thereupon", "then", "therefore", "nevertheless"})
YEAR_RE = re.compile(r"^(?:1[6-9]|20)\d\d$")
NUMBER_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())} | {
    "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
    "hundred": 100, "thousand": 1000}
QUESTION_WORDS = frozenset({"what", "which", "who", "whom", "whose", "when", "where", "why", "how", "does", "did",
                            "do", "is", "are", "was", "were", "can", "could", "should", "would", "will", "has",
                            "have", "vs", "versus", "art", "arts", "para", "tell", "explain", "right", "correct",
                            "let", "lets", "allow", "allows", "say", "says", "make", "makes"})


@dataclass(frozen=True)
class Conflict:
    """A sentence of a passage that contradicts the question's premise."""

    kind: str  # "negation", "quantity", "date" or "rule" (an event asked about that the sources only state as a rule)
    claim: str  # the question's words it contradicts ("arrest", "90 days")
    passage: Passage
    start: int  # the sentence's span in passage.text
    end: int

    @property
    def sentence(self) -> str:
        return self.passage.text[self.start:self.end]


# "what does the convention say about bank secrecy?": a question about what a text says assumes
# nothing about the matter (verbs of saying)
REPORTING_RE = re.compile(r"^\W*(?:so\s+)?what\s+(?:does|do|did)\b[^?]*?\b(?:say|says|state|provide|mention|specify|"
                          r"stipulate|cover|address)\b", re.I)


def presupposes(question: str) -> bool:
    """True when the question takes its content for granted (not a plain yes/no question, not a
    question about what a text says)."""
    if REPORTING_RE.match(_last_clause(question)) and not TAG_RE.search(question):
        return False
    return bool(TAG_RE.search(question)) or not POLAR_RE.match(_last_clause(question))


@lru_cache(maxsize=16384)
def _stem(word: str) -> str:
    tokens = tokenize(word)
    return tokens[0] if tokens else ""


def _words(text: str) -> list[str]:
    return [w.lower() for w in WORD_RE.findall(text)]


CLAUSE_RE = re.compile(r"[^,;.!?()]+[,;.!?()]?")
MONTHS = frozenset("january february march april may june july august september october november december".split())


def _last_clause(question: str) -> str:
    """The clause that asks: "ETS 24 - can you be extradited …?" asks "can you be extradited …?"."""
    parts = [p for p in re.split(r"\s[-–—]\s|:\s|,\s", question) if p.strip()]
    return parts[-1] if parts else question


def _asked(words: list[str]) -> set[int]:
    """Positions of the wh-phrase, which names what is asked, not what is assumed ("which UN treaty")."""
    out: set[int] = set()
    for i, w in enumerate(words):
        if w in {"which", "what", "who", "whom", "whose", "how", "where", "when"}:
            j = i + 1
            while j < len(words) and j - i <= 4 and words[j] not in AUX:
                out.add(j)
                j += 1
    return out


AUX = frozenset({"is", "are", "was", "were", "be", "been", "does", "do", "did", "can", "could", "may", "might",
                 "must", "shall", "should", "will", "would", "has", "have", "had", "of", "in", "for", "to", "under"})


def _governed(words: list[str], at: int) -> tuple[int, list[int]] | None:
    """What a negation at ``at`` denies: (position of its predicate, positions of the telling
    words of the predicate's object, [] when it has none), within the negation's clause; None when
    it denies nothing ("whether or not", "not less than") or nothing with content."""
    if at and words[at - 1] == "or":
        return None  # "whether or not", "or not"
    j, end = at + 1, min(len(words), at + 1 + NEGATION_SPAN)
    predicate = None
    while j < end:
        w = words[j]
        if j == at + 1 and w in COMPARATIVE:
            return None
        if w in CLAUSE_END or w in NEGATION or w in PUNCTUATION:
            return None
        if not (w in stopwords() or w in AUX or len(w) < 3 or w.isdigit()):
            predicate = j
            break
        j += 1
    if predicate is None:
        return None
    if words[at] == "no":
        # "no jurisdiction": the noun is what is denied; "no investigation may be commenced": the
        # act on it (its verb, after the modal), which the question must name too
        for k in range(predicate + 1, min(len(words), predicate + 1 + NEGATION_SPAN)):
            if (words[k] in CLAUSE_END and words[k] not in {"or", "and"}) or words[k] in PUNCTUATION:
                break  # ("no investigation or prosecution may be …": one noun phrase)
            if words[k] in MODALS:
                verb = next((j for j in range(k + 1, min(len(words), k + 4))
                             if words[j] not in LIGHT and not words[j].endswith("ly")), None)
                return predicate, ([verb] if verb is not None else [])
        return predicate, []
    phrase = []
    for k in range(predicate + 1, min(len(words), predicate + 1 + NEGATION_SPAN)):
        w = words[k]
        if k == predicate + 1 and w in PREPOSITIONS:
            continue  # a verb's particle: "not enter into any engagement" is about the engagement
        if w in CLAUSE_END or w in PUNCTUATION or w in PREPOSITIONS or w in NEGATION:
            break
        if not (w in stopwords() or w in AUX or len(w) < 3 or w.isdigit()) and english_zipf(w) < COMMON_ZIPF:
            phrase.append(k)  # the object's telling words ("a new general definition": general, definition)
    return predicate, phrase


CONDITIONS = frozenset({"if", "unless", "where", "when", "whenever"})


def _conditional(words: list[str], at: int, denied: tuple[int, list[int]], items_from: int) -> bool:
    """Is the negation at ``at`` a rule for a case only: an "if"/"unless" comes before it in its
    sentence ("… provides that if, after the assessment, … it must not authorise the export"; for
    a negation in a list item, the item is its own sentence), the sentence opens with "Where, …"
    or "When, …", or a condition follows what it denies ("should not be refused where that
    presence …")? Such a sentence does not deny the act in general: it contradicts no premise."""
    opening = next((w for w in words if w not in PUNCTUATION and not w.isdigit() and len(w) > 1), "")
    if at < items_from and opening in {"where", "when"} and "," in words[:at]:
        return True  # "Where, for particularly urgent reasons, … cannot be requested"
    if {"if", "unless"} & set(words[items_from if at >= items_from else 0:at]):
        return True  # "… provides that if, after the assessment, … it must not authorise"
    last = max([denied[0], *denied[1]])
    return any(w in CONDITIONS for w in words[last + 1: last + 3])


def _content(words: list[str], names: set[str]) -> list[tuple[int, str]]:
    """(position, stem) of each content word: not a stop word, a question word or part of a name."""
    out = []
    for i, w in enumerate(words):
        if w in stopwords() or w in QUESTION_WORDS or w in NEGATION or w in names or len(w) < 3:
            continue
        stem = _stem(w)
        if stem and not stem.isdigit():
            out.append((i, stem))
    return out


def _value(word: str) -> int | None:
    if word.isdecimal():  # not isdigit(): "²" is a digit that int() refuses
        return int(word)
    return NUMBER_WORDS.get(word)


def _quantities(words: list[str]) -> list[tuple[int, int]]:
    """(position, value) of each number that counts something (not "Article 26", not a year)."""
    out = []
    for i, w in enumerate(words):
        value = _value(w)
        if value is None or (w.isdigit() and YEAR_RE.match(w)) or w in {"zero", "no"}:
            continue
        if w == "one" and not (i + 1 < len(words) and words[i + 1] in TIME_UNITS):
            continue  # "one of the Parties"; but "at least one year" is a quantity
        if i + 1 < len(words) and words[i + 1] == "." and (i == 0 or words[i - 1] in PUNCTUATION):
            continue  # "2. If the request …": a paragraph's number
        if i and words[i - 1] in NAMING_BEFORE | PARTITIVE:
            continue  # "Article 26", "the other three countries"
        if (i and words[i - 1] in MONTHS) or (i + 1 < len(words) and words[i + 1] in MONTHS):
            continue  # "28 January 2004": a date, not a count
        out.append((i, value))
    return out


def _years(words: list[str]) -> list[tuple[int, str]]:
    """(position, year) of each year named ("in 2017", "1 January 2002")."""
    return [(i, w) for i, w in enumerate(words) if YEAR_RE.match(w) and not (i and words[i - 1] in NAMING_BEFORE)]


def _unit(content: list[tuple[int, str]], at: int, words: list[str]) -> set[str]:
    """What the question's number counts: the next content words ("90 days", "25 ICC judges"), or
    the ones before it when none follow ("the minimum age … at 16"); "%" for a percentage."""
    if at + 1 < len(words) and words[at + 1] in {"%", "percent", "per"}:
        return {"%"}
    after = [s for i, s in content if at < i <= at + 3][:2]
    return set(after) or {s for i, s in content if i < at}.intersection(s for i, s in content if i < at and i >= at - 6)


def _context(content: list[tuple[int, str]], at: int, words: list[str]) -> set[str]:
    """The content words nearest a number, ``NUMBER_SPAN`` on each side: what it counts."""
    if at + 1 < len(words) and words[at + 1] in {"%", "percent", "per"}:
        return {"%"}
    before = [s for i, s in content if i < at][-NUMBER_SPAN:]
    after = [s for i, s in content if i > at][:NUMBER_SPAN]
    return set(before) | set(after)


def _units(text: str) -> list[tuple[int, int, int]]:
    """The text's sentences (start, end, end of the lead-in), a lead-in joined to its list items:
    "This Convention does not apply to: (a) a warship; (b) …" is one statement, whatever the
    sentence splitter made of it. The lead-in ends at ``end`` when there are no items."""
    spans = sentence_spans(text)
    out: list[tuple[int, int, int]] = []
    i = 0
    while i < len(spans):
        s, e = spans[i]
        lead = e
        if LEAD_IN_RE.search(text[s:e]):
            while i + 1 < len(spans) and LIST_ITEM_RE.match(text[spans[i + 1][0]:spans[i + 1][1]]):
                i += 1
                e = spans[i][1]
        out.append((s, e, lead))
        i += 1
    return out


# "This Convention shall not apply to aircraft used in military … services": the clause that sets a
# legal text's scope excludes its object, as a negated lead-in excludes its items
SCOPE_STEM = "appli"
SELF_RE = re.compile(r"\b(?:this|the present)\s+(?:convention|statute|protocol|treaty|charter|agreement|covenant)\b", re.I)


def check(question: str, passages: list[Passage], mention_words: set[str] | None = None,
          comparison: bool = False, whether: bool = False, phrases: list[str] | None = None,
          named_docs: set[str] | frozenset[str] = frozenset()) -> Conflict | None:
    """The sentence of ``passages`` (best first) that most plainly contradicts the question's premise.

    With ``whether``, a yes/no question is read as its statement ("can police arrest …?" as
    "police can arrest …"): the sentence found then settles it with a no. ``phrases``: terms of
    several words the question uses ("enter into force"): a denial must share more with the
    question than one term (each counts as one word); a date beside the term's words is enough
    ("entered into force on 23 May 2001" dates the event the question dates). ``named_docs``:
    the documents the question names; a sentence of one that speaks of itself ("this Convention",
    "the present Statute") shares the question's name for it, which counts as one shared word.
    With ``whether``, the word denied must be one of the clause that asks ("who can trigger an
    investigation - can the UNSC refer cases?": a "No." answers whether the UNSC can refer).
    """
    if comparison or not (whether or presupposes(question)):
        return None
    names = {w.lower() for w in (mention_words or set())}
    asked = TAG_RE.sub("?", question)
    q_words = _words(asked)
    if any(w in NEGATION or w.endswith("n't") for w in q_words):
        return None  # the question negates something itself: its polarity is not a premise
    q_content = _content(q_words, names)
    q_stems = {s for _, s in q_content}
    asking = {st for _, st in _content(_words(_last_clause(asked)), names)}  # the clause a "No." answers
    q_all = {_stem(w) for w in q_words}
    parts = [_words(part) for part in question_parts(asked)]
    part_stems = [{st for _, st in _content(pw, names)} for pw in parts]
    if not q_stems:
        return None
    groups = [g for g in ({st for _, st in _content(_words(ph), names)} for ph in phrases or []) if len(g) > 1]

    def concepts(stems: set[str]) -> int:
        """How many of the question's words or terms ``stems`` holds ("enter" + "force": one term)."""
        inside = set().union(*groups) if groups else set()
        return len(stems - inside) + sum(1 for g in groups if g & stems)

    # what a negation may contradict: a word the question assumes (lower case, not part of the
    # wh-phrase, not an everyday word)
    raw = WORD_RE.findall(asked)
    wh = _asked(q_words)
    targets = {st for i, st in q_content if raw[i][:1].islower() and english_zipf(q_words[i]) < COMMON_ZIPF
               and q_words[i] not in NAMING_BEFORE} - {st for i, st in q_content if i in wh}
    # "which reservations did states lodge?" takes for granted that there are some: "no
    # reservations may be made" denies the thing a which/what question asks about
    heads = {next((st for k, st in q_content if k > i and k in wh), None)
             for i, w in enumerate(q_words) if w in {"which", "what"}} - {None}
    q_quantities = [(value, _unit(q_content, at, q_words)) for at, value in _quantities(q_words)
                    if not re.search(rf"\d/{value}\b|\b{value}/\d", asked)]
    q_years = [(year, _context(q_content, at, q_words),
                next((ps for ps, pw in zip(part_stems, parts) if year in pw), q_stems))
               for at, year in _years(_words(re.sub(r"\b\d{4}/\d+\b", " ", asked)))]  # not "(EU) 2016/679"
    all_years: set[str] = set()
    all_values: set[int] = set()
    sentences: list[tuple[Passage, int, int, list[str], int]] = []
    for p in passages:
        for s, e, lead in _units(p.text):
            words = [t.lower() for t in TOKEN_RE.findall(p.text[s:e])]
            sentences.append((p, s, e, words, len(TOKEN_RE.findall(p.text[s:lead]))))
            all_values |= {v for _, v in _quantities(words)}
            all_years |= {y for _, y in _years(words)}
    found: list[tuple[int, Conflict]] = []
    for p, s, e, words, items_from in sentences:
        content = _content(words, set())
        shared = q_stems & {st for _, st in content}
        stem_at = dict(content)
        itself = 1 if p.doc_id in named_docs and SELF_RE.search(p.text[s:e]) else 0  # "this Convention"
        if concepts(shared) + itself >= MIN_SHARED and (targets or heads):
            for i, w in enumerate(words):
                if w not in NEGATION and not w.endswith("n't"):
                    continue
                denied = _governed(words, i)
                if not denied or _conditional(words, i, denied, items_from):
                    continue
                if words[i] == "no" and stem_at.get(denied[0]) in heads:
                    denied = (denied[0], [])  # "no reservations may be made": what the question asks which of
                elif words[i] == "no" and whether:
                    denied = (denied[0], [])  # "can an investigation start …?" - "No investigation may be commenced …"
                elif stem_at.get(denied[0]) not in targets:
                    # a negated lead-in denies its list items ("does not apply to: (a) a warship"),
                    # a negated verb its object ("shall not apply to aircraft used in military
                    # … services"): a word the question assumes there is what is denied
                    items = [k for k in denied[1] if k >= items_from > i and stem_at.get(k) in targets]
                    if not items and stem_at.get(denied[0]) == SCOPE_STEM:
                        # a scope clause's exclusion: the question must assume what marks the
                        # excluded thing out ("military … aircraft"), not only name its kind
                        # (not the kind itself: "aircraft … in military, customs or police
                        # services" is not assumed by "when is an aircraft 'in service'?")
                        after = [st for k, st in content if k > denied[0]]
                        excluded = (set(after[1:]) - set(after[:1])) & q_stems
                        if concepts(excluded) >= MIN_SHARED:
                            items = [k for k in denied[1] if stem_at.get(k) in targets]
                    p_at = denied[0]
                    if (not items and p_at and words[p_at - 1] in {"be", "been"} and not words[p_at].endswith("ed")
                            and p_at + 2 < len(words) and words[p_at + 1] in {"to", "for"} and words[p_at + 2] != "be"):
                        # a negated state and what it is to or for ("shall not be subject to
                        # reservations", "shall not be eligible for re-election"): that is denied
                        # (not an act and its object, "shall not be granted for an offence", nor a
                        # classification, "shall not be deemed to be a political offence")
                        items = [k for k in denied[1] if stem_at.get(k) in targets]
                    if not items:
                        continue
                    denied = (items[0], [])
                # "does not create a new general definition": the question must be about that object
                if denied[1] and not any(_stem(words[k]) in q_all for k in denied[1]):
                    continue
                # "not carried out" is not "carry" (a penalty): a particle makes another verb
                after = words[denied[0] + 1] if denied[0] + 1 < len(words) else ""
                if after in PARTICLES and not any(
                        _stem(x) == stem_at[denied[0]] and y == after for x, y in zip(q_words, q_words[1:])):
                    continue
                hit = stem_at[denied[0]]
                if whether and hit not in asking:
                    continue  # a "No." answers the clause that asks, not a wh-clause before it
                # the words shared must be those of the part of the question that assumes it
                # ("how many votes …, and where does the veto come from?": "veto" and "come")
                own = next((ps for ps in part_stems if hit in ps), q_stems)
                if concepts(own & shared) + itself >= MIN_SHARED:
                    word = next(x for x in q_words if _stem(x) == hit)
                    found.append((len(shared), Conflict("negation", word, p, s, e)))
                    break
        for value, q_context in q_quantities:
            if value in all_values or not q_context:
                continue
            for at, other in _quantities(words):
                if other != value and _context(content, at, words) & q_context:
                    claim = next((f"{w} {x}" for w, x in zip(q_words, q_words[1:]) if _value(w) == value), str(value))
                    found.append((len(shared), Conflict("quantity", claim, p, s, e)))
                    break
        for year, y_context, y_part in q_years:
            if year in all_years or len(y_part & shared) < MIN_SHARED:
                continue
            for at, other in _years(words):
                if other != year and _context(content, at, words) & y_context:
                    found.append((len(shared), Conflict("date", year, p, s, e)))
                    break
    if not found:
        return None
    best = max(found, key=lambda f: f[0])[1]  # the first of those sharing the most with the question
    # a contradicting sentence that follows it in the same passage is quoted with it
    end = best.end
    for _, c in found:
        if c.passage is best.passage and c.start >= end and not best.passage.text[end:c.start].strip():
            end = c.end
    return Conflict(best.kind, best.claim, best.passage, best.start, end)


def stated_before(question: str, conflict: Conflict) -> bool:
    """Is the figure or year a yes/no question's sentence contradicts stated before the clause
    that asks ("under the CCM states get 15 years to destroy their stockpiles, can they extend
    that?")? Then it is a premise, and a wrong one; in the asking clause ("does the CCM give 15
    years?") it is what is asked, and the sentence says no."""
    if conflict.kind == "negation":
        return False
    asking = _words(_last_clause(question))
    claim = _words(conflict.claim)
    return not any(asking[i : i + len(claim)] == claim for i in range(len(asking) - len(claim) + 1))


CONDITION_RE = re.compile(r"^\s*(?:if|suppose|supposing|assuming|say|when)\b[^,?]*,", re.I)
NAME_RE = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")


def unsupported_names(question: str, passages: list[Passage], mention_words: set[str] | None = None,
                      comparison: bool = False) -> list[str]:
    """Proper names the question takes for granted that no passage mentions (see the module
    docstring): capitalised words after the first, not all capitals (acronyms are names the
    glossary reads), not part of a name the question uses (``mention_words``), not a function
    word, and outside an opening condition ("If German police …, …")."""
    if comparison or not presupposes(question):
        return []
    asked, conditions = CONDITION_RE.subn(" ", question)
    names = {w.lower() for w in (mention_words or set())}
    words = NAME_RE.findall(asked)
    first = -1 if conditions else 0  # a condition removed: no word is sentence-initial now
    candidates = [w for i, w in enumerate(words) if i > first and w[:1].isupper() and not w.isupper()
                  and w.lower() not in names and w.lower() not in function_words()]
    if not candidates:
        return []
    seen: set[str] = set()
    for p in passages:
        seen |= passage_tokens(f"{p.title} {p.section} {p.text}")  # cached: the decision read them
    vocab = Vocabulary(seen)
    return [w for w in dict.fromkeys(candidates) if not all(vocab.related(t) for t in tokenize(w))]


def _event_verbs(question: str, names: set[str]) -> list[str]:
    """The verbs (as typed) a wh-question asks about as past events: in its main clause after a
    past auxiliary, the base forms after "did" ("when did … enter into force?") and the past
    participles after "have/has/had/was/were" ("have been set up", "have … destroyed"); not an
    infinitive of the question's own ("did SUA need *to enter* into force" asks what it
    needed), nothing after the first subordinate clause."""
    if not presupposes(question):
        return []
    words = _words(TAG_RE.sub("?", question))
    at = next((i for i, w in enumerate(words) if w in PAST_AUX or w in MODALS or w in {"does", "do", "is", "are"}),
              None)
    if at is None or words[at] not in PAST_AUX:
        return []  # the main clause is in the present or has a modal: a rule is what it asks
    out = []
    for j in range(at + 1, len(words)):
        w = words[j]
        if w in SUBORDINATE or w in PAST_AUX or w in MODALS or w in {"and", "or"}:
            break
        if (w in stopwords() or w in QUESTION_WORDS or w in names or len(w) < 3 or w == "been" or w[:1].isdigit()
                or words[j - 1] == "to"):
            continue
        if words[at] == "did" or w.endswith(("ed", "en", "wn")) or w in IRREGULAR_PARTICIPLES:
            out.append(w)
    return out


def _verb_at(words: list[str], i: int) -> str | None:
    """How the word at ``i`` is used as a verb: "rule" after a modal ("shall enter", "may not be
    set up") or inside a subordinate clause ("on which five States have ratified"), "narrated"
    as a past in a main clause ("entered into force", "was adopted"), None otherwise (a noun, an
    adjective: "a convicted person")."""
    clause = next((k + 1 for k in range(i - 1, -1, -1) if words[k] in PUNCTUATION), 0)
    k = i - 1
    while k >= clause and (words[k] in LIGHT or words[k].endswith("ly")):
        k -= 1
    before = words[k] if k >= clause else ""
    if _modal(words, k):
        return "rule"
    past = before in PAST_AUX or (words[i].endswith("ed") and before not in DETERMINERS and before != "to")
    if not past:
        return None
    # a past inside a subordinate clause of a rule ("shall enter into force … on which five States
    # have expressed their consent", "Where the team needs assistance from a Party other than
    # those which have set up the team, the request … may be made …") is its condition; of a
    # narrative sentence, narration ("an Amending Protocol that the Committee of Ministers
    # adopted … on 18 May 2018")
    opener = next((j for j in range(i - 1, clause - 1, -1) if words[j] in SUBORDINATE), None)
    if opener is not None and any(_modal(words, j) for j in range(len(words))):
        return "rule"
    return "narrated"


def _modal(words: list[str], at: int) -> bool:
    """Is the word at ``at`` a modal verb ("may", not the month of "18 May 2018")?"""
    if at < 0 or words[at] not in MODALS:
        return False
    return not (words[at] == "may" and ((at and words[at - 1].isdigit()) or
                                        (at + 1 < len(words) and words[at + 1].isdigit())))


def rule_only(question: str, passages: list[Passage], mention_words: set[str] | None = None) -> Conflict | None:
    """The sentence that states as a rule the event a question asks about, when no passage found
    narrates it: ``None`` unless the question asks what happened (see :func:`_event_verbs`), one
    of its verbs occurs in ``passages`` (best first) as a rule (see :func:`_verb_at`: "shall
    enter into force", "may set up", "on which … have ratified") and nowhere as a narrated past
    ("entered into force on 1 July 2002", "was adopted", "have signed the present Charter"). The
    answer then says that the sources give the rule, not the event."""
    verbs = {_stem(w) for w in _event_verbs(question, {w.lower() for w in (mention_words or set())})}
    if not verbs:
        return None
    rule: Conflict | None = None
    for p in passages:
        for s, e, _ in _units(p.text):
            words = [t.lower() for t in TOKEN_RE.findall(p.text[s:e])]
            for i, w in enumerate(words):
                if w in stopwords() or _stem(w) not in verbs:
                    continue
                use = _verb_at(words, i)
                if use == "narrated":
                    return None  # the sources say what happened
                if use == "rule" and rule is None:
                    rule = Conflict("rule", w, p, s, e)
    return rule
