"""The one settings object: every path and knob tzero reads from the environment.

Resolution order for each field: explicit keyword (CLI flag) > environment
variable ``TZERO_*`` > ``tzero.toml`` in the working directory > default.

Fields:
    home: ``TZERO_HOME`` (default ``~/.tzero``), holds the market store, models
        and reports.
    data_dir: ``TZERO_DATA_DIR``; the shared data root with ``tdx/``,
        ``reference/``, ``intraday/``, ``trades/``. Default ``../shared/data``
        when present (relative to the working directory, then to the checkout).
    tdx_dir: ``TZERO_TDX_DIR`` (``--tdx-dir``); default ``<data_dir>/tdx``.
    seed: ``TZERO_SEED`` (default 42), the seed every model starts from.
    db_url: ``TZERO_DB_URL``, the app store's SQLAlchemy URL (PostgreSQL
        ``postgresql+psycopg://…``, MySQL/MariaDB ``mysql+pymysql://…``);
        default SQLite at ``<home>/tzero.db`` (see :attr:`Settings.app_db_url`).
    alert_webhook: ``TZERO_ALERT_WEBHOOK``, URL the lifecycle alerts are POSTed to.
    max_versions: ``TZERO_MAX_VERSIONS``, earlier LSTM versions kept for rollback
        (default 1, spec 004 §3.5).
    api_token: ``TZERO_API_TOKEN``, the bearer token the HTTP service
        (``tzero serve``) requires on every mutating (POST) route; unset, those
        routes answer 403 and only the read-only routes are served.
    large_order_cny: ``TZERO_LARGE_ORDER_CNY`` (default 200,000 CNY), the trade
        value from which a trade counts as a large order (大单) in the
        intraday trade-flow features.
    universe: ``TZERO_UNIVERSE`` (default ``CSI_300``), the universe whose
        global models (``lstm_shared``) vote in the served signals.
    commission_rate: ``TZERO_COMMISSION_RATE`` (default 0.00025, decimal), the
        broker commission per order in backtests, with ``min_commission``
        (``TZERO_MIN_COMMISSION``, default 5 CNY) per order.
    slippage_bps: ``TZERO_SLIPPAGE_BPS`` (default 5 bps), the adverse move
        applied to every backtest fill price.
    tdx_api_url: ``TZERO_TDX_API_URL``, the base URL of the TDX HTTP API server
        (``tzero ingest api``, ``tzero watch``), e.g. ``http://127.0.0.1:8080``.
    executor: ``TZERO_EXECUTOR`` (``local`` default, or ``ray``), where fan-outs run
        (per-series fits, CV grids, walk-forward windows, research variants).
    ray_address: ``TZERO_RAY_ADDRESS``, the Ray cluster to join (``ray://host:10001``
        or ``host:6379``); unset, ``--executor ray`` starts a local Ray on this machine.
    market_url: ``TZERO_MARKET_URL``, a PostgreSQL URL
        (``postgresql+psycopg://…``) for the market store; unset, the Parquet/DuckDB
        store under ``<home>/market``.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[2]


def _first_existing(*candidates: Path) -> Path | None:
    for c in candidates:
        if c.exists():
            return c.resolve()
    return None


def _toml() -> dict:
    p = Path("tzero.toml")
    if p.is_file():
        with p.open("rb") as fh:
            return tomllib.load(fh).get("tzero", {})
    return {}


@dataclass(frozen=True)
class Settings:
    """Resolved configuration. Build with :func:`get_settings`, never by hand."""

    home: Path
    data_dir: Path | None
    tdx_dir: Path | None
    seed: int = 42
    db_url: str | None = None
    alert_webhook: str | None = None
    max_versions: int = 1
    api_token: str | None = None
    large_order_cny: float = 200_000.0
    universe: str = "CSI_300"
    commission_rate: float = 0.00025
    min_commission: float = 5.0
    slippage_bps: float = 5.0
    tdx_api_url: str | None = None
    executor: str = "local"
    ray_address: str | None = None
    market_url: str | None = None

    @property
    def store_dir(self) -> Path:
        """Root of the Parquet market store."""
        return self.home / "market"

    @property
    def models_dir(self) -> Path:
        """Where trained model files live (one folder per model and symbol)."""
        return self.home / "models"

    @property
    def reports_dir(self) -> Path:
        """Where `tzero demo` and `tzero evaluate` write reports."""
        return self.home / "reports"

    @property
    def app_db_url(self) -> str:
        """The app store's URL: ``db_url`` when set, else SQLite at ``<home>/tzero.db``."""
        from tzero.data.appdb import default_url  # SQLAlchemy only when asked for

        return self.db_url or default_url(self.home)

    @property
    def adj_factor_file(self) -> Path | None:
        """``reference/adj_factor.parquet`` beside the TDX folder, when present."""
        if self.data_dir is None:
            return None
        p = self.data_dir / "reference" / "adj_factor.parquet"
        return p if p.is_file() else None

    def with_overrides(self, **kw) -> Settings:
        """Copy with the given fields replaced (``None`` values are ignored)."""
        kw = {k: (Path(v).expanduser().resolve() if k in {"home", "data_dir", "tdx_dir"} else v)
              for k, v in kw.items() if v is not None}
        if "data_dir" in kw and "tdx_dir" not in kw:
            kw["tdx_dir"] = _first_existing(kw["data_dir"] / "tdx")
        return replace(self, **kw)


