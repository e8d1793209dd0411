"""After the quick start the page is not empty (issue 12 item 22).

``tzero demo`` trains the table's ``in_demo`` models; none of them is the
per-stock LSTM, so the page must list every model's versions and draw the fit
curve of whichever model serves the stock. Here the demo's per-stock models
are trained for real (fast configs, a real store) and published through the
registry; a stand-in global model (a drift per stock, fitted in milliseconds)
checks the "universe that holds the stock" rule without training a network.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import ClassVar, Self

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import update

from conftest import SYM  # tests/service/conftest.py
from tzero.data.appdb import ModelVersion
from tzero.market import calendar
from tzero.models import table
from tzero.models.base import LocalForecaster, check_state
from tzero.registry import versions
from tzero.registry.train import train_model
from tzero.signals.engine import load_panel

OTHER = "000001.SZ"


def _demo_local_specs() -> list[table.ModelSpec]:
    """The demo's per-stock daily models that need no other model (fast to train)."""
    return [s for s in table.specs(frequency="daily", votes=True)
            if s.in_demo and s.scope == "local" and not s.requires]


@dataclass(frozen=True)
class _DriftConfig:
    window: int = 20
    horizon: int = 5


class UniverseDrift(LocalForecaster):
    """A stand-in global model: one version per universe, the drift of each member's last returns."""

    name: ClassVar[str] = "universe_drift_test"
    scope: ClassVar = "global"
    min_history: ClassVar[int] = 21

    @classmethod
    def default_config(cls, fast: bool = False, seed: int = 42) -> _DriftConfig:
        return _DriftConfig()

    def _fit_series(self, code: str, bars: pd.DataFrame, progress=None) -> dict:
        return {"n": len(bars)}

    def _predict_series(self, code: str, bars: pd.DataFrame, fitted: dict) -> pd.DataFrame:
        r = bars["close"].pct_change().to_numpy()[-self.config.window:]
        h = np.arange(1, self.config.horizon + 1)
        cum = (1 + float(np.nanmean(r))) ** h - 1
        return pd.DataFrame({"step": h, "mean": float(np.nanmean(r)), "cum_mean": cum, "std": 0.01,
                             "prob_up": 0.5, "prob_down": 0.5,
                             "regime": pd.Series([None] * len(h), dtype=object), "regime_prob": np.nan})

    def state_dict(self) -> dict:
        return {"name": self.name, "config": asdict(self.config), "models": dict(self.models_)}

    @classmethod
    def from_state(cls, state: dict) -> Self:
        check_state(cls, state)
        obj = cls(_DriftConfig(**state["config"]))
        obj.models_, obj.errors_ = dict(state["models"]), {}
        return obj


@pytest.fixture
def universe_model() -> Iterator[table.ModelSpec]:
    spec = table.register(table.ModelSpec(UniverseDrift, "test: drift per member", in_demo=False))
    yield spec
    table.unregister(spec.name)


def _publish_universe(st, universe: str, codes: list[str]) -> str:
    """Fit the stand-in global model on ``codes`` and make it current for ``universe``."""
    model = UniverseDrift().fit(load_panel(st.store, codes))
    with st.Session.begin() as s:
        row = versions.save_version(s, model, universe, {"holdout": {}}, None, None)
        versions.promote(s, row.version_id)
        return row.version_id


