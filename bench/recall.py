"""Dev-set quality of one encoder backend: fresh temp index, ingest corpus/, run eval/questions/dev.jsonl.

    .venv/bin/python bench/recall.py --backend onnx     # prints one JSON line
    .venv/bin/python bench/recall.py --backend torch --limit 60

The backend is chosen through ASSISTANT_ENCODER (Settings.encoder), exactly as a user would.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CORPUS, DEV, Timer, emit, peak_rss_mb  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", choices=["torch", "onnx"], required=True)
    ap.add_argument("--limit", type=int, default=0, help="only the first N questions (0 = all)")
    args = ap.parse_args()
    os.environ["ASSISTANT_ENCODER"] = args.backend

    from assistant import Assistant
    from assistant.evaluation import load_questions, run_questions, summarize

    questions, _ = load_questions(DEV)
    if args.limit:
        questions = questions[: args.limit]
    with tempfile.TemporaryDirectory(prefix="bench-recall-") as tmp:
        bot = Assistant(index_dir=Path(tmp) / "index")
        with Timer() as t_ing:
            bot.ingest([CORPUS])
        with Timer() as t_q:
            rows = run_questions(bot, questions, progress=False)
        summary = summarize(rows, 5)
    emit({
        "backend": args.backend,
        "questions": len(questions),
        "ingest_s": round(t_ing.wall, 2),
        "eval_s": round(t_q.wall, 2),
        "retrieval": summary["retrieval"],
        "answer": summary["answer"],
        "abstention": summary["abstention"],
        "latency_ms": summary["latency_ms"],
        "peak_rss_mb": peak_rss_mb(),
    })


if __name__ == "__main__":
    main()
