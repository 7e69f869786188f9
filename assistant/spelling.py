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

The corrected question is what is searched and decided; the answer says what was read as what.
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


def _closest(word: str, lexical) -> str:
    from rapidfuzz import process
    from rapidfuzz.distance import DamerauLevenshtein

    edits = MAX_EDITS + (1 if len(word) >= LONG_WORD else 0)
    found = process.extract(word, _english(), scorer=DamerauLevenshtein.distance, score_cutoff=edits, limit=None)
    for distance in sorted({d for _, d, _ in found}):  # the nearest words first; among them, the index decides
        best, best_df = "", 0
        for candidate, d, _ in found:
            tokens = tokenize(candidate) if d == distance else []
            df = min(lexical.document_frequency(t) for t in tokens) if tokens else 0
            if df > best_df:
                best, best_df = candidate, df
        if best:
            return best
    return ""


def apply(text: str, fixes: dict[str, str]) -> str:
    """``text`` with each misspelt word replaced."""
    if not fixes:
        return text
    return WORD_RE.sub(lambda m: fixes.get(m.group(0), m.group(0)), text)


def notice(fixes: dict[str, str]) -> str:
    """What was read as what, for the answer's notices."""
    return "Read " + ", ".join(f"“{a}” as “{b}”" for a, b in fixes.items()) + "."
