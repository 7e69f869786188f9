"""Typing errors: a word that is neither English nor in the index is read as the word it most
likely stands for ("extradtion" -> "extradition", "convnetion" -> "convention").

A word is corrected only when all of these hold, so that names, acronyms and rare real words are
left alone:

- it has at least ``MIN_LETTERS`` letters and is written in lower case (names and acronyms are
  capitalised; a misspelt name is matched by the glossary, :meth:`assistant.names.Glossary.find`);
- general English does not know it (``wordfreq`` Zipf frequency 0) and the index holds no chunk
  with it;
- an English word (``wordfreq``'s ``VOCABULARY`` most frequent) is within ``MAX_EDITS`` edits of
  it (Damerau-Levenshtein: a letter left out, added, changed, or two letters swapped; two edits
  for words of ``LONG_WORD`` letters or more) *and* that word is in the index. Among several, the
  one in most chunks wins ("extradtion" is one letter from "extraction" and from "extradition";
  a corpus of treaties holds the second).

A shortened word is read the same way ("conv" -> "convention", "addl" -> "additional", "req'd"
-> "required", "2nd" -> "second"), when all of these hold:

- it has at least ``MIN_SHORT`` letters, is written in lower case, is rare in general English
  (Zipf below ``SHORT_ZIPF``: "conv" 2.4, "addl" 1.6; "art" 5.3 and "para" 3.9 are words of their
  own) and the index holds no chunk with it;
- it is the start of a longer English word ("conv" of "convention": a truncation) or keeps the
  first and last letters of one and some of the letters between, in order ("addl" of
  "additional", "req'd" of "required": a contraction), and that word is in the index. Among
  several, the one in most chunks wins, as for typing errors;
- an ordinal written in figures ("2nd") is read as its word ("second") when the index holds it.
"""
from __future__ import annotations

import re
from functools import lru_cache

from .lexical import tokenize

MIN_LETTERS = 5
MAX_EDITS = 1
LONG_WORD = 9
VOCABULARY = 60000
WORD_RE = re.compile(r"(?<![\w'’-])[a-z]+(?![\w'’-])")
MIN_SHORT = 3
SHORT_ZIPF = 3.0
FULL_ZIPF = 2.5  # the words a shortening may stand for: known English (wordfreq's list, read by assistant/zipf.py)
SHORT_RE = re.compile(r"(?<![\w'’-])(?:[a-z]+['’][a-z]+|[a-z]+|\d+(?:st|nd|rd|th))(?![\w'’-])")
ORDINAL_RE = re.compile(r"(\d+)(?:st|nd|rd|th)")


@lru_cache(maxsize=1)
def _english() -> list[str]:
    from wordfreq import top_n_list

    return [w for w in top_n_list("en", VOCABULARY) if w.isalpha()]


def _zipf(word: str) -> float:
    from .decision import english_zipf  # cached; the decision looks up the same words

    return english_zipf(word)


def corrections(text: str, lexical) -> dict[str, str]:
    """The misspelt words of ``text`` and what each is read as (module docstring)."""
    out: dict[str, str] = {}
    for m in WORD_RE.finditer(text):
        word = m.group(0)
        if len(word) < MIN_LETTERS or word in out or _zipf(word) > 0:
            continue
        tokens = tokenize(word)
        if not tokens or any(lexical.document_frequency(t) for t in tokens):
            continue
        best = _closest(word, lexical)
        if best:
            out[word] = best
    return out


def _in_index(word: str, lexical) -> int:
    """Chunks holding ``word`` (the fewest of its tokens'; 0 when it has none)."""
    tokens = tokenize(word)
    return min(lexical.document_frequency(t) for t in tokens) if tokens else 0


def shortenings(text: str, lexical, skip: set[str] | frozenset[str] = frozenset()) -> dict[str, str]:
    """The shortened words of ``text`` and the word each is read as (module docstring); words in
    ``skip`` (those already read as typing errors) are left alone."""
    out: dict[str, str] = {}
    for m in SHORT_RE.finditer(text):
        word = m.group(0)
        if word in out or word in skip:
            continue
        ordinal = ORDINAL_RE.fullmatch(word)
        if ordinal:
            from num2words import num2words

            full = num2words(int(ordinal.group(1)), to="ordinal") if int(ordinal.group(1)) < 1000 else ""
            if full and " " not in full and "-" not in full and _in_index(full, lexical):
                out[word] = full
            continue
        letters = re.sub(r"['’]", "", word)
        if len(letters) < MIN_SHORT or _zipf(word) >= SHORT_ZIPF or _in_index(letters, lexical):
            continue
        best = _fullest(letters, lexical)
        if best:
            out[word] = best
    return out


def _fullest(short: str, lexical) -> str:
    """The word of the index ``short`` most likely shortens (a truncation or a contraction)."""
    from .zipf import common_words

    best, best_df = "", 0
    for word in common_words(FULL_ZIPF) or _english():
        if len(word) <= len(short) + 1 or word[0] != short[0]:
            continue
        if not (word.startswith(short) or (word[-1] == short[-1] and _subsequence(short, word))):
            continue
        df = _in_index(word, lexical)
        if df > best_df:
            best, best_df = word, df
    return best


def _subsequence(short: str, word: str) -> bool:
    letters = iter(word)
    return all(c in letters for c in short)


def _closest(word: str, lexical) -> str:
    from rapidfuzz import process
    from rapidfuzz.distance import DamerauLevenshtein

    edits = MAX_EDITS + (1 if len(word) >= LONG_WORD else 0)
    found = process.extract(word, _english(), scorer=DamerauLevenshtein.distance, score_cutoff=edits, limit=None)
    for distance in sorted({d for _, d, _ in found}):  # the nearest words first; among them, the index decides
        best, best_df = "", 0
        for candidate, d, _ in found:
            df = _in_index(candidate, lexical) if d == distance else 0
            if df > best_df:
                best, best_df = candidate, df
        if best:
            return best
    return ""


def apply(text: str, fixes: dict[str, str]) -> str:
    """``text`` with each misspelt or shortened word replaced."""
    if not fixes:
        return text
    return SHORT_RE.sub(lambda m: fixes.get(m.group(0), m.group(0)), text)


def notice(fixes: dict[str, str]) -> str:
    """What was read as what, for the answer's notices."""
    return "Read " + ", ".join(f"“{a}” as “{b}”" for a, b in fixes.items()) + "."
