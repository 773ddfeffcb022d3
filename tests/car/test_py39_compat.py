"""The racer-car wheel's files run on Python 3.9, proven statically (no 3.9 interpreter here).

Three checks, each covering what the others miss:

* vermin, targeting 3.9, finds newer library APIs and syntax (``typing.Self``, ``zip(strict=)``,
  ``match``, ``tomllib``, ``datetime.UTC``, ``dataclass(slots=)``, ...). Annotations are not
  evaluated (``--no-eval-annotations``): every file that has any imports
  ``from __future__ import annotations``, which the third test holds.
* Python's own parser with ``feature_version=(3, 9)`` refuses 3.10+ grammar.
* vermin does not see ``X | Y`` of types outside annotations (``isinstance(v, int | float)``, a
  module-level alias), which fails at run time on 3.9: an AST walk finds those.
"""

from __future__ import annotations

import ast
import io
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest

from racer.cli.car import source_files

TARGET = (3, 9)
#: the wheel's Python files: archive name -> source
WHEEL_PY = {name: path for name, path in source_files().items() if name.endswith(".py")}
#: names that denote a type when they stand beside ``|`` outside an annotation
_TYPE_NAMES = {"int", "float", "complex", "str", "bytes", "bytearray", "bool", "list", "tuple"}
_TYPE_NAMES |= {"dict", "set", "frozenset", "type", "object", "integer", "floating", "ndarray"}


def _vermin(*paths: str | Path) -> subprocess.CompletedProcess[str]:
    run = "import sys, vermin; sys.argv[0] = 'vermin'; sys.exit(vermin.main())"  # no __main__
    cmd = [sys.executable, "-c", run, "--no-config-file", "--target=3.9-", "--violations"]
    cmd += ["--no-tips", "--no-eval-annotations", "--no-parse-comments", "-vvv", *map(str, paths)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def _annotation_nodes(tree: ast.AST) -> set[int]:
    """ids of every node inside an annotation (never evaluated under the __future__ import)."""
    roots: list[ast.expr | None] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            a = node.args
            roots.append(node.returns)
            roots += [x.annotation for x in (*a.posonlyargs, *a.args, *a.kwonlyargs)]
            roots += [x.annotation for x in (a.vararg, a.kwarg) if x is not None]
        elif isinstance(node, ast.AnnAssign):
            roots.append(node.annotation)
    return {id(n) for root in roots if root is not None for n in ast.walk(root)}


def _typeish(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return node.value is None
    if isinstance(node, ast.Name):
        return node.id in _TYPE_NAMES or node.id[:1].isupper()
    if isinstance(node, ast.Attribute):
        return node.attr in _TYPE_NAMES or node.attr[:1].isupper()
    if isinstance(node, ast.Subscript):  # list[int], os.PathLike[str], Mapping[str, Any]
        return _typeish(node.value)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _typeish(node.left) or _typeish(node.right)
    return False


def runtime_unions(source: str) -> list[str]:
    """``X | Y`` of types evaluated at run time (outside annotations): ``line: expression``."""
    tree = ast.parse(source)
    skip = _annotation_nodes(tree)
    found = []
    for node in ast.walk(tree):
        if id(node) in skip or not isinstance(node, ast.BinOp):
            continue
        if isinstance(node.op, ast.BitOr) and (_typeish(node.left) or _typeish(node.right)):
            skip.update(id(n) for n in ast.walk(node))  # report the outermost union once
            found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


def _has_annotations(tree: ast.AST) -> bool:
    return bool(_annotation_nodes(tree))


def grouped_withs(source: str) -> list[int]:
    """Lines of ``with (a as x, b as y):``: official grammar only from 3.10, and neither vermin
    nor ``feature_version`` sees it (3.9's parser happens to accept it)."""
    lines = source.splitlines(keepends=True)
    skip = (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT)
    toks = [t for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type not in skip]
    at = {t.start: i for i, t in enumerate(toks)}
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, (ast.With, ast.AsyncWith)):
            continue
        col = len(lines[node.lineno - 1].encode()[: node.col_offset].decode())  # bytes -> chars
        i = at[(node.lineno, col)] + (2 if isinstance(node, ast.AsyncWith) else 1)
        if toks[i].string != "(":
            continue
        depth, grouped = 0, False
        for j in range(i, len(toks)):
            if toks[j].string in ("(", "[", "{"):
                depth += 1
            elif toks[j].string in (")", "]", "}"):
                depth -= 1
                if depth == 0:
                    break
            elif depth == 1 and toks[j].string in (",", "as"):
                grouped = True
        if grouped and toks[j + 1].string == ":":
            found.append(node.lineno)
    return found


def test_the_wheel_is_what_the_car_needs() -> None:
    names = set(WHEEL_PY)
    assert {"racer/__init__.py", "racer/errors.py", "racer/_registration.py"} <= names
    assert {"racer/car/runtime.py", "racer/car/cli.py", "racer/contract/actions.py"} <= names
    assert {n.split("/")[1] for n in names if n.count("/") == 2} == {"car", "contract", "util"}


def test_vermin_finds_nothing_newer_than_3_9() -> None:
    res = _vermin(*WHEEL_PY.values())
    assert res.returncode == 0, res.stdout + res.stderr
    assert "requires" not in res.stdout, res.stdout


@pytest.mark.parametrize("name", sorted(WHEEL_PY))
def test_parses_as_python_3_9(name: str) -> None:
    ast.parse(WHEEL_PY[name].read_text(), filename=name, feature_version=TARGET)


@pytest.mark.parametrize("name", sorted(WHEEL_PY))
def test_no_3_10_forms_the_tools_miss(name: str) -> None:
    source = WHEEL_PY[name].read_text()
    assert runtime_unions(source) == [], f"{name}: use a tuple in isinstance, Union in an alias"
    assert grouped_withs(source) == [], f"{name}: nest the with statements instead"
    tree = ast.parse(source)
    future = any(
        isinstance(n, ast.ImportFrom)
        and n.module == "__future__"
        and any(a.name == "annotations" for a in n.names)
        for n in tree.body
    )
    assert future or not _has_annotations(tree), f"{name}: add from __future__ import annotations"


def test_the_checks_catch_3_10_code(tmp_path: Path) -> None:
    """Each kind of 3.10+ code the car files once had (or may get) is caught by one check."""
    newer = tmp_path / "newer.py"
    newer.write_text(
        "from __future__ import annotations\n"
        "from typing import Self\n"
        "import tomllib\n"
        "def f(a: list[int] | None) -> Self:\n"
        "    return list(zip(a, a, strict=True))\n"
    )
    res = _vermin(newer)
    assert res.returncode == 1
    for what in ("typing.Self", "tomllib", "zip(strict)"):
        assert what in res.stdout, res.stdout
    with pytest.raises(SyntaxError):
        ast.parse("match x:\n    case 1:\n        pass\n", feature_version=TARGET)
    withs = "with (open(a) as f,\n      open(b) as g):\n    pass\nwith (a) as f, (b):\n    pass\n"
    assert grouped_withs(withs + "async def h():\n    async with (a, b): pass\n") == [1, 7]
    unions = runtime_unions(
        "import os\nimport numpy as np\n"
        "PathLike = str | os.PathLike[str]\n"
        "def g(v: int | None) -> bool:\n"
        "    return isinstance(v, int | np.integer) and bool(v | 1)\n"
    )
    assert unions == ["3: str | os.PathLike[str]", "5: int | np.integer"]
