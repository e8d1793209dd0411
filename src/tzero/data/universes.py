"""Named stock universes (spec 000 §6.1 ``model_universe_config``) resolved as of each date.

A universe is a row of ``model_universe_config``: a name, a description, an
``enabled`` flag and a JSON config whose ``kind`` says how members are found:

* ``"filter"`` — the cleaned market (``ALL_EQ_CLEAN``): every A-share stock
  (SH 60/68, SZ 00/30, BJ 43/83/87/92; no indices, funds or bonds) with daily
  bars in the market store, less

  - names matching ``exclude_name_regex`` (default ``ST|退``: ST, *ST and
    delisting-arrangement names) in ``reference/stock_basic.csv``. That file
    is a **2025-09 snapshot**, so this rule is *not* point-in-time: a stock
    named ST in 2025 is dropped on every date, one that was ST only earlier is
    kept. (The shared copy lists 3,055 main-board stocks and no ST names at
    all, so on the shared data the rule removes nothing.)
  - stocks listed fewer than ``min_listed_sessions`` (120) XSHG sessions
    before the date;
  - stocks with no bar (suspended, delisted, or not in the store) on more than
    ``max_suspended_sessions`` (10) of the last ``suspension_window`` (60)
    sessions up to and including the date (sessions before listing are not
    counted);
  - stocks whose mean daily amount over the bars of the last
    ``amount_window`` (20) sessions is below ``min_avg_amount_cny``
    (20,000,000 CNY), or which have no bar there.

  Any threshold set to ``null`` switches its rule off. Every rule looks only
  at data up to the date. The listing date is the earliest of
  ``stock_basic.csv`` ``list_date``, ``base.dbf`` ``SSDATE`` (the store's
  ``shares`` dataset, when ingested) and the first bar in the store. The shared
  store has only the last 250 sessions (2022-02 .. 2023-02) for most stocks
  outside CSI 300, so for a stock missing from both lists the first-bar age
  under-states its listing age, and on dates before its first stored bar it
  counts as having no bars (so it is not a member then).
* ``"index"`` — index membership as of each date from a Qlib instruments file
  (``CSI_300``: ``reference/csi300_membership.txt``, read with
  :mod:`tzero.data.universe`). Dates after the file's last date carry the last
  known membership forward when ``carry_forward`` is true, and the result
  names that date (:attr:`MembersResult.carried_from`).
* ``"list"`` — a fixed user list ``{"kind": "list", "ts_codes": [...]}``
  (``CORE_UNIVERSE``), a member on every date.

Relative file names in a config are resolved under the shared data folder
(``Settings.data_dir``), passed in by the caller.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from tzero.data.appdb import UniverseConfig
from tzero.data.store import MarketStore
from tzero.data.universe import membership_matrix, read_index_membership
from tzero.errors import TzeroError
from tzero.market import calendar
from tzero.market.symbols import to_ts_codes

KINDS = ("filter", "index", "list")
#: Stock codes of the three exchanges (DESIGN.md "Data contracts"): no indices, funds, bonds.
STOCK_CODE_RE = r"^(6[08]\d{4}\.SH|[03]0\d{4}\.SZ|(43|83|87|92)\d{4}\.BJ)$"
#: ``reference/stock_basic.csv`` under the data folder (Tushare stock_basic, 2025-09).
STOCK_BASIC_FILE = "reference/stock_basic.csv"
#: Defaults of a ``"filter"`` config (the seeded ALL_EQ_CLEAN values).
FILTER_DEFAULTS: dict = {
    "exclude_name_regex": "ST|退",
    "names_file": STOCK_BASIC_FILE,
    "min_listed_sessions": 120,
    "max_suspended_sessions": 10,
    "suspension_window": 60,
    "min_avg_amount_cny": 20_000_000.0,
    "amount_window": 20,
}


class UnknownUniverseError(TzeroError):
    """A universe name that is not in ``model_universe_config``."""


class UniverseConfigError(TzeroError):
    """A universe whose ``config_json`` cannot be resolved (bad JSON, kind, file)."""


@dataclass(frozen=True)
class UniverseSpec:
    """One row of ``model_universe_config``.

    Attributes:
        name: ``universe_name`` (``ALL_EQ_CLEAN``, ``CSI_300``, ``CORE_UNIVERSE`` …).
        description: free text.
        config: the parsed ``config_json`` (``kind`` plus its rules; see module docstring).
        enabled: whether training scripts may pick it.
    """

    name: str
    description: str
    config: dict = field(hash=False)
    enabled: bool = True

    @property
    def kind(self) -> str:
        """``filter``, ``index`` or ``list``."""
        return str(self.config.get("kind"))


@dataclass(frozen=True)
class MembersResult:
    """Membership of a universe on a set of dates.

    Attributes:
        matrix: bool DataFrame, index the requested dates (naive midnight),
            columns ``ts_code`` (sorted); True = member on that date.
        carried_from: for an index universe, the membership file's last date
            when later dates carried it forward; else None.
        notes: human-readable remarks (snapshots used, counts excluded by
            each rule on the last date, carried-forward membership).
    """

    matrix: pd.DataFrame
    carried_from: date | None = None
    notes: list[str] = field(default_factory=list)

    def members(self, day) -> list[str]:
        """Sorted member codes on one of the matrix's dates."""
        row = self.matrix.loc[pd.Timestamp(day).normalize()]
        return sorted(row.index[row.to_numpy(bool)])


