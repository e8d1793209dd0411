"""Pydantic schemas of ``/api/research`` (the comparison runs, spec 003 §3)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class CompareRunSummary(BaseModel):
    """One stored comparison run (``GET /api/research/runs``)."""

    run_id: str
    created_at: str
    universe: str
    start: str = Field(description="first evaluated session")
    end: str = Field(description="last evaluated session")
    code_version: str
    data_first: str | None
    data_last: str | None
    fast: bool
    n_models: int = Field(description="rows: models and baselines")


class Verdict(BaseModel):
    """The gates' decision: kept | watch | blocked, with readable reasons."""

    status: str
    reasons: list[str]


class CompareRow(BaseModel):
    """One model or baseline of a comparison.

    ``metrics`` (decimals): ``ic, icir, rank_ic, rank_icir, n_dates,
    direction_accuracy, mse, crps`` and per book (``k50d5_…``, ``k30d3_…`` or
    the sample book) ``return_annual, excess_ew_annual, excess_csi300_annual,
    max_drawdown, sharpe, excess_sharpe, psr, turnover, n_trades,
    fees_cny`` (the DSR, deflated over the run's trials, is ``gate.dsr``). ``curves``: ``cum_rank_ic``, ``cum_ic``, ``equity_<book>``,
    ``excess_<book>`` on ``benchmark.dates``. ``robustness``: the cells
    (``axis, cell, excess_annual, rank_ic, n_sessions, n_trades``); ``heat``
    the same as ``{axis: {cell: excess}}``.
    """

    model_config = ConfigDict(extra="allow")
    name: str
    kind: str = Field(description="model | baseline")
    scope: str
    members: str = Field(description="universe, or 'sample of N' for per-stock models")
    book: str | None = Field(description="the gate book of this row")
    metrics: dict[str, Any]
    sample_metrics: dict[str, Any]
    verdict: Verdict
    gate: dict[str, Any] | None
    robustness: list[dict[str, Any]]
    heat: dict[str, dict[str, float | None]]
    curves: dict[str, list[float | None]] = Field(default_factory=dict)
    meta: dict[str, Any] | None = None
    fit_seconds: float | None
    predict_ms: float | None
    errors: dict[str, str] = Field(default_factory=dict)


class CompareResult(BaseModel):
    """A whole comparison run (``GET /api/research/compare``)."""

    model_config = ConfigDict(extra="allow")
    run_id: str
    created_at: str
    universe: str
    code_version: str
    data_range: dict[str, str]
    settings: dict[str, Any]
    benchmark: dict[str, list[Any]] = Field(description="dates, equal_weight, csi300, regime")
    rows: list[CompareRow]
    failed: dict[str, str]
    n_trials: int
    notes: list[str]
    seconds: float


class StockCurve(BaseModel):
    """One row's forecast on one stock: hit rate, MSE and a cumulative long/flat return."""

    name: str
    direction_accuracy: float | None
    mse: float | None
    n: int
    dates: list[str]
    cum_return: list[float]


class StockAB(BaseModel):
    """``GET /api/research/compare/stock``: every row on one sample stock."""

    ts_code: str
    run_id: str
    models: list[StockCurve]
