"""Row validation at ingest: every bar, factor and trade is checked before the store sees it.

The policy (README "Ingest: what is refused"):

* A **row error** is one row (a ``.day``/``.lc`` record, a table row) whose
  values cannot be stored: unreadable, missing or non-finite (NaN, ±inf), out
  of the plausible bounds below, inconsistent (high below low), dated on no
  XSHG session, or a key (``ts_code`` + time) repeated with *different*
  values. Rows repeated with identical values are collapsed to one.
* By default one row error refuses the **whole input**: nothing is written and
  :class:`BadRowsError` lists the first :data:`MAX_LISTED` rows at fault, one
  per line, as ``<file>:record 12: field 'high' is inf`` (``row`` for tables),
  then ``and K more``.
* With ``skip_bad_rows`` the good rows are written and the bad ones reported
  (per reason, and the first :data:`MAX_REPORTED` lines) in the summary.
* File-level errors (a ``.day`` whose name is no market code, a size that is
  not a multiple of 32 bytes, bytes that are not text, a missing column) are
  not row errors: they always refuse the input (:class:`~tzero.errors.DataFormatError`).

Frames checked here carry three provenance columns next to the Bars/Trades
columns (the readers add them with ``records=True``): :data:`SOURCE` (the file),
:data:`RECORD` (1-based record or data row in *that* file) and, optionally,
:data:`PROBLEM` (a reader's note that a value could not be decoded, e.g. an
invalid date). Bounds are named constants so every message quotes them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from tzero.errors import DataFormatError
from tzero.market import calendar, sessions

SOURCE, RECORD, PROBLEM = "source", "record", "problem"
PROVENANCE = (SOURCE, RECORD, PROBLEM)
BAR_COLUMNS = ["ts_code", "trade_time", "open", "high", "low", "close", "volume", "amount"]
PRICE_FIELDS = ("open", "high", "low", "close")

#: Highest plausible price, CNY (index points for indices). The shared TDX folder
#: tops out at 24,626 points (399365.SZ, 2021-02-18) and 2,627.88 CNY for a stock
#: (600519.SH, 2021-02-18); a corrupt ``.day`` integer (≥ 2^31 fen = 21.5M CNY) is far above.
MAX_PRICE = 1_000_000.0
#: Highest plausible volume of one bar, shares. Folder maximum 8.2e10 (000011.SH,
#: 2022-11-04, an index summing its members); a whole-market day trades ~1e11.
MAX_VOLUME = 1e12
#: Highest plausible amount of one bar, CNY. Folder maximum 9.97e11 (399001.SZ,
#: 2020-07-14); the whole-market record day is ~3.5e12 CNY.
MAX_AMOUNT = 1e13
#: Highest plausible cumulative backward adj_factor (the shared table tops out at 10,765).
MAX_ADJ_FACTOR = 1e7
#: Tolerance of the OHLC consistency checks, CNY (float noise of decoded prices).
PRICE_TOL = 1e-6
#: Rows at fault named in a refusal message; the rest are counted ("and K more").
MAX_LISTED = 5
#: Rows at fault listed in an ingest summary (``--skip-bad-rows``); reasons count all.
MAX_REPORTED = 50
#: Trade directions of the Trades contract.
DIRECTIONS = ("B", "S", "N")


@dataclass(frozen=True)
class RowProblem:
    """One row that cannot be stored: where it is and what is wrong.

    Attributes:
        source: the file (path as given).
        record: 1-based record (binary files) or data row (tables) in that file.
        unit: ``"record"`` or ``"row"``.
        reason: the rule it broke (counted in summaries), e.g. ``non-finite value``.
        detail: the value at fault, e.g. ``field 'high' is inf``.
    """

    source: str
    record: int
    unit: str
    reason: str
    detail: str

    def __str__(self) -> str:
        return f"{self.source}:{self.unit} {self.record}: {self.detail}"


@dataclass
class Checked:
    """The outcome of checking one dataset's rows.

    Attributes:
        dataset: store dataset (``bars_1d`` …).
        accepted: rows that pass, provenance dropped, identical repeats collapsed,
            sorted by key, index reset.
        reasons: rows at fault per reason (all of them).
        problems: the first :data:`MAX_REPORTED` rows at fault, in file order.
        collapsed: rows dropped as identical repeats of another row.
        bad_files: the files holding rows at fault.
    """

    dataset: str
    accepted: pd.DataFrame
    reasons: dict[str, int] = field(default_factory=dict)
    problems: list[RowProblem] = field(default_factory=list)
    collapsed: int = 0
    bad_files: list[str] = field(default_factory=list)

    @property
    def n_bad(self) -> int:
        """Number of rows at fault."""
        return sum(self.reasons.values())


class BadRowsError(DataFormatError):
    """Rows at fault refused the whole input; nothing was written.

    Attributes:
        problems: the rows listed (at most :data:`MAX_LISTED`).
        total: rows at fault in all.
        files: the files holding them.
    """

    def __init__(self, problems: Sequence[RowProblem], total: int, files: Sequence[str] = ()) -> None:
        self.problems = list(problems)
        self.total = total
        self.files = sorted(set(files) or {p.source for p in self.problems})
        where = f" in {Path(self.files[0]).name}" if len(self.files) == 1 else f" in {len(self.files)} files"
        lines = [f"{total:,} bad row(s){where}; nothing was written (fix them, or pass "
                 "--skip-bad-rows to `tzero ingest tdx|table` to write the other rows and "
                 "report these):"]
        lines += [str(p) for p in self.problems]
        if total > len(self.problems):
            lines.append(f"and {total - len(self.problems):,} more")
        super().__init__("\n".join(lines))


def enforce(checked: Sequence[Checked], skip_bad_rows: bool) -> None:
    """Apply the row policy to the checked datasets of one input.

    Raises:
        BadRowsError: any row at fault and not ``skip_bad_rows``; lists the
            first :data:`MAX_LISTED` (in file order) over all datasets.
    """
    total = sum(c.n_bad for c in checked)
    if total and not skip_bad_rows:
        listed = [p for c in checked for p in c.problems][:MAX_LISTED]
        raise BadRowsError(listed, total, [f for c in checked for f in c.bad_files])


# ------------------------------------------------------------------ rule engine


@dataclass
class _Rule:
    reason: str
    mask: np.ndarray
    detail: Callable[[int], str]


def _fmt(x: float) -> str:
    if np.isnan(x):
        return "NaN"
    if np.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.10g}"


def _finite_rules(cols: dict[str, np.ndarray], optional: Sequence[str] = ()) -> list[_Rule]:
    """``missing value`` (NaN; allowed in ``optional`` fields) and ``non-finite value`` (±inf)."""
    names = list(cols)
    nan = np.stack([np.isnan(cols[c]) & (c not in optional) for c in names])
    inf = np.stack([np.isinf(cols[c]) for c in names])

    def first(m: np.ndarray, i: int) -> str:
        c = names[int(np.flatnonzero(m[:, i])[0])]
        return f"field {c!r} is {_fmt(cols[c][i])}"

    return [_Rule("missing value", np.asarray(nan.any(axis=0)), lambda i: first(nan, i) + " (missing)"),
            _Rule("non-finite value", np.asarray(inf.any(axis=0)), lambda i: first(inf, i))]


def _bound_rule(reason: str, cols: dict[str, np.ndarray], names: Sequence[str],
                bad: Callable[[np.ndarray], np.ndarray], what: str) -> _Rule:
    """One rule over several fields: ``bad(values)`` marks a value; the detail names the first."""
    m = np.stack([bad(cols[c]) for c in names])

    def detail(i: int) -> str:
        c = names[int(np.flatnonzero(m[:, i])[0])]
        return f"field {c!r} is {_fmt(cols[c][i])} ({what})"

    return _Rule(reason, np.asarray(m.any(axis=0)), detail)


@lru_cache(maxsize=1)
def _session_days() -> tuple[int, int, np.ndarray]:
    """First and last session (days since epoch) and a session flag per day between them."""
    s = calendar.all_sessions().to_numpy("datetime64[D]").view(np.int64)
    flags = np.zeros(s[-1] - s[0] + 1, dtype=bool)
    flags[s - s[0]] = True
    return int(s[0]), int(s[-1]), flags


def _date_rules(t: np.ndarray, name: str) -> list[_Rule]:
    """``invalid date`` (NaT), ``date outside the calendar``, ``not a session``."""
    first, last, flags = _session_days()
    nat = np.isnat(t)
    day = t.astype("datetime64[D]").view(np.int64)
    outside = ~nat & ((day < first) | (day > last))
    inside = ~nat & ~outside
    not_session = inside & ~flags[np.where(inside, day - first, 0)]
    lo, hi = (pd.Timestamp(np.datetime64(d, "D")).date() for d in (first, last))

    def when(i: int) -> str:
        return str(pd.Timestamp(t[i]).date())

    return [
        _Rule("invalid date", nat, lambda i: f"field {name!r} is missing or not a date"),
        _Rule("date outside the calendar", outside,
              lambda i: f"date {when(i)} is outside the XSHG calendar ({lo} .. {hi})"),
        _Rule("not a session", not_session,
              lambda i: f"date {when(i)} ({pd.Timestamp(t[i]):%A}) is not an XSHG session"),
    ]


def _problem_rule(frame: pd.DataFrame) -> list[_Rule]:
    if PROBLEM not in frame.columns:
        return []
    p = frame[PROBLEM].to_numpy(dtype=object)
    m = pd.notna(p) & (p != "")
    return [_Rule("unreadable value", np.asarray(m, dtype=bool), lambda i: str(p[i]))]


def _verdict(rules: list[_Rule], n: int) -> np.ndarray:
    """Index of the first rule each row breaks, -1 where none."""
    which = np.full(n, -1, dtype=np.int64)
    for k, r in enumerate(rules):
        m = r.mask & (which < 0)
        which[m] = k
    return which


def _provenance(frame: pd.DataFrame, source: str | None) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Per row: source index, source names, 1-based record (file order when no columns)."""
    n = len(frame)
    if SOURCE in frame.columns:
        s = frame[SOURCE]
        if isinstance(s.dtype, pd.CategoricalDtype):
            idx, names = s.cat.codes.to_numpy(np.int64), [str(c) for c in s.cat.categories]
        else:
            codes, uniq = pd.factorize(s.astype(str))
            idx, names = codes.astype(np.int64), [str(u) for u in uniq]
    else:
        idx, names = np.zeros(n, dtype=np.int64), [source or "input"]
    rec = (frame[RECORD].to_numpy(np.int64) if RECORD in frame.columns
           else np.arange(1, n + 1, dtype=np.int64))
    return idx, names, rec


