"""Request and response models of the HTTP API (field names of spec 004 §5.2).

Dates are ``YYYY-MM-DD`` strings; returns are decimals (0.012 = +1.2 %);
prices are qfq closes in CNY. A stock is ``ts_code`` in every request body
(``symbol`` and ``code`` are accepted as aliases, :data:`TS_CODE_ALIASES`);
responses keep spec 004's ``symbol``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from tzero.signals.direction import RULE as DIRECTION_RULE

#: The names a request body may give a stock under (``ts_code`` first: the documented one).
TS_CODE_ALIASES = AliasChoices("ts_code", "symbol", "code")
_TS_CODE_HELP = "one stock: 600519.SH, sh600519 or 600519 (aliases: symbol, code)"
#: One symbol in a list, as typed (parsed by the route).
SymbolStr = Annotated[str, Field(min_length=1, max_length=32)]
#: A date (``YYYY-MM-DD``) as typed (parsed by the route).
DateStr = Annotated[str, Field(max_length=32)]


class _SymbolsBody(BaseModel):
    ts_code: str | None = Field(None, min_length=1, max_length=32, validation_alias=TS_CODE_ALIASES,
                                description=_TS_CODE_HELP)
    symbols: list[SymbolStr] | None = Field(None, min_length=1, max_length=300,
                                            description="several stocks (with or instead of ts_code)")

    def codes_given(self) -> list[str]:
        """``ts_code`` and ``symbols`` together, unparsed."""
        return ([self.ts_code] if self.ts_code else []) + list(self.symbols or [])


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
    start: DateStr | None = Field(None, description="first session of training data (YYYY-MM-DD)")
    end: DateStr | None = Field(None, description="last session of training data (YYYY-MM-DD)")
    do_cv_tune: bool = False
    fast_training: bool = True
    incremental: bool = False

    @model_validator(mode="after")
    def _one_symbol(self) -> TrainRequest:
        if not self.codes_given():
            raise ValueError("give ts_code (or its alias symbol or code) or symbols")
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
    """One served prediction (spec 004 §3.7), as logged in ``lstm_prediction_log``.

    ``direction`` follows the one rule of :func:`tzero.signals.direction.direction`
    (the rule of every vote and Signal of ``/api/signals``): up only when P(up) is
    above the dead band *and* the 5-session return is positive, down only when
    both say down, otherwise neutral (0) — a forecast with P(up) 0.5 or whose
    probability and return disagree is neutral, never "down".
    """

    symbol: str
    predict_date: str
    direction: Literal[-1, 0, 1] = Field(
        description="1 up, 0 neutral, -1 down over the next 5 sessions: " + DIRECTION_RULE)
    direction_label: Literal["up", "neutral", "down"] = Field(
        description="the direction in words (what the page shows)")
    magnitude: float = Field(description="predicted 5-session return, decimal")
    prob_up: float = Field(description="P(5-session return > 0), decimal")
    prob_down: float = Field(description="1 - prob_up")
    source: Literal["lstm", "arima", "technical"]
    model_version_id: str | None
    health: dict
    job_id: str | None = Field(None, description="the check-triggers job, with trigger_train_async=1")


class PendingForecasts(BaseModel):
    """Windows whose t+h close is not known yet: predicted price only."""

    dates: list[str]
    dates_price: list[str | None]
    return_pred: list[float]
    direction_pred: list[int]
    predicted_price: list[float]


class PlotData(BaseModel):
    """Fit curve of the stock's serving model (spec 004 §6.1–6.2).

    ``model`` / ``version_id`` name what is drawn: the first daily, voting model
    of the table with a current version for the stock (or a universe trained on
    it). Index k is one window ending at session ``dates[k]`` (t, the prediction
    day). ``dates_price[k]`` is session t+h (h = ``horizon``, 5 for the daily
    models); ``actual_price[k]`` its close; ``predicted_price[k]`` = close_t ×
    (1 + ``return_pred[k]``). Every list has the same length; windows whose t+h
    is not known yet are in ``pending``.
    """

    symbol: str
    model: str = Field(description="the model drawn (a row of `tzero models`)")
    version_id: str
    years: int
    horizon: int = Field(description="h: sessions from the prediction day t to the compared close")
    dates: list[str]
    direction_pred: list[int]
    direction_actual: list[int]
    return_pred: list[float]
    return_actual: list[float]
    dates_price: list[str]
    actual_price: list[float]
    predicted_price: list[float]
    pending: PendingForecasts


class VersionRow(BaseModel):
    """One stored version of any model."""

    version_id: str
    model: str = Field(description="its model (a row of `tzero models`)")
    symbol: str = Field(description="its key: a ts_code, or a universe name for global models")
    status: str
    current: bool
    training_time: str
    data_end: str
    kept: bool = Field(description="its blob is kept: it can be rolled back to")
    holdout: dict


class VersionsOut(BaseModel):
    """Versions newest first, and the current version per model and key
    (``current[model][key]`` = version id)."""

    versions: list[VersionRow]
    current: dict[str, dict[str, str]]


class RollbackRequest(BaseModel):
    """``POST /api/lstm/rollback``."""

    version_id: str = Field(min_length=1, max_length=80)


class RollbackOut(BaseModel):
    symbol: str
    current: str


class CheckTriggersRequest(_SymbolsBody):
    """``POST /api/lstm/check-triggers``: no symbol means the default holdings."""

    run: bool = Field(False, description="train what is triggered, as a background job")
    as_of: DateStr | None = Field(None, description="default: the newest session in the store; "
                                                     "not after it")
    mode: Literal["fast", "full"] = Field("fast", description="training type of full triggers")


class TriggersOut(BaseModel):
    as_of: str
    triggers: list[dict]
    job_id: str | None = None


class UpdateAccuracyRequest(BaseModel):
    """``POST /api/lstm/update-accuracy``."""

    ts_code: str = Field(min_length=1, max_length=32, validation_alias=TS_CODE_ALIASES,
                         description=_TS_CODE_HELP)
    as_of_date: DateStr | None = Field(None, description="default: the newest session in the store; "
                                                         "not after it")


class UpdateAccuracyOut(BaseModel):
    symbol: str
    as_of_date: str
    records_written: int


class AlertsRequest(BaseModel):
    """``POST /api/lstm/alerts``: no symbols means the default holdings."""

    fire: bool = Field(False, description="log the alerts and POST them to TZERO_ALERT_WEBHOOK")
    symbols: list[SymbolStr] | None = Field(None, min_length=1, max_length=300)
    as_of: DateStr | None = Field(None, description="default: the newest session in the store; "
                                                    "not after it")


class Health(BaseModel):
    """``GET /api/health``: always 200 while the server answers; ``degraded`` says what is wrong."""

    status: Literal["ok", "degraded"] = Field(
        description="ok, or degraded: the server answers but something is wrong (see reasons)")
    reasons: list[str] = Field(default_factory=list, description=(
        "one line per problem: the database is unavailable (its routes answer 503 meanwhile), "
        "the job worker waits for it or stopped, vendored web assets are missing"))
    version: str
    store: int | str = Field(description="daily bars in the market store, or 'empty'")
    db: str = Field(description="the app store's SQL dialect")
    jobs_running: int | None = Field(description="jobs pending or running; null while the "
                                                 "database is unavailable")


class ValidationErrorOut(BaseModel):
    """A 422: the request does not match the schema (FastAPI's body, made one line)."""

    model_config = ConfigDict(title="HTTPValidationError")
    detail: str = Field(description="one line: 'field: what is wrong (got ...)' per error, "
                                    "inputs echoed at most 40 characters")
    errors: list[dict[str, str]] = Field(description="field, msg and type of each error (no input)")