def _spec(row: UniverseConfig) -> UniverseSpec:
    try:
        cfg = json.loads(row.config_json)
    except json.JSONDecodeError as exc:
        raise UniverseConfigError(f"universe {row.universe_name!r}: config_json is not JSON "
                                  f"({exc}); fix the model_universe_config row") from exc
    if not isinstance(cfg, dict) or cfg.get("kind") not in KINDS:
        raise UniverseConfigError(f"universe {row.universe_name!r}: config_json needs "
                                  f"\"kind\" one of {KINDS}, got {cfg!r:.80}")
    return UniverseSpec(row.universe_name, row.description, cfg, bool(row.enabled))


def load_universes(session: Session) -> list[UniverseSpec]:
    """Every universe of ``model_universe_config``, sorted by name.

    Raises:
        UniverseConfigError: a row whose ``config_json`` is not a valid config.
    """
    rows = session.scalars(select(UniverseConfig).order_by(UniverseConfig.universe_name))
    return [_spec(r) for r in rows]


def get_universe(session: Session, name: str) -> UniverseSpec:
    """The universe called ``name``.

    Raises:
        UnknownUniverseError: no such name (the message lists the known ones).
        UniverseConfigError: its ``config_json`` is not a valid config.
    """
    row = session.get(UniverseConfig, name)
    if row is None:
        known = session.scalars(select(UniverseConfig.universe_name)
                                .order_by(UniverseConfig.universe_name)).all()
        raise UnknownUniverseError(f"unknown universe {name!r}: expected one of "
                                   f"{', '.join(known) or '(none configured)'}")
    return _spec(row)


def _resolve_file(spec: UniverseSpec, rel: str, data_dir: Path | None) -> Path:
    p = Path(rel)
    if not p.is_absolute():
        if data_dir is None:
            raise UniverseConfigError(f"universe {spec.name!r} needs {rel} under the shared data "
                                      "folder: set TZERO_DATA_DIR (or data_dir in tzero.toml)")
        p = Path(data_dir) / p
    if not p.is_file():
        raise UniverseConfigError(f"universe {spec.name!r}: {p} not found")
    return p


def _dates(sessions) -> pd.DatetimeIndex:
    days = pd.DatetimeIndex(pd.to_datetime(list(sessions))).normalize()
    for d in (days.min(), days.max()) if len(days) else ():
        calendar.to_date(d, field="session")
    return days


def members_matrix(spec: UniverseSpec, sessions: pd.DatetimeIndex, *,
                   store: MarketStore | None, data_dir: Path | None) -> MembersResult:
    """Who is in the universe on each date, using only data up to that date.

    Args:
        spec: the universe (:func:`get_universe`).
        sessions: the dates (XSHG sessions; a non-session date is judged on
            the last session before it).
        store: the market store (needed by ``"filter"`` universes).
        data_dir: the shared data folder (``Settings.data_dir``) holding the
            reference files named in the config.

    Returns:
        A :class:`MembersResult`; the matrix keeps the order of ``sessions``.

    Raises:
        UniverseConfigError: a file the config names is missing, no store for
            a filter universe, or a bad config.
        CalendarError: a date outside the XSHG calendar.
    """
    days = _dates(sessions)
    if days.empty:
        return MembersResult(pd.DataFrame(index=days, dtype=bool))
    if spec.kind == "list":
        codes = sorted(to_ts_codes(spec.config.get("ts_codes") or []))
        return MembersResult(pd.DataFrame(True, index=days, columns=codes))
    if spec.kind == "index":
        return _index_members(spec, days, data_dir)
    if store is None:
        raise UniverseConfigError(f"universe {spec.name!r} is built from daily bars: "
                                  "pass the market store")
    return _filter_members(spec, days, store, data_dir)


