"""The one forecaster base every model derives from (DESIGN.md "Models").

A *panel* is a long Bars frame (DESIGN.md "Data contracts"): columns
``ts_code, trade_time, open, high, low, close, volume, amount``, sorted by
``(ts_code, trade_time)``, prices forward-adjusted (qfq) for modelling,
``volume`` in shares, ``amount`` in CNY. Daily models read daily bars,
intraday models minute bars (``frequency``).

Template methods (scikit-learn / sktime style): :meth:`Forecaster.fit` checks
the panel then calls ``_fit``; :meth:`Forecaster.predict` cuts the panel at
``as_of`` (the no-look-ahead cut, done once here) then calls ``_predict``;
:meth:`Forecaster.predict_history` gives the as-of forecast of every session
in a range (default: a loop over :meth:`predict`; models may override it with
a fast path that gives the same numbers). Walk-forward, evaluation and research
call these three methods, never a model's private helpers.

Capabilities are class attributes, asked by every other layer instead of the
model's name (STYLE.md "Capabilities as tags"):

- ``scope``: ``"local"`` (one model per series, fitted by the one per-series
  loop of :class:`LocalForecaster`) or ``"global"`` (one model over a
  universe, fitted on the whole cross-section);
- ``frequency``: ``"daily"`` or ``"intraday"``;
- ``probabilistic``: emits quantile columns ``q10 … q90``;
- ``min_history``: sessions (or bars) a series needs before a forecast;
- ``ranking``: emits a cross-sectional ``score`` column;
- ``cross_sectional``: a forecast of one stock depends on the other stocks
  of the same session (inter-stock attention, a stock graph): serve it on the
  universe's cross-section, not one stock at a time;
- ``explains``: :meth:`Forecaster.explain` gives the drivers of a forecast
  (:mod:`tzero.models.explain`).

``predict`` returns one row per ``(ts_code, step)`` with the columns of
:data:`FORECAST_COLUMNS`:

- ``ts_code`` (str), ``as_of`` (Timestamp: the last bar used),
  ``step`` (1..horizon, sessions or bars ahead),
- ``mean``: expected simple return of that step (decimal, close to close),
- ``cum_mean``: expected cumulative simple return from ``as_of`` close to the
  step's close (decimal),
- ``std``: forecast standard deviation of the step's return (decimal),
- ``prob_up`` / ``prob_down``: probability the cumulative return to the step
  is > 0 / < 0 (``prob_up + prob_down <= 1``),
- ``regime``: state label (``bull|bear|sideways``) or ``None``,
- ``regime_prob``: probability of that state, or NaN.

Optional columns: ``q10 … q90`` (:data:`QUANTILE_COLUMNS`, quantiles of the
cumulative return, decimal), ``score`` (ranking models), and model-specific
extras (``deviation`` for ARIMA).
"""

from __future__ import annotations

import contextlib
import functools
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from typing import Any, ClassVar, Literal, Self

import pandas as pd

from tzero.errors import ModelError
from tzero.training.executor import Executor, LocalExecutor, one_thread

FORECAST_COLUMNS = [
    "ts_code", "as_of", "step", "mean", "cum_mean", "std",
    "prob_up", "prob_down", "regime", "regime_prob",
]
#: Optional quantiles of the cumulative return (decimal) of probabilistic models.
QUANTILE_COLUMNS = ["q10", "q25", "q50", "q75", "q90"]

Scope = Literal["local", "global"]
Frequency = Literal["daily", "intraday"]

log = logging.getLogger(__name__)

#: Errors that end a run instead of failing one series: the machine is out of
#: memory or a worker process died (KeyboardInterrupt is not an ``Exception``).
FATAL_ERRORS: tuple[type[BaseException], ...] = (MemoryError, BrokenProcessPool)


def recoverable(exc: BaseException) -> bool:
    """True when ``exc`` fails one series, window or variant, not the whole run.

    Every ``Exception`` of a fit or forecast counts (numpy ``LinAlgError``,
    SciPy's ``ValueError``, statsforecast and torch errors, ``ModelError``)
    except :data:`FATAL_ERRORS`; ``KeyboardInterrupt`` and ``SystemExit`` are
    never recoverable.
    """
    return isinstance(exc, Exception) and not isinstance(exc, FATAL_ERRORS)


