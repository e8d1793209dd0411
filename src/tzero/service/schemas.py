"""Request and response models of the HTTP API (field names of spec 004 §5.2).

Dates are ``YYYY-MM-DD`` strings; returns are decimals (0.012 = +1.2 %);
prices are qfq closes in CNY.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Symbol = Field(min_length=1, max_length=32, description="600519.SH, sh600519 or 600519")


class _SymbolsBody(BaseModel):
    symbol: str | None = Field(None, min_length=1, max_length=32,
                               description="one symbol: 600519.SH, sh600519 or 600519")
    symbols: list[str] | None = Field(None, min_length=1, max_length=300,
                                      description="several symbols (with or instead of symbol)")

    def codes_given(self) -> list[str]:
        """``symbol`` and ``symbols`` together, unparsed."""
        return ([self.symbol] if self.symbol else []) + list(self.symbols or [])


class TrainRequest(_SymbolsBody):
    """``POST /api/lstm/train``.

    ``do_cv_tune`` true: full training (default grid, 5-fold CV). Otherwise
    ``fast_training`` true (default): fast training (single combination,
    3 folds); false: full training. ``incremental`` true: fine-tune each
    symbol's current version on the data (spec 004 §3.3, the weekly update),
    deployed without the gate like the scheduler's weekly run; it needs a
    current version.
    """

    model_config = ConfigDict(extra="ignore")   # do_shap / do_plot of spec 004 are accepted, unused
    start: str | None = Field(None, description="first session of training data (YYYY-MM-DD)")
    end: str | None = Field(None, description="last session of training data (YYYY-MM-DD)")
    do_cv_tune: bool = False
    fast_training: bool = True
    incremental: bool = False

    @model_validator(mode="after")
    def _one_symbol(self) -> TrainRequest:
        if not self.codes_given():
            raise ValueError("give symbol or symbols")
        return self


class JobRef(BaseModel):
    """A queued job; poll ``GET /api/jobs/{job_id}``."""

    job_id: str


class Job(BaseModel):
    """A background job and, when done, its result or error."""

    job_id: str
    kind: str
    state: Literal["pending", "running", "succeeded", "failed"]
    params: dict | None = None
    progress_done: int | None = Field(None, description="units finished (symbols), when counted")
    progress_total: int | None = None
    result: Any = None
    error: str | None = None
    created_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None


class PredictionOut(BaseModel):
    """One served prediction (spec 004 §3.7), as logged in ``lstm_prediction_log``."""

    symbol: str
    predict_date: str
    direction: int = Field(description="1 up, 0 down over the next 5 sessions")
    magnitude: float = Field(description="predicted 5-session return, decimal")
    prob_up: float
    prob_down: float
    source: Literal["lstm", "arima", "technical"]
    model_version_id: str | None
    health: dict
    job_id: str | None = Field(None, description="the check-triggers job, with trigger_train_async=1")


class PendingForecasts(BaseModel):
    """Windows whose t+5 close is not known yet: predicted price only."""

    dates: list[str]
    dates_price: list[str | None]
    return_pred: list[float]
    direction_pred: list[int]
    predicted_price: list[float]


class PlotData(BaseModel):
    """Fit curve of the current version (spec 004 §6.1–6.2).

    Index k is one window ending at session ``dates[k]`` (t, the prediction
    day). ``dates_price[k]`` is session t+5; ``actual_price[k]`` its close;
    ``predicted_price[k]`` = close_t × (1 + ``return_pred[k]``). Every list
    has the same length; windows whose t+5 is not known yet are in ``pending``.
    """

    symbol: str
    version_id: str
    years: int
    dates: list[str]
    direction_pred: list[int]
    direction_actual: list[int]
    return_pred: list[float]
    return_actual: list[float]
    dates_price: list[str]
    actual_price: list[float]
    predicted_price: list[float]
    pending: PendingForecasts


class VersionsOut(BaseModel):
    """Versions newest first, and the current version per symbol."""

    versions: list[dict]
    current: dict[str, str]


class RollbackRequest(BaseModel):
    """``POST /api/lstm/rollback``."""

    version_id: str = Field(min_length=1, max_length=80)


class RollbackOut(BaseModel):
    symbol: str
    current: str


class CheckTriggersRequest(_SymbolsBody):
    """``POST /api/lstm/check-triggers``: no symbol means the default holdings."""

    run: bool = Field(False, description="train what is triggered, as a background job")
    as_of: str | None = Field(None, description="default: the newest session in the store")
    mode: Literal["fast", "full"] = Field("fast", description="training type of full triggers")


class TriggersOut(BaseModel):
    as_of: str
    triggers: list[dict]
    job_id: str | None = None


class UpdateAccuracyRequest(BaseModel):
    """``POST /api/lstm/update-accuracy``."""

    symbol: str = Symbol
    as_of_date: str | None = Field(None, description="default: the newest session in the store")


class UpdateAccuracyOut(BaseModel):
    symbol: str
    as_of_date: str
    records_written: int


class AlertsRequest(BaseModel):
    """``POST /api/lstm/alerts``: no symbols means the default holdings."""

    fire: bool = Field(False, description="log the alerts and POST them to TZERO_ALERT_WEBHOOK")
    symbols: list[str] | None = Field(None, min_length=1, max_length=300)
    as_of: str | None = None


class Health(BaseModel):
    status: str
    version: str
    store: int | str = Field(description="daily bars in the market store, or 'empty'")
    db: str = Field(description="the app store's SQL dialect")
    jobs_running: int
