"""Gaussian HMM regime model on daily bars, one model per ``ts_code`` (spec 000 §3.2).

Spec 000 §3.2 uses an HMM on multi-dimensional daily observations (return,
volatility, volume ratio) to identify the market regime (bull / bear /
sideways, 牛 / 熊 / 震荡), which filters position size and T+0 intensity.

Observations (one row per session ``t``, features ``[T, 3]``):

1. ``log_ret``: ``log(close_t / close_{t-1})``,
2. ``vol``: standard deviation of ``log_ret`` over the last ``vol_window``
   sessions ending at ``t``,
3. ``log_vol_ratio``: ``log(volume_t / mean(volume_{t-volume_window..t-1}))``
   (量比 against the previous ``volume_window`` sessions).

Rows with a non-finite feature (warm-up, zero volume) are dropped. Every
feature at ``t`` uses bars up to ``t`` only. Features are standardised with
the training mean/std (stored with the model).

Fit: hmmlearn ``GaussianHMM`` (Baum-Welch) with a fixed ``random_state``;
``n_states=None`` fits 2..5 states and keeps the lowest BIC. States are then
sorted by mean log return (state 0 = lowest), so state ids do not depend on
how EM happened to label them.

Degenerate states: with full covariances hmmlearn's M-step has no floor, so a
state that ends up holding a handful of observations (e.g. the jump of an
unadjusted ex-date, −38 % on 000333.SZ's 2016-05-06 bonus issue) gets a
singular covariance. hmmlearn's own likelihood then adds ``min_covar`` to its
diagonal and carries on, but the forward filter (SciPy's ``multivariate_normal``)
refuses it ("the input matrix must be symmetric positive definite"). Such a
covariance is stored with ``min_covar × I`` added (:func:`floor_covars`), the
very matrix hmmlearn scored it with; a healthy fit is left unchanged.

Labels: with ``sigma`` the training std of ``log_ret`` and
``tau = label_threshold * sigma`` (default 0.05 * sigma, about 0.1 %/day for a
2 % daily vol), a state whose mean log return is ``> tau`` is ``bull``,
``< -tau`` is ``bear``, else ``sideways``. Several states may share a label
(common with 4-5 states); a fit may have no bull or no bear state.

Predict: the *filtered* probabilities ``P(s_T | x_1..x_T)`` from the forward
algorithm (Rabiner 1989, "A tutorial on hidden Markov models", §III.A, in log
space), never hmmlearn's ``predict_proba`` which is forward-backward smoothed
and, for ``t < T``, uses later observations. With ``p_0`` the filtered
probabilities at ``as_of``, ``A`` the transition matrix, ``mu_i, s_i^2`` the
mean and variance of the log return in state ``i`` (original units):

- step state distribution ``p_k = p_0 A^k``,
- step log-return mixture mean ``m_k = p_k . mu`` and variance
  ``v_k = p_k . (s^2 + mu^2) - m_k^2``,
- ``mean = p_k . exp(mu + s^2/2) - 1`` and ``std`` from ``E[exp(2 r)] =
  p_k . exp(2 mu + 2 s^2)`` (exact for a normal mixture),
- ``cum_mean = p_0' (A D)^k 1 - 1`` with ``D = diag(exp(mu + s^2/2))``: the
  exact expected simple return over ``k`` steps under the HMM,
- cumulative log return ``S_k``: mean ``sum m_j``, variance ``sum v_j + 2
  sum_{i<j} Cov(r_i, r_j)`` with ``E[r_i r_j] = p_i' diag(mu) A^(j-i) mu``;
  ``prob_up = Phi(E[S_k] / sd[S_k])``, ``prob_down = 1 - prob_up`` (normal
  approximation).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import ClassVar, Literal, Self

import numba
import numpy as np
import pandas as pd
from hmmlearn.hmm import GaussianHMM
from scipy.stats import multivariate_normal, norm

from tzero.errors import ModelError
from tzero.models.base import Frequency, LocalForecaster, Scope, check_state

#: Names of the observation columns, in order.
FEATURES = ("log_ret", "vol", "log_vol_ratio")
#: Candidate state counts when ``n_states=None`` (BIC selection).
BIC_STATES = (2, 3, 4, 5)

_BULL, _BEAR, _SIDEWAYS = "bull", "bear", "sideways"


@dataclass(frozen=True)
class HmmConfig:
    """Settings of :class:`HmmForecaster`.

    Attributes:
        horizon: Steps (sessions) ahead to forecast, >= 1.
        n_states: Hidden states, 2..5; ``None`` picks 2..5 by lowest BIC.
        covariance_type: ``"full"`` or ``"diag"`` emission covariance.
        n_iter: Most Baum-Welch iterations.
        seed: ``random_state`` of hmmlearn's k-means initialisation.
        vol_window: Sessions in the rolling volatility feature.
        volume_window: Previous sessions averaged in the volume ratio.
        window: Most recent observations used to fit and to filter at
            predict time (sessions).
        min_obs: Fewest observations (after warm-up) a symbol needs.
        label_threshold: ``tau / sigma`` of the bull/bear rule (see module doc).
        min_covar: Added to the diagonal of a state covariance that is not
            positive definite (standardised units; hmmlearn's ``min_covar``
            default); 0 keeps a singular covariance, whose forecast then fails.
    """

    horizon: int = 5
    n_states: int | None = 3
    covariance_type: Literal["full", "diag"] = "full"
    n_iter: int = 100
    seed: int = 42
    vol_window: int = 20
    volume_window: int = 5
    window: int = 1000
    min_obs: int = 120
    label_threshold: float = 0.05
    min_covar: float = 1e-3

    def __post_init__(self) -> None:
        if self.n_states is not None and not 2 <= self.n_states <= 5:
            raise ValueError(f"n_states={self.n_states}: expected 2..5 or None (BIC choice)")
        if self.covariance_type not in {"full", "diag"}:
            raise ValueError(f"covariance_type={self.covariance_type!r}: expected 'full' or 'diag'")
        if self.horizon < 1 or self.vol_window < 2 or self.volume_window < 1:
            raise ValueError("need horizon >= 1, vol_window >= 2, volume_window >= 1")
        if self.min_obs < 30 or self.window < self.min_obs:
            raise ValueError(f"need 30 <= min_obs <= window, got min_obs={self.min_obs}, "
                             f"window={self.window}")
        if not self.min_covar >= 0:
            raise ValueError(f"min_covar={self.min_covar}: expected >= 0")


@dataclass(frozen=True)
class HmmParams:
    """Fitted HMM of one symbol, states sorted by mean log return.

    Attributes:
        startprob: ``[K]`` initial state distribution.
        transmat: ``[K, K]`` row-stochastic transition matrix.
        means: ``[K, F]`` emission means in standardised units.
        covars: ``[K, F, F]`` full emission covariances, standardised units.
        labels: ``K`` labels ``bull|bear|sideways``.
        scale_mean: ``[F]`` training feature means (log_ret decimal, vol
            decimal, log ratio).
        scale_std: ``[F]`` training feature standard deviations.
        bic: BIC of the kept fit on the standardised training features.
        trained_until: last session of the training data (ISO date; empty
            when unknown, e.g. a state saved before it was recorded).
    """

    startprob: np.ndarray
    transmat: np.ndarray
    means: np.ndarray
    covars: np.ndarray
    labels: tuple[str, ...]
    scale_mean: np.ndarray
    scale_std: np.ndarray
    bic: float
    trained_until: str = ""

    @property
    def ret_mean(self) -> np.ndarray:
        """``[K]`` mean daily log return per state (decimal)."""
        return self.means[:, 0] * self.scale_std[0] + self.scale_mean[0]

    @property
    def ret_var(self) -> np.ndarray:
        """``[K]`` variance of the daily log return per state (decimal^2)."""
        return self.covars[:, 0, 0] * self.scale_std[0] ** 2

    def to_dict(self) -> dict:
        """Plain lists and floats."""
        d = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in asdict(self).items()}
        d["labels"] = list(self.labels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> HmmParams:
        """Inverse of :meth:`to_dict`."""
        arr = {k: np.asarray(d[k], dtype=float)
               for k in ("startprob", "transmat", "means", "covars", "scale_mean", "scale_std")}
        return cls(labels=tuple(str(s) for s in d["labels"]), bic=float(d["bic"]),
                   trained_until=str(d.get("trained_until", "")), **arr)


class HmmForecaster(LocalForecaster):
    """Per-symbol Gaussian HMM regime forecaster (spec 000 §3.2).

    Output: the frame of :data:`tzero.models.base.FORECAST_COLUMNS` (decimal
    simple returns; ``regime`` = label of the most probable filtered state at
    ``as_of``, ``regime_prob`` = its probability) plus ``state`` (int, sorted
    state id) and ``state_probs`` (list of K floats, filtered). See the module
    docstring for the formulas.

    Attributes:
        config: The :class:`HmmConfig`.
        models_: ``{ts_code: HmmParams}`` after ``fit``.
    """

    name: ClassVar[str] = "hmm"
    scope: ClassVar[Scope] = "local"
    frequency: ClassVar[Frequency] = "daily"
    min_history: ClassVar[int] = 150

    @classmethod
    def default_config(cls, fast: bool = False, seed: int = 42) -> HmmConfig:
        """The default :class:`HmmConfig` with ``seed`` (no fast variant)."""
        return HmmConfig(seed=seed)

    def _fit_series(self, code: str, bars: pd.DataFrame, progress=None) -> HmmParams:
        """Fit one HMM on a symbol's last ``window`` observations.

        Raises:
            ModelError: fewer than ``min_obs`` observations, a constant
                feature, or the EM fit fails.
        """
        cfg = self.config
        x = self._features(code, bars)[-cfg.window:]
        try:
            p = fit_hmm(x, cfg)
        except ModelError as e:
            raise ModelError(f"{code}: {e}") from e
        except (ValueError, np.linalg.LinAlgError) as e:
            raise ModelError(f"{code}: HMM fit failed on {len(x)} observations ({e}); "
                             "try covariance_type='diag' or fewer states") from e
        return replace(p, trained_until=str(pd.Timestamp(bars["trade_time"].iloc[-1]).date()))

    def _series_trained_until(self, fitted: HmmParams) -> pd.Timestamp | None:
        return pd.Timestamp(fitted.trained_until) if fitted.trained_until else None

    def _predict_series(self, code: str, bars: pd.DataFrame, p: HmmParams) -> pd.DataFrame:
        """Forecast ``horizon`` sessions from the filtered state probabilities at ``as_of``.

        Raises:
            ModelError: fewer than ``min_obs`` observations up to ``as_of``.
        """
        x = self._features(code, bars)[-self.config.window:]
        probs = filtered_state_probs(p, x)[-1]                          # [K]
        fc = forecast_from_probs(p, probs, self.config.horizon)
        k = int(np.argmax(probs))
        fc["regime"] = p.labels[k]
        fc["regime_prob"] = float(probs[k])
        fc["state"] = k
        fc["state_probs"] = [probs.tolist() for _ in range(len(fc))]
        return fc

    def state_dict(self) -> dict:
        """Plain data: config and per ts_code startprob, transmat, means,
        covars, labels and scaler (lists, floats, str).

        Raises:
            ModelError: called before ``fit``.
        """
        self._check_fitted()
        return {"name": self.name, "config": asdict(self.config),
                "models": {code: p.to_dict() for code, p in self.models_.items()}}

    @classmethod
    def from_state(cls, state: dict) -> Self:
        """Rebuild a fitted forecaster from :meth:`state_dict` output.

        Raises:
            ModelError: the state is not an HMM state.
        """
        check_state(cls, state)
        obj = cls(HmmConfig(**state["config"]))
        obj.models_ = {code: HmmParams.from_dict(d) for code, d in state["models"].items()}
        obj.errors_ = {}
        return obj

    def _features(self, code: str, g: pd.DataFrame) -> np.ndarray:
        x = hmm_features(g["close"].to_numpy(float), g["volume"].to_numpy(float),
                         self.config.vol_window, self.config.volume_window)
        if len(x) < self.config.min_obs:
            raise ModelError(f"{code} has {len(x)} HMM observations after warm-up, fewer than "
                             f"min_obs={self.config.min_obs}: pass a longer history or lower "
                             "min_obs")
        return x


# ---------------------------------------------------------------------- features
def hmm_features(close: np.ndarray, volume: np.ndarray, vol_window: int,
                 volume_window: int) -> np.ndarray:
    """Daily HMM observations of one symbol (see :data:`FEATURES`).

    Args:
        close: ``[n]`` closes (qfq, CNY), oldest first.
        volume: ``[n]`` volumes in shares.
        vol_window: Sessions in the rolling std of log returns.
        volume_window: Previous sessions in the volume-ratio denominator.

    Returns:
        ``[T, 3]`` rows with all features finite (warm-up and zero-volume rows
        dropped), oldest first. Row ``t`` depends on bars ``<= t`` only.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        r = pd.Series(np.log(close)).diff()
        vol = r.rolling(vol_window).std()
        v = pd.Series(volume, dtype=float)
        ratio = np.log(v / v.shift(1).rolling(volume_window).mean())
    x = np.column_stack([r.to_numpy(), vol.to_numpy(), ratio.to_numpy()])
    return x[np.isfinite(x).all(axis=1)]