def failure_reason(exc: BaseException) -> str:
    """One line naming why a fit or forecast failed: the message of a ``ModelError``
    (already written for the user), ``"<Type>: <message>"`` of anything else, with
    line breaks folded into spaces."""
    msg = " ".join(str(exc).split())
    if isinstance(exc, ModelError):
        return msg or type(exc).__name__
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


def series_error(model_name: str, code: str, stage: str, exc: BaseException) -> ModelError:
    """A ``ModelError`` naming the series and the stage (``fit``/``forecast``) that failed.

    A ``ModelError`` is returned as is (its message already names the series).
    """
    if isinstance(exc, ModelError):
        return exc
    return ModelError(f"{code}: {model_name} {stage} failed ({failure_reason(exc)})")


def panel_until(panel: pd.DataFrame, as_of: Any) -> pd.DataFrame:
    """Rows of ``panel`` with ``trade_time <= as_of`` (the no-look-ahead cut)."""
    cut = pd.Timestamp(as_of)
    return panel.loc[panel["trade_time"] <= cut]


def check_panel(panel: pd.DataFrame) -> None:
    """Check the panel has the Bars columns; raise ``ValueError`` naming what is missing."""
    need = {"ts_code", "trade_time", "open", "high", "low", "close", "volume"}
    missing = need - set(panel.columns)
    if missing:
        raise ValueError(f"panel lacks columns {sorted(missing)}; expected the Bars frame of DESIGN.md")


def check_state(cls, state: dict) -> None:
    """Raise ``ModelError`` unless ``state`` is a ``state_dict()`` of forecaster class ``cls``."""
    if not isinstance(state, dict) or state.get("name", cls.name) != cls.name or "models" not in state:
        got = state.get("name") if isinstance(state, dict) else type(state).__name__
        raise ModelError(f"not an {cls.name!r} state (name={got!r}): "
                         f"pass the dict {cls.__name__}.state_dict() returned")