def members_on(spec: UniverseSpec, as_of, *, store: MarketStore | None,
               data_dir: Path | None) -> tuple[list[str], date | None]:
    """Members on one date: ``(sorted ts_codes, carried_from)`` (see :func:`members_matrix`).

    Raises:
        The errors of :func:`members_matrix`.
    """
    day = calendar.to_date(as_of, field="as_of")
    res = members_matrix(spec, pd.DatetimeIndex([day]), store=store, data_dir=data_dir)
    return res.members(day), res.carried_from


# ---------------------------------------------------------------------------- index
def _index_members(spec: UniverseSpec, days: pd.DatetimeIndex,
                   data_dir: Path | None) -> MembersResult:
    rel = spec.config.get("membership_file")
    if not rel:
        raise UniverseConfigError(f"universe {spec.name!r}: an index config needs "
                                  "\"membership_file\"")
    path = _resolve_file(spec, rel, data_dir)
    membership = read_index_membership(path)
    last = pd.Timestamp(membership["end"].max())
    carry = bool(spec.config.get("carry_forward", True))
    late = days > last
    asked = days.where(~late, last) if carry else days
    mat = membership_matrix(membership, asked)
    mat.index = days
    notes = [f"membership from {path.name} ({membership['start'].min().date()} .. {last.date()})"]
    carried = None
    if late.any():
        if carry:
            carried = last.date()
            notes.append(f"membership file ends {last.date()}; carried forward")
        else:
            notes.append(f"membership file ends {last.date()}; later dates have no members")
    return MembersResult(mat, carried, notes)


# --------------------------------------------------------------------------- filter
def read_names_and_list_dates(path: Path) -> pd.DataFrame:
    """``ts_code, name, list_date`` from a Tushare ``stock_basic`` CSV (UTF-8 with BOM).

    Raises:
        UniverseConfigError: the file lacks ``ts_code``, ``name`` or ``list_date``.
    """
    df = pd.read_csv(path, dtype=str, encoding="utf-8-sig")
    missing = {"ts_code", "name", "list_date"} - set(df.columns)
    if missing:
        raise UniverseConfigError(f"{path}: missing column(s) {', '.join(sorted(missing))} "
                                  "(expected Tushare stock_basic)")
    df["list_date"] = pd.to_datetime(df["list_date"], format="%Y%m%d", errors="coerce")
    return df[["ts_code", "name", "list_date"]]


