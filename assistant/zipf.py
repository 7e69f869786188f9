"""How common a word is in general English: ``wordfreq.zipf_frequency(word, "en")``, faster to start.

Importing wordfreq (its tokenizers, langcodes, regex tables) and building its English dictionary
cost ~0.25 s of every `assistant ask` (docs/performance.md). A plain lowercase word (``[a-z]+``)
is its own single token in wordfreq's English tokenizer, so its Zipf value is a lookup in
wordfreq's own English list (``large_en.msgpack.gz``, read here directly: gunzip and msgpack,
~0.05 s) with wordfreq's own arithmetic (:func:`_rounded_zipf`); a run of two or more digits in
it is handled as ``wordfreq.numbers`` does (looked up as zeros, times the run's estimated share). The list is kept as wordfreq
stores it, one alphabetically sorted list of words per frequency bucket (564 non-empty), most
frequent first, and a word is looked for by bisection in each: ~0.06 ms a word, against ~0.07 s
to build a dict of its 321,180 words; `ask` looks up ~300 words. Anything else (capitals,
apostrophes, hyphens, other scripts) goes to wordfreq itself. ``tests/test_zipf.py`` checks that
the two agree (every word of letters and digits in the list, and 0 to 99,999, did when this was
written, wordfreq 3.1.1).
"""
from __future__ import annotations

import bisect
import gzip
import math
import re
import threading
from functools import lru_cache
from pathlib import Path

_PLAIN = re.compile(r"[a-z0-9]+\Z")
_MULTI_DIGIT = re.compile(r"\d\d+")  # wordfreq's MULTI_DIGIT_RE (``\d[\d.,]+``) on a word of letters and digits
_lock = threading.Lock()
_buckets: list[tuple[float, list[str]]] | None = None


_MINIMUM = 10**0 / 1e9  # zipf_frequency's default minimum (Zipf 0), as a frequency


def _rounded_zipf(freq: float) -> float:
    """wordfreq's arithmetic from a frequency to what ``zipf_frequency`` returns: at least the
    minimum, ``_word_frequency``'s rounding to 3 significant digits, ``freq_to_zipf``, then
    ``zipf_frequency``'s rounding to hundredths."""
    freq = max(freq, _MINIMUM)
    leading_zeroes = math.floor(-math.log(freq, 10))
    return round(math.log(round(freq, leading_zeroes + 3), 10) + 9, 2)


_UNKNOWN = round(math.log(_MINIMUM, 10) + 9, 2)  # a word not in the list: the minimum itself, unrounded


def _english_list() -> Path | None:
    import importlib.util

    spec = importlib.util.find_spec("wordfreq")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "data" / "large_en.msgpack.gz"
    return path if path.is_file() else None


def _load() -> list[tuple[float, list[str]]] | None:
    """(frequency, its words sorted) for every non-empty bucket of wordfreq's English list, most
    frequent first (None when the list cannot be read this way: wordfreq is then asked)."""
    path = _english_list()
    if path is None:
        return None
    try:
        import msgpack

        with gzip.open(path, "rb") as fh:
            data = msgpack.unpackb(fh.read(), raw=False)
    except Exception:  # noqa: BLE001 - another layout of wordfreq's data: ask wordfreq itself
        return None
    header = data[0] if data else None
    if not isinstance(header, dict) or header.get("format") != "cB" or header.get("version") != 1:
        return None
    return [(10 ** (-index / 100), words) for index, words in enumerate(data[1:]) if words]  # cB_to_freq


# wordfreq.numbers: a token with a run of two or more digits is looked up with each run made
# zeros ("2396" -> "0000"), and its frequency multiplied by the run's estimated share.
_DIGIT_FREQS = [0.009, 0.300, 0.175, 0.124, 0.096, 0.078, 0.066, 0.057, 0.050, 0.045]
_YEAR_LOG_PEAK, _NOT_YEAR_PROB, _REFERENCE_YEAR, _PLATEAU_WIDTH = -1.9185, 0.1, 2019, 20


def _benford_freq(text: str) -> float:
    return _DIGIT_FREQS[int(text[0])] / 10 ** (len(text) - 1)


def _year_freq(text: str) -> float:
    year = int(text)
    if year <= _REFERENCE_YEAR:
        year_log_freq = _YEAR_LOG_PEAK - 0.0083 * (_REFERENCE_YEAR - year)
    elif _REFERENCE_YEAR < year <= _REFERENCE_YEAR + _PLATEAU_WIDTH:
        year_log_freq = _YEAR_LOG_PEAK
    else:
        year_log_freq = _YEAR_LOG_PEAK - 0.2 * (year - (_REFERENCE_YEAR + _PLATEAU_WIDTH))
    return 10.0**year_log_freq + _NOT_YEAR_PROB * _benford_freq(text)


def _digit_freq(text: str) -> float:
    freq = 1.0
    for run in _MULTI_DIGIT.findall(text):
        freq *= _year_freq(run) if len(run) == 4 else _benford_freq(run)
    return freq


@lru_cache(maxsize=65536)
def _plain(word: str) -> float | None:
    """The Zipf value of a word of ASCII lowercase letters and digits, or None without the list."""
    smashed = _MULTI_DIGIT.sub(lambda m: "0" * len(m.group()), word)
    freq = _listed(smashed)
    if freq is None:
        return None
    if freq == 0.0:
        return _UNKNOWN
    return _rounded_zipf(freq if smashed == word else freq * _digit_freq(word))


def _listed(word: str) -> float | None:
    """The frequency of ``word`` in wordfreq's English list (0.0: not in it; None: no list)."""
    global _buckets
    if _buckets is None:
        with _lock:
            if _buckets is None:
                _buckets = _load() or []
    if not _buckets:
        return None
    for freq, words in _buckets:
        i = bisect.bisect_left(words, word)
        if i < len(words) and words[i] == word:
            return freq  # (no word is in two buckets: tests/test_zipf.py)
    return 0.0


def english_zipf(word: str) -> float:
    """``wordfreq.zipf_frequency(word, "en")``: how often ``word`` occurs in general English, on
    the Zipf scale (3 = once per million words; 0 = not in the list)."""
    if _PLAIN.match(word):
        value = _plain(word)
        if value is not None:
            return value
    from wordfreq import zipf_frequency

    return zipf_frequency(word, "en")


@lru_cache(maxsize=4)
def common_words(min_zipf: float) -> tuple[str, ...]:
    """The English words of letters only with a Zipf value of at least ``min_zipf``, most frequent
    first, from the same list (empty when it cannot be read this way)."""
    _listed("the")  # loads the buckets
    out: list[str] = []
    for freq, words in _buckets or []:
        if _rounded_zipf(freq) < min_zipf:
            break
        out += [w for w in words if w.isalpha()]
    return tuple(out)
