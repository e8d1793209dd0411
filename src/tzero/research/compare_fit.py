"""Fit a model of the table walk-forward and score a universe with it (``tzero compare``).

One path for every family, driven by the table's capability attributes only:

- **walk-forward**: the evaluated sessions are cut into blocks by the refit
  cadence (``none``: one block; ``yearly``/``monthly``); before each block the
  model is fitted on data that ends ``gap = horizon + 2`` sessions before the
  block's first session, so no training label (which reaches ``horizon``
  sessions ahead, plus the T+1 fill) overlaps the sessions it is judged on;
- **global** models (pooled over the universe) fit on every member's rows
  with the members as of each date and the static covariates;
- **local** models (one fit per stock) fit on the stocks of ``sample`` (the
  per-series loop, failures collected per stock, never aborting the run); a
  stock whose fit or forecast fails is left out of the scores with its reason
  (``errors``), and the model fails only when fewer than
  :data:`tzero.research.failures.MIN_FIT_SHARE` of the stocks could be scored;
- a model that **requires** others (the refinement requires the shared LSTM)
  gets them fitted :data:`DEP_SESSIONS` sessions earlier still, so the rows it
  is fitted on are out of sample for them, as when it is trained for serving;
- **scores**: :meth:`Forecaster.predict_history` over each block (data ≤ t
  only), at the horizon step: the ranking column (``score`` when the model has
  one, else the expected return ``cum_mean``), ``cum_mean`` as the return
  forecast and the ``q10 … q90`` quantiles of probabilistic models.

Times: ``fit_seconds`` (all fits) and ``predict_ms`` (scoring time per
session of the universe), on this machine.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tzero.errors import ModelError
from tzero.models import table
from tzero.models.base import FORECAST_COLUMNS, QUANTILE_COLUMNS, failure_reason, recoverable
from tzero.research.failures import MIN_FIT_SHARE
from tzero.training.executor import Executor

DEP_SESSIONS = 121
"""Sessions between a required model's fit end and its dependant's (half a year)."""
QUANTILE_LEVELS = {"q10": 0.1, "q25": 0.25, "q50": 0.5, "q75": 0.75, "q90": 0.9}
LONG_COLUMNS = ["as_of", "ts_code", "score", "cum_mean", *QUANTILE_COLUMNS]


@dataclass
class ModelScores:
    """A model's as-of forecasts over the evaluated sessions, as a long frame.

    Attributes:
        name: table name. horizon: sessions of ``cum_mean``.
        long: ``as_of, ts_code, score, cum_mean[, q10 … q90]`` (decimals).
        fits: per block ``fit_end, first, last, holdout``.
        fit_seconds, predict_seconds: wall times. n_sessions: sessions scored.
        errors: stock → why it could not be fitted or forecast (local models).
        n_series: stocks the model was asked to score (local models; 0 = global).
    """

    name: str
    horizon: int
    long: pd.DataFrame
    fits: list[dict] = field(default_factory=list)
    fit_seconds: float = 0.0
    predict_seconds: float = 0.0
    n_sessions: int = 0
    errors: dict[str, str] = field(default_factory=dict)
    n_series: int = 0

    def wide(self, column: str) -> pd.DataFrame | None:
        """``[session × ts_code]`` of one column (None when the model does not emit it)."""
        if column not in self.long.columns or self.long[column].isna().all():
            return None
        w = self.long.pivot_table(index="as_of", columns="ts_code", values=column, aggfunc="last")
        w.index = pd.DatetimeIndex(w.index).normalize()
        w.index.name, w.columns.name = None, None
        return w.sort_index()

    def quantiles(self) -> dict[float, pd.DataFrame] | None:
        """``{level: wide}`` of the forecast quantiles, or None."""
        q = {lv: self.wide(c) for c, lv in QUANTILE_LEVELS.items() if c in self.long.columns}
        q = {lv: w for lv, w in q.items() if w is not None}
        return q or None

    @property
    def predict_ms(self) -> float:
        """Scoring time per session (all stocks), milliseconds."""
        return 1000.0 * self.predict_seconds / max(self.n_sessions, 1)


def blocks(rng: pd.DatetimeIndex, refit: str) -> list[pd.DatetimeIndex]:
    """The evaluated sessions cut by the refit cadence (``none``, ``yearly``, ``monthly``).

    Raises:
        ValueError: an unknown cadence.
    """
    if refit == "none":
        return [rng]
    freq = {"yearly": "Y", "monthly": "M"}.get(refit)
    if freq is None:
        raise ValueError(f"--refit must be none, yearly or monthly, got {refit!r}")
    return [pd.DatetimeIndex(g) for _, g in pd.Series(rng).groupby(rng.to_period(freq))]


def _fit_end(days: pd.DatetimeIndex, first: pd.Timestamp, gap: int, need: int, name: str
             ) -> pd.Timestamp:
    pos = int(days.searchsorted(first)) - gap
    if pos < need:
        raise ModelError(f"{name}: {first.date()} leaves {max(pos, 0)} stored sessions before it "
                         f"(after a {gap}-session gap); it needs {need} to fit: start later")
    return days[pos]


def _fit(spec, panel: pd.DataFrame, data, fit_end: pd.Timestamp, *, fast: bool, seed: int,
         n_jobs: int, executor: Executor | None = None):
    """One fitted model of ``spec`` on rows up to ``fit_end`` (global, or local on ``executor``)."""
    model = spec.make(fast=fast, seed=seed)
    train = panel.loc[panel["trade_time"] <= fit_end]
    if spec.scope == "global":
        return model.fit(train, universe=data.members.loc[data.members.index <= fit_end],
                         static=data.static)
    return model.fit(train, n_jobs=n_jobs, errors="collect", executor=executor)


def score_model(spec, data, rng: pd.DatetimeIndex, days: pd.DatetimeIndex, *, refit: str = "none",
                fast: bool = True, seed: int = 42, sample: list[str] | None = None,
                n_jobs: int = 1, progress: Callable[[str], None] | None = None,
                executor: Executor | None = None) -> ModelScores:
    """Fit ``spec``'s model walk-forward and return its as-of forecasts over ``rng``.

    Args:
        spec: a daily :class:`tzero.models.table.ModelSpec`.
        data: :class:`tzero.registry.train.UniverseData` (qfq panel from well before ``rng``).
        rng: evaluated sessions. days: every stored session (to place the gaps).
        refit: cadence (:func:`blocks`). fast, seed: the model's config.
        sample: the stocks a ``local`` model is fitted and scored on (None: every member).
        n_jobs: worker processes of the per-series loop (without ``executor``).
        progress: called with a line per fit.
        executor: where the per-series fits run (:mod:`tzero.training.executor`;
            None: the local pool of ``n_jobs``).

    Returns:
        :class:`ModelScores`.

    Raises:
        ModelError: too little history before a block, or no forecast at all.
    """
    probe = spec.make(fast=fast, seed=seed)
    gap = probe.horizon + 2
    panel = data.panel
    if spec.scope == "local" and sample is not None:
        panel = panel.loc[panel["ts_code"].isin(sample)]
    need = probe.min_history + (DEP_SESSIONS if spec.requires else 0)
    out = ModelScores(spec.name, probe.horizon, pd.DataFrame(columns=LONG_COLUMNS))
    parts = []
    for block in blocks(rng, refit):
        fit_end = _fit_end(days, block[0], gap, need, spec.name)
        t0 = time.perf_counter()
        if spec.requires:
            dep_end = days[int(days.searchsorted(fit_end)) - DEP_SESSIONS]
            deps = {r: _fit(table.get_spec(r), data.panel, data, dep_end, fast=fast, seed=seed,
                            n_jobs=n_jobs, executor=executor) for r in spec.requires}
            model = spec.make(fast=fast, seed=seed).bind(deps)
            model.fit(panel.loc[panel["trade_time"] <= fit_end], n_jobs=n_jobs, errors="collect",
                      executor=executor)
        else:
            model = _fit(spec, panel, data, fit_end, fast=fast, seed=seed, n_jobs=n_jobs,
                         executor=executor)
        out.fit_seconds += time.perf_counter() - t0
        out.errors.update(getattr(model, "errors_", {}) or {})
        t0 = time.perf_counter()
        if spec.scope == "local":
            fc = _local_history(model, panel, block, out.errors)
        else:
            fc = model.predict_history(panel, block[0], block[-1])
        out.predict_seconds += time.perf_counter() - t0
        out.n_sessions += len(block)
        fc = fc.loc[fc["step"] == model.horizon]
        part = pd.DataFrame({"as_of": pd.DatetimeIndex(fc["as_of"]).normalize(),
                             "ts_code": fc["ts_code"].to_numpy()})
        part["score"] = (fc["score"] if "score" in fc.columns else fc["cum_mean"]).to_numpy(float)
        part["cum_mean"] = fc["cum_mean"].to_numpy(float)
        for c in QUANTILE_COLUMNS:
            if c in fc.columns:
                part[c] = fc[c].to_numpy(float)
        parts.append(part)
        fits: dict[str, object] = {"fit_end": str(fit_end.date()), "first": str(block[0].date()),
                                   "last": str(block[-1].date())}
        if spec.scope == "global":
            fits["holdout"] = getattr(model, "metrics_", None)
        out.fits.append(fits)
        if progress:
            progress(f"{spec.name}: fitted to {fit_end.date()}, scored {block[0].date()}.."
                     f"{block[-1].date()} ({len(fc)} forecasts)")
    long = pd.concat(parts, ignore_index=True) if parts else out.long
    long = long.replace([np.inf, -np.inf], np.nan)
    if spec.scope == "local":
        out.n_series = int(panel["ts_code"].nunique())
        _enough_scored(spec.name, out)
    if long["score"].notna().sum() == 0:
        raise ModelError(f"{spec.name}: no finite forecast in {rng[0].date()}..{rng[-1].date()}")
    out.long = long
    return out


def _local_history(model, panel: pd.DataFrame, block: pd.DatetimeIndex,
                   errors: dict[str, str]) -> pd.DataFrame:
    """As-of forecasts of a local model over ``block``, one stock at a time.

    Stocks whose fit failed are not asked; a stock whose forecast fails at
    some session gets no scores in the block and its reason in ``errors``
    (the first failure of a stock is kept).
    """
    frames = []
    fitted = set(model.fitted_keys())
    for code, bars in panel.groupby("ts_code", sort=True):
        code = str(code)
        if code not in fitted:
            continue
        try:
            frames.append(model.predict_history(bars, block[0], block[-1]))
        except Exception as exc:            # that stock's failure, not the model's
            if not recoverable(exc):
                raise
            errors.setdefault(code, f"forecast {block[0].date()}..{block[-1].date()}: "
                                    f"{failure_reason(exc)}")
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=FORECAST_COLUMNS)
    return pd.concat(frames, ignore_index=True)


def _enough_scored(name: str, out: ModelScores) -> None:
    """Raise when fewer than :data:`MIN_FIT_SHARE` of a local model's stocks were scored.

    Raises:
        ModelError: too few stocks could be fitted and forecast (names a few and why).
    """
    n, bad = out.n_series, len(out.errors)
    if n and n - bad < MIN_FIT_SHARE * n:
        why = "; ".join(f"{c}: {e}" for c, e in list(out.errors.items())[:3])
        raise ModelError(f"{name}: only {n - bad} of {n} stocks could be fitted and forecast, "
                         f"fewer than {MIN_FIT_SHARE:.0%}: too few to judge ({why})")