class Forecaster(ABC):
    """Base of every model: config in ``__init__``, ``fit`` returns self.

    ``__init__`` stores one frozen config dataclass and does no work; fitted
    attributes end with ``_``. ``state_dict()`` returns plain data (numbers,
    lists, arrays, bytes) from which ``from_state`` rebuilds a model that
    predicts exactly the same numbers.

    Subclasses set the capability class attributes and implement ``_fit``,
    ``_predict``, ``state_dict``, ``from_state`` and :meth:`default_config`.
    """

    name: ClassVar[str]
    scope: ClassVar[Scope] = "local"
    frequency: ClassVar[Frequency] = "daily"
    probabilistic: ClassVar[bool] = False
    ranking: ClassVar[bool] = False
    min_history: ClassVar[int] = 1
    cross_sectional: ClassVar[bool] = False
    explains: ClassVar[bool] = False

    def __init__(self, config: Any = None) -> None:
        self.config = config if config is not None else self.default_config()

    @classmethod
    @abstractmethod
    def default_config(cls, fast: bool = False, seed: int = 42) -> Any:
        """The project's default config (``fast``: the quick variant for demos and tests)."""

    @property
    def horizon(self) -> int:
        """Forecast horizon in steps (``config.horizon``)."""
        return int(self.config.horizon)

    # ------------------------------------------------------------- templates
    def fit(self, panel: pd.DataFrame, universe: pd.DataFrame | None = None, **kwargs: Any) -> Self:
        """Fit on a Bars panel (qfq prices); return self.

        Args:
            panel: Bars of one or more series.
            universe: For ``global`` models, a bool frame (index = sessions,
                columns = ts_code) of universe membership as of each date; rows
                of non-members are not trained on. Ignored by ``local`` models.
            **kwargs: Options of the fitting loop (``n_jobs``, ``progress``,
                ``errors`` for local models).

        Raises:
            ValueError: ``panel`` lacks Bars columns.
            ModelError: the model cannot be fitted (names the series and why).
        """
        check_panel(panel)
        if panel.empty:
            raise ModelError(f"{self.name}: the panel is empty; nothing to fit")
        self._fit(panel, universe=universe, **kwargs)
        return self

    def predict(self, panel: pd.DataFrame, as_of: Any) -> pd.DataFrame:
        """Forecast frame (:data:`FORECAST_COLUMNS`) from rows ``trade_time <= as_of`` only.

        Raises:
            ModelError: not fitted, no rows up to ``as_of``, or a series the
                model cannot forecast.
        """
        self._check_fitted()
        check_panel(panel)
        cut = panel_until(panel, as_of)
        if cut.empty:
            raise ModelError(f"panel has no rows on or before {as_of}: pass bars up to as_of")
        return self._predict(cut, as_of)

    def predict_history(self, panel: pd.DataFrame, start: Any, end: Any) -> pd.DataFrame:
        """The as-of forecast of every bar time in ``[start, end]``, no look-ahead.

        Row block for time t is exactly ``predict(panel, t)``: only data up to
        t is used. Default: a loop over :meth:`predict`; models override it
        with a batched path that returns the same numbers.

        Returns:
            Forecast frames concatenated, sorted by ``(as_of, ts_code, step)``;
            empty when the range holds no bars.

        Raises:
            ModelError: not fitted, or a forecast fails at some time.
        """
        self._check_fitted()
        times = pd.DatetimeIndex(panel["trade_time"].unique()).sort_values()
        times = times[(times >= pd.Timestamp(start)) & (times <= pd.Timestamp(end))]
        frames = [self.predict(panel, t) for t in times]
        if not frames:
            return pd.DataFrame(columns=FORECAST_COLUMNS)
        return (pd.concat(frames, ignore_index=True)
                .sort_values(["as_of", "ts_code", "step"], kind="stable").reset_index(drop=True))

    def trained_until(self, key: str) -> pd.Timestamp | None:
        """Last bar time the fitted model saw for ``key`` (a ts_code), or None if unknown."""
        return None

    def explain(self, panel: pd.DataFrame, as_of: Any, codes: list[str] | None = None,
                top: int = 5) -> dict[str, dict]:
        """The drivers of the forecast as of ``as_of`` for ``codes`` (models with ``explains``).

        Returns:
            ts_code → explanation dict (:mod:`tzero.models.explain`).

        Raises:
            ModelError: the model gives no explanations, or is not fitted.
        """
        raise ModelError(f"{self.name} gives no explanations (explains = False)")

    def fitted_keys(self) -> list[str]:
        """The series (ts_codes) the fitted model can forecast."""
        return []

    # ------------------------------------------------------------- subclass API
    @abstractmethod
    def _fit(self, panel: pd.DataFrame, *, universe: pd.DataFrame | None = None, **kwargs: Any) -> None:
        """Fit on a checked, non-empty panel; set the fitted ``*_`` attributes."""

    @abstractmethod
    def _predict(self, panel: pd.DataFrame, as_of: Any) -> pd.DataFrame:
        """Forecast from a panel already cut at ``as_of`` (non-empty)."""

    @abstractmethod
    def state_dict(self) -> dict:
        """Plain data from which :meth:`from_state` rebuilds an identical model."""

    @classmethod
    @abstractmethod
    def from_state(cls, state: dict) -> Self:
        """Rebuild a fitted model from :meth:`state_dict` output."""

    @abstractmethod
    def _check_fitted(self) -> None:
        """Raise ``ModelError`` when the model is not fitted."""


