"""Check corpus briefs and question files for the contract's rules.

Usage: python scripts/check_corpus.py [corpus_dir] [questions.jsonl ...]
Prints one line per problem; exit status 1 when any is found.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import sys
from pathlib import Path

from assistant import loaders

TYPES = {"treaty", "resolution", "strategy", "regulation", "directive", "convention",
         "declaration", "brief", "agreement"}
REQUIRED = ("id", "title", "issuer", "type", "adopted", "url", "topics", "reviewed")
ID_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")

# Time-sensitive facts: a count of parties/members/participants, a sum of money, or words such as
# "currently" or "the latest" must carry "as of <Month YYYY>" in the same sentence, so that a quote
# of that sentence carries its date. Counts fixed by a legal text (the sentence cites an Article,
# Rule, Recommendation, Annex or Regulation) and past events (a year, no present tense) are exempt;
# so are sums with a year (a budget period) and fines (legal thresholds).
_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
AS_OF_RE = re.compile(rf"\bas of (?:{_MONTHS}) (?:19|20)\d\d\b", re.I)
_QUALIFIER = r"(?:(?:about|around|roughly|approximately|more than|over|some|nearly|almost|at least|fewer than|under)\s+)?"
_MEMBERS = (r"(?:states?\s+parties|parties|contracting\s+(?:states|parties)|member\s+(?:states|countries|jurisdictions|fius|"
            r"organisations|organizations)|members|participating\s+(?:states|countries|member\s+states)|endorsing\s+states|"
            r"countries(?:\s+and\s+territories)?|states|allies|jurisdictions|signatories|fius)")
COUNT_RE = re.compile(rf"\b{_QUALIFIER}\d{{1,3}}(?:,\d{{3}})*\s+{_MEMBERS}\b", re.I)
MONEY_RE = re.compile(r"(?:€|\bEUR\s?|\$|\bUSD\s?|£)\s?\d[\d.,]*\s*(?:million|billion)"
                      r"|\b\d[\d.,]*\s*(?:million|billion)\s+(?:euros?|dollars|EUR|USD)\b", re.I)
NOW_RE = re.compile(r"\b(?:currently|current(?! prices)|at present|presently|(?<!at )the latest|newest|most recent(?:ly)?|recently|"
                    r"(?<!up )to date|so far|nowadays|as things stand|today)\b", re.I)
LEGAL_RE = re.compile(r"\b(?:Articles?|Art\.|Rule|Recommendation|Annex|Regulation \(EU\)|resolutions?)\s*[\dIVXLC]", re.I)
PRESENT_RE = re.compile(r"\b(?:has|have|is|are|counts?|comprises?|numbers?|includes?|brings together|remains?|now)\b", re.I)
YEAR_RE = re.compile(r"\b(?:19|20)\d\d\b")
FINE_RE = re.compile(r"\bfines?\b", re.I)


def undated_time_sensitive(sentence: str) -> str | None:
    """Why ``sentence`` needs an "as of <Month YYYY>" date it lacks ("a count", "a sum", "'currently'"), else None."""
    if AS_OF_RE.search(sentence):
        return None
    now = NOW_RE.search(sentence)
    if now:
        return repr(now.group(0))
    if COUNT_RE.search(sentence) and not LEGAL_RE.search(sentence) \
            and not (YEAR_RE.search(sentence) and not PRESENT_RE.search(sentence)):
        return "a count of parties or members"
    if MONEY_RE.search(sentence) and not YEAR_RE.search(sentence) and not FINE_RE.search(sentence):
        return "a sum of money"
    return None


def sentences(body: str):
    """The sentences of a brief's body, headings left out."""
    for line in body.splitlines():
        if line.lstrip().startswith("#"):
            continue
        yield from (s for s in re.split(r"(?<=[.!?])\s+", line.strip()) if s)


def split_front_matter(text: str) -> tuple[dict, str]:
    """A brief's front matter and body, read as ingest reads them; a brief without one is a problem."""
    meta, body = loaders.split_front_matter(text)
    if not meta:
        raise ValueError("no front matter")
    return meta, body


