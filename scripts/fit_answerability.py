"""Refit the answerability model (assistant/data/answerability.json) from the question sets.

    .venv/bin/python scripts/fit_answerability.py            # fit, report, write the model
    .venv/bin/python scripts/fit_answerability.py --dry-run  # fit and report only

Each question's features come from the code that runs (``Assistant.decide``): brief sets against
an index of ``corpus/``, real-text sets against an index of ``../shared/realdocs`` (both built or
brought up to date first). A standardised logistic regression is fitted; 5-fold stratified
cross-validation gives out-of-fold probabilities, on which the threshold is chosen: the highest
abstention recall with false abstention at most ``--max-false-abstention`` (pooled over all sets).
The held-out sets (heldout, realdocs-heldout) are never used here.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FIT_SETS = [  # (question set, folder indexed for it)
    ("eval/questions/dev.jsonl", "corpus"),
    ("eval/questions/fresh.jsonl", "corpus"),
    ("eval/questions/added-briefs.jsonl", "corpus"),
    ("eval/questions/realdocs-dev.jsonl", "../shared/realdocs"),
]


def collect(sets: list[tuple[str, str]]) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """Features, labels (1 = answerable), set names and ids of every question."""
    from assistant import Assistant
    from assistant.api import docs_index_dir
    from assistant.decision import FEATURES
    from assistant.evaluation import load_questions

    X, y, which, ids = [], [], [], []
    bots: dict[str, Assistant] = {}
    for qfile, folder in sets:
        folder_path = (ROOT / folder).resolve()
        if folder not in bots:
            index = None if folder == "corpus" else docs_index_dir(folder_path)
            bots[folder] = Assistant(index_dir=index) if index else Assistant()
            report = bots[folder].ingest([folder_path])
            print(f"index of {folder}: {report.summary()}", file=sys.stderr)
        bot = bots[folder]
        questions, problems = load_questions(ROOT / qfile)
        for q in questions:
            d = bot.decide(q.question, history=q.history or None)
            X.append([d.features[f] for f in FEATURES])
            y.append(int(q.answerable))
            which.append(Path(qfile).stem)
            ids.append(q.id)
        print(f"{qfile}: {len(questions)} questions", file=sys.stderr)
    return np.array(X, dtype=float), np.array(y), which, ids


def rates(p: np.ndarray, y: np.ndarray, t: float) -> dict[str, float]:
    abstain = p < t
    answerable = y == 1
    return {
        "false_abstention": round(float((abstain & answerable).sum() / max(answerable.sum(), 1)), 4),
        "abstention_recall": round(float((abstain & ~answerable).sum() / max((~answerable).sum(), 1)), 4),
    }


def choose_threshold(p: np.ndarray, y: np.ndarray, max_fa: float) -> float:
    grid = np.round(np.arange(0.05, 0.951, 0.01), 2)
    ok = [t for t in grid if rates(p, y, t)["false_abstention"] <= max_fa]
    if not ok:
        return float(grid[0])
    return float(max(ok, key=lambda t: (rates(p, y, t)["abstention_recall"], -t)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "assistant/data/answerability.json")
    parser.add_argument("--max-false-abstention", type=float, default=0.05)
    parser.add_argument("--C", type=float, default=1.0, help="inverse regularisation strength")
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args()

    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.preprocessing import StandardScaler

    from assistant.decision import FEATURES

    X, y, which, ids = collect(FIT_SETS)

    def fit(Xa, ya):
        scaler = StandardScaler().fit(Xa)
        model = LogisticRegression(C=args.C, max_iter=1000).fit(scaler.transform(Xa), ya)
        return scaler, model

    oof = np.zeros(len(y))
    for train, test in StratifiedKFold(5, shuffle=True, random_state=0).split(X, y):
        scaler, model = fit(X[train], y[train])
        oof[test] = model.predict_proba(scaler.transform(X[test]))[:, 1]
    threshold = choose_threshold(oof, y, args.max_false_abstention)
    per_set = {}
    for name in dict.fromkeys(which):
        mask = np.array([w == name for w in which])
        per_set[name] = {"n": int(mask.sum()), **rates(oof[mask], y[mask], threshold)}
    scaler, model = fit(X, y)
    out = {
        "features": list(FEATURES),
        "coef": {f: round(float(c), 5) for f, c in zip(FEATURES, model.coef_[0])},
        "intercept": round(float(model.intercept_[0]), 5),
        "mean": {f: round(float(m), 6) for f, m in zip(FEATURES, scaler.mean_)},
        "scale": {f: round(float(s), 6) for f, s in zip(FEATURES, scaler.scale_)},
        "threshold": threshold,
        "hedge": 0.1,
        "info": {
            "fitted_on": [s for s, _ in FIT_SETS],
            "n": int(len(y)), "answerable": int(y.sum()),
            "cross_validated": {"folds": 5, "threshold_rule": f"max abstention recall, false abstention <= {args.max_false_abstention}",
                                "pooled": rates(oof, y, threshold), "per_set": per_set},
            "C": args.C,
            "script": "scripts/fit_answerability.py",
        },
    }
    print(json.dumps(out, indent=1))
    if not args.dry_run:
        args.out.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