class LocalForecaster(Forecaster):
    """A model fitted per series by the one per-series loop (statsforecast's grouped fit).

    Subclasses fit and forecast ONE series (:meth:`_fit_series`,
    :meth:`_predict_series`); this class owns the loop over ``ts_code``, its
    parallelism (worker processes, one torch thread each) and the error
    policy. Fitted attribute: ``models_`` (ts_code → the subclass's fitted
    object); ``errors_`` (ts_code → why it could not be fitted, with
    ``errors="collect"``).
    """

    scope: ClassVar[Scope] = "local"

    @abstractmethod
    def _fit_series(self, code: str, bars: pd.DataFrame, progress: Callable[[int, int], None] | None
                    ) -> Any:
        """Fit one series (its bars, ascending, index reset); return the fitted object.

        Raises:
            ModelError: the series cannot be fitted (too short, degenerate).
        """

    @abstractmethod
    def _predict_series(self, code: str, bars: pd.DataFrame, fitted: Any) -> pd.DataFrame:
        """Forecast one series from its bars up to ``as_of`` (index reset).

        Returns:
            A frame with ``step`` and the forecast columns except ``ts_code``
            and ``as_of`` (added by the caller).
        """

    def _after_fit(self) -> None:
        """Hook run after ``models_`` is set (by fit or from_state): rebuild caches."""

    def _series_trained_until(self, fitted: Any) -> pd.Timestamp | None:
        return None

    def _fit(self, panel: pd.DataFrame, *, universe: pd.DataFrame | None = None, n_jobs: int = 1,
             progress: Callable[[str, int, int], None] | None = None, errors: str = "raise",
             executor: Executor | None = None, **kwargs: Any) -> None:
        # **kwargs only keeps the signature compatible with Forecaster._fit; an
        # option the fitting loop does not know is still a TypeError
        if kwargs:
            raise TypeError(f"{type(self).__qualname__}._fit() got an unexpected keyword "
                            f"argument {next(iter(kwargs))!r}")
        self.models_, self.errors_ = fit_series(self, panel, n_jobs=n_jobs, progress=progress,
                                                errors=errors, executor=executor)
        self._after_fit()

    def _predict(self, panel: pd.DataFrame, as_of: Any) -> pd.DataFrame:
        frames = []
        for code, bars in panel.groupby("ts_code", sort=True):
            code = str(code)
            fitted = self.models_.get(code)
            if fitted is None:
                raise ModelError(f"no {self.name} fitted for {code}: fit on a panel that includes it")
            bars = bars.reset_index(drop=True)
            try:
                fc = self._predict_series(code, bars, fitted)
            except Exception as exc:   # a numerical error is that series' ModelError
                if not recoverable(exc):
                    raise
                raise series_error(self.name, code, "forecast", exc) from exc
            fc.insert(0, "ts_code", code)
            fc.insert(1, "as_of", pd.Timestamp(bars["trade_time"].iloc[-1]))
            frames.append(fc)
        return pd.concat(frames, ignore_index=True)

    def trained_until(self, key: str) -> pd.Timestamp | None:
        """Last bar time the fitted model of ``key`` saw, or None."""
        f = getattr(self, "models_", {}).get(key)
        return None if f is None else self._series_trained_until(f)

    def fitted_keys(self) -> list[str]:
        """The ts_codes with a fitted model."""
        return sorted(getattr(self, "models_", {}))

    def subset(self, keys: list[str]) -> Self:
        """A model with the same config serving only ``keys`` (one registry version per key).

        Raises:
            ModelError: not fitted, or a key without a fitted model.
        """
        self._check_fitted()
        missing = [k for k in keys if k not in self.models_]
        if missing:
            raise ModelError(f"{self.name}: no fitted model for {missing}")
        one = type(self)(self.config)
        one.models_ = {k: self.models_[k] for k in keys}
        one.errors_ = {}
        one._after_fit()
        return one

    def _check_fitted(self) -> None:
        if not hasattr(self, "models_"):
            raise ModelError(f"{type(self).__name__} is not fitted: call fit(panel) or from_state()")


