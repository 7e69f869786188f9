"""The shape of the code: no module reaches into another's private members, and the package's
modules import each other without a cycle (lazy imports inside functions included)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "assistant"
# Callers of the package that must use its public API.
CALLERS = sorted([*PACKAGE.glob("*.py"), *(ROOT / "scripts").glob("*.py"), *(ROOT / "bench").glob("*.py"), ROOT / "app.py"])


def _private_names_defined(tree: ast.AST) -> set[str]:
    """Private names a module defines: functions, classes, module names and ``self._x`` attributes."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) \
                and isinstance(node.value, ast.Name) and node.value.id in {"self", "cls"}:
            names.add(node.attr)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def test_no_private_member_is_used_outside_its_module():
    trees = {p: ast.parse(p.read_text(encoding="utf-8")) for p in CALLERS}
    own = {p: _private_names_defined(t) for p, t in trees.items()}
    ours = set().union(*(own[p] for p in CALLERS if p.parent == PACKAGE))  # third-party privates aside
    found = []
    for path, tree in trees.items():
        where = path.relative_to(ROOT)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ours and node.attr not in own[path]:
                found.append(f"{where}:{node.lineno} .{node.attr}")
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("assistant")):
                found += [f"{where}:{node.lineno} import {a.name}" for a in node.names
                          if a.name.startswith("_") and not a.name.startswith("__")]
    assert found == []


def test_the_package_has_no_import_cycle():
    graph: dict[str, set[str]] = {}
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    for path in PACKAGE.glob("*.py"):
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                deps |= {node.module.split(".")[0]} if node.module else {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("assistant."):
                deps.add(node.module.split(".")[1])
        graph[path.stem] = (deps & modules) - {path.stem, "__init__"}

    def reaches(start: str) -> set[str]:
        seen, todo = set(), list(graph[start])
        while todo:
            m = todo.pop()
            if m not in seen:
                seen.add(m)
                todo += graph[m]
        return seen

    cycles = sorted(m for m in graph if m in reaches(m))
    assert cycles == [], {m: sorted(graph[m]) for m in cycles}
    # the pair issue 19 found: the ablations use the evaluation, never the other way round
    assert "evaluation" in graph["ablations"] and "ablations" not in reaches("evaluation")


def test_a_reply_that_opens_with_ok_leans_on_the_conversation():
    from assistant.planning import leans_on_history, standalone_query

    history = [{"role": "user", "content": "which crimes can the ICC deal with?"},
               {"role": "assistant", "content": "Article 5 lists genocide, …"}]
    assert leans_on_history("ok so who can actually trigger a case?")
    assert standalone_query("okay, who can actually trigger a case?", history).endswith("which crimes can the ICC deal with?")
    assert not leans_on_history("okra exports under the cluster munitions convention in detail please")
