"""A model whose required model has no current version (the refinement without a deployed
lstm_shared): one line naming what to train first, or, inside a multi-model `tzero train`,
a failed run per stock saying so while the other models train."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from tzero.data.appdb import TrainingFailure, TrainingRun, open_app_store
from tzero.data.ingest import ingest_tdx
from tzero.data.store import MarketStore
from tzero.errors import ModelError
from tzero.registry.train import train_model

FILES = ("vipdoc/sh/lday/sh600519.day", "vipdoc/sh/lday/sh000300.day", "T0002/hq_cache/gbbq")


@pytest.fixture
def store(tdx_dir: Path, tmp_path: Path) -> MarketStore:
    for rel in FILES:
        (tmp_path / "tdx" / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tdx_dir / rel, tmp_path / "tdx" / rel)
    st = MarketStore(tmp_path / "market")
    ingest_tdx(st, tmp_path / "tdx")
    return st


@pytest.mark.data
def test_unmet_requirement_raises_or_records_a_failed_run(store: MarketStore, tmp_path: Path) -> None:
    _, Session_ = open_app_store(f"sqlite:///{tmp_path / 'app.sqlite'}")
    with pytest.raises(ModelError, match="lstm_refinement needs a current lstm_shared version for "
                                         "CSI_300: run `tzero train --universe CSI_300"):
        train_model(Session_, store, "lstm_refinement", symbols=["600519.SH"])
    [row] = train_model(Session_, store, "lstm_refinement", symbols=["600519.SH"], unmet="record")
    assert (row.model, row.key, row.status, row.version_id) == ("lstm_refinement", "600519.SH",
                                                                 "failed", None)
    assert "needs a current lstm_shared version" in row.reason
    with Session_() as s:
        run = s.get(TrainingRun, row.run_id)
        assert run.status == "failed" and run.model_name == "lstm_refinement"
        assert run.data_end is not None and "needs a current" in run.validation_reason
        fails = s.scalars(select(TrainingFailure)).all()
        assert [f.symbol for f in fails] == ["600519.SH"]