# ------------------------------------------------------------------ the loop
def fit_series(model: LocalForecaster, panel: pd.DataFrame, *, n_jobs: int = 1,
               progress: Callable[[str, int, int], None] | None = None,
               errors: str = "raise", executor: Executor | None = None
               ) -> tuple[dict[str, Any], dict[str, str]]:
    """Fit ``model`` on every series of ``panel``: the one loop over ``ts_code``.

    Args:
        model: A local forecaster (its class and config are sent to the workers).
        panel: Bars of one or more series.
        n_jobs: Series fitted at once in worker processes when no ``executor`` is
            given (:class:`~tzero.training.executor.LocalExecutor`: spawned, one
            torch thread each: small models do not use two threads well, so two
            processes on two cores fit about twice as fast).
        progress: ``progress(ts_code, done, total)``: for a single series fitted
            in this process, the model's own progress within it (e.g. epochs);
            otherwise series finished so far (serial, pool or Ray alike).
        errors: ``raise`` stops at the first series that cannot be fitted;
            ``collect`` skips it, logs it and records why (one line) so the
            other series go on. Any recoverable error of one series' fit
            (:func:`recoverable`: a ``ModelError``, numpy's ``LinAlgError``,
            SciPy's ``ValueError``, statsforecast or torch errors, and under Ray a
            worker that died more than ``max_retries`` times) is that series'
            failure; with ``raise`` it is re-raised as a ``ModelError`` naming
            the series. Out of memory and a broken local pool end the loop.
        executor: Where the series are fitted (:mod:`tzero.training.executor`:
            the local pool, or a Ray cluster); None: ``LocalExecutor(n_jobs)``.
            Results do not depend on it, nor on ``n_jobs``: each series is
            fitted by a fresh model of the same config, from its own seed.

    Returns:
        ``(fitted by ts_code, errors by ts_code)``, both sorted by ts_code.

    Raises:
        ValueError: ``errors`` is not ``raise`` or ``collect``.
        ModelError: a series cannot be fitted and ``errors == "raise"``.
    """
    if errors not in ("raise", "collect"):
        raise ValueError(f"errors must be 'raise' or 'collect', got {errors!r}")
    groups = [(str(c), b.reset_index(drop=True)) for c, b in panel.groupby("ts_code", sort=True)]
    fitted: dict[str, Any] = {}
    failed: dict[str, str] = {}

    def keep(code: str, fn: Callable[[], Any]) -> None:
        try:
            fitted[code] = fn()
        except Exception as exc:
            if not recoverable(exc):
                raise
            err = series_error(model.name, code, "fit", exc)
            if errors == "raise":
                if err is exc:
                    raise
                raise err from exc
            failed[code] = failure_reason(err)
            log.info("%s: %s not fitted: %s", model.name, code, failed[code])

    ex = executor if executor is not None else LocalExecutor(n_jobs)
    if ex.runs_in_process(len(groups)):
        _fit_serial(model, groups, keep, progress)
        return fitted, failed
    with contextlib.closing(ex.map(_fit_worker, groups, shared=(type(model), model.config))) as run:
        for i, res in enumerate(run):       # as each finishes; closing cancels the rest
            code = groups[res.index][0]
            keep(code, res.get)
            if progress:
                progress(code, i + 1, len(groups))
    return dict(sorted(fitted.items())), dict(sorted(failed.items()))


def _fit_serial(model: LocalForecaster, groups: list[tuple[str, pd.DataFrame]],
                keep: Callable[[str, Callable[[], Any]], None],
                progress: Callable[[str, int, int], None] | None) -> None:
    """The serial loop of :func:`fit_series`: one series reports the model's own
    progress (epochs), several report series finished."""
    if len(groups) == 1:
        code, bars = groups[0]
        cb: Callable[[int, int], None] | None = (
            (lambda d, t: progress(code, d, t)) if progress else None)
        with one_thread():      # as every executor task: the same numbers wherever it runs
            keep(code, lambda: model._fit_series(code, bars, cb))
        return
    for i, (code, bars) in enumerate(groups):
        with one_thread():
            keep(code, functools.partial(model._fit_series, code, bars, None))
        if progress:
            progress(code, i + 1, len(groups))


def _fit_worker(group: tuple[str, pd.DataFrame],
                model: tuple[type[LocalForecaster], Any]) -> Any:
    """One series' fit in a worker: a fresh model of the class and config (the fan-out's
    shared input), so the result depends on nothing the worker fitted before."""
    (code, bars), (cls, config) = group, model
    return cls(config)._fit_series(code, bars, None)
