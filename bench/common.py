"""Shared helpers for the benchmarks: timing, percentiles, memory, machine facts, tables."""
from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
DEV = ROOT / "eval" / "questions" / "dev.jsonl"
RESULTS = ROOT / "bench" / "results"
PY = sys.executable

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (Linux: ru_maxrss is in KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Timer:
    """Wall and process-CPU seconds of a block (CPU time is robust to other load on the box)."""

    def __enter__(self) -> "Timer":
        self.t0, self.c0 = time.perf_counter(), cpu_seconds()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self.t0
        self.cpu = cpu_seconds() - self.c0


from assistant.evaluation import percentile  # noqa: E402,F401  (one definition for evals and benches)


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem = int(Path("/proc/meminfo").read_text().split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        mem = None
    import numpy
    info: dict[str, Any] = {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "mem_mb": mem,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }
    for mod in ("torch", "onnxruntime", "chromadb", "transformers"):
        try:
            info[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001
            info[mod] = None
    return info


def corpus_chunk_texts(paths: list[Path] | None = None) -> list[str]:
    """The embed texts of every corpus chunk, exactly as ingest would embed them."""
    from assistant.chunking import chunk_document
    from assistant.loaders import load
    from assistant.settings import Settings

    s = Settings()
    texts: list[str] = []
    for path in paths or sorted(CORPUS.glob("*.md")):
        try:
            doc = load(path)
        except Exception:  # noqa: BLE001 - SOURCES.md etc. have no front matter
            continue
        texts += [c.embed_text for c in chunk_document(doc, str(path.resolve()), s.chunk_max_words, s.chunk_overlap_sentences)]
    return texts


def run_json(args: list[str], env: dict[str, str] | None = None, timeout: float = 1800) -> dict:
    """Run a bench script in a fresh process (clean RSS, cold caches) and parse its last JSON line."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run([PY, *args], cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    for line in reversed(proc.stdout.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"{' '.join(args)} printed no JSON:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")


def emit(result: dict) -> None:
    """The machine-readable result: one JSON line on stdout (the last line)."""
    print(json.dumps(result, default=str))


def table(rows: list[list[Any]], header: list[str]) -> str:
    cells = [[("" if v is None else (f"{v:.3g}" if isinstance(v, float) and abs(v) < 1 else
                                     f"{v:,.1f}" if isinstance(v, float) else str(v))) for v in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(header)]
    line = lambda vals: "| " + " | ".join(v.ljust(w) for v, w in zip(vals, widths)) + " |"  # noqa: E731
    out = [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in cells]
    return "\n".join(out)


def shuffled_sentences(text: str, meta: dict, rng) -> tuple[str, list[tuple[int, int]]]:
    """A synthetic variant of a stored chunk: its sentences (from the stored spans) in an order
    drawn from ``rng``, joined by spaces, with the new sentence spans."""
    from assistant.chunking import decode_spans

    spans = decode_spans(meta["sents"]) if meta.get("sents") else [(0, len(text))]
    sentences = [text[s:e] for s, e in spans]
    new_text, new_spans, pos = "", [], 0
    for k in rng.permutation(len(sentences)):
        if new_text:
            new_text += " "
            pos += 1
        new_text += sentences[k]
        new_spans.append((pos, pos + len(sentences[k])))
        pos += len(sentences[k])
    return new_text, new_spans
