"""README "Add a model": one module (drift_example.py) plus one table row, and every layer serves it.

The new forecaster passes the shared contract, is listed by the table (and so by
``tzero models``), is trained and gated into the one registry, and votes in the
unified Signal with its version id — without any other module naming it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from drift_example import DriftForecaster
from forecaster_contract import check_forecaster
from test_arima_hmm import SYMBOLS, _read_day

from tzero.data.appdb import open_app_store
from tzero.errors import ModelError
from tzero.models import table
from tzero.models.base import panel_until
from tzero.registry import versions
from tzero.registry.publish import train_and_publish
from tzero.settings import get_settings
from tzero.signals.engine import load_served, predict_signals

pytestmark = pytest.mark.data
T = pd.Timestamp("2021-06-30")


@pytest.fixture
def drift_row() -> Iterator[table.ModelSpec]:
    """The one table row (a model inside tzero writes it into ``MODEL_TABLE`` instead)."""
    spec = table.register(table.ModelSpec(DriftForecaster, "drift of the last 20 returns"))
    yield spec
    table.unregister(spec.name)


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    data_dir = get_settings().data_dir
    if data_dir is None:
        pytest.skip("no shared data dir (set TZERO_DATA_DIR to ../shared/data)")
    paths = [Path(data_dir) / "tdx" / "vipdoc" / s[:2] / "lday" / f"{s}.day" for s in SYMBOLS]
    if not all(p.is_file() for p in paths):
        pytest.skip(f"TDX day files missing under {data_dir}")
    df = pd.concat([_read_day(p) for p in paths], ignore_index=True)
    return panel_until(df.sort_values(["ts_code", "trade_time"], ignore_index=True), T)


def test_contract(panel: pd.DataFrame) -> None:
    check_forecaster(DriftForecaster, panel, T)


def test_the_table_lists_it(drift_row: table.ModelSpec) -> None:
    assert table.get_spec("drift_example") is drift_row
    assert "drift_example" in table.names(frequency="daily", votes=True)
    row = drift_row.as_dict()
    assert row["scope"] == "local" and row["min_history"] == 21


def test_registry_gate_and_signal_serve_it(drift_row: table.ModelSpec, panel: pd.DataFrame,
                                          tmp_path: Path) -> None:
    engine, Session = open_app_store(f"sqlite:///{tmp_path / 'app.db'}")
    try:
        codes = sorted(panel["ts_code"].unique())
        out = train_and_publish(Session, drift_row.make(), panel, keys=codes)
        assert [o.status for o in out] == ["succeeded"] * len(codes)
        for o in out:   # the generic holdout fed the gate; the reason names the baselines
            assert {"accuracy", "mse", "naive_zero_mse", "naive_momentum_accuracy"} <= set(o.holdout)
            assert ("momentum" in o.reason) or ("zero-forecast" in o.reason)
        deployed = {o.key: o.version_id for o in out if o.deployed}
        with Session() as s:
            for o in out:
                row = versions.current(s, "drift_example", o.key)
                assert (row is not None and row.version_id == o.version_id) == o.deployed
        assert deployed, [o.reason for o in out]
        served = load_served(Session, codes, names=["drift_example"])
        sigs = predict_signals(panel.loc[panel["ts_code"].isin(deployed)], served, T)
        assert {s.ts_code: s.model_versions for s in sigs} == {
            k: {"drift_example": v} for k, v in deployed.items()}
    finally:
        engine.dispose()


def test_a_corrupt_version_does_not_vote(drift_row: table.ModelSpec, panel: pd.DataFrame,
                                         tmp_path: Path) -> None:
    """A current version whose blob fails its SHA-256 check is left out, not served, not fatal."""
    from tzero.data.appdb import ModelVersion

    engine, Session = open_app_store(f"sqlite:///{tmp_path / 'app.db'}")
    try:
        codes = sorted(panel["ts_code"].unique())
        out = train_and_publish(Session, drift_row.make(), panel, keys=codes)
        deployed = [o for o in out if o.deployed]
        assert deployed, [o.reason for o in out]
        bad = deployed[0]
        with Session.begin() as s:
            row = s.get(ModelVersion, bad.version_id)
            row.model_blob = row.model_blob[:-1] + bytes([row.model_blob[-1] ^ 1])
        versions._LOADED.clear()
        # the stocks of every version but the corrupt one are served; with none left it says so
        if len(deployed) == 1:
            with pytest.raises(ModelError, match="no current model version"):
                load_served(Session, [bad.key], names=["drift_example"])
        served = load_served(Session, codes, names=["drift_example"]) if len(deployed) > 1 else None
        if served is not None:
            assert bad.key not in served.models["drift_example"]
            assert "SHA-256" in served.unhealthy["drift_example"][bad.key]
    finally:
        engine.dispose()