def get_settings(**overrides) -> Settings:
    """Resolve settings from environment, ``tzero.toml`` and defaults.

    Args:
        **overrides: field values from CLI flags; ``None`` means "not given".

    Returns:
        A frozen :class:`Settings`.
    """
    t = _toml()
    env = os.environ
    home = Path(env.get("TZERO_HOME") or t.get("home") or "~/.tzero").expanduser()
    data_env = env.get("TZERO_DATA_DIR") or t.get("data_dir")
    data_dir = (Path(data_env).expanduser().resolve() if data_env else
                _first_existing(Path("../shared/data"), _CHECKOUT.parent / "shared" / "data"))
    tdx_env = env.get("TZERO_TDX_DIR") or t.get("tdx_dir")
    if tdx_env:
        tdx_dir: Path | None = Path(tdx_env).expanduser().resolve()
    else:
        tdx_dir = _first_existing(data_dir / "tdx") if data_dir else None
    s = Settings(
        home=home.resolve(),
        data_dir=data_dir,
        tdx_dir=tdx_dir,
        seed=int(env.get("TZERO_SEED") or t.get("seed") or 42),
        db_url=env.get("TZERO_DB_URL") or t.get("db_url") or None,
        alert_webhook=env.get("TZERO_ALERT_WEBHOOK") or t.get("alert_webhook") or None,
        max_versions=int(env.get("TZERO_MAX_VERSIONS") or t.get("max_versions") or 1),
        api_token=env.get("TZERO_API_TOKEN") or t.get("api_token") or None,
        large_order_cny=float(env.get("TZERO_LARGE_ORDER_CNY") or t.get("large_order_cny") or 200_000),
        commission_rate=float(env.get("TZERO_COMMISSION_RATE") or t.get("commission_rate") or 0.00025),
        min_commission=float(env.get("TZERO_MIN_COMMISSION") or t.get("min_commission") or 5.0),
        slippage_bps=float(env.get("TZERO_SLIPPAGE_BPS") or t.get("slippage_bps") or 5.0),
        universe=str(env.get("TZERO_UNIVERSE") or t.get("universe") or "CSI_300"),
        tdx_api_url=env.get("TZERO_TDX_API_URL") or t.get("tdx_api_url") or None,
        executor=str(env.get("TZERO_EXECUTOR") or t.get("executor") or "local"),
        ray_address=env.get("TZERO_RAY_ADDRESS") or t.get("ray_address") or None,
        market_url=env.get("TZERO_MARKET_URL") or t.get("market_url") or None,
    )
    return s.with_overrides(**overrides)