# --------------------------------------------------------------------------- fit
def fit_hmm(x: np.ndarray, cfg: HmmConfig) -> HmmParams:
    """Fit a GaussianHMM on raw features, sort states by mean return, label them.

    Args:
        x: ``[T, F]`` observations from :func:`hmm_features`.
        cfg: Model settings (``n_states=None`` selects 2..5 by BIC).

    Returns:
        The fitted :class:`HmmParams`.

    Raises:
        ModelError: a feature is constant (cannot be standardised).
    """
    mu, sd = x.mean(axis=0), x.std(axis=0)
    if np.any(sd <= 0):
        raise ModelError(f"constant HMM feature(s) {np.asarray(FEATURES)[sd <= 0].tolist()}: "
                         "the series has no variation to model")
    z = (x - mu) / sd
    candidates = BIC_STATES if cfg.n_states is None else (cfg.n_states,)
    best: tuple[float, GaussianHMM] | None = None
    for k in candidates:
        m = GaussianHMM(n_components=k, covariance_type=cfg.covariance_type,
                        n_iter=cfg.n_iter, random_state=cfg.seed).fit(z)
        bic = float(m.bic(z))
        if best is None or bic < best[0]:
            best = (bic, m)
    assert best is not None
    bic, m = best
    order = np.argsort(m.means_[:, 0], kind="stable")
    means = m.means_[order]
    ret_mean = means[:, 0] * sd[0] + mu[0]
    return HmmParams(
        startprob=m.startprob_[order],
        transmat=m.transmat_[np.ix_(order, order)],
        means=means,
        covars=floor_covars(np.asarray(m.covars_)[order], cfg.min_covar),  # full [K, F, F]
        labels=label_states(ret_mean, cfg.label_threshold * sd[0]),
        scale_mean=mu,
        scale_std=sd,
        bic=bic,
    )


