"""The command line: exit codes, one-line errors, JSON output, light start-up."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration  # the command line as a subprocess, over real indexes

BIN = Path(sys.executable).parent / "assistant"


def run(*args: str, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, env=full_env, timeout=timeout)


def test_help_does_not_load_torch():
    """Start-up stays light: --help and the CLI module never import torch (its time:
    bench/hostile_inputs.py)."""
    out = run("--help")
    assert out.returncode == 0 and "ingest" in out.stdout and "eval" in out.stdout
    probe = subprocess.run([sys.executable, "-c", "import sys, assistant.cli; print('torch' in sys.modules)"],
                           capture_output=True, text=True)
    assert probe.stdout.strip() == "False"


def test_ask_json_on_corpus(corpus_index_dir):
    out = run("--index", str(corpus_index_dir), "ask",
              "What does Article 5 of the North Atlantic Treaty commit the parties to?", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["abstained"] is False and data["latency_ms"] > 0
    assert "nato-treaty" in [c["doc_id"] for c in data["citations"]]


def test_ask_with_filter_and_k(corpus_index_dir):
    out = run("--index", str(corpus_index_dir), "ask", "What must be reported and when?", "--json",
              "--filter", "doc_id=nis2-directive", "-k", "3")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert len(data["passages"]) <= 3 and {p["doc_id"] for p in data["passages"]} == {"nis2-directive"}


@pytest.mark.parametrize("args, needle", [
    (["ask", ""], "question is empty"),
    (["ask", "hi", "--filter", "colour=red"], "allowed keys"),
    (["ask", "hi", "--filter", "noequals"], "KEY=VALUE"),
    (["ask", "hi", "-k", "0"], "k must be"),
    (["eval", "missing.jsonl"], "no such question file"),
])
def test_bad_input_exit_2_one_line(corpus_index_dir, args, needle):
    out = run("--index", str(corpus_index_dir), *args)
    assert out.returncode == 2, (out.returncode, out.stderr)
    assert needle in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_missing_index_is_exit_2(tmp_path):
    out = run("--index", str(tmp_path / "none"), "ask", "What is NATO?")
    assert out.returncode == 2 and "assistant ingest" in out.stderr


def test_unknown_command_is_usage_error():
    out = run("frobnicate")
    assert out.returncode == 2


def test_ingest_stats_and_failures(tmp_path, docs_dir):
    (docs_dir / "bad.pdf").write_bytes(b"not a pdf at all")
    idx = tmp_path / "idx"
    out = run("--index", str(idx), "ingest", str(docs_dir))
    assert out.returncode == 1  # a file failed: the status says so
    assert "added 2" in out.stdout and "failed 1" in out.stdout
    assert "bad.pdf" in out.stderr
    again = run("--index", str(idx), "ingest", str(docs_dir), "--json")
    report = json.loads(again.stdout)
    assert len(report["unchanged"]) == 2 and report["ok"] is False
    stats = json.loads(run("--index", str(idx), "stats", "--json").stdout)
    assert stats["documents"] == 2 and stats["store"] == "chroma-embedded"


def test_chat_keeps_history(corpus_index_dir):
    proc = subprocess.run(
        [str(BIN), "--index", str(corpus_index_dir), "chat"],
        input="What is the Budapest Convention on Cybercrime?\nWhen did it enter into force?\nexit\n",
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("[1]") >= 2 and "2004" in proc.stdout
