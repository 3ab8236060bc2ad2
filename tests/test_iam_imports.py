"""labkit.iam stands on its own: it imports nothing from the sandbox, moto or any HTTP library.

Every import in every module of labkit/iam/ is read with ast, including imports inside functions
(lazy ones) and importlib.import_module / __import__ calls with a literal name; and importing the
package in a fresh interpreter must not load any of them.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import labkit.iam

PACKAGE = Path(labkit.iam.__file__).parent
FORBIDDEN = ("labkit.sandbox", "moto", "boto3", "botocore", "werkzeug", "requests", "http",
             "urllib.request", "urllib3", "socket")


def imported_names(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import in a module, wherever it is written."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against labkit.iam
                base = "labkit.iam" + (f".{node.module}" if node.module else "")
                found.append((node.lineno, base))
            else:
                found.append((node.lineno, node.module or ""))
                found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("import_module", "__import__") and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    found.append((node.lineno, first.value))
                else:
                    found.append((node.lineno, "<computed import>"))
    return found


def forbidden(module: str) -> bool:
    return module == "<computed import>" or any(
        module == name or module.startswith(name + ".") for name in FORBIDDEN
    )


def test_the_package_has_the_modules_the_engine_is_made_of():
    modules = {path.stem for path in PACKAGE.glob("*.py")}
    assert {"grammar", "errors", "policy", "variables", "conditions", "principals", "context",
            "evaluation", "decision"} <= modules


def test_no_module_of_labkit_iam_imports_the_sandbox_moto_or_http():
    offending = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for line, module in imported_names(path):
            if forbidden(module):
                offending.append(f"{path.name}:{line} imports {module}")
            elif module.startswith("labkit") and not module.startswith("labkit.iam"):
                offending.append(f"{path.name}:{line} imports {module} (outside labkit.iam)")
    assert not offending, offending


def test_the_checker_sees_lazy_and_dynamic_imports(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from labkit.sandbox import gatekeeper\n"
                      "    import importlib\n    importlib.import_module('moto')\n"
                      "    __import__(name)\n")
    names = [module for _, module in imported_names(sample)]
    assert [m for m in names if forbidden(m)] == ["labkit.sandbox", "labkit.sandbox.gatekeeper",
                                                   "moto", "<computed import>"]


def test_importing_labkit_iam_loads_none_of_them():
    code = "import sys, labkit.iam\nprint('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = out.stdout.split()
    assert "labkit.iam.decision" in loaded
    assert [module for module in loaded if forbidden(module)] == []
