"""Imports point down only (DESIGN.md "Layers"): no upward import, so no cycle between layers."""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "tzero"
#: Lowest first; a module may import its own layer and the ones before it.
ORDER = ["market", "data", "features", "training", "models", "registry", "backtest", "signals",
         "research", "live"]
IMPORT = re.compile(r"^\s*(?:from|import)\s+tzero\.(\w+)", re.M)


def test_imports_point_down_only() -> None:
    bad = []
    for layer in ORDER:
        for p in (SRC / layer).rglob("*.py"):
            for target in IMPORT.findall(p.read_text(encoding="utf-8")):
                if target in ORDER and ORDER.index(target) > ORDER.index(layer):
                    bad.append(f"{p.relative_to(SRC)} imports tzero.{target}")
    assert not bad, "\n".join(sorted(set(bad)))