def floor_covars(covars: np.ndarray, min_covar: float) -> np.ndarray:
    """``covars`` with ``min_covar × I`` added to each state covariance that is not positive definite.

    A covariance counts as singular by SciPy's own test (an eigenvalue at or
    below ``1e6 × machine epsilon × the largest``, ``scipy.stats._multivariate._PSD``),
    the one ``multivariate_normal`` applies; positive definite ones are
    returned unchanged, so a healthy fit keeps its exact numbers.

    Args:
        covars: ``[K, F, F]`` state covariances (standardised units).
        min_covar: Diagonal floor; 0 returns ``covars`` as they are.

    Returns:
        ``[K, F, F]`` covariances (a copy).
    """
    out = np.array(covars, dtype=float, copy=True)
    if min_covar <= 0:
        return out
    eye = np.eye(out.shape[-1])
    for k in range(len(out)):
        c = (out[k] + out[k].T) / 2
        s = np.linalg.eigvalsh(c) if np.isfinite(c).all() else np.array([0.0])
        if s.min() <= 1e6 * np.finfo(float).eps * max(abs(s).max(), 1e-300):
            out[k] = c + min_covar * eye
    return out


def label_states(ret_mean: np.ndarray, tau: float) -> tuple[str, ...]:
    """Label states by mean daily log return: ``> tau`` bull, ``< -tau`` bear, else sideways.

    Args:
        ret_mean: ``[K]`` mean log return per state (decimal).
        tau: Threshold (decimal per day), ``label_threshold * sigma``.

    Returns:
        ``K`` labels.
    """
    return tuple(_BULL if r > tau else _BEAR if r < -tau else _SIDEWAYS for r in ret_mean)


