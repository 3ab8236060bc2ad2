"""The solved form of a notebook: each exercise cell's source replaced by its solution.

An exercise cell is a code cell whose metadata names its exercise:
`{"tags": ["exercise"], "labkit": {"exercise": "trust-policy"}}`. The solution code comes from
labkit.exercises (`exercise(id).solution_code()`), the one source of every solution, so the
learner's form and the solved form of a notebook cannot drift apart. Solution code reads a few
names defined by earlier cells (`lab`, `picker`, `response`): a notebook that does not define
them is refused here, with the cell and the names, rather than failing later under nbval.
"""

from __future__ import annotations

import ast
import builtins
import copy
from typing import Any

from labkit.errors import LabError
from labkit.exercises.registry import IDS, exercise

TAG = "exercise"


def exercise_id(cell: dict) -> str | None:
    """The exercise a cell is for, or None for any other cell."""
    labkit = (cell.get("metadata") or {}).get("labkit") or {}
    return labkit.get("exercise") if isinstance(labkit, dict) else None


def _tags(cell: dict) -> list[str]:
    return list((cell.get("metadata") or {}).get("tags") or [])


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _python(source: str) -> str:
    """A cell's source as plain Python (IPython's `!cmd` and `%magic` lines translated)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # pragma: no cover - IPython comes with JupyterLab
        return "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("!", "%")))
    return TransformerManager().transform_cell(source)


def bound_names(source: str) -> set[str]:
    """Names a cell defines (assignments, imports, defs, loop and with targets)."""
    try:
        tree = ast.parse(_python(source))
    except SyntaxError:
        return set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
    return names


def free_names(source: str) -> set[str]:
    """Names a piece of code reads without defining them (builtins aside)."""
    tree = ast.parse(source)
    loaded = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return loaded - bound_names(source) - set(dir(builtins))


def solve_notebook(nb: dict) -> dict:
    """A copy of notebook `nb` (nbformat JSON) with every exercise cell solved.

    Raises LabError if a cell names an unknown exercise, is tagged "exercise" without naming one,
    or if its solution would read a name that no earlier cell defines."""
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise LabError("solve_notebook() takes a notebook as nbformat JSON (a dict with 'cells').")
    solved = copy.deepcopy(nb)
    defined: set[str] = set()
    for number, cell in enumerate(solved["cells"], start=1):
        name = exercise_id(cell)
        if name is None and TAG in _tags(cell):
            raise LabError(f'Cell {number} is tagged "{TAG}" but its metadata names no exercise: add '
                           f'"labkit": {{"exercise": "<id>"}} (one of {", ".join(IDS)}).')
        if name is not None:
            if name not in IDS:
                raise LabError(f"Cell {number} names the exercise '{name}', which does not exist: use one of "
                               f"{', '.join(IDS)}.")
            if cell.get("cell_type") != "code":
                raise LabError(f"Cell {number} names the exercise '{name}' but is a {cell.get('cell_type')} cell: "
                               "an exercise cell is a code cell.")
            code = exercise(name).solution_code()
            missing = sorted(free_names(code) - defined)
            if missing:
                raise LabError(f"Cell {number} ({name}): its solution reads {', '.join(missing)}, which no earlier "
                               "cell defines: define it before the exercise.")
            cell["source"] = _as_source(code, cell.get("source"))
            cell["outputs"] = []
            cell["execution_count"] = None
        if cell.get("cell_type") == "code":
            defined |= bound_names(_source(cell))
    return solved


def _as_source(code: str, like: Any) -> Any:
    """The code in the form the notebook stores sources: one string, or a list of lines."""
    return code.splitlines(keepends=True) if isinstance(like, list) else code
