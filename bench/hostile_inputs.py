"""Timings that unit tests used to assert (issue 19: a unit test says what happens, not how long
it takes on a shared machine): prints one JSON line, each timing beside the bound its test had.

    .venv/bin/python bench/hostile_inputs.py

- ``help_s``: ``assistant --help`` in a fresh process (tests/test_cli.py checks it never imports
  torch; it was held to < 5 s);
- ``guard_<markup>_s``: a 1.2 MB page of 200,000 ``<div/>`` (or stray end tags, or both) refused
  by the HTML nesting guard before parsing (tests/test_hostile.py; < 2 s);
- ``nested_divs_refused_s``: 100,000 nested ``<div>`` refused (tests/test_reliability.py; < 2 s);
- ``nested_quotes_loaded_s``: 20,000 nested ``<blockquote>`` loaded (tests/test_reliability.py;
  < 8 s, ~1.5 s on an idle machine).

Each also reports CPU seconds, which other load on the machine disturbs far less than wall time.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PY, ROOT, Timer, machine  # noqa: E402

BOUNDS_S = {"help_s": 5, "guard_self-closing-div_s": 2, "guard_stray-end-tag_s": 2, "guard_mixed_s": 2,
            "nested_divs_refused_s": 2, "nested_quotes_loaded_s": 8}


def nested(tag: str, depth: int, text: str) -> str:
    return "<html><body>" + f"<{tag}>" * depth + f"<p>{text}</p>" + f"</{tag}>" * depth + "</body></html>"


def main() -> None:
    from assistant.errors import BadDocument
    from assistant.loaders import load

    result: dict = {"machine": machine()}
    bin_ = Path(PY).parent / "assistant"
    with Timer() as t:
        subprocess.run([str(bin_), "--help"], capture_output=True, check=True, cwd=ROOT)
    result["help_s"] = round(t.wall, 3)  # CPU time of a child process is not this process's

    with tempfile.TemporaryDirectory() as tmp:
        for name, markup in (("self-closing-div", "<div/>"), ("stray-end-tag", "<div></span>"),
                             ("mixed", "<section/><b></i>")):
            page = Path(tmp) / f"{name}.html"
            page.write_text(f"<html><body>{markup * 200_000}<p>Never read.</p></body></html>", encoding="utf-8")
            with Timer() as t:
                try:
                    load(page)
                except BadDocument:
                    pass
            result[f"guard_{name}_s"], result[f"guard_{name}_cpu_s"] = round(t.wall, 3), round(t.cpu, 3)
        divs = Path(tmp) / "divs.html"
        divs.write_text(nested("div", 100_000, "Never read."), encoding="utf-8")
        with Timer() as t:
            try:
                load(divs)
            except BadDocument:
                pass
        result["nested_divs_refused_s"], result["nested_divs_refused_cpu_s"] = round(t.wall, 3), round(t.cpu, 3)
        quotes = Path(tmp) / "quotes.html"
        quotes.write_text(nested("blockquote", 20_000, "The innermost quotation survives."), encoding="utf-8")
        with Timer() as t:
            load(quotes)
        result["nested_quotes_loaded_s"], result["nested_quotes_loaded_cpu_s"] = round(t.wall, 3), round(t.cpu, 3)
    result["bounds_s"] = BOUNDS_S
    result["within_bounds"] = all(result[k] < v for k, v in BOUNDS_S.items())
    print(json.dumps(result))


if __name__ == "__main__":
    main()
