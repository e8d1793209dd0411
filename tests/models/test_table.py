"""The model table: the one place that lists models, read by every other layer."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tzero.errors import ModelError
from tzero.models import table
from tzero.models.base import Forecaster

SRC = Path(__file__).resolve().parents[2] / "src" / "tzero"


def test_every_row_is_a_forecaster_with_capabilities() -> None:
    assert len({s.name for s in table.specs()}) == len(table.specs())
    for s in table.specs():
        assert issubclass(s.cls, Forecaster)
        assert s.scope in ("local", "global") and s.frequency in ("daily", "intraday")
        m = s.make(fast=True, seed=7)
        assert m.name == s.name and not hasattr(m, "models_") and not hasattr(m, "net_")
        for r in s.requires:
            assert table.get_spec(r).scope == "global"
    assert table.names(scope="global") == ["lstm_shared", "transformer", "tcn", "tft", "deepar",
                                           "finmamba", "hybrid"]
    assert {"lstm", "arima", "hmm", "lstm_shared", "lstm_refinement"} <= set(
        table.names(frequency="daily", votes=True))


def test_unknown_model_lists_the_known_ones() -> None:
    with pytest.raises(ModelError, match="tzero models"):
        table.get_spec("lstmm")


def test_cli_models_json_lists_every_model_with_its_scope() -> None:
    r = subprocess.run([sys.executable, "-m", "tzero.cli", "models", "--json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [x["name"] for x in rows] == table.names()
    assert {x["name"]: x["scope"] for x in rows}["lstm_shared"] == "global"


def test_no_layer_outside_models_names_a_model() -> None:
    """Model names appear as string literals only in the model table and the models themselves.

    (The spec-004 LSTM lifecycle names its fallback chain through the classes' ``name``.)
    """
    names = [n for n in table.names() if n not in ("lstm", "arima", "hmm")]
    pat = re.compile("[\"'](" + "|".join(map(re.escape, names)) + ")[\"']")
    offenders = []
    for p in SRC.rglob("*.py"):
        rel = p.relative_to(SRC).as_posix()
        if rel.startswith("models/") or rel.startswith("data/migrations/"):
            continue
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            if pat.search(line) and not line.lstrip().startswith("#"):
                offenders.append(f"{rel}:{i}: {line.strip()}")
    assert not offenders, "\n".join(offenders)