def _window_bars(store: MarketStore, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """``ts_code, trade_time, amount`` of the stock codes' daily bars in ``[start, end]``."""
    if not store.has("bars_1d"):
        raise UniverseConfigError("the market store holds no daily bars; run `tzero ingest tdx` first")
    return store.query("bars_1d", "trade_time >= ? AND trade_time < ? AND regexp_matches(ts_code, ?)",
                       [start.to_pydatetime(), (end + pd.Timedelta(days=1)).to_pydatetime(),
                        STOCK_CODE_RE], columns="ts_code, trade_time, amount")


def _first_bars(store: MarketStore) -> pd.Series:
    """First stored daily bar per stock code (a lower bound on its listing date).

    Goes through :meth:`MarketStore.query`, so the Parquet and the PostgreSQL
    store (:mod:`tzero.data.store_pg`) both answer it.
    """
    if not store.has("bars_1d"):
        return pd.Series(pd.DatetimeIndex([]), index=pd.Index([], name="ts_code"))
    df = store.query("bars_1d", "regexp_matches(ts_code, ?) GROUP BY ts_code", [STOCK_CODE_RE],
                     columns="ts_code, MIN(trade_time) AS first", order_by="ts_code")
    return pd.Series(pd.DatetimeIndex(df["first"]).normalize(), index=df["ts_code"])


def _list_dates(codes: pd.Index, store: MarketStore, basic: pd.DataFrame | None) -> pd.Series:
    """Earliest known listing date per code: stock_basic, base.dbf (``shares``), first bar."""
    cands = [_first_bars(store)]
    if basic is not None:
        cands.append(basic.dropna(subset=["list_date"]).set_index("ts_code")["list_date"])
    if store.has("shares"):
        sh = store.query("shares", columns="ts_code, list_date")
        cands.append(sh.dropna(subset=["list_date"]).set_index("ts_code")["list_date"])
    both = pd.concat([pd.to_datetime(c).groupby(level=0).min() for c in cands], axis=1)
    return both.min(axis=1).reindex(codes)


def _rolling_sum(x: np.ndarray, window: int) -> np.ndarray:
    """Sum over the last ``window`` rows (fewer at the top), along axis 0."""
    c = np.vstack([np.zeros((1, x.shape[1])), np.cumsum(x, axis=0)])
    lo = np.maximum(np.arange(len(x)) + 1 - window, 0)
    return c[1:] - c[lo]


def _filter_members(spec: UniverseSpec, days: pd.DatetimeIndex, store: MarketStore,
                    data_dir: Path | None) -> MembersResult:
    cfg = {**FILTER_DEFAULTS, **spec.config}
    cal = calendar.all_sessions()
    pos = cal.searchsorted(days, side="right") - 1          # the session on/before each date
    windows = [int(cfg[k]) for k in ("suspension_window", "amount_window") if cfg[k] is not None]
    lo = max(int(pos.min()) - max(windows, default=1) + 1, 0)
    grid = cal[lo:int(pos.max()) + 1]
    bars = _window_bars(store, grid[0], grid[-1])
    codes = pd.Index(sorted(bars["ts_code"].unique()))
    has = np.zeros((len(grid), len(codes)))
    amt = np.zeros((len(grid), len(codes)))
    r = grid.get_indexer(pd.DatetimeIndex(bars["trade_time"]).normalize())
    ok = r >= 0
    c = codes.get_indexer(bars["ts_code"])
    has[r[ok], c[ok]] = 1.0
    amt[r[ok], c[ok]] = np.nan_to_num(bars["amount"].to_numpy(float)[ok])
    rows = pos - lo                                          # row of each date in the grid
    notes: list[str] = []
    names_path = _names_path(cfg, data_dir, notes)
    basic = read_names_and_list_dates(names_path) if names_path else None
    list_pos = cal.searchsorted(pd.DatetimeIndex(_list_dates(codes, store, basic)).fillna(
        pd.Timestamp("2262-01-01")), side="left")
    age = pos[:, None] - list_pos[None, :]                  # sessions listed before the date
    keep = np.ones((len(days), len(codes)), bool)
    counts: dict[str, int] = {}

    def drop(label: str, mask: np.ndarray) -> None:
        counts[label] = int((mask[-1] & keep[-1]).sum())
        keep[:] &= ~mask

    drop("no bar on the date's window", _rolling_sum(has, max(windows, default=1))[rows] == 0)
    if names_path is not None and cfg["exclude_name_regex"]:
        drop(f"name matches {cfg['exclude_name_regex']!r}",
             np.broadcast_to(_name_mask(codes, basic, cfg["exclude_name_regex"]), keep.shape))
    if cfg["min_listed_sessions"] is not None:
        drop(f"listed < {cfg['min_listed_sessions']} sessions", age < int(cfg["min_listed_sessions"]))
    if cfg["max_suspended_sessions"] is not None:
        y = int(cfg["suspension_window"])
        eligible = np.clip(np.minimum(age + 1, y), 0, None)
        missing = eligible - _rolling_sum(has, y)[rows]
        drop(f"no bar on > {cfg['max_suspended_sessions']} of {y} sessions",
             missing > int(cfg["max_suspended_sessions"]))
    if cfg["min_avg_amount_cny"] is not None:
        w = int(cfg["amount_window"])
        n = _rolling_sum(has, w)[rows]
        mean = np.divide(_rolling_sum(amt, w)[rows], n, out=np.zeros_like(n), where=n > 0)
        drop(f"{w}-session mean amount < {float(cfg['min_avg_amount_cny']):,.0f} CNY",
             (n == 0) | (mean < float(cfg["min_avg_amount_cny"])))
    notes.append(f"on {days[-1].date()}: {len(codes):,} stock codes with bars; excluded "
                 + ", ".join(f"{v:,} {k}" for k, v in counts.items())
                 + f"; {int(keep[-1].sum()):,} members")
    return MembersResult(pd.DataFrame(keep, index=days, columns=codes), None, notes)


def _names_path(cfg: dict, data_dir: Path | None, notes: list[str]) -> Path | None:
    rel = cfg.get("names_file")
    p = None if not rel else Path(rel) if Path(rel).is_absolute() else (
        Path(data_dir) / rel if data_dir is not None else None)
    if p is None or not p.is_file():
        notes.append(f"no names file ({rel}): the name rule is off and list dates come "
                     "from base.dbf and the first stored bar only")
        return None
    notes.append(f"names and list dates from {p.name}, a 2025-09 snapshot: the name rule "
                 "is not point-in-time")
    return p


def _name_mask(codes: pd.Index, basic: pd.DataFrame, pattern: str) -> np.ndarray:
    """True for codes whose (NFKC-normalised) name matches ``pattern``."""
    names = basic.set_index("ts_code")["name"].dropna()
    names = names[~names.index.duplicated(keep="last")]
    rx = re.compile(pattern)
    hit = names.map(lambda n: bool(rx.search(unicodedata.normalize("NFKC", n).upper())))
    return hit.reindex(codes, fill_value=False).to_numpy(bool)
