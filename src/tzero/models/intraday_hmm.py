"""Intraday HMM filter: liquidity × buy/sell-dominance states → T+0 intensity (spec 000 §3.2, §5.1).

Spec 000 §3.2 uses the HMM as the *state filter* of intraday trading: good
micro-structure (liquid, buy-dominated) allows more T+0 (做T), poor or
sell-dominated micro-structure shrinks or pauses it. Here:

* observations per bar (standardised with the train means and deviations):
  ``ret`` (intraday log return, first so the daily model's
  :func:`tzero.models.hmm.forecast_from_probs` reads its mean), ``flow``
  (buy/sell dominance: the rolling trade-flow OFI of
  :func:`tzero.features.intraday.trade_flow` when trades are given, else the
  bar proxy ``flow_imbalance``), ``log_range`` and ``log_rel_volume`` from
  :func:`tzero.features.intraday.bar_microstructure`, and ``log_illiq``, a
  range-based Amihud (2002) illiquidity: mean (high − low)/close over the last
  ``flow_window`` bars per mean million CNY of ``amount`` (million shares of
  ``volume`` when amount is NaN). The range replaces |return| because one tick
  is > 0.1% of a 10 CNY stock, so 1-minute returns are often exactly 0 and
  log |r| / amount splits states on "price unchanged" instead of liquidity;
* ``fit`` runs hmmlearn ``GaussianHMM`` (diagonal covariances, explicit seed)
  on the train bars;
* states are labelled from the fitted means: liquidity ``liquid`` when the
  state's liquidity score (mean ``log_rel_volume`` − mean ``log_illiq``, in
  standardised units) is above the median of the states, else ``illiquid``;
  dominance ``buy`` when the state's mean ``flow`` is > 0 (raw units), else
  ``sell``. Labels are ``liquid-buy``, ``liquid-sell``, ``illiquid-buy``,
  ``illiquid-sell`` (two states may share one);
* probabilities are *forward-filtered* only (:func:`tzero.models.hmm.forward_filter`,
  Rabiner 1989): the state at bar ``t`` uses bars ``<= t``, never smoothing.

The model emits states and their probabilities only; how hard to trade in a
state (the T+0 intensity) is the signal policy's call:
:func:`tzero.signals.policy.intensity_for`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
from hmmlearn.hmm import GaussianHMM
from threadpoolctl import threadpool_limits

from tzero.errors import ModelError
from tzero.features.intraday import bar_microstructure, trade_flow
from tzero.models.base import (
    Frequency,
    LocalForecaster,
    Scope,
    check_panel,
    check_state,
    panel_until,
)
from tzero.models.hmm import (
    HmmParams,
    filtered_state_probs,
    forecast_from_probs,
)
from tzero.models.intraday_arima import bars_per_day, intraday_log_returns

FEATURES = ("ret", "flow", "log_range", "log_rel_volume", "log_illiq")
#: The state labels (liquidity × dominance) the model emits as ``regime`` / ``state``.
LABELS = ("liquid-buy", "liquid-sell", "illiquid-buy", "illiquid-sell")
PATH_COLUMNS = ["ts_code", "trade_time", "state", "state_prob"]
#: Panel column carrying the trade-flow ``flow`` per bar into the per-series fit
#: (set by :meth:`IntradayHmm.fit` when ``trades`` are given; private).
_TRADE_FLOW = "_trade_flow"


@dataclass(frozen=True)
class IntradayHmmConfig:
    """Settings of :class:`IntradayHmm`.

    Attributes:
        n_states: hidden states (2..6).
        n_iter: EM iterations.
        lookback_days: days of the same-minute volume mean of ``rel_volume``.
        flow_window: bars of the rolling flow (OFI or signed-volume) sum.
        horizon: bars ahead of :meth:`IntradayHmm.predict`.
        seed: hmmlearn random state.
        min_obs: fewest usable bars to fit.
    """

    n_states: int = 4
    n_iter: int = 50
    lookback_days: int = 5
    flow_window: int = 6
    horizon: int = 1
    seed: int = 42
    min_obs: int = 100

    def __post_init__(self) -> None:
        if not 2 <= self.n_states <= 6 or self.horizon < 1 or self.min_obs < 20:
            raise ValueError("need 2 <= n_states <= 6, horizon >= 1, min_obs >= 20")


def hmm_observations(bars: pd.DataFrame, trades: pd.DataFrame | None = None, *,
                     freq: str | None = None, lookback_days: int = 5,
                     flow_window: int = 6) -> pd.DataFrame:
    """The HMM observation frame ``ts_code, trade_time`` + :data:`FEATURES`, causal.

    Args:
        bars: intraday Bars of one frequency, sorted by ``(ts_code, trade_time)``.
        trades: optional Trades frame; when given, ``flow`` is the rolling OFI
            (Σ buy − Σ sell) / (Σ buy + Σ sell) over ``flow_window`` bars of
            :func:`tzero.features.intraday.trade_flow` (0 for bars without trades).
        freq: bar frequency of ``bars`` (needed with ``trades``).
        lookback_days, flow_window: see :func:`bar_microstructure`.

    Returns:
        One row per bar; ``NaN`` where a feature is undefined (first day of
        ``rel_volume``, zero volume).
    """
    f = bar_microstructure(bars, lookback_days=lookback_days, flow_window=flow_window)
    flow = f["flow_imbalance"].to_numpy(float)
    if trades is not None:
        if freq is None:
            raise ValueError("pass freq= with trades so trade flow is binned like the bars")
        tf = trade_flow(trades, freq)[["ts_code", "trade_time", "buy_volume", "sell_volume"]]
        m = f[["ts_code", "trade_time"]].merge(tf, on=["ts_code", "trade_time"], how="left")
        m = m.fillna({"buy_volume": 0.0, "sell_volume": 0.0})
        grp = m.groupby("ts_code", sort=False)
        buy = grp["buy_volume"].transform(lambda s: s.rolling(flow_window, 1).sum())
        sell = grp["sell_volume"].transform(lambda s: s.rolling(flow_window, 1).sum())
        tot = buy + sell
        flow = ((buy - sell) / tot.where(tot > 0)).fillna(0.0).to_numpy(float)
    ret = np.concatenate([intraday_log_returns(g) for _, g in bars.groupby("ts_code", sort=False)])
    b = bars.reset_index(drop=True)
    amount = b["amount"].to_numpy(float) if "amount" in b else np.full(len(b), np.nan)
    size = pd.Series(np.where(np.isnan(amount), b["volume"].to_numpy(float), amount) / 1e6)
    code = f["ts_code"]
    rng = f["range"].groupby(code, sort=False).transform(
        lambda x: x.rolling(flow_window, 1).mean())
    size = size.groupby(code, sort=False).transform(lambda x: x.rolling(flow_window, 1).mean())
    with np.errstate(divide="ignore", invalid="ignore"):
        return pd.DataFrame({
            "ts_code": code, "trade_time": f["trade_time"], "ret": ret, "flow": flow,
            "log_range": np.log(f["range"].to_numpy(float) + 1e-5),
            "log_rel_volume": np.log(f["rel_volume"].to_numpy(float) + 1e-3),
            "log_illiq": np.log((rng / size.where(size > 0)).to_numpy(float) + 1e-12),
        })


def label_liquidity_flow(means_z: np.ndarray, flow_mean_raw: np.ndarray) -> tuple[str, ...]:
    """State labels from fitted means (see the module docstring).

    Args:
        means_z: ``[K, F]`` standardised state means in :data:`FEATURES` order.
        flow_mean_raw: ``[K]`` state means of ``flow`` in raw units.

    Returns:
        ``K`` labels ``liquid|illiquid`` + ``-buy|-sell``.
    """
    liq = means_z[:, FEATURES.index("log_rel_volume")] - means_z[:, FEATURES.index("log_illiq")]
    good = liq > np.median(liq)
    return tuple(f"{'liquid' if g else 'illiquid'}-{'buy' if fl > 0 else 'sell'}"
                 for g, fl in zip(good, flow_mean_raw, strict=True))


class IntradayHmm(LocalForecaster):
    """Gaussian HMM on intraday micro-structure, forward-filtered (spec 000 §3.2, §5.1).

    A :class:`tzero.models.base.LocalForecaster` (one HMM per symbol, the base
    owns the loop). ``fit(bars, trades=..., freq=...)`` takes an optional
    Trades frame for the trade-flow OFI; ``predict`` gives the forecast frame
    (``step`` in bars, ``regime`` = state label); :meth:`predict_path` the
    filtered state at every bar (:data:`PATH_COLUMNS`).

    Attributes:
        config: the :class:`IntradayHmmConfig`.
        models_: ``{ts_code: HmmParams}`` (states sorted by mean return; the
            ``labels`` are :data:`LABELS`, not bull/bear; ``trained_until`` the
            last train bar).
    """

    name: ClassVar[str] = "intraday_hmm"
    scope: ClassVar[Scope] = "local"
    frequency: ClassVar[Frequency] = "intraday"
    #: Bars needed to fit with the default config: ``min_obs`` usable bars after
    #: the first day of 5-minute bars (no ``rel_volume`` there).
    min_history: ClassVar[int] = IntradayHmmConfig.min_obs + bars_per_day("5m")
    #: Columns of :meth:`predict_path` (:data:`PATH_COLUMNS`).
    path_columns: ClassVar[tuple[str, ...]] = tuple(PATH_COLUMNS)
    #: Whether ``fit``/``predict_path`` take a Trades frame (``trades=``, ``freq=``).
    uses_trades: ClassVar[bool] = True

    @classmethod
    def default_config(cls, fast: bool = False, seed: int = 42, freq: str = "5m"
                       ) -> IntradayHmmConfig:
        """Defaults with ``seed``; ``min_obs`` at most five days of ``freq`` bars (no fast variant)."""
        return IntradayHmmConfig(seed=seed, min_obs=min(100, 5 * bars_per_day(freq)))

    def _obs(self, bars: pd.DataFrame, trades: pd.DataFrame | None,
             freq: str | None) -> pd.DataFrame:
        c = self.config
        return hmm_observations(bars, trades, freq=freq, lookback_days=c.lookback_days,
                                flow_window=c.flow_window)

    def _fit(self, panel: pd.DataFrame, *, universe: pd.DataFrame | None = None,
             trades: pd.DataFrame | None = None, freq: str | None = None, **kwargs: Any) -> None:
        """Fit one HMM per symbol on the train bars (and trades, when given).

        Args:
            panel: intraday Bars (train part only).
            trades: optional Trades frame of the same period; its rolling OFI
                replaces the bar proxy ``flow``. It is binned here once and
                travels to the per-series fit (and its worker processes) as a
                panel column.
            freq: bar frequency (required with ``trades``).
            **kwargs: options of the per-series loop (``n_jobs``, ``errors``, ...).

        Raises:
            ValueError: ``trades`` without ``freq``.
        """
        if trades is not None:
            flow = self._obs(panel, trades, freq)["flow"].to_numpy(float)
            panel = panel.assign(**{_TRADE_FLOW: flow})
        super()._fit(panel, universe=universe, **kwargs)

    def _fit_series(self, code: str, bars: pd.DataFrame, progress=None) -> HmmParams:
        """Fit one symbol's HMM on its train bars.

        Raises:
            ModelError: too few usable bars or a constant feature.
        """
        obs = self._obs(bars.drop(columns=_TRADE_FLOW, errors="ignore"), None, None)
        if _TRADE_FLOW in bars.columns:
            obs["flow"] = bars[_TRADE_FLOW].to_numpy(float)
        x = obs[list(FEATURES)].to_numpy(float)
        x = x[np.isfinite(x).all(axis=1)]
        if len(x) < self.config.min_obs:
            raise ModelError(f"{code}: {len(x)} usable bars < min_obs={self.config.min_obs}; "
                             "pass more train days")
        p = self._fit_one(code, x)
        return replace(p, trained_until=str(pd.Timestamp(bars["trade_time"].iloc[-1])))

    def _fit_one(self, code: str, x: np.ndarray) -> HmmParams:
        c = self.config
        mu, sd = x.mean(axis=0), x.std(axis=0)
        if np.any(sd <= 0):
            raise ModelError(f"{code}: constant HMM feature(s) "
                             f"{np.asarray(FEATURES)[sd <= 0].tolist()}")
        z = (x - mu) / sd
        # one BLAS/OpenMP thread: hmmlearn's k-means init on a few thousand rows is
        # dominated by thread start-up otherwise (3 s instead of 30 ms here)
        with threadpool_limits(1):
            m = GaussianHMM(n_components=c.n_states, covariance_type="diag", n_iter=c.n_iter,
                            random_state=c.seed, min_covar=1e-3).fit(z)
        order = np.argsort(m.means_[:, 0], kind="stable")
        means = m.means_[order]
        flow_raw = means[:, 1] * sd[1] + mu[1]
        return HmmParams(
            startprob=m.startprob_[order], transmat=m.transmat_[np.ix_(order, order)],
            means=means, covars=np.asarray(m.covars_)[order],
            labels=label_liquidity_flow(means, flow_raw), scale_mean=mu, scale_std=sd,
            bic=float(m.bic(z)),
        )

    def _series_trained_until(self, fitted: HmmParams) -> pd.Timestamp | None:
        return pd.Timestamp(fitted.trained_until) if fitted.trained_until else None

    def _params(self, code: str) -> HmmParams:
        self._check_fitted()
        if code not in self.models_:
            raise ModelError(f"no {self.name} fitted for {code}: fit on bars that include it")
        return self.models_[code]

    def filtered_probs(self, code: str, x: np.ndarray) -> np.ndarray:
        """Forward-filtered state probabilities ``[T, F] -> [T, K]`` of raw features.

        An undefined feature (NaN: first day of ``rel_volume``, zero volume) is
        set to its train mean (0 in standardised units) so the bar still counts.
        """
        p = self._params(code)
        x = np.where(np.isfinite(x), x, p.scale_mean[None, :])
        return filtered_state_probs(p, x)

    def _label_probs(self, code: str, obs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Most probable label at every bar of one symbol's observations and its probability.

        Probabilities of states sharing a label are summed. Returns ``([T]
        labels, [T] probabilities)``.
        """
        p = self._params(code)
        probs = self.filtered_probs(code, obs[list(FEATURES)].to_numpy(float))
        labels = sorted(set(p.labels))
        agg = np.column_stack([probs[:, [i for i, lab in enumerate(p.labels) if lab == u]]
                               .sum(axis=1) for u in labels]).clip(0.0, 1.0)
        best = agg.argmax(axis=1)
        return np.asarray(labels, dtype=object)[best], agg[np.arange(len(agg)), best]

    def predict_path(self, bars: pd.DataFrame, start: Any, end: Any,
                     trades: pd.DataFrame | None = None,
                     freq: str | None = None) -> pd.DataFrame:
        """Filtered state at the close of every bar in ``[start, end]``.

        A batched output of its own (not the forecast frame): one forward
        filter pass per symbol. Bars are cut at ``end`` by
        :func:`tzero.models.base.panel_until`, the no-look-ahead cut of
        :meth:`Forecaster.predict` (trades likewise at ``trade_time <= end``),
        and the filter is causal, so row ``t`` uses bars ``<= t`` only: its
        ``state``/``state_prob`` equal the ``regime``/``regime_prob`` of
        ``predict(bars, t)`` (without trades).

        Args:
            bars: intraday Bars including the history the filter starts from
                (the filter runs from the first bar passed).
            start, end: inclusive bar timestamps.
            trades, freq: as in :meth:`fit`.

        Returns:
            Frame :data:`PATH_COLUMNS`: ``state`` the label with the highest
            filtered probability (probabilities of states sharing a label are
            summed), ``state_prob`` that probability.

        Raises:
            ModelError: not fitted, or a symbol without a model.
            ValueError: ``trades`` without ``freq``.
        """
        self._check_fitted()
        check_panel(bars)
        start, end = pd.Timestamp(start), pd.Timestamp(end)
        b = panel_until(bars, end)
        obs = self._obs(b, None if trades is None else trades[trades["trade_time"] <= end], freq)
        frames = []
        for code, g in obs.groupby("ts_code", sort=True):
            state, prob = self._label_probs(str(code), g)
            keep = (g["trade_time"] >= start).to_numpy()
            frames.append(pd.DataFrame({
                "ts_code": str(code), "trade_time": g["trade_time"].to_numpy()[keep],
                "state": state[keep], "state_prob": prob[keep],
            }, columns=PATH_COLUMNS))
        if not frames:
            return pd.DataFrame(columns=PATH_COLUMNS)
        return pd.concat(frames, ignore_index=True)

    def _predict_series(self, code: str, bars: pd.DataFrame, p: HmmParams) -> pd.DataFrame:
        """Forecast ``horizon`` bars after the last bar of one symbol (``step`` in bars).

        ``mean``/``std``/``prob_up`` come from the state return means propagated
        by the transition matrix (:func:`tzero.models.hmm.forecast_from_probs`);
        ``regime`` is the state label (one of :data:`LABELS`), ``regime_prob``
        its filtered probability (states sharing a label summed).
        """
        obs = self._obs(bars, None, None)
        probs = self.filtered_probs(code, obs[list(FEATURES)].to_numpy(float))[-1]
        fc = forecast_from_probs(p, probs, self.config.horizon)
        state, prob = self._label_probs(code, obs)
        fc["regime"] = state[-1]
        fc["regime_prob"] = float(prob[-1])
        return fc

    def state_dict(self) -> dict:
        """Plain data: config and per-symbol :class:`HmmParams` as lists.

        Raises:
            ModelError: not fitted.
        """
        self._check_fitted()
        return {"name": self.name, "config": asdict(self.config),
                "models": {c: p.to_dict() for c, p in self.models_.items()}}

    @classmethod
    def from_state(cls, state: dict) -> Self:
        """Rebuild a fitted model from :meth:`state_dict` output.

        Raises:
            ModelError: not an intraday HMM state.
        """
        check_state(cls, state)
        obj = cls(IntradayHmmConfig(**state["config"]))
        obj.models_ = {c: HmmParams.from_dict(d) for c, d in state["models"].items()}
        obj.errors_ = {}
        return obj


__all__ = ["FEATURES", "LABELS", "PATH_COLUMNS", "IntradayHmm", "IntradayHmmConfig",
           "hmm_observations", "label_liquidity_flow"]
