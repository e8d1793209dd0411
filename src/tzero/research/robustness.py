"""The robustness matrix of a model's top-k book (spec 003 §3, 稳健性矩阵).

A model that earns its keep overall may do so in one lucky year, one
regime, or only at the cheapest fills. For every model the comparison
re-reads its gate book (the first book it was measured with: TopkDropout 50/5
on the universe, :data:`tzero.research.yardstick.BOOKS`) along five axes:

==========  ===================================================================
``year``    calendar years of the evaluated range (the same book, split)
``regime``  the CSI 300 index's bull / bear / sideways regime as of each
            session, from a Gaussian HMM fitted on the index before the range
            (:class:`tzero.models.hmm.HmmForecaster`, filtered: data ≤ t only)
``cost``    every fee ×0.5, ×1, ×2 (:attr:`CostModel.fee_scale`), re-simulated
``slippage`` 0, 5, 10 bps on every fill, re-simulated
``trades``  at most 2, 5, 10 swaps a day (``n_drop``; the gate book's own
            ``n_drop`` replaces the middle value), re-simulated
==========  ===================================================================

Year and regime cells with fewer than :data:`MIN_CELL_SESSIONS` sessions
are left out. A cell holds the after-cost excess return over the members' equal-weight
benchmark (annualised mean daily excess), the Rank IC over its sessions
(split axes only), sessions and fills. :func:`downgrade`: a model the gates
kept (or watch-listed) but whose excess is negative in more than half of the
cells becomes ``watch`` with the cells named.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from tzero.backtest import metrics
from tzero.backtest.costs import CostModel
from tzero.research.yardstick import Book, BookRun, run_book

COST_LEVELS = (0.5, 1.0, 2.0)
SLIPPAGE_BPS = (0.0, 5.0, 10.0)
N_DROPS = (2, 5, 10)
REGIMES = ("bull", "bear", "sideways")
MIN_CELL_SESSIONS = 20
"""Fewest sessions a year or regime cell needs (a shorter one annualises noise)."""


def index_regimes(index_bars: pd.DataFrame, fit_end, start, end, *, seed: int = 42) -> pd.Series:
    """The CSI 300's HMM regime as of each session in ``[start, end]``.

    A :class:`~tzero.models.hmm.HmmForecaster` is fitted on the index bars up to
    ``fit_end`` (before the evaluated range), then filtered forward: the
    regime at t uses bars ≤ t only.

    Args:
        index_bars: long daily Bars of one index (``000300.SH``), qfq/raw (an index has no factor).
        fit_end: last session the fit may see.
        start, end: the sessions to label.

    Returns:
        ``bull``/``bear``/``sideways`` by session (normalised dates); empty when
        the index has too little history.
    """
    from tzero.errors import ModelError
    from tzero.models.hmm import HmmForecaster

    b = index_bars.sort_values("trade_time").reset_index(drop=True)
    train = b.loc[pd.to_datetime(b["trade_time"]) <= pd.Timestamp(fit_end)]
    try:
        model = HmmForecaster(HmmForecaster.default_config(seed=seed)).fit(train)
        fc = model.predict_history(b, start, end)
    except ModelError:
        return pd.Series(dtype=object)
    fc = fc.loc[fc["step"] == fc["step"].min()]
    out = pd.Series(fc["regime"].to_numpy(), index=pd.DatetimeIndex(fc["as_of"]).normalize())
    return out[~out.index.duplicated()]


def _cell(axis: str, cell: str, excess: pd.Series, daily_ic: pd.DataFrame | None,
          n_trades: int | None) -> dict:
    n = metrics.SESSIONS_PER_YEAR
    ric = None
    if daily_ic is not None:
        v = daily_ic["rank_ic"].reindex(excess.index).dropna()
        ric = float(v.mean()) if len(v) else None
    return {"axis": axis, "cell": cell,
            "excess_annual": float(excess.mean() * n) if len(excess) else None,
            "rank_ic": ric, "n_sessions": int(len(excess)), "n_trades": n_trades}


def _trades_in(run: BookRun, days: pd.Index) -> int:
    d = pd.DatetimeIndex(pd.to_datetime(run.trades["trade_date"])).normalize()
    return int(d.isin(days).sum())


def matrix(scores: pd.DataFrame, series: dict, *, bars: pd.DataFrame, close: pd.DataFrame,
           members: pd.DataFrame, costs: CostModel, index_ret: pd.Series | None,
           regimes: pd.Series | None) -> list[dict]:
    """Every cell of the robustness matrix of one model (see the module docstring).

    Args:
        scores: the model's member scores ``[session × ts_code]`` (as measured).
        series: :func:`tzero.research.yardstick.measure`'s series (its gate book
            run and ``daily_ic``).
        bars, close, members, costs, index_ret: as for :func:`~tzero.research.yardstick.measure`.
        regimes: :func:`index_regimes` (None or empty: no regime cells).

    Returns:
        One dict per cell: ``axis, cell, excess_annual, rank_ic, n_sessions,
        n_trades`` (None where undefined); empty when the model has no book.
    """
    run: BookRun | None = series.get("gate")
    if run is None:
        return []
    base: Book = series["gate_book"]
    daily_ic = series.get("daily_ic")
    ex = run.excess
    cells = []
    for year, part in ex.groupby(ex.index.year):
        if len(part) < MIN_CELL_SESSIONS:
            continue
        cells.append(_cell("year", str(year), part, daily_ic, _trades_in(run, part.index)))
    if regimes is not None and len(regimes):
        lab = regimes.reindex(ex.index)
        for reg in REGIMES:
            part = ex[lab.to_numpy() == reg]
            if len(part) >= MIN_CELL_SESSIONS:
                cells.append(_cell("regime", reg, part, daily_ic, _trades_in(run, part.index)))
    s = scores.reindex(index=members.index, columns=members.columns).where(members.to_numpy(bool))

    def again(axis: str, cell: str, c: CostModel, book: Book) -> dict:
        r = run_book(s, bars, close, members, book, c, index_ret)
        return _cell(axis, cell, r.excess, None, int(len(r.trades)))

    for k in COST_LEVELS:
        cells.append(_cell("cost", f"x{k:g}", ex, None, len(run.trades)) if k == costs.fee_scale
                     else again("cost", f"x{k:g}", replace(costs, fee_scale=k), base))
    for bps in SLIPPAGE_BPS:
        cells.append(_cell("slippage", f"{bps:g}bps", ex, None, len(run.trades))
                     if bps == costs.slippage_bps
                     else again("slippage", f"{bps:g}bps", replace(costs, slippage_bps=bps), base))
    for nd in sorted(x for x in {N_DROPS[0], base.n_drop, N_DROPS[-1]} if x <= base.topk):
        cells.append(_cell("trades", f"<={nd}/day", ex, None, len(run.trades)) if nd == base.n_drop
                     else again("trades", f"<={nd}/day", costs, Book(f"k{base.topk}d{nd}",
                                                                     base.topk, nd)))
    return cells


def downgrade(status: str, cells: list[dict]) -> tuple[str, str | None]:
    """A kept or watched model negative in most cells becomes ``watch``, with the reason.

    Args:
        status: the gate verdict (kept | watch | blocked).
        cells: :func:`matrix` output.

    Returns:
        ``(status, reason)``; reason None when nothing changed.
    """
    known = [c for c in cells if c["excess_annual"] is not None]
    neg = [c for c in known if c["excess_annual"] < 0]
    if status == "blocked" or not known or len(neg) * 2 <= len(known):
        return status, None
    names = ", ".join(f"{c['axis']} {c['cell']}" for c in neg[:6])
    more = f" and {len(neg) - 6} more" if len(neg) > 6 else ""
    return "watch", (f"robustness: excess return negative in {len(neg)} of {len(known)} cells "
                     f"({names}{more})")


def heat(cells: list[dict]) -> dict:
    """Cells as ``{axis: {cell: excess_annual}}`` for a heat map (None where undefined)."""
    out: dict[str, dict] = {}
    for c in cells:
        v = c["excess_annual"]
        out.setdefault(c["axis"], {})[c["cell"]] = (None if v is None or not np.isfinite(v)
                                                     else float(v))
    return out