# ------------------------------------------------------------------------ filter
def emission_log_likelihood(p: HmmParams, x: np.ndarray) -> np.ndarray:
    """Log density of each raw observation under each state's Gaussian.

    Args:
        p: Fitted parameters.
        x: ``[T, F]`` raw features; standardised here with ``p``'s scaler.

    Returns:
        ``[T, K]`` log-likelihoods (of the standardised observations, as
        hmmlearn computes them).
    """
    z = (x - p.scale_mean) / p.scale_std
    return np.column_stack([multivariate_normal.logpdf(z, mean=p.means[k], cov=p.covars[k])
                            for k in range(len(p.labels))]).reshape(len(z), -1)


def forward_filter(startprob: np.ndarray, transmat: np.ndarray,
                   log_lik: np.ndarray) -> np.ndarray:
    """Filtered state probabilities ``P(s_t | x_1..x_t)`` by the forward algorithm.

    Normalised log-space recursion (Rabiner 1989 §III.A, eq. 19-20):
    ``log a_t = logsumexp(log a_{t-1} + log A) + log b(x_t)``, renormalised
    each step, so it neither under- nor overflows. Row ``t`` uses
    observations ``<= t`` only (unlike forward-backward smoothing).

    Args:
        startprob: ``[K]`` initial distribution.
        transmat: ``[K, K]`` transition matrix (rows sum to 1).
        log_lik: ``[T, K]`` emission log-likelihoods.

    Returns:
        ``[T, K]`` probabilities, rows summing to 1.
    """
    with np.errstate(divide="ignore"):
        log_a = np.log(np.asarray(transmat, np.float64))
        prior = np.log(np.asarray(startprob, np.float64))
    ll = np.ascontiguousarray(log_lik, dtype=np.float64)
    if len(ll) == 0:
        return np.empty_like(ll)
    return np.exp(_forward_kernel(prior, np.ascontiguousarray(log_a), ll))


