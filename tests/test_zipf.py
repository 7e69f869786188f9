"""assistant.zipf gives exactly wordfreq's zipf_frequency(word, "en"), read faster (no wordfreq import for plain words)."""
from __future__ import annotations

import random

from wordfreq import get_frequency_dict, zipf_frequency

from assistant import zipf


def test_plain_words_are_read_from_the_list_with_wordfreqs_values():
    buckets = zipf._load()
    assert buckets and all(words == sorted(words) for _, words in buckets)  # bisection needs sorted buckets
    found = [w for _, words in buckets for w in words]
    assert len(found) == len(set(found)) == len(get_frequency_dict("en"))  # no word in two buckets
    plain = sorted(w for w in found if zipf._PLAIN.match(w))  # with "0000", "mp00": how numbers are listed
    rng = random.Random(17)
    # every frequency bucket's first plain word, and a sample of the rest
    firsts = {next((w for w in words if zipf._PLAIN.match(w)), None) for _, words in buckets} - {None}
    assert len(firsts) > 300
    words = sorted(firsts | set(rng.sample(plain, 5000)))
    assert {w: zipf.english_zipf(w) for w in words} == {w: zipf_frequency(w, "en") for w in words}


def test_numbers_and_words_with_digits_as_wordfreq_estimates_them():
    """A run of two or more digits is looked up as zeros and weighted by wordfreq.numbers' estimate."""
    rng = random.Random(5)
    numbers = [str(n) for n in range(0, 120)] + [str(y) for y in range(1900, 2100)] + \
        [str(rng.randrange(10**k)) for k in range(2, 9) for _ in range(40)] + ["007", "0", "00", "000123"]
    mixed = ["mp14", "ec3", "nis2", "9m729", "vd11", "g7", "g20", "1st", "2nd", "b2b", "4x4", "covid19", "a320",
             "x86", "h2o", "mp3", "3d", "1325", "s300", "resolution2396"]
    mixed += ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(rng.randint(2, 7)))
              for _ in range(500)]
    words = numbers + mixed
    assert {w: zipf.english_zipf(w) for w in words} == {w: zipf_frequency(w, "en") for w in words}


def test_words_not_in_the_list_and_words_wordfreq_must_tokenize():
    for word in ["qzxvbnmw", "nato", "the", "article", "interpol", "ne", "a",
                 "NATO", "Article", "don't", "ship’s", "2396", "1970s", "căldăraru", "état", "co-operation", "x_y", ""]:
        assert zipf.english_zipf(word) == zipf_frequency(word, "en"), word