def check_corpus(root: Path) -> tuple[list[str], dict[str, str]]:
    problems: list[str] = []
    docs: dict[str, str] = {}
    for path in sorted(root.glob("*.md")):
        if path.name in {"SOURCES.md", "README.md"}:
            continue
        try:
            meta, body = split_front_matter(path.read_text(encoding="utf-8"))
        except Exception as exc:  # noqa: BLE001 - report and continue
            problems.append(f"{path.name}: {exc}")
            continue
        for key in REQUIRED:
            if not meta.get(key):
                problems.append(f"{path.name}: missing {key}")
        doc_id = str(meta.get("id", ""))
        if not ID_RE.match(doc_id):
            problems.append(f"{path.name}: bad id {doc_id!r}")
        if doc_id in docs:
            problems.append(f"{path.name}: duplicate id {doc_id}")
        if path.stem != doc_id:
            problems.append(f"{path.name}: file name should be {doc_id}.md")
        if meta.get("type") not in TYPES:
            problems.append(f"{path.name}: type {meta.get('type')!r} not in {sorted(TYPES)}")
        if not str(meta.get("url", "")).startswith("https://"):
            problems.append(f"{path.name}: url must be https")
        if not isinstance(meta.get("adopted"), dt.date):
            problems.append(f"{path.name}: adopted must be a YYYY-MM-DD date")
        reviewed = meta.get("reviewed")
        if meta.get("reviewed") and not isinstance(reviewed, dt.date):
            problems.append(f"{path.name}: reviewed must be a YYYY-MM-DD date")
        elif isinstance(reviewed, dt.date) and reviewed > dt.date.today():
            problems.append(f"{path.name}: reviewed {reviewed} is in the future")
        for sentence in sentences(body):
            why = undated_time_sensitive(sentence)
            if why:
                problems.append(f"{path.name}: {why} without 'as of <Month YYYY>': {sentence[:90]!r}")
        if not isinstance(meta.get("topics"), list):
            problems.append(f"{path.name}: topics must be a list")
        words = len(body.split())
        if not 500 <= words <= 1500:
            problems.append(f"{path.name}: {words} words (want 500-1500)")
        for para in re.split(r"\n\s*\n", body):
            if len(para.split()) > 170 and not para.lstrip().startswith("#"):
                problems.append(f"{path.name}: a paragraph of {len(para.split())} words (keep <= 170)")
        docs[doc_id] = body
    return problems, docs


def check_questions(path: Path, docs: dict[str, str]) -> list[str]:
    problems: list[str] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path.name}:{n}"
        try:
            q = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"{where}: bad JSON ({exc})")
            continue
        for key in ("id", "question", "answerable", "must_cite", "key_facts", "kind"):
            if key not in q:
                problems.append(f"{where}: missing {key}")
        if q.get("answerable"):
            if not q.get("must_cite"):
                problems.append(f"{where}: answerable question without must_cite")
            if not 1 <= len(q.get("key_facts", [])) <= 3:
                problems.append(f"{where}: want 1-3 key_facts")
            texts = [docs.get(d) for d in q.get("must_cite", [])]
            for d, t in zip(q.get("must_cite", []), texts):
                if t is None:
                    problems.append(f"{where}: must_cite id {d!r} does not exist")
            joined = " ".join(t for t in texts if t).lower()
            joined = re.sub(r"\s+", " ", joined)
            for fact in q.get("key_facts", []):
                if fact.lower() not in joined:
                    problems.append(f"{where}: key fact {fact!r} not found verbatim in {q.get('must_cite')}")
        for turn in q.get("history", []) or []:
            if turn.get("role") not in {"user", "assistant"} or not isinstance(turn.get("content"), str):
                problems.append(f"{where}: bad history turn")
    return problems


def main(argv: list[str]) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="Check corpus briefs (front matter, length, paragraphs) and question "
                                             "sets (format, known doc ids, key facts verbatim in the cited briefs).")
    ap.add_argument("corpus", nargs="?", default="corpus", help="folder of briefs (default: corpus)")
    ap.add_argument("questions", nargs="*", help="question files (JSONL) to check against the briefs")
    args = ap.parse_args(argv[1:])
    root = Path(args.corpus)
    if not root.is_dir():
        print(f"error: {root} is not a folder of briefs", file=sys.stderr)
        return 2
    problems, docs = check_corpus(root)
    for qpath in args.questions:
        if not Path(qpath).is_file():
            print(f"error: no such question file: {qpath}", file=sys.stderr)
            return 2
        problems += check_questions(Path(qpath), docs)
    for p in problems:
        print(p)
    print(f"{len(docs)} documents checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
