"""Triple-barrier labels of trade events (López de Prado, *Advances in Financial ML*, ch. 3).

An event is a decision ``(ts_code, t)`` taken after the close of session t.
Under A-share T+1 it is filled ``entry_lag`` sessions later, at the close of
``t + entry_lag`` (the entry). From the entry three barriers race:

* the **profit-take** ``entry × (1 + pt × width)``,
* the **stop-loss** ``entry × (1 − sl × width)``,
* the **vertical** barrier ``max_hold`` sessions after the entry,

with ``width = vol_t × sqrt(max_hold)``, ``vol_t`` the standard deviation
(ddof=1) of the stock's last ``vol_window`` close-to-close returns ending at t
(AFML §3.3 ``getDailyVol`` scaled to the holding period, snippet 3.2's
``applyPtSlOnT1``). The first barrier the *closes* touch wins (AFML 3.4 walks the
close path; intraday highs and lows are not used). On the vertical barrier the
label is the sign of the return, 0 when it is exactly 0.

Conventions (decided here, one place):

* **Sessions** are the rows of the wide close frame; NaN = no bar (suspended).
* **Volatility** is measured on the stock's own bars ≤ t (returns between
  consecutive available closes; a suspension is neither a zero return nor a
  gap in the window). Without suspensions it uses exactly the closes of
  sessions ``t − vol_window … t``.
* **Settle date** ``t1``: the session of the touching close; if nothing is
  touched, the last available close in ``(entry, entry + max_hold]`` sessions
  — the vertical session itself, or the last bar before it when the stock is
  suspended on it, or when the data end first (a *censored* label, settled on
  what is known). With no bar at all after the entry, ``t1 = t_entry``,
  ``ret = 0``, ``barrier = "time"``, ``label = 0``.
* **Dropped events**: no bar at the entry session, an entry beyond the last
  session, or no usable volatility (fewer than ``vol_window + 1`` bars ≤ t, or
  a zero volatility: the barriers would coincide with the entry).

Money is CNY on hfq (total-return) closes; returns are decimals.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["BARRIERS", "LABEL_COLUMNS", "triple_barrier_labels"]

BARRIERS = ("pt", "sl", "time")
"""Values of the ``barrier`` column: profit-take, stop-loss, vertical (time-out)."""
LABEL_COLUMNS = ("t_entry", "t1", "ret", "width", "barrier", "label")
"""Columns :func:`triple_barrier_labels` adds to the events."""
_CHUNK_CELLS = 1 << 22
"""Most path cells (events × max_hold) gathered at once: bounds memory to ~32 MB."""


def _check_inputs(close: pd.DataFrame, events: pd.DataFrame, pt: float, sl: float,
                  max_hold: int, vol_window: int, entry_lag: int) -> None:
    """Raise ``ValueError`` naming the first bad argument (see :func:`triple_barrier_labels`)."""
    if not isinstance(close, pd.DataFrame) or not isinstance(close.index, pd.DatetimeIndex):
        raise ValueError("close must be a wide DataFrame [session × ts_code] with a DatetimeIndex")
    if not (close.index.is_monotonic_increasing and close.index.is_unique):
        raise ValueError("close.index must be sorted ascending without duplicate sessions: "
                         "use close.sort_index() and drop duplicated dates")
    missing = {"ts_code", "trade_date"} - set(events.columns)
    if missing:
        raise ValueError(f"events is missing column(s) {sorted(missing)}: expected ts_code and "
                         "trade_date (the decision session)")
    for name, v in (("pt", pt), ("sl", sl)):
        if not (np.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be a positive multiple of the barrier width, got {v}")
    if max_hold < 1:
        raise ValueError(f"max_hold must be at least 1 session, got {max_hold}")
    if vol_window < 2:
        raise ValueError(f"vol_window must be at least 2 returns (std with ddof=1), got {vol_window}")
    if entry_lag < 1:
        raise ValueError(f"entry_lag must be at least 1 session (a decision after t's close "
                         f"fills at t+1 at the earliest), got {entry_lag}")


def _positions(close: pd.DataFrame, events: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Session row and stock column of every event; raise on dates or codes not in ``close``."""
    dates = pd.DatetimeIndex(pd.to_datetime(events["trade_date"]))
    rows = close.index.get_indexer(dates)
    if (rows < 0).any():
        bad = dates[rows < 0][:3].strftime("%Y-%m-%d").tolist()
        raise ValueError(f"events.trade_date has dates that are not sessions of close.index, "
                         f"e.g. {bad}: normalise them to midnight and use close's sessions")
    cols = close.columns.get_indexer(events["ts_code"])
    if (cols < 0).any():
        bad = events["ts_code"][cols < 0].unique()[:3].tolist()
        raise ValueError(f"events.ts_code has codes with no column in close, e.g. {bad}: "
                         "add their closes or drop these events")
    return rows, cols