@numba.njit(cache=True)
def _lse_vec(b: np.ndarray) -> float:
    """``log(sum(exp(b)))`` of a ``[K]`` vector shifted by its max; all ``-inf`` gives ``-inf``."""
    top = b.max()
    shift = top if np.isfinite(top) else 0.0
    return shift + np.log(np.exp(b - shift).sum())


@numba.njit(cache=True)
def _forward_kernel(prior: np.ndarray, log_a: np.ndarray, ll: np.ndarray) -> np.ndarray:
    """The recursion of :func:`forward_filter`, compiled: ``[T, K]`` normalised log filtered
    probabilities. An observation impossible under every state (all emission
    log-likelihoods ``-inf``) carries no information: the prediction is kept instead of
    dividing zero by zero (which made every later step NaN); a state no other state
    moves to gets ``-inf``, not NaN."""
    n, k = ll.shape
    out = np.empty((n, k))
    pred = prior.copy()
    col = np.empty(k)
    for t in range(n):
        if t > 0:
            for j in range(k):
                for i in range(k):
                    col[i] = out[t - 1, i] + log_a[i, j]
                pred[j] = _lse_vec(col)
        la = pred + ll[t]
        z = _lse_vec(la)
        if np.isfinite(z):
            out[t] = la - z
        else:  # no state can emit x_t: keep the prediction
            out[t] = pred - _lse_vec(pred)
    return out


