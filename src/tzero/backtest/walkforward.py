"""Walk-forward splits: rolling train/test windows over sessions (spec 003 §3).

Every window trains on ``train`` consecutive sessions, skips ``gap`` sessions
(≥ the label horizon, so no training label reaches into the test part, DESIGN.md
"No look-ahead") and tests on the next ``test`` sessions. The next window starts
``step`` sessions later (default ``test``, so the test parts tile the period
without overlap and every out-of-sample session is scored exactly once).

The same splitter serves daily strategies (sessions are trading dates) and
intraday ones (sessions are the days of the minute bars; the bars of a test day
are all out of sample).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Window:
    """One walk-forward window; all dates are sessions, bounds inclusive.

    Attributes:
        index: 0-based window number.
        train_start, train_end: the fit may use data of these sessions only.
        test_start, test_end: the out-of-sample sessions scored in this window.
    """

    index: int
    train_start: pd.Timestamp
    train_end: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp

    def train_mask(self, times: pd.Series | pd.DatetimeIndex) -> pd.Series:
        """Boolean mask of stamps (dates or intraday times) inside the train part."""
        d = pd.DatetimeIndex(times).normalize()
        return pd.Series((d >= self.train_start) & (d <= self.train_end), index=getattr(times, "index", None))

    def test_mask(self, times: pd.Series | pd.DatetimeIndex) -> pd.Series:
        """Boolean mask of stamps (dates or intraday times) inside the test part."""
        d = pd.DatetimeIndex(times).normalize()
        return pd.Series((d >= self.test_start) & (d <= self.test_end), index=getattr(times, "index", None))


def rolling_windows(sessions: pd.DatetimeIndex | list, train: int, test: int, *, gap: int = 0,
                    step: int | None = None, expanding: bool = False) -> list[Window]:
    """Split sorted sessions into rolling (or expanding) walk-forward windows.

    Args:
        sessions: the trading sessions of the data, sorted ascending (dates;
            duplicates are dropped).
        train: sessions in each train part (≥ 1).
        test: sessions in each test part (≥ 1).
        gap: sessions skipped between train end and test start (≥ the label
            horizon in sessions; 0 for labels that end within the day).
        step: sessions between window starts; default ``test`` (test parts tile).
        expanding: when True every train part starts at the first session
            (anchored walk-forward); otherwise it rolls with fixed length.

    Returns:
        Windows in time order; the last one's test part may be shorter than
        ``test`` (it ends at the last session). Empty when the data is too short
        for one window.

    Raises:
        ValueError: a non-positive ``train``/``test``/``step`` or negative ``gap``.
    """
    if train < 1 or test < 1 or gap < 0 or (step is not None and step < 1):
        raise ValueError(f"walk-forward needs train >= 1, test >= 1, gap >= 0, step >= 1; "
                         f"got train={train}, test={test}, gap={gap}, step={step}")
    days = pd.DatetimeIndex(pd.to_datetime(list(sessions))).normalize().unique().sort_values()
    step = step or test
    out: list[Window] = []
    start = 0
    while start + train + gap < len(days):
        ts = start + train + gap
        te = min(ts + test, len(days)) - 1
        tr0 = 0 if expanding else start
        out.append(Window(len(out), days[tr0], days[start + train - 1], days[ts], days[te]))
        start += step
    return out
