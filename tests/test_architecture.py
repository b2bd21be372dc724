"""The layering of docs/architecture.md, and a statistic added as one module."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mpcstats
from mpcstats.stats.analysis import ANALYSES, Analysis, leakage_table

PACKAGE = Path(mpcstats.__file__).parent
ROOT = PACKAGE.parent
# each layer may import only the layers before it (the façade mpcstats/__init__.py imports all)
LAYERS = [
    ("mpcstats._errors",),
    ("mpcstats.core",),
    ("mpcstats.transport",),
    ("mpcstats.protocols",),
    ("mpcstats.stats", "mpcstats.datasets"),
    (
        "mpcstats.request",
        "mpcstats.wire",
        "mpcstats.simulator",
        "mpcstats.client",
        "mpcstats.party",
        "mpcstats.cli",
        "mpcstats.testing",
        "mpcstats.__main__",
    ),
]
MAX_STATISTICS_MODULE_LINES = 400


def _layer(module: str) -> int | None:
    for index, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return index
    return None


def _modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "_proto" in path.parts:
            continue
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found.append((name, path))
    return found


def _imports(path: Path) -> set[str]:
    """Every mpcstats module ``path`` imports, at the top or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in names if name.startswith("mpcstats")}


def test_every_module_imports_only_the_layers_before_its_own() -> None:
    violations = []
    unplaced = []
    for module, path in _modules():
        if module == "mpcstats":
            continue  # the façade
        own = _layer(module)
        if own is None:
            unplaced.append(module)
            continue
        for imported in _imports(path):
            layer = _layer(imported)
            if layer is not None and layer > own:
                violations.append(f"{module} imports {imported}")
    assert not unplaced, f"modules in no layer of docs/architecture.md: {unplaced}"
    assert not violations, violations


def test_the_layering_check_sees_an_upward_import(tmp_path: Path) -> None:
    upward = tmp_path / "upward.py"
    upward.write_text("def f():\n    from mpcstats.party.daemon import PartyDaemon\n")
    assert "mpcstats.party.daemon" in _imports(upward)
    assert _layer("mpcstats.party.daemon") > _layer("mpcstats.stats.counts")  # type: ignore[operator]


def test_importing_mpcstats_does_not_load_the_daemon() -> None:
    """The analyst's client and the daemon share only mpcstats.wire."""
    code = "import sys, mpcstats; print('mpcstats.party.daemon' in sys.modules)"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert loaded.stdout.strip() == "False"


def test_every_exception_lives_in_one_tree() -> None:
    """Every exception class mpcstats defines is in mpcstats._errors (one tree, one module)."""
    defined = {
        f"{module}.{node.name}"
        for module, path in _modules()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef)
        and any(getattr(base, "id", "").endswith("Error") for base in node.bases)
    }
    outside = {name for name in defined if not name.startswith("mpcstats._errors.")}
    assert not outside, outside


def test_every_statistics_module_is_short() -> None:
    long = {
        str(path.relative_to(ROOT)): lines
        for _, path in _modules()
        if "stats" in path.parts
        and (lines := len(path.read_text().splitlines())) > MAX_STATISTICS_MODULE_LINES
    }
    assert not long, long


def test_every_analysis_is_a_frozen_request_with_its_leakage() -> None:
    assert len(ANALYSES) >= 15
    for name, kind in ANALYSES.items():
        assert kind.name == name and issubclass(kind, Analysis)
        assert kind.leakage.analyst and kind.leakage.parties
        params = kind.__dataclass_params__  # type: ignore[attr-defined]
        assert params.frozen, name


def test_a_new_statistic_is_one_module() -> None:
    """examples/new_statistic.py, as docs/architecture.md shows it, against pandas."""
    spec = importlib.util.spec_from_file_location(
        "new_statistic", ROOT / "examples" / "new_statistic.py"
    )
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    sys.modules["new_statistic"] = example
    try:
        spec.loader.exec_module(example)
        rng = np.random.default_rng(3)
        hospitals = {
            name: pd.DataFrame({"age": rng.integers(20, 90, n), "smoker": rng.integers(0, 2, n)})
            for name, n in [("a", 120), ("b", 80), ("c", 150)]
        }
        study = mpcstats.LocalSimulator(hospitals)
        found = study.run_analysis(example.Prevalence("smoker", where="age >= 60"))
        pooled = pd.concat(hospitals.values())
        chosen = pooled[pooled.age >= 60]
        assert found.n == len(chosen) and found.cases == chosen.smoker.sum()
        low, high = found.conf_int()
        assert low < found.prevalence < high
        small = study.run_analysis(example.Prevalence("smoker", where="age >= 89"))
        assert np.isnan(small.n) and small.notes == ["n is below k"]
        with pytest.raises(mpcstats.ConfigurationError, match="not a 0/1 column"):
            study.run_analysis(example.Prevalence("age"))
    finally:
        del sys.modules["new_statistic"]
        del ANALYSES["example_prevalence"]


def test_only_the_opening_protocol_turns_shares_into_plaintext() -> None:
    users = sorted(
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if "interpolate(" in path.read_text() and path.name != "shamir.py"
    )
    assert users == ["protocols/opening.py"]


def test_no_executable_serialisation_or_eval() -> None:
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        assert "pickle" not in text, path
        assert "eval(" not in text and "exec(" not in text, path


def test_the_documented_leakage_table_is_generated_from_the_analyses() -> None:
    text = (ROOT / "docs" / "statistics.md").read_text()
    start = text.index("<!-- leakage table: generated -->\n") + len(
        "<!-- leakage table: generated -->\n"
    )
    documented = text[start : text.index("\n<!-- end of the leakage table -->")]
    assert documented == leakage_table(), "regenerate it with leakage_table()"
