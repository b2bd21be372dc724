"""The layering and the single path from shares to plaintext."""

from __future__ import annotations

import ast
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "mpcstats"
LAYERS = ["core", "transport", "protocols"]  # each may import only the layers before it
_SERVICE = ["mpcstats.daemon", "mpcstats.client", "mpcstats.config", "mpcstats.audit"]


def _imports(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_lower_layers_never_import_higher_ones() -> None:
    for rank, layer in enumerate(LAYERS):
        forbidden = [f"mpcstats.{higher}" for higher in LAYERS[rank + 1 :]]
        forbidden += ["mpcstats.simulator", "mpcstats.stats", "mpcstats.cli", *_SERVICE]
        for path in (PACKAGE / layer).rglob("*.py"):
            bad = {m for m in _imports(path) if any(m.startswith(f) for f in forbidden)}
            assert not bad, f"{path.relative_to(PACKAGE)} imports {sorted(bad)}"


def test_statistics_never_import_the_service_layer() -> None:
    for path in (PACKAGE / "stats").rglob("*.py"):
        bad = {
            m for m in _imports(path) if any(m.startswith(f) for f in [*_SERVICE, "mpcstats.cli"])
        }
        assert not bad, f"{path.relative_to(PACKAGE)} imports {sorted(bad)}"


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