def _event_vol(c: np.ndarray, rows: np.ndarray, cols: np.ndarray, window: int) -> np.ndarray:
    """Std (ddof=1) of each event's last ``window`` bar-to-bar returns ending at its session.

    Args:
        c: closes ``[T, N]``, NaN = no bar.
        rows, cols: event session rows and stock columns, ``[E]``.
        window: returns per window.

    Returns:
        ``[E]`` decimal daily volatility; NaN with fewer than ``window + 1`` bars ≤ t.
    """
    vol = np.full(len(rows), np.nan)
    order = np.argsort(cols, kind="stable")
    bounds = np.flatnonzero(np.diff(cols[order])) + 1
    for grp in np.split(order, bounds):
        if grp.size == 0:
            continue
        series = c[:, cols[grp[0]]]
        bar_rows = np.flatnonzero(np.isfinite(series))
        bars = series[bar_rows]
        k = np.searchsorted(bar_rows, rows[grp], side="right")      # bars ≤ t
        ok = k >= window + 1
        if not ok.any():
            continue
        idx = k[ok, None] - window - 1 + np.arange(window + 1)      # [E_ok, window+1]
        px = bars[idx]
        vol[grp[ok]] = np.std(px[:, 1:] / px[:, :-1] - 1.0, axis=1, ddof=1)
    return vol


def _walk(c: np.ndarray, entry_rows: np.ndarray, cols: np.ndarray, up: np.ndarray,
          dn: np.ndarray, max_hold: int) -> tuple[np.ndarray, np.ndarray]:
    """First touch of each event's path ``(entry, entry + max_hold]``.

    Returns:
        ``t1_rows [E]`` (session row of the settle close) and ``code [E]``:
        1 = profit-take, −1 = stop-loss, 0 = no touch (vertical / censored).
    """
    n_rows = c.shape[0]
    t1_rows = entry_rows.copy()
    code = np.zeros(len(entry_rows), dtype=np.int8)
    step = max(1, _CHUNK_CELLS // max_hold)
    offs = np.arange(1, max_hold + 1)
    for a in range(0, len(entry_rows), step):
        sl_ = slice(a, a + step)
        idx = entry_rows[sl_, None] + offs                          # [E_c, H]
        inside = idx < n_rows
        path = c[np.minimum(idx, n_rows - 1), cols[sl_, None]]
        path = np.where(inside, path, np.nan)
        touch = (path >= up[sl_, None]) | (path <= dn[sl_, None])   # NaN → False
        hit = touch.any(axis=1)
        first = touch.argmax(axis=1)
        avail = np.isfinite(path)
        has_bar = avail.any(axis=1)
        last = max_hold - 1 - avail[:, ::-1].argmax(axis=1)
        pos = np.where(hit, first, last)
        rows_c = np.where(hit | has_bar, idx[np.arange(len(pos)), pos], entry_rows[sl_])
        t1_rows[sl_] = rows_c
        first_px = path[np.arange(len(pos)), first]
        code[sl_] = np.where(hit, np.where(first_px >= up[sl_], 1, -1), 0)
    return t1_rows, code


def triple_barrier_labels(close: pd.DataFrame, events: pd.DataFrame, *, pt: float = 1.0,
                          sl: float = 1.0, max_hold: int = 10, vol_window: int = 20,
                          entry_lag: int = 1) -> pd.DataFrame:
    """Label each event by which of three barriers its close path touches first (AFML ch. 3).

    See the module docstring for the entry, the volatility, the settle date
    on missing data and which events are dropped.

    Args:
        close: hfq closes ``[session × ts_code]``, CNY; sorted DatetimeIndex;
            NaN = no bar (suspended).
        events: one row per decision with ``ts_code`` and ``trade_date`` (the
            decision session t, a session of ``close.index``); other columns
            are kept.
        pt: profit-take distance in barrier widths (> 0).
        sl: stop-loss distance in barrier widths (> 0).
        max_hold: vertical barrier, sessions after the entry (≥ 1).
        vol_window: daily returns in the volatility estimate (≥ 2).
        entry_lag: sessions from the decision to the entry close (≥ 1; 1 = T+1).

    Returns:
        The kept events (original index and order) with ``t_entry``
        (Timestamp, entry session), ``t1`` (Timestamp, settle session),
        ``ret`` (decimal return entry → t1), ``width`` (decimal barrier width),
        ``barrier`` (``"pt" | "sl" | "time"``) and ``label`` (int 1, −1 or 0).

    Raises:
        ValueError: a bad frame (no DatetimeIndex, unsorted or duplicate
            sessions, missing ``ts_code``/``trade_date``), an event date that
            is not a session or a code with no column, ``pt``/``sl`` ≤ 0,
            ``max_hold`` < 1, ``vol_window`` < 2 or ``entry_lag`` < 1.
    """
    _check_inputs(close, events, pt, sl, max_hold, vol_window, entry_lag)
    rows, cols = _positions(close, events)
    c = close.to_numpy(dtype=float)
    entry_rows = rows + entry_lag
    inside = entry_rows < len(close.index)
    entry_px = np.full(len(rows), np.nan)
    entry_px[inside] = c[entry_rows[inside], cols[inside]]
    vol = _event_vol(c, rows, cols, vol_window)
    width = vol * np.sqrt(max_hold)
    keep = np.isfinite(entry_px) & np.isfinite(width) & (width > 0)
    entry_rows, cols, entry_px, width = entry_rows[keep], cols[keep], entry_px[keep], width[keep]
    t1_rows, code = _walk(c, entry_rows, cols, entry_px * (1.0 + pt * width),
                          entry_px * (1.0 - sl * width), max_hold)
    ret = c[t1_rows, cols] / entry_px - 1.0
    label = np.where(code != 0, code, np.sign(ret)).astype(int)
    out = events.loc[keep].copy()
    out["t_entry"] = close.index[entry_rows]
    out["t1"] = close.index[t1_rows]
    out["ret"] = ret
    out["width"] = width
    out["barrier"] = np.array(BARRIERS, dtype=object)[np.where(code == 1, 0, np.where(code == -1, 1, 2))]
    out["label"] = label
    return out
