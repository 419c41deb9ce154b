"""The layout DEVELOPERS.md sets ("Layout"): classpulse/ imports none of the four parts, the
parts import each other only through the model's public API (the consumers and the producers not
at all: the benchmark that combines them is pipeline_bench/), and that API's lazy names are the
ones type checkers see."""

from __future__ import annotations

import ast
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

import model

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("producers", "consumers", "model", "dashboard")
# the one package that combines two parts (the producers and the consumers, for `classpulse bench
# pipeline` and `bench soak`); no part and not classpulse/ imports it
BENCH = "pipeline_bench"


def _imports(package: str) -> list[tuple[str, int, str]]:
    """(file, line, name) of every import statement under ``package``: the module imported, and
    for ``from x import y`` also ``x.y`` (``from model import weights_io`` reaches the private
    submodule as surely as ``import model.weights_io``); a relative import made absolute."""
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        here = list(path.relative_to(ROOT).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = here[:-node.level] if node.level else []  # x/__init__ -> x, too
                module = ".".join([*base, *([node.module] if node.module else [])])
                names = [module] + [f"{module}.{alias.name}" for alias in node.names
                                    if alias.name != "*"]
            else:
                continue
            found += [(str(path.relative_to(ROOT)), node.lineno, name) for name in names]
    assert found, f"no import found under {package}/: the checks on it would pass vacuously"
    return found


def _past_the_model_s_public_api(name: str) -> bool:
    """Whether an imported ``name`` reaches into ``model`` further than its public API: ``model``
    itself and ``model.<one of its public names>`` (``from model import FaceDetector``) do
    not; a submodule, by ``import model.x`` or ``from model import x``, does."""
    if name.split(".")[0] != "model":
        return False
    return name != "model" and name.removeprefix("model.") not in model.__all__


def test_the_shared_package_imports_none_of_the_parts() -> None:
    """classpulse/demo.py imported dashboard.launch (every `classpulse` command loaded it) and
    producers.sources; the CLI names the parts' modules as strings (import_module), not here."""
    wrong = [i for i in _imports("classpulse") if i[2].split(".")[0] in (*PARTS, BENCH)]
    assert wrong == []


def test_the_consumers_reach_the_model_through_its_public_api_only() -> None:
    wrong = [i for i in _imports("consumers") if _past_the_model_s_public_api(i[2])]
    assert wrong == []


def test_the_consumers_and_the_producers_do_not_import_each_other() -> None:
    """consumers/bench.py (`bench pipeline`, `bench soak`) imported producers.config, .publisher,
    .sources and .camera; the harness that combines them is pipeline_bench/ now."""
    wrong = [i for i in _imports("consumers") if i[2].split(".")[0] == "producers"]
    wrong += [i for i in _imports("producers") if i[2].split(".")[0] == "consumers"]
    assert wrong == []


def test_a_part_imports_another_part_only_through_the_model_s_public_api() -> None:
    wrong = [i for part in PARTS for i in _imports(part)
             if (i[2].split(".")[0] in PARTS and i[2].split(".")[0] not in (part, "model"))
             or (part != "model" and _past_the_model_s_public_api(i[2]))
             or i[2].split(".")[0] == BENCH]
    assert wrong == []


def test_the_pipeline_bench_reaches_the_model_through_its_public_api_only() -> None:
    assert [i for i in _imports(BENCH) if _past_the_model_s_public_api(i[2])] == []


def test_every_package_is_one_setuptools_installs() -> None:
    """A package left out of pyproject.toml's list works in the checkout (and, while the
    editable install's map is fresh, installed with -e) but is missing from a wheel and from the
    image; `classpulse bench` imports pipeline_bench."""
    import fnmatch

    tomllib = pytest.importorskip("tomllib")
    found = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    include = found["tool"]["setuptools"]["packages"]["find"]["include"]
    for package in ("classpulse", *PARTS, BENCH):
        assert (ROOT / package / "__init__.py").is_file(), package
        assert any(fnmatch.fnmatch(package, pattern) for pattern in include), package


def test_the_pack_reader_does_not_import_the_pack_writer() -> None:
    """model.pack and model.data imported each other, inside functions (``from model import
    pack`` counts: it imports model.pack)."""
    assert not [i for i in _imports("model") if i[0] == "model/data.py" and i[2] == "model.pack"]


def test_each_lazy_model_name_is_declared_for_type_checkers_and_resolves() -> None:
    tree = ast.parse((ROOT / "model" / "__init__.py").read_text(encoding="utf-8"))
    guarded = next(node for node in tree.body if isinstance(node, ast.If)
                   and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
    declared = {(stmt.module, alias.name) for stmt in guarded.body
                if isinstance(stmt, ast.ImportFrom) for alias in stmt.names}
    assert declared == {(module, name) for name, module in model._EXPORTS.items()}
    for name, module in model._EXPORTS.items():
        assert getattr(model, name) is getattr(importlib.import_module(module), name)


def test_the_command_line_builds_without_torch_or_the_dashboard() -> None:
    """`classpulse --help` stays light: the model commands show their defaults from torch-free
    modules (model.options, model.recipes, model.card)."""
    code = ("import sys\nfrom classpulse.cli import build_parser\nbuild_parser()\n"
            "print(sorted(m for m in ('torch', 'dashboard.launch', 'streamlit') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"