def filtered_state_probs(p: HmmParams, x: np.ndarray) -> np.ndarray:
    """Filtered state probabilities of raw features ``x`` ``[T, F] -> [T, K]``.

    The last row is the state distribution at the last observation given all
    observations so far; it is what :meth:`HmmForecaster.predict` uses.
    """
    return forward_filter(p.startprob, p.transmat, emission_log_likelihood(p, x))


# ---------------------------------------------------------------------- forecast
def forecast_from_probs(p: HmmParams, probs: np.ndarray, horizon: int) -> pd.DataFrame:
    """Step and cumulative return forecast from the current state distribution.

    Args:
        p: Fitted parameters.
        probs: ``[K]`` state distribution at ``as_of`` (filtered).
        horizon: Steps ahead.

    Returns:
        Frame with ``step, mean, cum_mean, std, prob_up, prob_down`` (decimal
        simple returns; formulas in the module docstring).
    """
    a, mu, s2 = p.transmat, p.ret_mean, p.ret_var
    steps = [probs]
    for _ in range(horizon):
        steps.append(steps[-1] @ a)
    pk = np.array(steps[1:])                                    # [H, K]
    m = pk @ mu                                                 # [H]
    v = pk @ (s2 + mu**2) - m**2                                # [H]
    e1 = pk @ np.exp(mu + s2 / 2)
    e2 = pk @ np.exp(2 * mu + 2 * s2)
    cov = np.zeros((horizon, horizon))
    for i in range(horizon):
        ai = np.eye(len(mu))
        for j in range(i + 1, horizon):
            ai = ai @ a                                         # A^(j-i)
            cov[i, j] = (pk[i] * mu) @ ai @ mu - m[i] * m[j]
    cum_var = np.cumsum(v) + 2 * np.array([cov[: k + 1, : k + 1].sum() for k in range(horizon)])
    cum_m = np.cumsum(m)
    ad = a * np.exp(mu + s2 / 2)[None, :]                       # A D
    cum_e, vec = [], probs
    for _ in range(horizon):
        vec = vec @ ad
        cum_e.append(vec.sum())
    prob_up = norm.cdf(cum_m / np.sqrt(np.maximum(cum_var, 1e-18)))
    return pd.DataFrame({
        "step": np.arange(1, horizon + 1),
        "mean": e1 - 1,
        "cum_mean": np.array(cum_e) - 1,
        "std": np.sqrt(np.maximum(e2 - e1**2, 0.0)),
        "prob_up": prob_up,
        "prob_down": 1.0 - prob_up,
    })


__all__ = [
    "FEATURES", "HmmConfig", "HmmForecaster", "HmmParams", "emission_log_likelihood",
    "filtered_state_probs", "fit_hmm", "floor_covars", "forecast_from_probs", "forward_filter",
    "hmm_features", "label_states",
]
