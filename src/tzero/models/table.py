"""The model table: the one place that lists tzero's models (DESIGN.md "Models").

Every other layer — training, registry, signals, backtest, CLI, service — reads
this table and the model classes' capability attributes (``scope``,
``frequency``, ``probabilistic``, ``ranking``, ``min_history``), never a
model's name. Adding a model is one module (a :class:`tzero.models.base.Forecaster`
subclass) plus one row here (README "Add a model").
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from tzero.errors import ModelError
from tzero.models.arima import ArimaForecaster
from tzero.models.base import Forecaster
from tzero.models.deepar import DeepArForecaster
from tzero.models.finmamba import FinMambaForecaster
from tzero.models.hmm import HmmForecaster
from tzero.models.hybrid import HybridForecaster
from tzero.models.intraday_arima import IntradayArima
from tzero.models.intraday_hmm import IntradayHmm
from tzero.models.intraday_lstm import IntradayLstm
from tzero.models.lstm import LstmForecaster
from tzero.models.lstm_refinement import LstmRefinement
from tzero.models.lstm_shared import LstmShared
from tzero.models.tcn import TcnForecaster
from tzero.models.tft import TftForecaster
from tzero.models.transformer import TransformerForecaster


@dataclass(frozen=True)
class ModelSpec:
    """One row of the model table.

    Attributes:
        cls: The forecaster class (its ``name`` and capabilities are read from it).
        description: One line for ``tzero models``.
        votes: Its forecasts vote in the unified daily Signal by default.
        requires: Models whose current version this one needs to forecast
            (e.g. the refinement reads the shared model's scores).
        weight: Its weight in the Signal's vote (relative, > 0).
        in_demo: ``tzero demo`` trains it (the seed's default architecture:
            shared LSTM + refinements, ARIMA, HMM); others train on request.
        ranks: the default model of the ranking view (``tzero rank``; spec 000
            §3.5 gives DeepAR that role).
    """

    cls: type[Forecaster]
    description: str
    votes: bool = True
    requires: tuple[str, ...] = ()
    weight: float = 1.0
    in_demo: bool = True
    ranks: bool = False

    @property
    def name(self) -> str:
        """The model's name (``cls.name``), e.g. ``lstm_shared``."""
        return self.cls.name

    @property
    def scope(self) -> str:
        """``local`` (one model per series) or ``global`` (one over a universe)."""
        return self.cls.scope

    @property
    def frequency(self) -> str:
        """``daily`` or ``intraday``."""
        return self.cls.frequency

    def config(self, fast: bool = False, seed: int = 42, **overrides: Any) -> Any:
        """The model's default config (``fast``: the quick variant)."""
        return self.cls.default_config(fast=fast, seed=seed, **overrides)

    def make(self, fast: bool = False, seed: int = 42, history: int | None = None) -> Forecaster:
        """A fresh, unfitted model with the default (or ``fast``) config.

        Args:
            history: most recent sessions used, for models whose config has that
                knob (the per-stock LSTM); ignored by the others.
        """
        takes = inspect.signature(self.cls.default_config).parameters
        kw = {"history": history} if history is not None and "history" in takes else {}
        return self.cls(self.config(fast=fast, seed=seed, **kw))

    def as_dict(self) -> dict:
        """Plain data for ``tzero models --json``."""
        c = self.cls
        return {"name": c.name, "scope": c.scope, "frequency": c.frequency,
                "probabilistic": c.probabilistic, "ranking": c.ranking,
                "cross_sectional": c.cross_sectional, "explains": c.explains,
                "min_history": c.min_history, "votes": self.votes, "weight": self.weight,
                "requires": list(self.requires), "in_demo": self.in_demo, "ranks": self.ranks, "class": f"{c.__module__}.{c.__qualname__}",
                "description": self.description}


MODEL_TABLE: tuple[ModelSpec, ...] = (
    ModelSpec(LstmForecaster, "spec-002 dual-head LSTM, one network per stock (FULL_LSTM mode)",
              in_demo=False),
    ModelSpec(ArimaForecaster, "AutoARIMA on daily log returns per stock: expected return, "
                               "equilibrium deviation (spec 000 §3.1)"),
    ModelSpec(HmmForecaster, "Gaussian HMM per stock: bull/bear/sideways regime filter "
                             "(spec 000 §3.2)"),
    ModelSpec(LstmShared, "one LSTM over a universe with symbol embedding and static "
                          "covariates: direction, 5-step returns, ranking score (spec 000 §6.3)",
              weight=1.0),
    ModelSpec(LstmRefinement, "per-stock ridge/logistic refinement of the shared LSTM's "
                              "score with the stock's own factors (spec 000 §6.4)",
              requires=("lstm_shared",)),
    ModelSpec(TransformerForecaster, "time-series Transformer over a universe: attention over "
                                     "each stock's sessions, then across the session's stocks "
                                     "(MASTER-style; spec 000 §3.4)", in_demo=False),
    ModelSpec(TcnForecaster, "temporal convolutional network over a universe: dilated causal "
                             "convolutions covering the window (spec 001 方案C)", in_demo=False),
    ModelSpec(TftForecaster, "Temporal Fusion Transformer over a universe: variable selection, "
                             "static covariates, quantiles q10-q90, variable importances "
                             "(spec 001 方案A)", in_demo=False),
    ModelSpec(DeepArForecaster, "DeepAR over a universe: autoregressive Student-t likelihood, "
                                "sample paths, CRPS; ranks stocks by expected return and risk "
                                "(spec 000 §3.5)", in_demo=False, ranks=True),
    ModelSpec(FinMambaForecaster, "FinMamba over a universe: industry-masked correlation graph "
                                  "of the session's stocks feeding multi-level Mamba blocks "
                                  "(arXiv 2502.06707)", in_demo=False),
    ModelSpec(HybridForecaster, "three-stage hybrid: cross-sectional Transformer relationships "
                                "(Stage 1), optional residual boost, LSTM/TCN/TFT temporal "
                                "predictor (spec 001)", in_demo=False),
    ModelSpec(IntradayArima, "AutoARIMA on intraday bar returns, seasonal variance "
                             "(T+0 anchor)", votes=False),
    ModelSpec(IntradayHmm, "intraday HMM on bar and trade-flow features (T+0 regime)",
              votes=False),
    ModelSpec(IntradayLstm, "intraday LSTM on bar features (T+0 timing)", votes=False),
)

_BY_NAME = {s.name: s for s in MODEL_TABLE}
if len(_BY_NAME) != len(MODEL_TABLE):  # pragma: no cover - a table edit error
    raise RuntimeError("duplicate model names in MODEL_TABLE")


def register(spec: ModelSpec) -> ModelSpec:
    """Add a row at run time (a model shipped outside this package, or a test's).

    A model of tzero itself is added by writing its row in :data:`MODEL_TABLE`;
    this is the same table for code that cannot edit it.

    Raises:
        ModelError: a model of that name is already in the table.
    """
    global MODEL_TABLE
    if spec.name in _BY_NAME:
        raise ModelError(f"model {spec.name!r} is already in the table")
    MODEL_TABLE = (*MODEL_TABLE, spec)
    _BY_NAME[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove a row added by :func:`register` (tests clean up with it)."""
    global MODEL_TABLE
    MODEL_TABLE = tuple(s for s in MODEL_TABLE if s.name != name)
    _BY_NAME.pop(name, None)


def specs(*, frequency: str | None = None, scope: str | None = None,
          votes: bool | None = None) -> list[ModelSpec]:
    """Rows of the table, in table order, filtered by capability."""
    return [s for s in _BY_NAME.values()
            if (frequency is None or s.frequency == frequency)
            and (scope is None or s.scope == scope)
            and (votes is None or s.votes == votes)]


def names(**filters: Any) -> list[str]:
    """Model names of :func:`specs` (same filters)."""
    return [s.name for s in specs(**filters)]


def get_spec(name: str) -> ModelSpec:
    """The table row of ``name``.

    Raises:
        ModelError: unknown name (the message lists the known ones).
    """
    spec = _BY_NAME.get(name)
    if spec is None:
        raise ModelError(f"unknown model {name!r}: expected one of {list(_BY_NAME)} "
                         "(`tzero models` lists them)")
    return spec


def model_class(name: str) -> type[Forecaster]:
    """The class of model ``name`` (for rebuilding a saved version).

    Raises:
        ModelError: unknown name.
    """
    return get_spec(name).cls
