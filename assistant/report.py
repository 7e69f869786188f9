"""Markdown report with PNG charts for ``assistant eval --report``."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value}"


def _charts(result: dict[str, Any], out_dir: Path, stem: str) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["per_question"]
    by_kind: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_kind[r["kind"] or "unspecified"].append(r)
    kinds = sorted(by_kind)
    cover, correct = [], []
    for kind in kinds:
        group = by_kind[kind]
        facts = [len(r["facts_found"]) / len(r["key_facts"]) for r in group if r["answerable"] and r["key_facts"]]
        cover.append(sum(facts) / len(facts) if facts else 0.0)
        correct.append(sum(1 for r in group if r["abstained"] != r["answerable"]) / len(group))
    files: list[str] = []
    fig, ax = plt.subplots(figsize=(9, 4))
    xs = range(len(kinds))
    ax.bar([x - 0.2 for x in xs], cover, width=0.4, label="key-fact coverage")
    ax.bar([x + 0.2 for x in xs], correct, width=0.4, label="right answer/abstain decision")
    ax.set_xticks(list(xs), kinds, rotation=30, ha="right")
    ax.set_ylim(0, 1)
    ax.legend()
    ax.set_title("Quality by question kind")
    files.append(_save(plt, fig, out_dir / f"{stem}-kinds.png"))

    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.hist([r["latency_ms"] for r in rows], bins=30)
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("questions")
    ax.set_title("Answer latency")
    files.append(_save(plt, fig, out_dir / f"{stem}-latency.png"))
    return files


def _save(plt, fig, path: Path) -> str:
    """Write a chart as PNG and return its file name (for the report's links)."""
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path.name


def write_report(result: dict[str, Any], path: Path) -> None:
    """Write the Markdown report and its charts next to it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    charts = _charts(result, path.parent, path.stem)
    lines = [
        "# Evaluation report",
        "",
        f"{result['n']} questions: {result['answerable']} answerable, {result['unanswerable']} unanswerable.",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    for group in ("retrieval", "answer", "abstention", "latency_ms"):
        for name, value in result[group].items():
            lines.append(f"| {group}.{name} | {_fmt(value)} |")
    if "calibration" in result:
        cal = result["calibration"]
        lines += ["", "## Abstention threshold calibration", "",
                  f"Chosen threshold: **{cal['threshold']}** (fit half n={cal['fit']['n']}, test half n={cal['test']['n']})", "",
                  "| half | balanced accuracy | precision | recall | false abstention |", "|---|---|---|---|---|"]
        for half in ("fit", "test"):
            h = cal[half]
            lines.append(f"| {half} | {h['balanced_accuracy']} | {_fmt(h['precision'])} | {_fmt(h['recall'])} | {_fmt(h['false_abstention_rate'])} |")
    if "ablations" in result:
        abl = result["ablations"]
        metrics = list(next(iter(abl.values())).keys())
        lines += ["", "## Ablations", "", "| system | " + " | ".join(metrics) + " |", "|---" * (len(metrics) + 1) + "|"]
        for name, values in abl.items():
            lines.append(f"| {name} | " + " | ".join(_fmt(values[m]) for m in metrics) + " |")
    lines += ["", "## Charts", ""] + [f"![{c}]({c})" for c in charts]
    worst = sorted(
        result["per_question"],
        key=lambda r: (r["abstained"] == r["answerable"] and 0 or 1,
                       len(r["facts_found"]) / len(r["key_facts"]) if r["key_facts"] else 1.0),
    )[:15]
    lines += ["", "## Worst questions", "", "| id | kind | what went wrong | answer (start) |", "|---|---|---|---|"]
    for r in worst:
        problems = []
        if r["answerable"] and r["abstained"]:
            problems.append(f"abstained ({r['abstain_reason']})")
        if not r["answerable"] and not r["abstained"]:
            problems.append("answered an unanswerable question")
        if r["facts_missed"]:
            problems.append("missed " + ", ".join(r["facts_missed"]))
        if r["must_cite"] and not set(r["cited_docs"]) & set(r["must_cite"]) and r["answerable"]:
            problems.append(f"cited {r['cited_docs'] or 'nothing'} not {r['must_cite']}")
        text = r["answer"][:120].replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {r['id']} | {r['kind']} | {'; '.join(problems) or 'ok'} | {text} |")
    if result.get("problems"):
        lines += ["", "## Skipped lines", ""] + [f"- {p}" for p in result["problems"]]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