def _key_order(codes: np.ndarray, t: np.ndarray) -> np.ndarray | None:
    """Permutation sorting rows by (code, time), stable; None when already strictly sorted.

    Rows already in key order but with repeated keys get the identity (no lexsort).
    """
    if len(codes) < 2:
        return None
    same = codes[1:] == codes[:-1]
    up = codes[1:] > codes[:-1]
    if (up | (same & (t[1:] > t[:-1]))).all():
        return None
    if (up | (same & (t[1:] >= t[:-1]))).all():
        return np.arange(len(codes))
    return np.lexsort((t, codes))


def _code_ranks(s: pd.Series) -> np.ndarray:
    """Integer codes ordered like the ``ts_code`` strings (cheap when already sorted)."""
    v = s.to_numpy(dtype=object)
    if len(v) > 1 and s.is_monotonic_increasing:
        ranks = np.zeros(len(v), dtype=np.int64)
        np.cumsum(v[1:] != v[:-1], out=ranks[1:])
        return ranks
    return pd.factorize(v, sort=True)[0].astype(np.int64)


def _duplicates(codes: np.ndarray, t: np.ndarray, values: Sequence[np.ndarray],
                order: np.ndarray | None, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Repeated keys among ``valid`` rows: (conflicting mask, identical-extra mask, partner row).

    A key repeated with identical values (NaN equal to NaN) keeps its first row
    and marks the others as extra; a key repeated with any difference marks
    every row of it as conflicting, ``partner`` naming another row of the key.
    """
    n = len(codes)
    conflict = np.zeros(n, dtype=bool)
    extra = np.zeros(n, dtype=bool)
    partner = np.full(n, -1, dtype=np.int64)
    if order is None:
        return conflict, extra, partner
    o = order[valid[order]]
    if len(o) < 2:
        return conflict, extra, partner
    c, tt = codes[o], t[o]
    same = np.zeros(len(o), dtype=bool)
    same[1:] = (c[1:] == c[:-1]) & (tt[1:] == tt[:-1])
    if not same.any():
        return conflict, extra, partner
    differs = np.zeros(len(o), dtype=bool)
    for col in values:
        v = col[o]
        differs[1:] |= ~((v[1:] == v[:-1]) | (np.isnan(v[1:]) & np.isnan(v[:-1])))
    differs &= same
    gid = np.cumsum(~same) - 1
    start = np.flatnonzero(~same)
    size = np.diff(np.append(start, len(o)))
    bad_group = np.zeros(len(start), dtype=bool)
    bad_group[gid[differs]] = True
    multi = size[gid] > 1
    rows_conflict = bad_group[gid] & multi
    conflict[o[rows_conflict]] = True
    extra[o[same & ~bad_group[gid]]] = True
    first = o[start[gid]]
    second = o[np.minimum(start[gid] + 1, len(o) - 1)]
    partner[o] = np.where(first == o, second, first)
    return conflict, extra, partner


def _finish(dataset: str, frame: pd.DataFrame, rules: list[_Rule], columns: list[str],
            keep: np.ndarray, order: np.ndarray | None, unit: str, source: str | None,
            collapsed: int) -> Checked:
    """Build :class:`Checked`: the accepted rows sorted by key, counts and the first problems."""
    which = _verdict(rules, len(frame))
    bad = which >= 0
    counts = np.bincount(which[bad], minlength=len(rules))
    reasons = {rules[k].reason: int(n) for k, n in enumerate(counts) if n}
    src_idx, names, rec = _provenance(frame, source)
    problems: list[RowProblem] = []
    files: list[str] = []
    if bad.any():
        rows = np.flatnonzero(bad)
        first = rows[np.lexsort((rec[rows], src_idx[rows]))[:MAX_REPORTED]]
        problems = [RowProblem(names[src_idx[i]], int(rec[i]), unit, rules[which[i]].reason,
                               rules[which[i]].detail(int(i))) for i in first]
        files = [names[k] for k in np.unique(src_idx[rows])]
    keep = keep & ~bad
    if order is None and keep.all():
        accepted = frame[columns]
    else:
        rows = order[keep[order]] if order is not None else np.flatnonzero(keep)
        accepted = frame[columns].iloc[rows]
    accepted.index = pd.RangeIndex(len(accepted))  # no second copy (reset_index copies)
    return Checked(dataset, accepted, reasons, problems, collapsed, files)


def _require(frame: pd.DataFrame, cols: Sequence[str], source: str | None) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise DataFormatError(f"{source or 'input'}: missing column(s) {missing}; found {list(frame.columns)}")
    if frame.empty:
        raise DataFormatError(f"{source or 'input'}: no rows to ingest (empty file)")


# -------------------------------------------------------------------- checks


def _bar_rules(bars: pd.DataFrame, *, daily: bool, amount_required: bool = True, unit: str = "row"
               ) -> tuple[list[_Rule], np.ndarray, np.ndarray | None, int]:
    """The bar rules in the order they are reported; see :func:`check_bars`.

    Returns:
        ``(rules, keep, order, collapsed)``: the rules, a mask of rows that are
        not identical repeats, the key-sorting permutation (None when sorted)
        and the number of identical repeats.
    """
    n = len(bars)
    cols = {c: bars[c].to_numpy(np.float64, na_value=np.nan) for c in BAR_COLUMNS[2:]}
    t = bars["trade_time"].to_numpy("datetime64[ns]")
    rules = _problem_rule(bars)
    rules += _finite_rules(cols, optional=() if amount_required else ("amount",))
    rules += _date_rules(t, "trade_time")
    ti = pd.DatetimeIndex(t)
    nat = np.isnat(t)
    if daily:
        rules.append(_Rule("daily bar not stamped at midnight", ~nat & (t != t.astype("datetime64[D]")),
                           lambda i: f"stamp {pd.Timestamp(t[i])} of a daily bar is not midnight"))
    else:
        minute = np.zeros(n, dtype=np.int64)
        minute[~nat] = sessions.minute_index(ti[~nat])
        rules.append(_Rule("minute bar outside the trading sessions", minute < 0,
                           lambda i: f"stamp {pd.Timestamp(t[i])} is outside the 09:31-11:30 / "
                                     "13:01-15:00 bar closes"))
    with np.errstate(invalid="ignore"):
        rules.append(_bound_rule("non-positive price", cols, PRICE_FIELDS, lambda v: v <= 0,
                                 "prices must be > 0"))
        rules.append(_bound_rule("price above bound", cols, PRICE_FIELDS, lambda v: v > MAX_PRICE,
                                 f"above the plausible bound {MAX_PRICE:,.0f} CNY"))
        rules.append(_bound_rule("negative volume", cols, ("volume",), lambda v: v < 0, "must be >= 0"))
        rules.append(_bound_rule("negative amount", cols, ("amount",), lambda v: v < 0, "must be >= 0"))
        rules.append(_bound_rule("volume above bound", cols, ("volume",), lambda v: v > MAX_VOLUME,
                                 f"above the plausible bound {MAX_VOLUME:.0e} shares"))
        rules.append(_bound_rule("amount above bound", cols, ("amount",), lambda v: v > MAX_AMOUNT,
                                 f"above the plausible bound {MAX_AMOUNT:.0e} CNY"))
        o, h, lo, c = (cols[k] for k in PRICE_FIELDS)
        top = np.maximum(np.maximum(o, c), lo)
        bottom = np.minimum(o, c)
        rules.append(_Rule("high below open/close/low", h + PRICE_TOL < top,
                           lambda i: f"high {_fmt(h[i])} is below max(open, close, low) {_fmt(top[i])}"))
        rules.append(_Rule("low above open/close", lo - PRICE_TOL > bottom,
                           lambda i: f"low {_fmt(lo[i])} is above min(open, close) {_fmt(bottom[i])}"))
    codes = _code_ranks(bars["ts_code"])
    ti64 = t.view(np.int64)
    order = _key_order(codes, ti64)
    conflict, extra, partner = _duplicates(codes, ti64, [cols[k] for k in BAR_COLUMNS[2:]], order, ~nat)
    _, _, rec = _provenance(bars, None)

    def dup(i: int) -> str:
        when = pd.Timestamp(t[i])
        shown = when.date() if daily else when
        return f"{bars['ts_code'].iat[i]} {shown} also at {unit} {rec[partner[i]]} with different values"

    rules.append(_Rule("conflicting duplicate", conflict, dup))
    return rules, ~extra, order, int(extra.sum())


def row_reasons(bars: pd.DataFrame, *, daily: bool, amount_required: bool = True
                ) -> tuple[np.ndarray, np.ndarray]:
    """Per row of a Bars frame: the reason it is refused (``""`` when none), and repeat flags.

    Same rules as :func:`check_bars`, for callers that want one reason per row
    (:func:`tzero.data.quality.validate_bars`).

    Returns:
        ``(reasons, repeat)``: object array of reasons, bool array marking rows
        that are identical repeats of an earlier row (dropped, not refused).
    """
    rules, keep, _, _ = _bar_rules(bars, daily=daily, amount_required=amount_required)
    which = _verdict(rules, len(bars))
    names = np.array([r.reason for r in rules] + [""], dtype=object)
    return names[np.where(which >= 0, which, len(rules))], ~keep


def check_bars(bars: pd.DataFrame, dataset: str, *, daily: bool, unit: str = "row",
               source: str | None = None, amount_required: bool = True) -> Checked:
    """Check a Bars frame row by row (see the module docstring for the policy).

    Rules, reported in this order (one reason per row, the first it breaks):
    ``unreadable value`` (a reader's :data:`PROBLEM` note), ``missing value``
    (NaN in a price or volume, and in amount when ``amount_required``),
    ``non-finite value`` (±inf), ``invalid date``, ``date outside the calendar``,
    ``not a session`` (weekend or holiday), ``daily bar not stamped at midnight``
    / ``minute bar outside the trading sessions``, ``non-positive price``,
    ``price above bound`` (:data:`MAX_PRICE`), ``negative volume``,
    ``negative amount``, ``volume above bound`` (:data:`MAX_VOLUME`),
    ``amount above bound`` (:data:`MAX_AMOUNT`), ``high below open/close/low``,
    ``low above open/close`` (:data:`PRICE_TOL`), ``conflicting duplicate``
    (a ``(ts_code, trade_time)`` repeated with different values: every copy).

    Args:
        bars: Bars frame (DESIGN.md), optionally with the provenance columns
            :data:`SOURCE`, :data:`RECORD`, :data:`PROBLEM`; any order.
        dataset: the store dataset the rows are for (``bars_1d`` …).
        daily: True for daily bars (stamped at midnight), False for minute bars.
        unit: ``"record"`` (binary files) or ``"row"`` (tables), for messages.
        source: file named in messages when the frame has no :data:`SOURCE`.
        amount_required: False for sources without turnover (vendor minute CSVs).

    Returns:
        :class:`Checked` with the accepted rows (Bars columns, sorted, identical
        repeats collapsed) and the rows at fault.

    Raises:
        DataFormatError: missing columns or no rows.
    """
    _require(bars, BAR_COLUMNS, source)
    rules, keep, order, collapsed = _bar_rules(bars, daily=daily, amount_required=amount_required,
                                               unit=unit)
    return _finish(dataset, bars, rules, BAR_COLUMNS, keep, order, unit, source, collapsed)


def check_adj_factor(adj: pd.DataFrame, *, unit: str = "row", source: str | None = None) -> Checked:
    """Check ``ts_code, trade_date, adj_factor`` rows.

    Rules: ``unreadable value``, ``missing value``, ``non-finite value``,
    ``invalid date``, ``date outside the calendar``, ``non-positive adj_factor``,
    ``adj_factor above bound`` (:data:`MAX_ADJ_FACTOR`), ``conflicting duplicate``
    (a date given two different factors). Identical repeats are collapsed (the
    shared Tushare file repeats 1.2M rows exactly).

    Raises:
        DataFormatError: missing columns or no rows.
    """
    cols = ["ts_code", "trade_date", "adj_factor"]
    _require(adj, cols, source)
    f = {"adj_factor": adj["adj_factor"].to_numpy(np.float64, na_value=np.nan)}
    t = adj["trade_date"].to_numpy("datetime64[ns]")
    rules = _problem_rule(adj) + _finite_rules(f) + _date_rules(t, "trade_date")[:2]
    with np.errstate(invalid="ignore"):
        rules.append(_bound_rule("non-positive adj_factor", f, ("adj_factor",), lambda v: v <= 0,
                                 "must be > 0"))
        rules.append(_bound_rule("adj_factor above bound", f, ("adj_factor",),
                                 lambda v: v > MAX_ADJ_FACTOR, f"above {MAX_ADJ_FACTOR:.0e}"))
    codes = _code_ranks(adj["ts_code"])
    ti = t.view(np.int64)
    order = _key_order(codes, ti)
    conflict, extra, partner = _duplicates(codes, ti, [f["adj_factor"]], order, ~np.isnat(t))
    _, _, rec = _provenance(adj, None)
    rules.append(_Rule("conflicting duplicate", conflict,
                       lambda i: f"{adj['ts_code'].iat[i]} {pd.Timestamp(t[i]).date()} also at {unit} "
                                 f"{rec[partner[i]]} with adj_factor {_fmt(f['adj_factor'][partner[i]])}"))
    return _finish("adj_factor", adj, rules, cols, ~extra, order, unit, source, int(extra.sum()))


def check_trades(trades: pd.DataFrame, *, unit: str = "row", source: str | None = None,
                 extra_columns: Sequence[str] = ("seq",)) -> Checked:
    """Check Trades rows (``ts_code, trade_time, price, volume, direction``).

    Rules: ``unreadable value``, ``missing value``, ``non-finite value``,
    ``invalid date``, ``date outside the calendar``, ``not a session``,
    ``non-positive price``, ``price above bound``, ``negative volume``,
    ``volume above bound``, ``unknown direction`` (not B/S/N). A volume of 0 is
    kept: TDX snapshots round odd lots (under 100 shares) down to 0 lots (11 of
    the 34,100 prints of the shared ``tdx_trades_2019.parquet``). Repeated keys
    are separate trades (keyed by their order, ``seq``), not duplicates.

    Args:
        trades: Trades frame, optionally with provenance columns.
        unit, source: as in :func:`check_bars`.
        extra_columns: further columns kept in the accepted rows when present.

    Raises:
        DataFormatError: missing columns or no rows.
    """
    cols = ["ts_code", "trade_time", "price", "volume", "direction"]
    _require(trades, cols, source)
    v = {c: trades[c].to_numpy(np.float64, na_value=np.nan) for c in ("price", "volume")}
    t = trades["trade_time"].to_numpy("datetime64[ns]")
    d = trades["direction"].to_numpy(dtype=object)
    rules = _problem_rule(trades) + _finite_rules(v) + _date_rules(t, "trade_time")
    with np.errstate(invalid="ignore"):
        rules.append(_bound_rule("non-positive price", v, ("price",), lambda x: x <= 0, "must be > 0"))
        rules.append(_bound_rule("price above bound", v, ("price",), lambda x: x > MAX_PRICE,
                                 f"above the plausible bound {MAX_PRICE:,.0f} CNY"))
        rules.append(_bound_rule("negative volume", v, ("volume",), lambda x: x < 0, "must be >= 0"))
        rules.append(_bound_rule("volume above bound", v, ("volume",), lambda x: x > MAX_VOLUME,
                                 f"above the plausible bound {MAX_VOLUME:.0e} shares"))
    rules.append(_Rule("unknown direction", ~np.isin(d, DIRECTIONS),
                       lambda i: f"field 'direction' is {d[i]!r} (expected B, S or N)"))
    keep_cols = cols + [c for c in extra_columns if c in trades.columns]
    n = len(trades)
    return _finish("trades", trades, rules, keep_cols, np.ones(n, dtype=bool), None, unit, source, 0)


__all__ = [
    "MAX_PRICE", "MAX_VOLUME", "MAX_AMOUNT", "MAX_ADJ_FACTOR", "PRICE_TOL", "MAX_LISTED",
    "MAX_REPORTED", "SOURCE", "RECORD", "PROBLEM", "RowProblem", "Checked", "BadRowsError",
    "enforce", "check_bars", "check_adj_factor", "check_trades", "row_reasons",
]