def test_demo_models_fill_versions_and_fit_curve(make_client, always_deploy) -> None:
    c = make_client()
    st = c.app.state.tzero
    assert c.get("/api/lstm/versions").json() == {"versions": [], "current": {}}
    r = c.get("/api/lstm/plot-data", params={"symbol": SYM})
    assert r.status_code == 404 and "tzero demo" in r.json()["detail"] and "tzero train" in r.json()["detail"]

    specs = _demo_local_specs()
    assert len(specs) >= 2, [s.name for s in specs]
    for spec in specs:   # what `tzero demo` does per holding (fast configs, through the gate)
        out = train_model(st.Session, st.store, spec.name, symbols=[SYM], fast=True, seed=1)
        assert [o.deployed for o in out] == [True], [o.reason for o in out]

    v = c.get("/api/lstm/versions").json()
    assert {x["model"] for x in v["versions"]} == {s.name for s in specs}
    assert set(v["current"]) == {s.name for s in specs}
    assert all(set(by) == {SYM} for by in v["current"].values())
    one = specs[1].name
    only = c.get("/api/lstm/versions", params={"model": one}).json()
    assert [x["model"] for x in only["versions"]] == [one] and list(only["current"]) == [one]
    r = c.get("/api/lstm/versions", params={"model": "no_such_model"})
    assert r.status_code == 400 and "model" in r.json()["detail"] and one in r.json()["detail"]

    # the fit curve: the first of them in table order, named, aligned t / t+5, real forecasts
    first = specs[0].name
    d = c.get("/api/lstm/plot-data", params={"symbol": SYM}).json()
    assert d["model"] == first and d["version_id"] == v["current"][first][SYM]
    n = len(d["dates"])
    assert 200 < n < 260 and d["horizon"] == 5 and len(d["pending"]["dates"]) == 5
    for k in ("direction_pred", "direction_actual", "return_pred", "return_actual", "dates_price",
              "actual_price", "predicted_price"):
        assert len(d[k]) == n, k
    panel = load_panel(st.store, [SYM])
    close = pd.Series(panel["close"].to_numpy(), index=panel["trade_time"].dt.strftime("%Y-%m-%d"))
    with st.Session() as s:
        model = versions.load_model(versions.current(s, first, SYM))
    for k in (0, n - 1):
        t, t5 = d["dates"][k], d["dates_price"][k]
        assert t5 == f"{calendar.offset_session(t, 5):%Y-%m-%d}"
        assert d["actual_price"][k] == pytest.approx(close[t5])
        fc = model.predict(panel, pd.Timestamp(t))
        assert d["return_pred"][k] == pytest.approx(float(fc.loc[fc["step"] == 5, "cum_mean"].iloc[0]),
                                                     abs=1e-6)
        assert d["predicted_price"][k] == pytest.approx(close[t] * (1 + d["return_pred"][k]), rel=1e-5)
    r = c.get("/api/lstm/plot", params={"symbol": SYM})
    assert r.status_code == 200 and r.content[:4] == b"\x89PNG"

    # a current version whose blob went bad cannot draw: the next model of the table does
    with st.Session.begin() as s:
        s.execute(update(ModelVersion).where(ModelVersion.version_id == d["version_id"])
                  .values(model_blob=b"corrupt"))
    d2 = c.get("/api/lstm/plot-data", params={"symbol": SYM}).json()
    assert d2["model"] == specs[1].name and d2["version_id"] == v["current"][specs[1].name][SYM]
    assert len(d2["dates"]) == n


def test_fit_curve_of_a_universe_model(make_client, universe_model) -> None:
    c = make_client()
    st = c.app.state.tzero
    _publish_universe(st, "SMALL", [SYM])        # a universe that does not hold OTHER
    r = c.get("/api/lstm/plot-data", params={"symbol": OTHER})
    assert r.status_code == 404 and "tzero demo" in r.json()["detail"]
    vid = _publish_universe(st, st.settings.universe, [SYM, OTHER])
    v = c.get("/api/lstm/versions", params={"model": universe_model.name}).json()
    assert v["current"] == {universe_model.name: {"SMALL": v["current"][universe_model.name]["SMALL"],
                                                  st.settings.universe: vid}}
    d = c.get("/api/lstm/plot-data", params={"symbol": OTHER, "years": 2}).json()
    assert d["model"] == universe_model.name and d["version_id"] == vid and d["symbol"] == OTHER
    assert 450 < len(d["dates"]) < 500 and d["dates_price"][-1] == "2023-02-24"
