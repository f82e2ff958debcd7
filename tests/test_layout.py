"""The layout's rules, checked: the import contract of pyproject.toml (import-linter) holds
and catches a forbidden import; the original's top-level modules import none of ours; the
imports left inside functions are few and each says why.

import-linter (grimp) analyses packages only, so the contract covers `bert_estimator` and
`processors`, with the top-level modules (`run_classifier`, `modeling`, ...) as layers it
sees from their importers. What the single-file modules themselves import is checked here
from their source.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import PROJECT_ROOT

LINT_IMPORTS = os.path.join(os.path.dirname(sys.executable), "lint-imports")
ORIGINAL_MODULES = ("modeling.py", "tokenization.py", "optimization.py")
OUR_PACKAGES = ("bert_estimator", "processors", "run_classifier", "tests", "bench")
# Imports inside functions that the issue tracker allows (issue 23: at most 30), each
# with a comment saying what it saves.
MAX_FUNCTION_LEVEL_IMPORTS = 30


def _lint_imports(root) -> subprocess.CompletedProcess:
    return subprocess.run([LINT_IMPORTS, "--no-cache"], cwd=root, capture_output=True, text=True, timeout=300)


def _product_files():
    for top in ("bert_estimator", "processors"):
        for dirpath, _, names in os.walk(os.path.join(PROJECT_ROOT, top)):
            yield from (os.path.join(dirpath, n) for n in sorted(names) if n.endswith(".py"))
    for name in ("run_classifier.py", *ORIGINAL_MODULES):
        yield os.path.join(PROJECT_ROOT, name)


def _imported_names(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node, node.module


def test_the_import_contract_holds():
    result = _lint_imports(PROJECT_ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "Contracts: 2 kept, 0 broken." in result.stdout


@pytest.mark.parametrize("module, forbidden", [
    ("bert_estimator/core/errors.py", "from bert_estimator.tools import demo"),  # nothing imports tools
    ("bert_estimator/core/fileio.py", "import run_classifier"),  # core imports nothing above it
    ("processors/base.py", "from bert_estimator.data import features"),  # processors: only core
    ("bert_estimator/data/features.py", "from bert_estimator.serving import saved_model"),  # upwards
])
def test_a_forbidden_import_breaks_the_contract(tmp_path, module, forbidden):
    for name in ("bert_estimator", "processors"):
        shutil.copytree(os.path.join(PROJECT_ROOT, name), tmp_path / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "run_classifier.py", *ORIGINAL_MODULES):
        shutil.copy(os.path.join(PROJECT_ROOT, name), tmp_path / name)
    assert _lint_imports(tmp_path).returncode == 0  # the copy itself is clean
    with open(tmp_path / module, "a") as f:
        f.write(f"\n{forbidden}  # noqa\n")
    result = _lint_imports(tmp_path)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout and module[:-3].replace("/", ".") in result.stdout


@pytest.mark.parametrize("name", ORIGINAL_MODULES)
def test_the_original_modules_import_none_of_ours(name):
    with open(os.path.join(PROJECT_ROOT, name), encoding="utf-8") as f:
        tree = ast.parse(f.read())
    ours = [module for _, module in _imported_names(tree) if module.split(".")[0] in OUR_PACKAGES]
    assert not ours, f"{name} imports {ours}: the original's modules sit at the bottom of the layers"


def test_run_classifier_imports_no_tools_and_no_tests():
    with open(os.path.join(PROJECT_ROOT, "run_classifier.py"), encoding="utf-8") as f:
        tree = ast.parse(f.read())
    bad = [m for _, m in _imported_names(tree)
           if m.startswith(("bert_estimator.tools", "tests", "bench"))]
    assert not bad


def _function_level_imports():
    """(file, line, module, has a comment) for every import inside a function of the
    product code, of a module outside the standard library."""
    found = []
    for path in _product_files():
        with open(path, encoding="utf-8") as f:
            source = f.read()
        lines = source.splitlines()
        tree = ast.parse(source)
        for func in ast.walk(tree):
            if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(func):
                if not isinstance(node, (ast.Import, ast.ImportFrom)):
                    continue
                module = node.names[0].name if isinstance(node, ast.Import) else node.module or ""
                if module.split(".")[0] in sys.stdlib_module_names:
                    continue
                line = node.lineno
                commented = "#" in lines[line - 1] or lines[line - 2].strip().startswith("#")
                found.append((os.path.relpath(path, PROJECT_ROOT), line, module, commented))
    return sorted(set(found))


def test_imports_inside_functions_are_few_and_say_why():
    found = _function_level_imports()
    assert len(found) <= MAX_FUNCTION_LEVEL_IMPORTS, "\n".join(f"{p}:{n} {m}" for p, n, m, _ in found)
    silent = [f"{p}:{n} imports {m}" for p, n, m, commented in found if not commented]
    assert not silent, "imports inside functions need a comment saying what they save:\n" + "\n".join(silent)


def test_product_code_never_imports_tests_or_bench():
    bad = []
    for path in _product_files():
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read())
        bad += [f"{path}: {m}" for _, m in _imported_names(tree) if m.split(".")[0] in ("tests", "bench")]
    assert not bad
